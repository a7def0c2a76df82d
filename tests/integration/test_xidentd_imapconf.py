#!/usr/bin/python3
"""IMAP conformance of xidentd beyond its own feature suite: the RFC 3501
formal syntax and state rules a strict conformance suite (imaptest-style)
checks, real clients (mbsync, offlineimap, fetchmail, getmail, curl) run
against it with the result checked on the Maildir, and a seeded
multi-client stress run checking the invariants every session must see
(sequence numbers vs EXISTS/EXPUNGE, flags, UIDs ascending and never
reused, no EXPUNGE during FETCH/STORE/SEARCH)."""
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn
import xdserver
from xdserver import VMAIL_UID, check_logs

USER, PASSWORD = 'EXAMPLE\\asmith', 'asmith-pw'
MESSAGE = (b'From: Alice <a@example.com>\r\nTo: johnd@example.com\r\nSubject: hello\r\n'
           b'Date: Tue, 1 Jul 2025 10:52:37 +0200\r\nMessage-ID: <m1@example.com>\r\n\r\n'
           b'line one\r\nline two\r\n')


def make_root():
    return xdserver.make_root('xdconf-')


def Server(d, root, **keys):
    """xidentd with an IMAP listener."""
    return xdserver.Server(d, root, protocols=('imap',), **keys)


class Raw:
    """A raw IMAP connection: exact server lines, literals read whole."""

    def __init__(self, port, login=True, user=USER, password=PASSWORD):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=20)
        self.f = self.s.makefile('rb')
        self.greeting = self.line()
        self.n = 0
        if login:
            _, tagged = self.cmd('LOGIN %s %s' % (quote(user), quote(password)))
            assert ' OK ' in tagged, tagged

    def line(self):
        """One response line with any literals it announces inlined."""
        out = b''
        while True:
            ln = self.f.readline(1 << 20)
            if not ln:
                raise EOFError('server closed the connection')
            out += ln
            m = re.search(rb'\{(\d+)\}\r\n$', ln)
            if not m:
                return out.rstrip(b'\r\n').decode('utf-8', 'surrogateescape')
            out += self.f.read(int(m.group(1)))

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8', 'surrogateescape')
        self.s.sendall(data + b'\r\n')

    def cmd(self, text, tag=None):
        self.n += 1
        tag = tag or 'x%d' % self.n
        self.send('%s %s' % (tag, text) if isinstance(text, str) else tag.encode() + b' ' + text)
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            ln = self.line()
            if ln.startswith(tag + ' '):
                return lines, ln
            lines.append(ln)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def quote(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')


if os.environ.get('XD_PROBE'):
    pass
elif os.environ.get('XD_SERVE'):
    # a server to probe by hand: prints the port, runs until stdin closes
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        srv = Server(d, root)
        print('port', srv.port, 'root', root, flush=True)
        sys.stdin.read()
    sys.exit(0)


# ------------------------------------------------------------ syntax and state rules

def append_cmd(folder, msg, extra=b''):
    return b'APPEND ' + folder.encode() + b' ' + extra + b'{%d+}\r\n' % len(msg) + msg


def test_grammar(t, srv):
    r = Raw(srv.port, login=False)
    for cmd in ('CAPABILITY x', 'NOOP x', 'LOGOUT x', 'STARTTLS x', 'ID', 'ID ("name")', 'ID name'):
        _, tagged = r.cmd(cmd)
        t.ok(re.match(r'x\d+ BAD ', tagged), 'before logon: %s is BAD (RFC 3501/2971 grammar)' % cmd, tagged)
    # A SASL response line copied out of an input buffer that still holds
    # an earlier, longer line's bytes after it (no NUL there).
    import base64
    r.cmd('NOOP ' + 'x' * 240)
    r.send('s1 AUTHENTICATE PLAIN')
    r.line()
    r.send(base64.b64encode(b'\0nosuchuser\0wrong').decode())
    _, tagged = r.until('s1')
    t.ok(tagged.startswith('s1 NO'), 'SASL response read from a reused input buffer: refused, no over-read', tagged)
    u, tagged = r.cmd('ID NIL')
    t.ok(tagged.endswith('OK ID completed.') and u and u[0].startswith('* ID ('), 'before logon: ID NIL', u + [tagged])
    r.close()
    r = Raw(srv.port)
    for cmd in ('CAPABILITY x', 'NOOP x', 'CHECK', 'NAMESPACE x', 'ENABLE', 'ENABLE "X"', 'IDLE x', 'UNSELECT',
                'LOGIN a b', 'STARTTLS'):
        _, tagged = r.cmd(cmd)
        t.ok(re.match(r'x\d+ BAD ', tagged), 'after logon: %s is BAD' % cmd, tagged)
    u, tagged = r.cmd('ENABLE FOO')
    t.ok(u == ['* ENABLED'] and ' OK ' in tagged, 'ENABLE of an unknown extension: empty ENABLED', u)
    u, _ = r.cmd('LIST "" ""')
    t.eq(u, ['* LIST (\\Noselect) "." ""'], 'LIST "" "": the hierarchy delimiter and root')
    u, _ = r.cmd('LIST "" iNbOx')
    t.eq(u, ['* LIST (\\HasNoChildren) "." INBOX'], 'LIST of inbox in any case answers INBOX')
    r.cmd('SELECT INBOX')
    # APPEND with a literal8 (RFC 3516, BINARY not offered): refused, and its
    # LITERAL+ data discarded instead of being read as commands.
    msg = b'Subject: x\r\n\r\nx1 DELETE INBOX.injected\r\nx2 CREATE injected\r\n'
    u, tagged = r.cmd(b'APPEND INBOX ~{%d+}\r\n' % len(msg) + msg)
    t.ok(u == [] and ' BAD ' in tagged, 'APPEND with literal8 ~{n+}: one BAD, nothing else', u + [tagged])
    u, tagged = r.cmd('LIST "" injected')
    t.ok(u == [] and ' OK ' in tagged, 'the refused literal8 data ran no command (no folder created)', u)
    # the same after an error at the very end of the line
    u, tagged = r.cmd(b'APPEND INBOX (\\Bogus) {%d+}\r\n' % len(msg) + msg)
    t.ok(u == [] and ' BAD ' in tagged, 'APPEND with an invalid flag and LITERAL+ data: one BAD', u + [tagged])
    u, tagged = r.cmd('NOOP')
    t.ok(u == [] and ' OK ' in tagged, 'next command answered normally', u + [tagged])
    # a refused STORE changes nothing, not even the keyword list
    r.cmd('CREATE empty')
    r.cmd('SELECT empty')
    u, tagged = r.cmd('STORE 1 +FLAGS (newkw)')
    t.ok(' BAD ' in tagged and not any('newkw' in x for x in u), 'STORE on an empty mailbox: BAD, no keyword made',
         u + [tagged])
    u, _ = r.cmd('SELECT empty')
    t.ok(not any('newkw' in x for x in u), 'the keyword is not in FLAGS afterwards', u)
    u, tagged = r.cmd('UID FETCH 1:* FLAGS')
    t.ok(u == [] and ' OK ' in tagged, 'UID FETCH 1:* in an empty mailbox: OK, nothing', tagged)
    u, tagged = r.cmd('UID SEARCH ALL')
    t.ok(u == ['* SEARCH'] and ' OK ' in tagged, 'UID SEARCH ALL in an empty mailbox: empty SEARCH', u)
    u, tagged = r.cmd('FETCH * FLAGS')
    t.ok(' BAD ' in tagged, 'FETCH * in an empty mailbox: BAD (no message numbers exist)', tagged)
    # APPEND to the selected mailbox: EXISTS before the tagged OK
    u, tagged = r.cmd(append_cmd('empty', MESSAGE))
    t.ok('* 1 EXISTS' in u and 'APPENDUID' in tagged, 'APPEND to the selected mailbox: EXISTS and APPENDUID',
         u + [tagged])
    for _ in range(4):
        r.cmd(append_cmd('empty', MESSAGE))
    r.cmd('STORE 2,4,5 +FLAGS.SILENT (\\Deleted)')
    u, _ = r.cmd('EXPUNGE')
    t.eq([x for x in u if 'EXPUNGE' in x], ['* 5 EXPUNGE', '* 4 EXPUNGE', '* 2 EXPUNGE'], 'EXPUNGE reported highest first, each number as it '
         'then stands')
    r.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')
    r.cmd('EXAMINE empty')
    u, tagged = r.cmd('CLOSE')
    t.ok(u == [] and ' OK ' in tagged, 'CLOSE of an EXAMINEd mailbox: no EXPUNGE')
    u, _ = r.cmd('STATUS empty (MESSAGES)')
    t.eq(u, ['* STATUS empty (MESSAGES 2)'], 'CLOSE after EXAMINE expunged nothing')
    r.cmd('SELECT empty')
    u, tagged = r.cmd('STATUS empty (MESSAGES UIDNEXT)')
    t.ok(u == ['* STATUS empty (MESSAGES 2 UIDNEXT 6)'] and ' OK ' in tagged, 'STATUS of the selected mailbox', u)
    _, tagged = r.cmd('COPY 1 nowhere')
    t.ok('NO [TRYCREATE]' in tagged, 'COPY to a missing mailbox: NO [TRYCREATE]', tagged)
    r.cmd('CREATE other')
    _, tagged = r.cmd('RENAME empty other')
    t.ok('NO [ALREADYEXISTS]' in tagged, 'RENAME onto an existing mailbox: NO [ALREADYEXISTS]', tagged)
    _, tagged = r.cmd('SUBSCRIBE nowhere')
    t.ok(' NO ' in tagged, 'SUBSCRIBE of a missing mailbox: NO', tagged)
    _, tagged = r.cmd('CREATE "Bad&AOk"')
    t.ok(' NO ' in tagged, 'CREATE with invalid modified UTF-7: NO', tagged)
    _, tagged = r.cmd('CREATE "Caf&AOk-"')
    u, _ = r.cmd('LIST "" Caf*')
    t.eq(u, ['* LIST (\\HasNoChildren) "." Caf&AOk-'], 'modified UTF-7 name listed as created')
    r.cmd('CREATE ren')
    r.cmd('SELECT ren')
    u, tagged = r.cmd('RENAME ren ren2')
    t.ok(any(x.startswith('* OK [CLOSED]') for x in u) and ' OK ' in tagged,
         'RENAME of the selected mailbox says it is no longer selected ([CLOSED])', u + [tagged])
    r.cmd('SELECT ren2')
    u, tagged = r.cmd('DELETE ren2')
    t.ok(any(x.startswith('* OK [CLOSED]') for x in u) and ' OK ' in tagged,
         'DELETE of the selected mailbox says it is no longer selected ([CLOSED])', u + [tagged])
    u, tagged = r.cmd('LOGOUT')
    t.ok(u == ['* BYE Logging out.'] and ' OK ' in tagged, 'LOGOUT: BYE before the tagged OK', u + [tagged])
    r.close()


def test_copy_rollback(t, srv):
    """A COPY that fails half-way (a message deleted behind the session's
    back) leaves the destination as it was (RFC 3501 6.4.7)."""
    r = Raw(srv.port)
    r.cmd('CREATE cpsrc')
    r.cmd('CREATE cpdst')
    for i in range(3):
        r.cmd(append_cmd('cpsrc', MESSAGE.replace(b'hello', b'copy %d' % i)))
    r.cmd('SELECT cpsrc')
    folder = os.path.join(srv.maildir(), '.cpsrc')

    def unlink_behind(subject):
        for sub in ('new', 'cur'):
            for n in os.listdir(os.path.join(folder, sub)):
                with open(os.path.join(folder, sub, n), 'rb') as f:
                    hit = subject in f.read()
                if hit:
                    os.unlink(os.path.join(folder, sub, n))

    unlink_behind(b'copy 1')
    _, tagged = r.cmd('COPY 1:3 cpdst')
    t.ok('NO [EXPUNGEISSUED]' in tagged, 'COPY of a message expunged meanwhile: NO [EXPUNGEISSUED]', tagged)
    u, _ = r.cmd('STATUS cpdst (MESSAGES)')
    t.eq(u, ['* STATUS cpdst (MESSAGES 0)'], 'the failed COPY left the destination unchanged')
    r.cmd('NOOP')
    unlink_behind(b'copy 2')
    _, tagged = r.cmd('MOVE 1:2 cpdst')
    u, _ = r.cmd('STATUS cpdst (MESSAGES)')
    t.ok('NO [EXPUNGEISSUED]' in tagged and u == ['* STATUS cpdst (MESSAGES 0)'],
         'a failed MOVE copies nothing', [tagged] + u)
    u, _ = r.cmd('UID SEARCH ALL')
    t.eq(u, ['* SEARCH 1'], 'a failed MOVE expunges nothing it could read')
    r.cmd('LOGOUT')
    r.close()


# ------------------------------------------------------------ real clients

def maildir_files(path):
    """{sub/name: bytes} of a Maildir folder's messages."""
    out = {}
    for sub in ('new', 'cur'):
        d = os.path.join(path, sub)
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, n), 'rb') as f:
                out['%s/%s' % (sub, n)] = f.read()
    return out


def info_flags(name):
    return name.split(':2,', 1)[1] if ':2,' in name else ''


def server_messages(srv, user, password, folder):
    """[(uid, flags, body)] of a folder, read through IMAP by a new session."""
    r = Raw(srv.port, user=user, password=password)
    u, tagged = r.cmd('EXAMINE %s' % quote(folder))
    out = []
    if ' OK ' in tagged:
        u, _ = r.cmd('FETCH 1:* (UID FLAGS BODY.PEEK[])') if any(re.match(r'\* [1-9]\d* EXISTS', x) for x in u) \
            else ([], '')
        for ln in u:
            m = re.match(r'\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) BODY\[\] \{\d+\}\r\n(.*)\)$', ln, re.S)
            if m:
                out.append((int(m.group(1)), sorted(m.group(2).replace('\\Recent', '').split()),
                            m.group(3).encode('utf-8', 'surrogateescape')))
    r.cmd('LOGOUT')
    r.close()
    return out


def run_client(argv, timeout=120, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, **kw)
    return p.returncode, p.stdout.decode('utf-8', 'replace')


def test_mbsync(t, srv):
    user, pw = 'EXAMPLE\\bjones', 'bjones-pw'
    r = Raw(srv.port, user=user, password=pw)
    for i in range(3):
        r.cmd(append_cmd('INBOX', MESSAGE.replace(b'hello', b'server %d' % i), b'(\\Seen) ' if i == 0 else b''))
    r.cmd('CREATE Archive')
    r.cmd(append_cmd('Archive', MESSAGE.replace(b'hello', b'archived')))
    r.cmd('LOGOUT')
    r.close()
    home = tempdir('mbsync-')
    local = os.path.join(home, 'local')
    os.mkdir(local)
    rc = os.path.join(home, 'mbsyncrc')
    with open(rc, 'w') as f:
        f.write('IMAPAccount x\nHost 127.0.0.1\nPort %d\nUser "%s"\nPass %s\nSSLType None\nAuthMechs LOGIN\n\n'
                'IMAPStore remote\nAccount x\n\nMaildirStore local\nPath %s/\nInbox %s/INBOX\n'
                'SubFolders Verbatim\n\nChannel ch\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n'
                'Expunge Both\nSyncState *\n' % (srv.port, user.replace('\\', '\\\\'), pw, local, local))
    code, out = run_client(['mbsync', '-c', rc, '-a'])
    t.ok(code == 0, 'mbsync: first sync succeeds', out[-2000:])
    inbox = maildir_files(os.path.join(local, 'INBOX'))
    t.ok(len(inbox) == 3, 'mbsync: the 3 INBOX messages arrive', sorted(inbox))
    t.eq(sorted(info_flags(n) for n in inbox), ['', '', 'S'], 'mbsync: \\Seen arrives as S')
    t.eq(len(maildir_files(os.path.join(local, 'Archive'))), 1, 'mbsync: folder Archive created locally')
    # local changes: a new message, a flag, a deleted message, a new folder
    names = sorted(inbox)
    unseen = [n for n in names if info_flags(n) == ''][0]
    os.rename(os.path.join(local, 'INBOX', unseen), os.path.join(local, 'INBOX', 'cur',
                                                                   os.path.basename(unseen).split(':2,')[0] + ':2,FS'))
    for sub in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(local, 'Projects', sub), exist_ok=True)
    with open(os.path.join(local, 'INBOX', 'new', '1700000100.local1.host'), 'wb') as f:
        f.write(MESSAGE.replace(b'hello', b'from local'))
    with open(os.path.join(local, 'Projects', 'new', '1700000101.local2.host'), 'wb') as f:
        f.write(MESSAGE.replace(b'hello', b'project plan'))
    code, out = run_client(['mbsync', '-c', rc, '-a'])
    t.ok(code == 0, 'mbsync: second sync (local changes up) succeeds', out[-2000:])
    msgs = server_messages(srv, user, pw, 'INBOX')
    t.ok(len(msgs) == 4, 'mbsync: server INBOX has the local message too', [m[:2] for m in msgs])
    t.ok(any(b'Subject: from local' in m[2] for m in msgs), 'mbsync: local message body on the server')
    t.ok(any(m[1] == ['\\Flagged', '\\Seen'] for m in msgs), 'mbsync: local flags FS reach the server',
         [m[:2] for m in msgs])
    proj = server_messages(srv, user, pw, 'Projects')
    t.ok(len(proj) == 1 and b'project plan' in proj[0][2], 'mbsync: new local folder created on the server with '
         'its message', proj)
    # server side change: delete one, flag another
    r = Raw(srv.port, user=user, password=pw)
    r.cmd('SELECT INBOX')
    r.cmd('UID STORE %d +FLAGS (\\Answered)' % msgs[0][0])
    r.cmd('UID STORE %d +FLAGS (\\Deleted)' % msgs[1][0])
    r.cmd('EXPUNGE')
    r.cmd('LOGOUT')
    r.close()
    code, out = run_client(['mbsync', '-c', rc, '-a'])
    t.ok(code == 0, 'mbsync: third sync (server changes down) succeeds', out[-2000:])
    inbox = maildir_files(os.path.join(local, 'INBOX'))
    t.ok(len(inbox) == 3, 'mbsync: the message expunged on the server is gone locally', sorted(inbox))
    t.ok(any('R' in info_flags(n) for n in inbox), 'mbsync: \\Answered arrives as R', sorted(inbox))
    code, out = run_client(['mbsync', '-c', rc, '-a'])
    t.ok(code == 0 and len(server_messages(srv, user, pw, 'INBOX')) == 3, 'mbsync: a further sync changes nothing',
         out[-2000:])


def seed(srv, user, pw, folder, subjects, create=False):
    r = Raw(srv.port, user=user, password=pw)
    if create:
        r.cmd('CREATE %s' % quote(folder))
    for subj in subjects:
        r.cmd(append_cmd(quote(folder), MESSAGE.replace(b'hello', subj.encode())))
    r.cmd('LOGOUT')
    r.close()


def test_offlineimap(t, srv):
    user, pw = 'EXAMPLE\\jdoe', 'jdoe-pw'
    seed(srv, user, pw, 'INBOX', ['oi one', 'oi two'])
    home = tempdir('offlineimap-')
    mail = os.path.join(home, 'mail')
    os.mkdir(mail)
    rc = os.path.join(home, 'rc')
    with open(rc, 'w') as f:
        f.write('[general]\naccounts = x\nmetadata = %s/meta\n[Account x]\nlocalrepository = L\n'
                'remoterepository = R\n[Repository L]\ntype = Maildir\nlocalfolders = %s\n'
                '[Repository R]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = %d\nremoteuser = %s\n'
                'remotepass = %s\nssl = no\nstarttls = no\n' % (home, mail, srv.port, user, pw))
    argv = ['offlineimap', '-c', rc, '-o', '-u', 'basic']
    code, out = run_client(argv)
    t.ok(code == 0 and 'ERROR' not in out, 'offlineimap: first sync succeeds', out[-2000:])
    inbox = maildir_files(os.path.join(mail, 'INBOX'))
    t.ok(len(inbox) == 2 and all(b'Subject: oi ' in v for v in inbox.values()), 'offlineimap: both messages arrive',
         sorted(inbox))
    # local: flag one seen, add a message, add a folder
    first = sorted(inbox)[0]
    base = os.path.join(mail, 'INBOX')
    os.rename(os.path.join(base, first), os.path.join(base, 'cur', os.path.basename(first).split(':2,')[0] + ':2,S'))
    with open(os.path.join(base, 'new', '1700000200.oi.host'), 'wb') as f:
        f.write(MESSAGE.replace(b'hello', b'oi local'))
    for sub in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(mail, 'Notes', sub))
    with open(os.path.join(mail, 'Notes', 'new', '1700000201.oi.host'), 'wb') as f:
        f.write(MESSAGE.replace(b'hello', b'oi note'))
    code, out = run_client(argv)
    t.ok(code == 0 and 'ERROR' not in out, 'offlineimap: second sync (local changes up) succeeds', out[-2000:])
    msgs = server_messages(srv, user, pw, 'INBOX')
    t.ok(len(msgs) == 3 and any(b'oi local' in m[2] for m in msgs), 'offlineimap: local message uploaded',
         [m[:2] for m in msgs])
    t.ok(sum(1 for m in msgs if '\\Seen' in m[1]) == 1, 'offlineimap: local \\Seen reaches the server',
         [m[:2] for m in msgs])
    notes = server_messages(srv, user, pw, 'Notes')
    t.ok(len(notes) == 1 and b'oi note' in notes[0][2], 'offlineimap: local folder created on the server', notes)
    code, out = run_client(argv)
    inbox = maildir_files(os.path.join(mail, 'INBOX'))
    t.ok(code == 0 and len(inbox) == 3 and len(server_messages(srv, user, pw, 'INBOX')) == 3,
         'offlineimap: a third sync is stable', out[-2000:])


def test_fetchmail(t, srv):
    user, pw = 'EXAMPLE\\mmiller\\mike', 'mmiller-pw'
    seed(srv, user, pw, 'INBOX', ['fm one', 'fm two', 'fm three'])
    home = tempdir('fetchmail-')
    os.chmod(home, 0o700)
    out_file = os.path.join(home, 'delivered')
    mda = os.path.join(home, 'mda')
    with open(mda, 'w') as f:
        f.write('#!/bin/sh\ncat >> %s\necho "--END--" >> %s\n' % (out_file, out_file))
    os.chmod(mda, 0o700)
    rc = os.path.join(home, 'fetchmailrc')
    with open(rc, 'w') as f:
        f.write('set no bouncemail\npoll 127.0.0.1 service %d protocol IMAP auth password\n'
                '  user "%s" password "%s" is root here\n  sslproto "" mda "%s"\n'
                % (srv.port, user.replace('\\', '\\\\'), pw, mda))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
    code, out = run_client(['fetchmail', '-f', rc, '--nodetach', '-v'], env=env)
    t.ok(code == 0, 'fetchmail --protocol IMAP: fetches without error', out[-2500:])
    data = open(out_file, 'rb').read() if os.path.exists(out_file) else b''
    t.ok(all(b'Subject: fm %s' % w in data for w in (b'one', b'two', b'three')) and data.count(b'--END--') == 3,
         'fetchmail: the three messages delivered whole', data[:300])
    t.eq(server_messages(srv, user, pw, 'INBOX'), [], 'fetchmail: fetched messages deleted and expunged on the server')
    code, out = run_client(['fetchmail', '-f', rc, '--nodetach'], env=env)
    t.ok(code == 1, 'fetchmail: a second run finds no mail (exit 1)', out[-1500:])
    # --idle: a daemon that waits in IDLE and fetches what arrives
    p = Proc(['fetchmail', '-f', rc, '--nodetach', '--idle', '-d', '300', '-v'], name='fetchmail-idle', env=env)
    try:
        wait_until(lambda: 'IDLE' in p.output(), timeout=30, what='fetchmail entering IDLE')
        seed(srv, user, pw, 'INBOX', ['fm idle'])
        try:
            wait_until(lambda: os.path.exists(out_file) and b'Subject: fm idle' in open(out_file, 'rb').read(),
                       timeout=30, what='the message appended during IDLE delivered')
            got = True
        except Exception:  # noqa: BLE001 - reported below
            got = False
        t.ok(got, 'fetchmail --idle: a message appended while it idles is fetched', p.output()[-2000:])
    finally:
        p.stop()


def test_getmail(t, srv):
    user, pw = 'BRANCH\\cwhite\\helpdesk', 'cwhite-pw'
    seed(srv, user, pw, 'INBOX', ['gm one', 'gm two'])
    seed(srv, user, pw, 'Lists', ['gm list'], create=True)
    home = tempdir('getmail-')
    dest = os.path.join(home, 'Maildir')
    # getmail refuses to deliver as root: it delivers as nobody
    os.chmod(home, 0o755)
    for sub in ('', 'cur', 'new', 'tmp'):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
        os.chown(os.path.join(dest, sub), 65534, 65534)
    rc = os.path.join(home, 'getmailrc')
    with open(rc, 'w') as f:
        f.write('[retriever]\ntype = SimpleIMAPRetriever\nserver = 127.0.0.1\nport = %d\nusername = %s\n'
                'password = %s\nmailboxes = ("INBOX", "Lists")\n[destination]\ntype = Maildir\npath = %s/\nuser = nobody\n'
                '[options]\nread_all = false\ndelete = true\nverbose = 1\n' % (srv.port, user, pw, dest))
    code, out = run_client(['getmail', '--rcfile', rc, '--getmaildir', home])
    t.ok(code == 0, 'getmail6 SimpleIMAPRetriever: retrieves without error', out[-2000:])
    got = maildir_files(dest)
    t.ok(len(got) == 3 and any(b'gm list' in v for v in got.values()), 'getmail6: 3 messages from INBOX and Lists',
         sorted(got))
    t.ok(server_messages(srv, user, pw, 'INBOX') == [] and server_messages(srv, user, pw, 'Lists') == [],
         'getmail6: retrieved messages deleted on the server')


def test_curl(t, srv):
    user, pw = 'imaponly', 'imaponly-pw'
    base = 'imap://127.0.0.1:%d' % srv.port

    def curl(*args, data=None):
        p = subprocess.run(['curl', '-sS', '--max-time', '20', '-u', '%s:%s' % (user, pw)] + list(args),
                           input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')

    upload = os.path.join(tempdir('curl-'), 'msg.eml')
    with open(upload, 'wb') as f:
        f.write(MESSAGE.replace(b'hello', b'via curl'))
    code, out, err = curl('-T', upload, base + '/INBOX')
    t.ok(code == 0, 'curl: APPEND (upload)', err)
    code, out, err = curl(base + '/')
    t.ok(code == 0 and '* LIST' in out and 'INBOX' in out, 'curl: LIST', out + err)
    code, out, err = curl(base + '/INBOX;UID=1')
    t.ok(code == 0 and 'Subject: via curl' in out, 'curl: FETCH by UID', out + err)
    code, out, err = curl(base + '/INBOX;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)')
    t.ok(code == 0 and out.strip() == 'Subject: via curl', 'curl: FETCH a section', repr(out) + err)
    code, out, err = curl(base + '/INBOX?SUBJECT%20curl')
    t.ok(code == 0 and out.strip() == '* SEARCH 1', 'curl: SEARCH', repr(out) + err)
    code, out, err = curl(base + '/INBOX', '-X', 'STORE 1 +FLAGS (\\Flagged)')
    t.ok(code == 0 and 'FLAGS (\\Flagged' in out, 'curl: custom STORE', out + err)
    code, out, err = curl(base, '-X', 'CREATE curlbox')
    t.ok(code == 0, 'curl: custom CREATE', err)
    code, out, err = curl(base, '-X', 'STATUS curlbox (MESSAGES)')
    t.ok(code == 0 and '* STATUS curlbox (MESSAGES 0)' in out, 'curl: custom STATUS', out + err)
    code, out, err = curl(base + '/INBOX;UID=99')
    t.ok(code != 0, 'curl: FETCH of a missing UID fails', out + err)


# ------------------------------------------------------------ stress

class Tracked(Raw):
    """A session that checks every untagged response against the state it
    was told (imaptest's invariants) and records each violation."""

    def __init__(self, port, name, folder):
        self.name, self.errors = name, []
        self.uids = []          # index = sequence number - 1; None = not told yet
        self.gone = set()       # UIDs this session saw expunged
        self.mine = {}          # UID -> whether it carries this session's keyword
        self.kw = '$' + name
        self.current = None
        self.refused = set()    # UIDs a STORE called expunged
        self.recent = set()     # UIDs shown to this session as \Recent
        Raw.__init__(self, port)
        self.run('SELECT %s' % folder, 'SELECT')

    def bad(self, what):
        if len(self.errors) < 20:
            self.errors.append('%s: %s (command %s)' % (self.name, what, self.current))

    def check_order(self):
        known = [u for u in self.uids if u is not None]
        if any(a >= b for a, b in zip(known, known[1:])):
            self.bad('UIDs not ascending in sequence order: %s' % known[:50])

    def untagged(self, ln):
        m = re.match(r'\* (\d+) (EXISTS|EXPUNGE|RECENT|FETCH)\b ?(.*)$', ln)
        if not m:
            return
        n, kind, rest = int(m.group(1)), m.group(2), m.group(3)
        if kind == 'EXISTS':
            if n < len(self.uids):
                self.bad('EXISTS %d below the %d messages known' % (n, len(self.uids)))
            self.uids.extend([None] * (n - len(self.uids)))
        elif kind == 'EXPUNGE':
            if self.current in ('FETCH', 'STORE', 'SEARCH'):
                self.bad('EXPUNGE %d during %s' % (n, self.current))
            if not 1 <= n <= len(self.uids):
                self.bad('EXPUNGE %d outside 1..%d' % (n, len(self.uids)))
                return
            u = self.uids.pop(n - 1)
            if u is not None:
                self.gone.add(u)
        elif kind == 'FETCH':
            if not 1 <= n <= len(self.uids):
                self.bad('FETCH %d outside 1..%d' % (n, len(self.uids)))
                return
            um = re.search(r'\bUID (\d+)', rest)
            if um:
                u = int(um.group(1))
                if u in self.gone:
                    self.bad('UID %d came back after its EXPUNGE' % u)
                if self.uids[n - 1] is None:
                    self.uids[n - 1] = u
                    self.check_order()
                elif self.uids[n - 1] != u:
                    self.bad('message %d is UID %d, was told UID %d' % (n, u, self.uids[n - 1]))
            fm = re.search(r'\bFLAGS \(([^)]*)\)', rest)
            u = self.uids[n - 1]
            if fm and u is not None and '\\recent' in fm.group(1).lower().split():
                self.recent.add(u)
            if fm and u is not None and u in self.mine and self.current != 'STORE-OTHER':
                has = self.kw.lower() in fm.group(1).lower().split()
                if has != self.mine[u]:
                    self.bad('UID %d: FLAGS (%s) but this session %s %s' % (
                        u, fm.group(1), 'set' if self.mine[u] else 'removed', self.kw))

    def run(self, text, current):
        self.current = current
        untagged, tagged = self.cmd(text)
        if os.environ.get('XD_STRESS_LOG'):
            with open(os.environ['XD_STRESS_LOG'] + '.' + self.name, 'a') as f:
                f.write('C: %s  [uids %s]\n' % (text[:50] if isinstance(text, str) else text[:30], self.uids))
                for ln in untagged + [tagged]:
                    f.write('S: %s\n' % ln[:200])
        for ln in untagged:
            self.untagged(ln)
        self.current = None
        if not re.match(r'x\d+ (OK|NO \[EXPUNGEISSUED\])', tagged):
            self.bad('%r answered %r' % (text[:60], tagged))
        return untagged, tagged

    def step(self, rnd):
        op = rnd.random()
        n = len(self.uids)
        if op < 0.2 or n == 0:
            has = rnd.random() < 0.5
            flags = '(%s)' % ' '.join((['\\Seen'] if rnd.random() < 0.5 else []) + ([self.kw] if has else []))
            body = MESSAGE.replace(b'hello', b'stress %s %d' % (self.name.encode(), rnd.randrange(10 ** 6)))
            _, tagged = self.run(b'APPEND stress ' + flags.encode() + b' {%d+}\r\n' % len(body) + body, 'APPEND')
            m = re.search(r'APPENDUID \d+ (\d+)', tagged)
            if m:
                self.mine[int(m.group(1))] = has
        elif op < 0.45:
            seq = rnd.randrange(1, n + 1)
            add = rnd.random() < 0.5
            if self.uids[seq - 1] is None:  # learn its UID: the keyword state is kept per UID
                self.run('FETCH %d UID' % seq, 'FETCH')
            u = self.uids[seq - 1]
            if u is not None:  # before: the STORE's own FETCH response must show it
                self.mine[u] = add
            _, tagged = self.run('STORE %d %sFLAGS (%s)' % (seq, '+' if add else '-', self.kw), 'STORE')
            if u is not None and 'EXPUNGEISSUED' in tagged:
                self.refused.add(u)
        elif op < 0.55:
            seq = rnd.randrange(1, n + 1)
            self.current = 'STORE-OTHER'
            self.run('STORE %d +FLAGS.SILENT (\\Deleted)' % seq, 'STORE')
        elif op < 0.59:
            self.run('EXPUNGE', 'EXPUNGE')
        elif op < 0.62:
            u = self.uids[rnd.randrange(n)]
            if u is not None:
                self.run('UID MOVE %d stress-moved' % u, 'UID MOVE')
        elif op < 0.75:
            lo = rnd.randrange(1, n + 1)
            self.run('FETCH %d:%s (UID FLAGS)' % (lo, rnd.choice(['*', str(n)])), 'FETCH')
        elif op < 0.82:
            self.run('UID FETCH 1:* (FLAGS)', 'UID FETCH')
        elif op < 0.9:
            untagged, _ = self.run(rnd.choice(['SEARCH ALL', 'SEARCH KEYWORD %s' % self.kw, 'SEARCH UNSEEN']),
                                   'SEARCH')
            for ln in untagged:
                if ln.startswith('* SEARCH'):
                    for x in ln.split()[2:]:
                        if not 1 <= int(x) <= len(self.uids):
                            self.bad('SEARCH result %s outside 1..%d' % (x, len(self.uids)))
        elif op < 0.95:
            self.n += 1
            tag = 'x%d' % self.n
            self.send('%s IDLE' % tag)
            self.current = 'IDLE'
            while True:
                ln = self.line()
                if ln.startswith('+'):
                    break
                self.untagged(ln)
            self.send('DONE')
            for ln in self.until(tag)[0]:
                self.untagged(ln)
            self.current = None
        else:
            self.run('NOOP', 'NOOP')


def test_stress(t, srv, seed=int(os.environ.get('XD_STRESS_SEED', '9')),
                ops=int(os.environ.get('XD_STRESS_OPS', '300')), clients=int(os.environ.get('XD_STRESS_CLIENTS', '4'))):
    """Several sessions on one mailbox, each doing seeded random work and
    checking what it is told; bounded by a number of operations, not time."""
    setup = Raw(srv.port)
    setup.cmd('CREATE stress')
    setup.cmd('CREATE stress-moved')
    if os.environ.get('XD_STRESS_PREKW'):
        setup.cmd(b'APPEND stress ($c0 $c1 $c2 $c3) {%d+}\r\n' % len(MESSAGE) + MESSAGE)
    setup.close()
    sessions = [Tracked(srv.port, 'c%d' % i, 'stress') for i in range(clients)]
    crashes = []

    def work(sess, i):
        rnd = random.Random(seed * 100 + i)
        try:
            for _ in range(ops):
                sess.step(rnd)
                if len(sess.errors) >= 20:
                    break
        except Exception as e:  # noqa: BLE001 - reported as a failure below
            crashes.append('%s: %r' % (sess.name, e))

    threads = [threading.Thread(target=work, args=(s, i)) for i, s in enumerate(sessions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.eq(crashes, [], 'stress: every session ran its %d operations (seed %d, %d sessions)' % (ops, seed, clients))
    for s in sessions:
        t.eq(s.errors, [], 'stress: session %s saw a consistent mailbox' % s.name)
    # Settle: each session syncs and learns every UID; all agree.
    views = []
    for s in sessions:
        s.run('NOOP', 'NOOP')
        s.run('FETCH 1:* (UID FLAGS)' if s.uids else 'NOOP', 'FETCH')
        views.append(list(s.uids))
    ref = Raw(srv.port)
    ref.cmd('SELECT stress')
    untagged, _ = ref.cmd('UID SEARCH ALL')
    truth = [int(x) for ln in untagged if ln.startswith('* SEARCH') for x in ln.split()[2:]]
    t.ok(all(v == truth for v in views), 'stress: after NOOP every session has the mailbox a new session sees '
         '(%d messages)' % len(truth), '%s vs %s' % ([len(v) for v in views], len(truth)))
    t.ok(truth == sorted(set(truth)), 'stress: UIDs strictly ascending')
    shared = sorted(u for i, a in enumerate(sessions) for b in sessions[i + 1:] for u in a.recent & b.recent)
    t.eq(shared, [], 'stress: no message was \\Recent in two sessions (RFC 3501 2.3.2)')
    spurious = sorted(u for s in sessions for u in s.refused if u in truth)
    t.eq(spurious, [], 'stress: no STORE answered EXPUNGEISSUED for a message that still exists')
    for s in sessions + [ref]:
        s.cmd('LOGOUT')
        s.close()


if __name__ == '__main__' and not os.environ.get('XD_SERVE') and not os.environ.get('XD_PROBE'):
    with Tap() as t:
        root = make_root()
        with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
            srv = Server(d, root)
            only = os.environ.get('XD_ONLY')
            tests = [('grammar', test_grammar, (t, srv)), ('copy_rollback', test_copy_rollback, (t, srv)), ('mbsync', test_mbsync, (t, srv)), ('offlineimap', test_offlineimap, (t, srv)),
                     ('fetchmail', test_fetchmail, (t, srv)), ('getmail', test_getmail, (t, srv)), ('curl', test_curl, (t, srv)), ('stress', test_stress, (t, srv))]
            for name, fn, args in tests:
                if only and name not in only.split(','):
                    continue
                t.run(name, fn, *args)
            check_logs(t)
