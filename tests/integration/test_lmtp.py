#!/usr/bin/python3
"""xidentd-lmtp, LMTP delivery (RFC 2033), against the private slapd with the
sample directory and a temporary mail root: delivery to an alias and to a
mail address with smtplib.LMTP (unix socket) and swaks (TCP); a custom
recipient, a distribution list and an unknown address refused per recipient
with the reason; mixed recipients in one pipelined transaction with one reply
per accepted recipient after DATA; the Maildir file (owner, dot-unstuffing)
and dovecot-uidlist checked with tests/maildir-driver; an LMTP -> POP3
retrieval with poplib through xidentd; a 4xx when the directory is down;
SIGTERM removes the socket."""
import json
import pwd
import re
import os
import poplib
import shutil
import smtplib
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
import xdserver
from xdserver import VMAIL_UID, memory_holds

LMTPD = build_path('standalone', 'xidentd-lmtp')
XIDENTD = build_path('standalone', 'xidentd')
DRIVER = build_path('tests', 'maildir-driver')
HOMES = ['johnd', 'asmith', 'bjones', 'helpdesk', 'mike', 'michael']
MESSAGE = (b'From: sender@elsewhere.example\r\nTo: johnd@example.com\r\nSubject: lmtp %s\r\n\r\n'
           b'line one\r\n.dotted line\r\nline three\r\n')


def make_root():
    return xdserver.make_root('lmtproot-', HOMES)


def maildir(root, home):
    return os.path.join(root, 'vmail', home, 'Maildir')


def dump(root, home):
    r = run([DRIVER, 'dump', maildir(root, home), 'INBOX'])
    if r.returncode != 0:
        return {'messages': []}
    return json.loads(r.stdout)


class Lmtp:
    """A raw LMTP client: smtplib.LMTP reads only one reply after DATA, so
    per-recipient results need the bytes themselves."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.f = self.s.makefile('rb')

    def reply(self):
        lines = []
        while True:
            ln = self.f.readline().decode('utf-8', 'replace').rstrip('\r\n')
            if ln == '':
                return lines + ['(closed)']
            lines.append(ln)
            if len(ln) < 4 or ln[3] != '-':
                return lines

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.f.close()
        self.s.close()


def message_files(root, home):
    d = os.path.join(maildir(root, home), 'new')
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_smtplib(t, sock, root):
    c = smtplib.LMTP(sock)
    code, _ = c.ehlo_or_helo_if_needed() or (250, b'')
    t.ok(c.has_extn('pipelining') and c.has_extn('enhancedstatuscodes') and
         c.has_extn('8bitmime') and c.has_extn('size'),
         'LHLO: PIPELINING, ENHANCEDSTATUSCODES, 8BITMIME, SIZE', c.esmtp_features)
    refused = c.sendmail('sender@elsewhere.example', ['johnd'], MESSAGE % b'alias')
    t.eq(refused, {}, 'smtplib: delivered to the alias johnd')
    refused = c.sendmail('sender@elsewhere.example', ['alice.smith@example.com'], MESSAGE % b'mail')
    t.eq(refused, {}, 'smtplib: delivered to the mail address alice.smith@example.com')
    try:
        c.sendmail('sender@elsewhere.example', ['partner'], MESSAGE % b'custom')
        t.ok(False, 'custom recipient refused')
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients['partner']
        t.ok(code == 550 and text.startswith(b'5.1.1') and b'custom recipient' in text,
             'custom recipient: 550 5.1.1 with a reason', e.recipients)
        t.diag('custom recipient: %r' % text)
    c.quit()
    files = message_files(root, 'johnd')
    t.eq(len(files), 1, 'one file in johnd/Maildir/new')
    if files:
        p = os.path.join(maildir(root, 'johnd'), 'new', files[0])
        st = os.stat(p)
        t.eq((st.st_uid, st.st_gid), (VMAIL_UID, VMAIL_UID), 'written as the mailbox uid/gid')
        with open(p, 'rb') as f:
            body = f.read()
        t.eq(body, (MESSAGE % b'alias').replace(b'\r\n', b'\n'),
             'stored with LF line ends, dot-unstuffed (smtplib stuffs)')
        t.ok(',S=%d' % len(body) in files[0], 'file name carries ,S=size', files[0])
    t.eq(len(message_files(root, 'asmith')), 1, 'one file in asmith/Maildir/new')
    t.eq(os.listdir(os.path.join(maildir(root, 'johnd'), 'tmp')), [], 'nothing left in tmp/')


NOT_HERE = 'The requested mailbox is not available on this server. '
# address, what, the exact 550 reply (the core's no_mailbox client text)
REFUSALS = [
    ('partner@example.com', 'custom recipient',
     '550 5.1.1 <partner@example.com> ' + NOT_HERE + 'partner@example.com is a custom recipient '
     '(target SMTP:partner@elsewhere.example), not a mailbox with an account'),
    ('all-staff', 'distribution list',
     '550 5.1.1 <all-staff> ' + NOT_HERE + 'all-staff is a distribution list, not a mailbox with an account'),
    ('nobody-at-all@example.com', 'unknown address',
     '550 5.1.1 <nobody-at-all@example.com> ' + NOT_HERE +
     'no mailbox or recipient named nobody-at-all@example.com in the directory'),
]


def test_refusals(t, sock):
    c = Lmtp(sock)
    c.reply()
    c.send(b'LHLO mta.test\r\n')
    c.reply()
    c.send(b'MAIL FROM:<s@elsewhere.example>\r\n')
    c.reply()
    for addr, what, want in REFUSALS:
        c.send(b'RCPT TO:<%s>\r\n' % addr.encode())
        r = c.reply()[0]
        t.eq(r, want, '%s refused with 550 saying why' % what)
    c.send(b'DATA\r\n')
    t.ok(c.reply()[0].startswith('554 5.5.1'), 'DATA with no valid recipient: 554')
    c.send(b'QUIT\r\n')
    t.ok(c.reply()[0].startswith('221'), 'QUIT')
    c.close()


def check_refusal_events(t, log):
    """Each refusal is logged as 13005 no_mailbox; the unknown address with
    the recipient remedy, none with the password-guessing one."""
    for addr, what, _ in REFUSALS:
        lines = [l for l in log.splitlines() if 'login=%s ' % addr in l or 'login="%s"' % addr in l]
        t.ok(lines and all('event=13005' in l and 'outcome=no_mailbox' in l for l in lines),
             '%s: event 13005 no_mailbox' % what, lines)
        t.ok(lines and not any('password-guessing' in l for l in lines),
             '%s: no password-guessing remedy' % what, lines)
    unknown = [l for l in log.splitlines() if 'nobody-at-all@example.com' in l and 'event=' in l]
    t.ok(unknown and all('xident mailbox add' in l and 'xident recipient add' in l for l in unknown),
         'unknown address: remedy names xident mailbox add / xident recipient add', unknown)


def test_mixed(t, sock, root):
    before_j = len(dump(root, 'johnd')['messages'])
    before_a = len(dump(root, 'asmith')['messages'])
    c = Lmtp(sock)
    c.reply()
    # everything in one write: PIPELINING
    c.send(b'LHLO mta.test\r\nMAIL FROM:<s@elsewhere.example> BODY=8BITMIME\r\n'
           b'RCPT TO:<john.doe@example.com>\r\nRCPT TO:<partner>\r\nRCPT TO:<asmith>\r\n'
           b'RCPT TO:<ghost@example.com>\r\nDATA\r\n' +
           (MESSAGE % b'mixed').replace(b'\r\n.', b'\r\n..') + b'.\r\n')
    replies = [c.reply() for _ in range(7)]
    firsts = [r[-1] for r in replies]
    t.ok(firsts[0].startswith('250 ') and firsts[1].startswith('250 2.1.0'), 'LHLO, MAIL', firsts)
    t.ok(firsts[2].startswith('250 2.1.5') and firsts[3].startswith('550 5.1.1') and
         firsts[4].startswith('250 2.1.5') and firsts[5].startswith('550 5.1.1'),
         'RCPT: accepted, refused, accepted, refused', firsts)
    t.ok(firsts[6].startswith('354'), 'DATA: 354', firsts)
    after = [c.reply()[0], c.reply()[0]]
    t.ok(after[0].startswith('250 2.0.0 <john.doe@example.com>') and
         after[1].startswith('250 2.0.0 <asmith>'),
         'one reply per accepted recipient after DATA, in RCPT order', after)
    c.send(b'QUIT\r\n')
    c.reply()
    c.close()
    dj, da = dump(root, 'johnd'), dump(root, 'asmith')
    t.eq(len(dj['messages']), before_j + 1, 'johnd: one more message in the uidlist')
    t.eq(len(da['messages']), before_a + 1, 'asmith: one more message in the uidlist')
    uids = [m['uid'] for m in dj['messages']]
    t.ok(uids == sorted(uids) and len(set(uids)) == len(uids) and dj['uidnext'] > max(uids),
         'UIDs ascending, unique, below UIDNEXT', dj)
    with open(os.path.join(maildir(root, 'johnd'), 'dovecot-uidlist'), 'rb') as f:
        ul = f.read().decode().splitlines()
    t.ok(ul[0].startswith('3 V') and len(ul) == 1 + len(dj['messages']),
         'dovecot-uidlist: version 3 header and one line per message', ul)
    t.ok('Saved for' in after[0] and after[0].rstrip().endswith('UID %d' % max(uids)),
         'the reply names the UID the uidlist holds', after[0])


def test_pop3(t, d, root, lmtp_sock):
    port = free_port()
    chroot = tempdir('lmtpchroot-')
    os.chmod(chroot, 0o755)
    conf = d.write_config(xidentd_chroot=chroot, mail_root=root, pop3_listen='127.0.0.1:%d' % port)
    srv = Proc([XIDENTD, '-F', '-c', conf], name='xidentd')
    try:
        wait_port(port, proc=srv)
        c = smtplib.LMTP(lmtp_sock)
        body = MESSAGE % b'pop3 round trip'
        t.eq(c.sendmail('s@elsewhere.example', ['johnd@example.com'], body), {}, 'LMTP to johnd@example.com')
        c.quit()
        p = None
        for _ in range(50):  # the network process may still be starting
            try:
                p = poplib.POP3('127.0.0.1', port, timeout=20)
                break
            except OSError:
                wait_until(lambda: True)
        p.user('EXAMPLE\\jdoe')
        resp = p.pass_('jdoe-pw')
        t.ok(resp.startswith(b'+OK'), 'POP3 logon as EXAMPLE\\jdoe', resp)
        count, _ = p.stat()
        resp, lines, _ = p.retr(count)
        t.eq(b'\r\n'.join(lines) + b'\r\n', body,
             'POP3 RETR gives back the delivered message')
        p.quit()
    finally:
        srv.stop()


def test_swaks(t, port):
    swaks = shutil.which('swaks')
    if swaks is None:
        t.skip('swaks', 'swaks not installed')
        return
    r = run([swaks, '--protocol', 'LMTP', '--server', '127.0.0.1', '--port', str(port),
             '--from', 's@elsewhere.example', '--to', 'helpdesk@example.com,partner',
             '--body', 'via swaks', '--suppress-data'])
    out = r.stdout + r.stderr
    t.ok('250 2.0.0 <helpdesk@example.com>' in out, 'swaks over TCP: helpdesk delivered', out)
    t.ok('550 5.1.1 <partner>' in out, 'swaks: partner refused per recipient', out)


def test_tempfail(t, d, sock):
    d.stop()
    try:
        c = Lmtp(sock)
        greeting = c.reply()[0]
        if greeting.startswith('220'):
            c.send(b'LHLO m\r\nMAIL FROM:<>\r\nRCPT TO:<johnd>\r\n')
            r = [c.reply(), c.reply(), c.reply()][-1][0]
        else:
            r = greeting
        t.ok(r[0] == '4', 'directory down: 4xx, never 5xx', r)
        c.close()
    finally:
        d.start()


def procs_of(pid_root):
    """{comm: [pid, ...]} of pid_root's descendants."""
    table = xdserver.process_table()
    parent = {pid: ppid for pid, (_, ppid, _) in table.items()}
    comm = {pid: c for pid, (c, _, _) in table.items()}
    out = {}
    for pid in comm:
        p = pid
        while p in parent and p != pid_root and p > 1:
            p = parent[p]
        if p == pid_root and pid != pid_root:
            out.setdefault(comm[pid], []).append(pid)
    return out


def uid_of(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(re.search(r'^Uid:\s+(\d+)', f.read(), re.M).group(1))


def test_privsep(t, srv, d, sock):
    """While an MTA is connected: the process that reads the network runs as
    xidentd_user in the chroot without the bind password; the resolver has
    the password but is unprivileged; only the deliverer is root."""
    c = Lmtp(sock)
    c.reply()
    c.send(b'LHLO mta.example\r\n')
    c.reply()
    c.send(b'MAIL FROM:<a@elsewhere.example>\r\nRCPT TO:<johnd@example.com>\r\n')
    c.reply()
    t.ok(c.reply()[0].startswith('250'), 'a recipient accepted through the resolver process')
    wait_until(lambda: 'xlmtp-protocol' in procs_of(srv.p.pid), timeout=10, what='session')
    ps = procs_of(srv.p.pid)
    nobody = pwd.getpwnam('nobody').pw_uid
    proto, dlv, res = ps['xlmtp-protocol'][0], ps['xlmtp-deliver'][0], ps['xlmtp-resolver'][0]
    t.eq(uid_of(proto), nobody, 'the protocol process runs as xidentd_user (nobody)')
    t.eq(os.readlink('/proc/%d/root' % proto), '/run/xidentd/empty',
         'the protocol process is chrooted to xidentd_chroot')
    t.eq(uid_of(res), nobody, 'the resolver process runs as xidentd_user (nobody)')
    t.eq(uid_of(dlv), 0, 'the deliverer is root (to become each mailbox owner)')
    secret = d.service_password.encode()
    with open(LMTPD, 'rb') as f:
        sanitized = b'__asan_init' in f.read()
    if sanitized:
        # ASan reserves terabytes of address space as rw mappings: no scan.
        for what in ('resolver holds', 'protocol process lacks', 'deliverer lacks'):
            t.skip('bind password scan: %s' % what, 'sanitizer build')
        c.send(b'QUIT\r\n')
        c.reply()
        c.close()
        return
    t.ok(memory_holds(res, secret), 'the resolver holds the bind password (the scan finds it)')
    t.ok(not memory_holds(proto, secret), 'the protocol process does not hold the bind password')
    t.ok(not memory_holds(dlv, secret), 'the deliverer does not hold the bind password')
    c.send(b'QUIT\r\n')
    c.reply()
    c.close()


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        sock = os.path.join(tempdir('lmtpsock-'), 'lmtp')
        port = free_port()
        conf = d.write_config(mail_root=root, lmtp_listen=[sock, '127.0.0.1:%d' % port])
        srv = Proc([LMTPD, '-c', conf], name='xidentd-lmtp')
        wait_path(sock, proc=srv)
        wait_port(port, proc=srv)
        t.run('smtplib', test_smtplib, t, sock, root)
        t.run('refusals', test_refusals, t, sock)
        t.run('mixed recipients', test_mixed, t, sock, root)
        t.run('swaks', test_swaks, t, port)
        t.run('pop3 round trip', test_pop3, t, d, root, sock)
        t.run('tempfail', test_tempfail, t, d, sock)
        t.run('privilege separation', test_privsep, t, srv, d, sock)
        srv.stop()
        t.eq(srv.p.returncode, 0, 'SIGTERM: exit 0')
        t.ok(not os.path.exists(sock), 'socket removed on exit')
        log = srv.output()
        t.run('refusal events', check_refusal_events, t, log)
        t.ok('Sanitizer' not in log and 'runtime error' not in log,
             'no sanitizer report (leaks, UB) from the server or its sessions')
        if t.failed:
            t.diag(srv.output_tail(40))
