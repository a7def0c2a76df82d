#!/usr/bin/python3
"""xidentd against a hostile client, item by item of the review:
- one remote address holding many half-done NTLM exchanges (NEGOTIATE
  sent, never an AUTHENTICATE) cannot deny NTLM to another address; its
  own exchanges are capped and expire;
- after a logon neither the network process nor the auth process still
  holds the user's password in memory (IMAP LOGIN, AUTHENTICATE PLAIN and
  LOGIN, POP3 PASS and AUTH PLAIN): /proc/PID/mem is searched for it;
- xidentd refuses an xidentd_chroot below a folder others may write;
- xidentd-lmtp delivers to one recipient while the directory holds back
  the lookup of another (a TCP relay in front of slapd keeps every request
  naming "stallme" until released); with lmtp_resolver_threads = 1 it
  cannot, so the check can fail."""
import base64
import os
import socket
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn, impacket_ntlm
from xdserver import VMAIL_UID, XIDENTD, Server, hangup, make_root, memory_holds, throwaway_cert
from stallrelay import StallRelay

LMTPD = build_path('standalone', 'xidentd-lmtp')
if os.environ.get('XD_XIDENTD'):  # the sanitizer build's, beside its xidentd
    LMTPD = os.path.join(os.path.dirname(os.environ['XD_XIDENTD']), 'xidentd-lmtp')

NEGOTIATE = None


def negotiate_b64():
    from impacket import ntlm
    return base64.b64encode(ntlm.getNTLMSSPType1('', '', signingRequired=False,
                                                  use_ntlmv2=True).getData()).decode()


class SourceConn(LineConn):
    """A LineConn from a chosen loopback source address (all of 127/8 is
    local on Linux): the server sees a distinct remote address."""

    def __init__(self, port, source):
        self.s = socket.socket()
        self.s.settimeout(20)
        self.s.bind((source, 0))
        self.s.connect(('127.0.0.1', port))
        self.f = self.s.makefile('rb')
        self.transcript = []


def half_done_ntlm(port, source):
    """POP3 AUTH NTLM up to the server's CHALLENGE, left there; returns
    (connection, whether a challenge came)."""
    c = SourceConn(port, source)
    c.readline()
    c.send('AUTH NTLM')
    if not c.readline().startswith('+'):
        return c, False
    c.send(NEGOTIATE)
    line = c.readline()
    return c, line.startswith('+ ') and len(line) > 20


def ntlm_logon(port, source, user, password, domain):
    c = SourceConn(port, source)
    drive = impacket_ntlm(user, password, domain)
    try:
        c.readline()
        c.send('AUTH NTLM')
        while True:
            line = c.readline()
            if line.startswith('+OK') or line.startswith('-ERR'):
                return line
            ch = line[1:].strip()
            c.send(base64.b64encode(drive(base64.b64decode(ch) if ch else b'')).decode())
    except (OSError, EOFError) as e:
        return repr(e)
    finally:
        hangup(c)


def test_ntlm_flood(t, d, root):
    held = 300  # more than the 256 fixed slots xidentd once had
    # The defaults: the table as large as max_connections, the cap per
    # source as max_connections_per_source.
    srv = Server(d, root, name='xidentd-ntlmflood', max_connections=held + 100,
                 max_connections_per_source=held + 50, logon_failure_delay=0,
                 logon_failure_delay_max=0)
    conns, challenged = [], 0
    for _ in range(held):
        c, ok = half_done_ntlm(srv.port, '127.0.0.1')
        conns.append(c)
        challenged += ok
    t.ok(challenged == held, '127.0.0.1 opens %d NTLM exchanges and leaves them half done: '
         'each gets its challenge (the table holds max_connections)' % held, challenged)
    line = ntlm_logon(srv.port, '127.0.0.2', 'jdoe', 'jdoe-pw', 'EXAMPLE')
    t.ok(line.startswith('+OK Logged on to mailbox johnd'),
         'meanwhile 127.0.0.2 logs on with NTLM', line)
    for c in conns:
        hangup(c)
    srv.proc.stop()
    # A cap of its own below the connection limit.
    srv = Server(d, root, name='xidentd-ntlmcap', max_connections=held + 100,
                 max_connections_per_source=held + 50, max_ntlm_exchanges_per_source=16,
                 logon_failure_delay=0, logon_failure_delay_max=0)
    conns, challenged = [], 0
    for _ in range(40):
        c, ok = half_done_ntlm(srv.port, '127.0.0.1')
        conns.append(c)
        challenged += ok
    t.ok(challenged == 16, 'max_ntlm_exchanges_per_source = 16: 16 of 40 half-done exchanges from '
         '127.0.0.1 get a challenge', challenged)
    t.ok('holds max_ntlm_exchanges_per_source (16)' in srv.log(), 'the refusal is logged naming the key',
         srv.log()[-1500:])
    line = ntlm_logon(srv.port, '127.0.0.2', 'jdoe', 'jdoe-pw', 'EXAMPLE')
    t.ok(line.startswith('+OK Logged on to mailbox johnd'),
         'meanwhile 127.0.0.2 logs on with NTLM', line)
    for c in conns:
        hangup(c)
    # The held exchanges end with their connections: the source may start anew.
    wait_until(lambda: half_done_ntlm(srv.port, '127.0.0.1')[1], timeout=20,
               what='an exchange from 127.0.0.1 after its connections closed')
    t.ok(True, 'closed connections give their exchanges back')
    srv.proc.stop()

    # Abandoned exchanges expire (ntlm_exchange_timeout) while their
    # connections stay open.
    srv = Server(d, root, name='xidentd-ntlmage', max_ntlm_exchanges_per_source=2,
                 ntlm_exchange_timeout=2, logon_failure_delay=0, logon_failure_delay_max=0)
    conns = [half_done_ntlm(srv.port, '127.0.0.1') for _ in range(3)]
    t.ok([ok for _, ok in conns] == [True, True, False],
         'max_ntlm_exchanges_per_source = 2: the third is refused', [ok for _, ok in conns])
    start = time.monotonic()
    late = []

    def fresh():
        c, ok = half_done_ntlm(srv.port, '127.0.0.1')
        if ok:
            late.append(c)
        else:
            hangup(c)  # a refused one holds no exchange, only a connection
        return ok
    wait_until(fresh, timeout=20, what='a new exchange once the old ones expired')
    t.ok(time.monotonic() - start >= 1.5, 'a new one starts once the abandoned ones are 2 s old '
         '(their connections still open)', time.monotonic() - start)
    for c, _ in conns:
        hangup(c)
    for c in late:
        hangup(c)

    # A client that answers the challenge after ntlm_exchange_timeout is
    # told so, and the event names the timeout, not a malformed message.
    slow = SourceConn(srv.port, '127.0.0.3')
    drive = impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE')
    slow.readline()
    slow.send('AUTH NTLM')
    slow.readline()
    slow.send(base64.b64encode(drive(b'')).decode())
    challenge = slow.readline()
    t.ok(challenge.startswith('+ ') and len(challenge) > 20, 'the slow client gets a challenge', challenge)
    other, ok = half_done_ntlm(srv.port, '127.0.0.3')
    t.ok(ok, 'a second exchange from its address: the cap (2) is reached')
    late = []
    # The slow client's exchange has expired once its address may start
    # another (the cap frees when the two are ntlm_exchange_timeout old).
    wait_until(fresh_from(srv.port, '127.0.0.3', late), timeout=20, what='the slow exchange expired')
    mark = len(srv.log())
    slow.send(base64.b64encode(drive(base64.b64decode(challenge[2:].strip()))).decode())
    answer = slow.readline()
    t.ok(answer.startswith('-ERR [AUTH] The NTLM logon took too long'),
         'the late AUTHENTICATE: the client is told the logon took too long', answer)
    event = wait_until(lambda: [ln for ln in srv.log()[mark:].splitlines()
                                if 'event=13004' in ln and 'remote=127.0.0.3' in ln],
                       timeout=20, what='event 13004 for 127.0.0.3')
    t.ok(len(event) == 1 and 'outcome=ntlm_timeout' in event[0] and
         'ntlm_exchange_timeout (2 s)' in event[0] and 'raise ntlm_exchange_timeout' in event[0],
         'one event 13004 outcome=ntlm_timeout naming the key, its value and the remedy', event)
    t.ok('malformed' not in srv.log()[mark:], 'not logged as a malformed message', srv.log()[mark:])
    # Trying again (the client text's advice) works on the same connection.
    drive = impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE')
    slow.send('AUTH NTLM')
    line = slow.readline()
    while line.startswith('+') and not line.startswith('+OK'):
        ch = line[1:].strip()
        slow.send(base64.b64encode(drive(base64.b64decode(ch) if ch else b'')).decode())
        line = slow.readline()
    t.ok(line.startswith('+OK Logged on to mailbox johnd'), 'a prompt retry logs on', line)
    for c in [slow, other] + late:
        hangup(c)
    out = srv.log()
    t.ok('Sanitizer' not in out and 'runtime error' not in out, 'no sanitizer report', out[-2000:])
    srv.proc.stop()


def fresh_from(port, source, late):
    """A condition: a new half-done exchange from source gets a challenge
    (kept in late), or the refused connection is closed."""
    def fresh():
        c, ok = half_done_ntlm(port, source)
        if ok:
            late.append(c)
        else:
            hangup(c)
        return ok
    return fresh


def imap_session(port, lines):
    """Sends lines one at a time (each after the previous answer) and
    returns the last answer; the session is left open, logged on."""
    c = LineConn(port)
    c.readline()
    last = ''
    for ln in lines:
        c.send(ln)
        while True:
            last = c.readline()
            if last.startswith('+') or last.startswith('a1 '):
                break
    return c, last


def imaps_session(port, lines, cafile):
    """imap_session over implicit TLS."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=20))
    c = LineConn.__new__(LineConn)
    c.s, c.f, c.transcript = s, s.makefile('rb'), []
    c.readline()
    last = ''
    for ln in lines:
        c.send(ln)
        while True:
            last = c.readline()
            if last.startswith('+') or last.startswith('a1 '):
                break
    return c, last


def pop3_session(port, lines):
    c = LineConn(port)
    c.readline()
    last = ''
    for ln in lines:
        c.send(ln)
        last = c.readline()
    return c, last


def b64(s):
    return base64.b64encode(s.encode()).decode()


def test_no_password_left(t, d, root, mode):
    imap_port, imaps_port = free_port(), free_port()
    cert, key = throwaway_cert()
    srv = Server(d, root, name='xidentd-wipe-' + mode, imap_listen='127.0.0.1:%d' % imap_port,
                 imaps_listen='127.0.0.1:%d' % imaps_port, tls_cert_file=cert, tls_key_file=key,
                 password_mode=mode)
    cases = [
        ('IMAP LOGIN', 'jdoe-pw', lambda: imap_session(imap_port, ['a1 LOGIN EXAMPLE\\jdoe jdoe-pw'])),
        ('IMAP LOGIN with a literal', 'kwong-pw',
         lambda: imap_session(imap_port, ['a1 LOGIN EXAMPLE\\kwong {8}', 'kwong-pw'])),
        ('IMAP AUTHENTICATE PLAIN', 'asmith-pw',
         lambda: imap_session(imap_port, ['a1 AUTHENTICATE PLAIN', b64('\0EXAMPLE\\asmith\0asmith-pw')])),
        ('IMAP AUTHENTICATE PLAIN (SASL-IR)', 'bjones-pw',
         lambda: imap_session(imap_port, ['a1 AUTHENTICATE PLAIN ' + b64('\0EXAMPLE\\bjones\0bjones-pw')])),
        ('IMAP AUTHENTICATE LOGIN', 'hdadmin-pw',
         lambda: imap_session(imap_port, ['a1 AUTHENTICATE LOGIN', b64('EXAMPLE\\hdadmin\\helpdesk'),
                                          b64('hdadmin-pw')])),
        ('POP3 USER/PASS', 'mmiller-pw',
         lambda: pop3_session(srv.port, ['USER EXAMPLE\\mmiller\\mike', 'PASS mmiller-pw'])),
        ('POP3 AUTH PLAIN', 'reception-pw',
         lambda: pop3_session(srv.port, ['AUTH PLAIN ' + b64('\0reception\0reception-pw')])),
        ('POP3 AUTH LOGIN', 'branch-jdoe-pw',
         lambda: pop3_session(srv.port, ['AUTH LOGIN', b64('BRANCH\\jdoe'), b64('branch-jdoe-pw')])),
        ('IMAP LOGIN over TLS (imaps)', 'cwhite-pw',
         lambda: imaps_session(imaps_port, ['a1 LOGIN BRANCH\\cwhite\\helpdesk cwhite-pw'], cert)),
    ]
    sessions = []
    for what, pw, run in cases:
        c, last = run()
        sessions.append(c)
        ok = last.startswith('a1 OK') or last.startswith('+OK Logged on')
        if not t.ok(ok, '%s (password_mode = %s): logged on' % (what, mode), last):
            continue
        net, auth = srv.children('xidentd-net'), srv.children('xidentd-auth')
        forms = [pw.encode(), b64(pw).encode()] + [
            b64(x).encode() for x in ('\0EXAMPLE\\asmith\0asmith-pw', '\0EXAMPLE\\bjones\0bjones-pw',
                                      '\0reception\0reception-pw') if pw in x]
        left = [(name, pid, f) for name, pids in (('network', net), ('auth', auth)) for pid in pids
                for f in forms if memory_holds(pid, f)]
        t.ok(net and auth and not left, '%s (password_mode = %s): the password (clear or base64) is '
             'in neither the network nor the auth process afterwards' % (what, mode), left)
    # A refused password (often the real one mistyped) on a connection
    # that stays open, waiting for the next command.
    for what, pw, run in [
            ('IMAP LOGIN refused', 'jdoe-typo-pw',
             lambda: imap_session(imap_port, ['a1 LOGIN EXAMPLE\\jdoe jdoe-typo-pw'])),
            ('IMAP LOGIN with a third argument (BAD)', 'jdoe-extra-pw',
             lambda: imap_session(imap_port, ['a1 LOGIN EXAMPLE\\jdoe jdoe-extra-pw extra'])),
            ('IMAP LOGIN over TLS refused', 'cwhite-typo-pw',
             lambda: imaps_session(imaps_port, ['a1 LOGIN BRANCH\\cwhite\\helpdesk cwhite-typo-pw'], cert)),
            ('IMAP AUTHENTICATE PLAIN refused', 'asmith-typo-pw',
             lambda: imap_session(imap_port, ['a1 AUTHENTICATE PLAIN ' +
                                              b64('\0EXAMPLE\\asmith\0asmith-typo-pw')])),
            ('POP3 PASS refused', 'mmiller-typo-pw',
             lambda: pop3_session(srv.port, ['USER EXAMPLE\\mmiller\\mike', 'PASS mmiller-typo-pw']))]:
        c, last = run()
        sessions.append(c)
        if not t.ok(last.startswith(('a1 NO', 'a1 BAD', '-ERR')),
                    '%s (password_mode = %s): refused, connection open' % (what, mode), last):
            continue
        net, auth = srv.children('xidentd-net'), srv.children('xidentd-auth')
        left = [(name, pid) for name, pids in (('network', net), ('auth', auth)) for pid in pids
                if memory_holds(pid, pw.encode())]
        t.ok(net and auth and not left, '%s (password_mode = %s): the password is in neither '
             'process while the connection waits' % (what, mode), left)
    for c in sessions:
        hangup(c)
    out = srv.log()
    t.ok('Sanitizer' not in out and 'runtime error' not in out, 'no sanitizer report', out[-2000:])
    srv.proc.stop()


def test_chroot_path(t, d, root):
    base = tempdir('xdchroot-path-')
    os.chmod(base, 0o755)
    opened = os.path.join(base, 'open')
    chroot = os.path.join(opened, 'chroot')
    os.makedirs(chroot, 0o755)
    os.chmod(opened, 0o777)
    conf = d.write_config(xidentd_chroot=chroot, mail_root=root,
                          pop3_listen='127.0.0.1:%d' % free_port())
    r = subprocess.run([XIDENTD, '-F', '-c', conf], capture_output=True, text=True, timeout=30)
    t.ok(r.returncode != 0 and '%s is writable by group and others (mode 0777)' % opened in r.stderr,
         'a chroot below a world-writable folder: xidentd refuses to start, naming the folder',
         (r.returncode, r.stderr[-1500:]))
    os.chmod(opened, 0o755)
    os.chown(opened, 1000, 1000)
    r = subprocess.run([XIDENTD, '-F', '-c', conf], capture_output=True, text=True, timeout=30)
    t.ok(r.returncode != 0 and '%s is owned by uid 1000, not root' % opened in r.stderr,
         'a chroot below a folder another user owns: refused, naming it', (r.returncode, r.stderr[-1500:]))
    os.chown(opened, 0, 0)
    port = free_port()
    conf = d.write_config(xidentd_chroot=chroot, mail_root=root, pop3_listen='127.0.0.1:%d' % port)
    p = Proc([XIDENTD, '-F', '-c', conf], name='xidentd-chroot-ok')
    wait_port(port, proc=p)
    t.ok(True, 'the same path made safe: xidentd starts')
    p.stop()


def lmtp_rcpt(sock_path, rcpt, result, key):
    """One LMTP transaction to rcpt; result[key] = (RCPT reply, DATA reply, when)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(90)
    try:
        s.connect(sock_path)
        f = s.makefile('rb')

        def reply():
            while True:
                ln = f.readline().decode('utf-8', 'replace').rstrip('\r\n')
                if ln == '' or len(ln) < 4 or ln[3] != '-':
                    return ln

        reply()
        s.sendall(b'LHLO mta.example\r\n')
        reply()
        s.sendall(b'MAIL FROM:<a@elsewhere.example>\r\n')
        reply()
        s.sendall(b'RCPT TO:<%s>\r\n' % rcpt.encode())
        r = reply()
        d = ''
        if r.startswith('250'):
            s.sendall(b'DATA\r\n')
            reply()
            s.sendall(b'Subject: held\r\n\r\nbody\r\n.\r\n')
            d = reply()
        s.sendall(b'QUIT\r\n')
        result[key] = (r, d, time.monotonic())
    except OSError as e:
        result[key] = (repr(e), '', time.monotonic())
    finally:
        s.close()


def lmtp_while_held(t, d, root, relay, threads):
    sock = os.path.join(tempdir('lmtpsock-'), 'lmtp')
    chroot = tempdir('xdchroot-')
    os.chmod(chroot, 0o755)
    conf = d.write_config(mail_root=root, xidentd_chroot=chroot, lmtp_listen=[sock],
                          uris=['ldap://127.0.0.1:%d' % relay.port], ldap_timeout=60,
                          ldap_pool_size=4, lmtp_resolver_threads=threads)
    srv = Proc([LMTPD, '-c', conf], name='xidentd-lmtp-%d' % threads)
    wait_path(sock, proc=srv)
    relay.rearm()
    res = {}
    held = threading.Thread(target=lmtp_rcpt, args=(sock, 'stallme@example.com', res, 'held'))
    held.start()
    t.ok(relay.holding.wait(20), 'lmtp_resolver_threads = %d: the relay holds the lookup of '
         'stallme@example.com' % threads)
    other = threading.Thread(target=lmtp_rcpt, args=(sock, 'johnd@example.com', res, 'other'))
    other.start()
    other.join(8)
    during = dict(res)
    relay.release()
    held.join(90)
    other.join(90)
    out = srv.output()
    srv.stop()
    return during, res, out


def test_lmtp_concurrent(t, d, root):
    relay = StallRelay(d.port)
    try:
        during, res, out = lmtp_while_held(t, d, root, relay, 4)
        t.ok('other' in during and during['other'][0].startswith('250') and
             during['other'][1].startswith('250') and 'held' not in during,
             'lmtp_resolver_threads = 4: johnd@example.com is delivered while the lookup of '
             'another recipient is held', during)
        t.ok(res.get('held', ('',))[0].startswith('550'), 'the held recipient is answered (unknown: '
             '550) once the directory answers', res.get('held'))
        t.ok('Sanitizer' not in out and 'runtime error' not in out, 'no sanitizer report', out[-2000:])
        during, res, out = lmtp_while_held(t, d, root, relay, 1)
        t.ok('other' not in during, 'lmtp_resolver_threads = 1: no other delivery while the lookup '
             'is held (the check above can fail)', during)
        t.ok(res.get('other', ('',))[1].startswith('250') and res.get('held', ('',))[0].startswith('550'),
             'and both are answered once it is released', res)
    finally:
        relay.stop()


with Tap() as t:
    root = make_root()
    NEGOTIATE = negotiate_b64()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        test_chroot_path(t, d, root)
        test_ntlm_flood(t, d, root)
        for mode in ('hash', 'bind'):
            test_no_password_left(t, d, root, mode)
        test_lmtp_concurrent(t, d, root)
