#!/usr/bin/python3
"""xidentd's IMAP4rev1 server against the private slapd with the sample
directory and a temporary mail root: logons (LOGIN, AUTHENTICATE
PLAIN/LOGIN/NTLM, SASL-IR, refusals with RFC 5530 codes and the same texts
and events as POP3, [REFERRAL imap://...]), STARTTLS, the authenticated and
selected states through Python's imaplib and curl, two sessions on one
mailbox (EXPUNGE/EXISTS/FETCH notifications, IDLE), LMTP delivery seen in
IDLE, the Maildir shared with the real Dovecot, hostile input, and scripted
Thunderbird-like and Outlook-like sessions."""
import base64
import imaplib
import os
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn, NtlmAuthClient, RawLine, imap_authenticate, imap_login

XIDENTD = os.environ.get('XD_XIDENTD') or build_path('standalone', 'xidentd')
BAD = 'Logon failure: unknown user name or bad password.'
VMAIL_UID = 5000
HOMES = ['johnd', 'asmith', 'bjones', 'bjones-projects', 'mike', 'michael', 'helpdesk',
         'olduser', 'rjames', 'wong-example', 'wong-branch', 'imaponly', 'ntlmonly', 'user',
         'mueller', 'frontdesk', 'reception', 'cwhite', 'jdoe-branch']
MESSAGE = (b'From: Alice <a@example.com>\nTo: johnd@example.com\nSubject: hello\n'
           b'Date: Tue, 1 Jul 2025 10:52:37 +0200\nMessage-ID: <m1@example.com>\n\n'
           b'line one\nline two\n')
imaplib._MAXLINE = 10 * 1024 * 1024


def make_root():
    root = tempdir('xdroot-')
    os.chmod(root, 0o755)
    os.mkdir(os.path.join(root, 'vmail'), 0o755)
    for h in HOMES:
        p = os.path.join(root, 'vmail', h)
        os.mkdir(p, 0o700)
        os.chown(p, VMAIL_UID, VMAIL_UID)
    md = os.path.join(root, 'vmail', 'johnd', 'Maildir')
    for sub in ('', 'tmp', 'new', 'cur'):
        os.makedirs(os.path.join(md, sub), 0o700, exist_ok=True)
        os.chown(os.path.join(md, sub), VMAIL_UID, VMAIL_UID)
    for i in range(3):
        p = os.path.join(md, 'new', '170000000%d.M1P1.test' % i)
        with open(p, 'wb') as f:
            f.write(MESSAGE.replace(b'hello', b'hello %d' % i))
        os.chown(p, VMAIL_UID, VMAIL_UID)
    return root


SERVERS = []


class Server:
    def __init__(self, d, root, name='xidentd', **keys):
        self.port = free_port()
        chroot = tempdir('xdchroot-')
        os.chmod(chroot, 0o755)
        keys.setdefault('imap_listen', '127.0.0.1:%d' % self.port)
        keys.setdefault('logon_failure_delay', 50)
        keys.setdefault('logon_failure_delay_max', 400)
        self.conf = d.write_config(xidentd_chroot=chroot, mail_root=root, **keys)
        self.proc = Proc([XIDENTD, '-F', '-c', self.conf], name=name)
        SERVERS.append(self)
        wait_port(self.port, proc=self.proc)
        wait_until(lambda: self.children('xidentd-net'), timeout=20, what='network process')

    def log(self):
        return self.proc.output()

    def children(self, comm):
        out = []
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % pid) as f:
                    st = f.read()
                with open('/proc/%s/comm' % pid) as f:
                    c = f.read().strip()
            except OSError:
                continue
            fields = st.rsplit(')', 1)[1].split()
            if int(fields[3]) == self.proc.pid and c == comm:
                out.append(int(pid))
        return out


def connect(srv, user='EXAMPLE\\jdoe', password='jdoe-pw'):
    m = imaplib.IMAP4('127.0.0.1', srv.port, timeout=20)
    m.login(user, password)
    return m


class Raw:
    """A raw IMAP connection for exact server lines."""

    def __init__(self, port):
        self.c = LineConn(port)
        self.greeting = self.c.readline()
        self.n = 0

    def cmd(self, text, tag=None):
        """Sends 'tag text'; returns (untagged+continuation lines, tagged line)."""
        self.n += 1
        tag = tag or 'x%d' % self.n
        self.c.send('%s %s' % (tag, text))
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            ln = self.c.readline()
            if ln.startswith(tag + ' '):
                return lines, ln
            lines.append(ln)

    def close(self):
        try:
            self.c.f.close()
        except OSError:
            pass
        self.c.close()


def test_slice(t, srv):
    r = Raw(srv.port)
    t.ok(r.greeting.startswith('* OK [CAPABILITY IMAP4rev1') and 'AUTH=NTLM' in r.greeting
         and 'LOGIN-REFERRALS' in r.greeting, 'greeting with CAPABILITY', r.greeting)
    u, tagged = r.cmd('LOGIN "EXAMPLE\\\\jdoe" jdoe-pw')
    t.ok(tagged.startswith('x1 OK [CAPABILITY IMAP4rev1') and 'UIDPLUS' in tagged,
         'LOGIN: tagged OK with post-logon CAPABILITY', tagged)
    u, tagged = r.cmd('SELECT INBOX')
    t.ok(tagged == 'x2 OK [READ-WRITE] Select completed.', 'SELECT INBOX: READ-WRITE', tagged)
    t.ok('* 3 EXISTS' in u and '* 3 RECENT' in u, 'SELECT: EXISTS and RECENT', u)
    t.ok(any(x.startswith('* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft') for x in u),
         'SELECT: FLAGS', u)
    t.ok(any(x.startswith('* OK [PERMANENTFLAGS (') and '\\*' in x for x in u), 'SELECT: PERMANENTFLAGS', u)
    t.ok(any(re.match(r'\* OK \[UIDVALIDITY \d+\]', x) for x in u), 'SELECT: UIDVALIDITY', u)
    t.ok(any(x.startswith('* OK [UIDNEXT 4]') for x in u), 'SELECT: UIDNEXT 4', u)
    t.ok(any(x.startswith('* OK [UNSEEN 1]') for x in u), 'SELECT: UNSEEN 1', u)
    u, tagged = r.cmd('FETCH 1:* (UID FLAGS)')
    t.eq(u, ['* 1 FETCH (UID 1 FLAGS (\\Recent))', '* 2 FETCH (UID 2 FLAGS (\\Recent))',
             '* 3 FETCH (UID 3 FLAGS (\\Recent))'], 'FETCH 1:* (UID FLAGS)')
    t.ok(tagged.startswith('x3 OK'), 'FETCH: OK', tagged)
    u, tagged = r.cmd('LOGOUT')
    t.ok(u == ['* BYE Logging out.'] and tagged.startswith('x4 OK'), 'LOGOUT: BYE then OK', (u, tagged))
    r.close()


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        srv = Server(d, root)
        only = os.environ.get('XD_ONLY')
        tests = [('slice', test_slice, (t, srv))]
        for name, fn, args in tests:
            if only and name not in only.split(','):
                continue
            t.run(name, fn, *args)
        for s in SERVERS:
            out = s.log()
            t.ok('runtime error' not in out and 'Sanitizer' not in out and 'Segmentation' not in out,
                 '%s: no sanitizer report or crash in its log' % s.proc.name, out[-3000:])
