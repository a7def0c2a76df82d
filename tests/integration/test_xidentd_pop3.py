#!/usr/bin/python3
"""xidentd, the standalone POP3 server, against the private slapd with the
sample directory and a temporary mail root: every logon form and refusal
over USER/PASS, AUTH PLAIN/LOGIN/NTLM (curl, impacket), the transaction
state on the Maildir store, the [IN-USE] lock, limits (over-long line,
connections per source, growing failure delay), hostile bytes, kill -9 of
one session, STLS and pop3s with a throwaway certificate, TLS handshake
failure (13002), SIGHUP reload, SIGTERM shutdown, and the network process's
memory at 1,000 idle connections."""
import base64
import warnings
import os
import poplib
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn, NtlmAuthClient, RawLine, curl_ntlm, impacket_ntlm, pop3_auth
import xdserver
from xdserver import (BAD, VMAIL_UID, XIDENTD, Server, check_logs, drop_messages, hangup, multiline,
                      session_processes, throwaway_cert, userpass)

warnings.simplefilter('ignore', DeprecationWarning)  # the TLS 1.1 probe
MESSAGE = (b'From: a@example.com\nTo: johnd@example.com\nSubject: hello\n\n'
           b'line one\n.dotted line\nline three\n')


def make_root():
    root = xdserver.make_root()
    # Two messages for johnd, dropped into new/ as any delivery agent does.
    drop_messages(root, 'johnd', [MESSAGE, MESSAGE])
    return root


LOGONS = [
    ('EXAMPLE\\jdoe', 'jdoe-pw', 'johnd'),
    ('EXAMPLE/jdoe', 'jdoe-pw', 'johnd'),
    ('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', 'johnd'),
    ('example/JDOE/JohnD', 'jdoe-pw', 'johnd'),
    ('jdoe', 'jdoe-pw', 'johnd'),
    ('johnd', 'jdoe-pw', 'johnd'),
    ('jdoe@example.com', 'jdoe-pw', 'johnd'),
    ('jdoe@example.com/helpdesk', 'jdoe-pw', 'helpdesk'),
    ('EXAMPLE\\asmith', 'asmith-pw', 'asmith'),
    ('EXAMPLE\\bjones', 'bjones-pw', 'bjones'),
    ('EXAMPLE\\bjones\\bjones-projects', 'bjones-pw', 'bjones-projects'),
    ('EXAMPLE\\mmiller\\mike', 'mmiller-pw', 'mike'),
    ('EXAMPLE\\hdadmin\\helpdesk', 'hdadmin-pw', 'helpdesk'),
    ('BRANCH\\cwhite\\helpdesk', 'cwhite-pw', 'helpdesk'),
    ('EXAMPLE\\kwong', 'kwong-pw', 'wong'),
    ('EXAMPLE\\jmueller', 'müller-pw', 'müller'),
]

# name, password, [response code], client text, event
REFUSALS = [
    ('EXAMPLE\\jdoe', 'wrong', 'AUTH', BAD, 13003),
    ('nosuchuser', 'whatever', 'AUTH', BAD, 13003),
    ('partner', 'jdoe-pw', 'AUTH', BAD, 13003),
    ('EXAMPLE\\olduser', 'olduser-pw', 'AUTH', 'account currently disabled', 13003),
    ('EXAMPLE\\olduser', 'wrong', 'AUTH', BAD, 13003),
    ('EXAMPLE\\asmith\\helpdesk', 'asmith-pw', 'AUTH',
     'Access to mailbox helpdesk is denied for EXAMPLE\\asmith', 1023),
    ('EXAMPLE\\jdoe\\partner', 'jdoe-pw', 'AUTH',
     'The requested mailbox is not available on this server. partner is a custom recipient', 13005),
    ('EXAMPLE\\nomail', 'nomail-pw', 'AUTH', 'not available on this server', 13005),
    ('EXAMPLE\\mmiller', 'mmiller-pw', 'AUTH', 'Ambiguous Alias: ', 13003),
    ('wong', 'kwong-pw', 'AUTH', 'Ambiguous Alias: the logon name wong is ambiguous', 13003),
    ('EXAMPLE\\rjames', 'rjames-pw', 'AUTH', 'mail2.example.com', 13005),
    ('imaponly', 'imaponly-pw', 'AUTH', 'POP3 is disabled for this mailbox', 11310),
    ('ntlmonly', 'ntlmonly-pw', 'AUTH', 'logons are disabled for this mailbox', 13003),
]


def test_logons(t, srv):
    for name, pw, alias in LOGONS:
        r = userpass(srv.port, name, pw, ['QUIT'])
        t.ok(r[0].startswith('+OK Logged on to mailbox %s:' % alias),
             'USER/PASS %s opens mailbox %s' % (name, alias), r)
    log = srv.log()
    t.ok('event=11202' in log and 'resolved="EXAMPLE\\\\jdoe -> johnd"' in log,
         'success audit 11202 logged with what the name resolved to')


def test_refusals(t, srv):
    for name, pw, code, text, event in REFUSALS:
        before = len(srv.log())
        r = userpass(srv.port, name, pw)
        t.ok(r[0].startswith('-ERR [%s] ' % code) and text in r[0],
             'refusal %s/%s: -ERR [%s] ...%s' % (name, pw, code, text), r)
        wait_until(lambda: 'event=%d ' % event in srv.log()[before:], timeout=10,
                   what='event') if 'event=%d ' % event not in srv.log()[before:] else None
        t.ok('event=%d ' % event in srv.log()[before:], 'refusal %s/%s: event %d logged' % (name, pw, event))
    # the same text for an unknown name and a wrong password
    a = userpass(srv.port, 'nosuchuser', 'x')[0]
    b = userpass(srv.port, 'EXAMPLE\\jdoe', 'x')[0]
    t.eq(a, b, 'unknown name and wrong password get the same line')
    t.ok('jdoe-pw' not in srv.log() and 'kwong-pw' not in srv.log(), 'no password in the log')


def sasl_plain(authz, authc, pw):
    return base64.b64encode(('%s\0%s\0%s' % (authz, authc, pw)).encode()).decode()


def test_sasl(t, srv):
    c = LineConn(srv.port)
    c.readline()
    c.send('CAPA')
    caps = multiline(c)
    t.ok('SASL PLAIN LOGIN NTLM' in caps and 'RESP-CODES' in caps and 'AUTH-RESP-CODE' in caps
         and 'UIDL' in caps and 'TOP' in caps and 'USER' in caps, 'CAPA lists SASL, RESP-CODES, UIDL, TOP', caps)
    t.ok('STLS' not in caps, 'no STLS without a certificate')
    c.send('AUTH')
    first = c.readline()
    t.eq([first] + multiline(c), ['+OK', 'PLAIN', 'LOGIN', 'NTLM'], 'AUTH alone lists mechanisms then . (MS-POP3)')
    c.send('AUTH PLAIN ' + sasl_plain('', 'EXAMPLE\\jdoe', 'jdoe-pw'))
    t.ok(c.readline().startswith('+OK Logged on to mailbox johnd'), 'AUTH PLAIN with initial response')
    hangup(c)
    line, _ = pop3_auth(srv.port, 'PLAIN', lambda ch: base64.b64decode(sasl_plain('', 'jdoe@example.com', 'jdoe-pw')))
    t.ok(line.startswith('+OK Logged on to mailbox johnd'), 'AUTH PLAIN after "+ " (UPN)', line)
    line, _ = pop3_auth(srv.port, 'PLAIN', lambda ch: base64.b64decode(sasl_plain('someone', 'jdoe', 'jdoe-pw')))
    t.ok(line.startswith('-ERR [AUTH]'), 'AUTH PLAIN with a different authorization identity refused', line)
    answers = iter([b'EXAMPLE\\mmiller\\mike', b'mmiller-pw'])
    line, tr = pop3_auth(srv.port, 'LOGIN', lambda ch: next(answers))
    t.ok(line.startswith('+OK Logged on to mailbox mike'), 'AUTH LOGIN (three-part name)', tr)
    line, _ = pop3_auth(srv.port, 'PLAIN', lambda ch: RawLine('*'))
    t.ok(line.startswith('-ERR') and 'cancel' in line.lower(), 'AUTH PLAIN cancelled with *', line)
    line, _ = pop3_auth(srv.port, 'PLAIN', lambda ch: RawLine('!!!notbase64'))
    t.ok(line.startswith('-ERR [AUTH]'), 'malformed base64 refused', line)
    line, _ = pop3_auth(srv.port, 'CRAM-MD5', lambda ch: b'')
    t.ok(line.startswith('-ERR'), 'unknown mechanism refused', line)
    # NTLM with impacket: a mailbox named through NTLM (account\alias in the user field)
    line, tr = pop3_auth(srv.port, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('+OK Logged on to mailbox johnd'), 'AUTH NTLM (impacket NTLMv2)', tr)
    line, tr = pop3_auth(srv.port, 'NTLM', impacket_ntlm('jdoe\\helpdesk', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('+OK Logged on to mailbox helpdesk'), 'AUTH NTLM naming a delegate mailbox', tr)
    client = NtlmAuthClient('asmith', 'asmith-pw', 'EXAMPLE')
    try:
        line, tr = pop3_auth(srv.port, 'NTLM', client)
    finally:
        client.close()
    t.ok(line.startswith('+OK Logged on to mailbox asmith'), 'AUTH NTLM (Samba ntlm_auth NTLMv2)', tr)
    line, tr = pop3_auth(srv.port, 'NTLM', impacket_ntlm('jdoe', 'wrong', 'EXAMPLE'))
    t.ok(line.startswith('-ERR [AUTH] ' + BAD), 'AUTH NTLM wrong password', line)
    line, tr = pop3_auth(srv.port, 'NTLM', lambda ch: b'NTLMSSP\0garbage')
    t.ok(line.startswith('-ERR [AUTH]'), 'malformed NTLM blob refused', line)
    t.ok('event=13004' in srv.log(), 'malformed NTLM logged as 13004')
    # curl: clear text and NTLM (after the sessions above released johnd's lock)
    wait_until(lambda: not srv.children('xidentd-mail'), timeout=10, what='sessions ended')
    r = subprocess.run(['curl', '-sS', '--max-time', '20', '-u', 'EXAMPLE\\jdoe:jdoe-pw',
                        'pop3://127.0.0.1:%d/' % srv.port], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    t.ok(r.returncode == 0 and re.match(r'1 \d+\r?\n2 \d+', r.stdout), 'curl pop3:// clear text lists 2 messages',
         r.stdout + r.stderr)
    wait_until(lambda: not srv.children('xidentd-mail'), timeout=10, what='sessions ended')
    r = curl_ntlm('pop3://127.0.0.1:%d/' % srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
    t.ok(r.returncode == 0 and '1 ' in r.stdout, 'curl pop3:// --login-options AUTH=NTLM', r.stderr[-800:])
    r = curl_ntlm('pop3://127.0.0.1:%d/' % srv.port, 'EXAMPLE\\jdoe', 'wrong')
    t.ok(r.returncode != 0, 'curl NTLM with a wrong password fails')


def test_transaction(t, srv):
    c = LineConn(srv.port)
    c.readline()
    c.send('USER EXAMPLE\\jdoe')
    c.readline()
    c.send('PASS jdoe-pw')
    t.ok(c.readline().startswith('+OK Logged on to mailbox johnd: 2 messages'), 'logon reports 2 messages')
    size = len(MESSAGE.replace(b'\n', b'\r\n'))
    c.send('STAT')
    t.eq(c.readline(), '+OK 2 %d' % (2 * size), 'STAT counts CRLF octets')
    c.send('LIST')
    c.readline()
    t.eq(multiline(c), ['1 %d' % size, '2 %d' % size], 'LIST')
    c.send('UIDL')
    c.readline()
    uidls = multiline(c)
    t.ok(len(uidls) == 2 and all(re.match(r'^\d [0-9A-F]{16}$', u) for u in uidls)
         and uidls[0] != uidls[1], 'UIDL: Dovecot format %08Xu%08Xv', uidls)
    c.send('RETR 1')
    t.ok(c.readline().startswith('+OK'), 'RETR +OK')
    body = multiline(c)
    t.ok('..dotted line' in body and 'Subject: hello' in body, 'RETR dot-stuffs', body)
    c.send('TOP 1 1')
    c.readline()
    top = multiline(c)
    t.eq(top[-2:], ['', 'line one'], 'TOP 1 1: headers, blank line, one body line')
    # the lock: a second session on the same mailbox is refused [IN-USE]
    r = userpass(srv.port, 'johnd', 'jdoe-pw')
    t.ok(r[0].startswith('-ERR [IN-USE]'), 'second session on a locked mailbox: [IN-USE]', r)
    c.send('DELE 1')
    t.ok(c.readline().startswith('+OK'), 'DELE 1')
    c.send('RETR 1')
    t.ok(c.readline().startswith('-ERR'), 'RETR of a deleted message refused')
    c.send('RSET')
    c.readline()
    c.send('STAT')
    t.eq(c.readline(), '+OK 2 %d' % (2 * size), 'RSET undeletes')
    c.send('DELE 2')
    c.readline()
    c.send('QUIT')
    t.ok(c.readline().startswith('+OK'), 'QUIT')
    hangup(c)
    r = userpass(srv.port, 'johnd', 'jdoe-pw', ['STAT', 'UIDL 1', 'QUIT'])
    t.eq(r[1], '+OK 1 %d' % size, 'after QUIT one message is left')
    t.eq(r[2], '+OK ' + uidls[0], 'the remaining message keeps its UIDL')


DOVECOT_POP3 = '/usr/lib/dovecot/pop3'


def dovecot_pop3(root, user):
    """Dovecot's own pop3 binary, preauthenticated over pipes as the mailbox
    owner, with pop3_lock_session on johnd's Maildir."""
    base = tempdir('xd-dovecot-')
    os.chmod(base, 0o755)
    conf = os.path.join(base, 'dovecot.conf')
    with open(conf, 'w') as f:
        f.write('mail_location = maildir:~/Maildir\nssl = no\nbase_dir = %s/run\n'
                'first_valid_uid = 1\nmail_uid = %d\nmail_gid = %d\n'
                'protocols = pop3\npop3_lock_session = yes\n' % (base, VMAIL_UID, VMAIL_UID))
    home = os.path.join(root, 'vmail', user)
    return subprocess.Popen(['setpriv', '--reuid=%d' % VMAIL_UID, '--regid=%d' % VMAIL_UID,
                             '--clear-groups', 'env', '-i', 'USER=' + user, 'HOME=' + home,
                             DOVECOT_POP3, '-c', conf],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(os.path.join(base, 'dovecot.log'), 'a'))


def test_dovecot_lock(t, srv, root):
    """xidentd and Dovecot's POP3 share Dovecot's pop3_lock_session file."""
    if not os.access(DOVECOT_POP3, os.X_OK):
        t.skip('xidentd and Dovecot POP3 share the session lock', 'Dovecot is not installed')
        return
    md = os.path.join(root, 'vmail', 'johnd', 'Maildir')
    pop = dovecot_pop3(root, 'johnd')
    pop.stdin.write(b'STAT\r\n')
    pop.stdin.flush()
    first = pop.stdout.readline()
    t.ok(first.startswith(b'+OK'), 'Dovecot POP3 session open on johnd', repr(first))
    t.ok(os.path.exists(os.path.join(md, 'dovecot-pop3-session.lock')),
         'Dovecot holds dovecot-pop3-session.lock')
    r = userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
    t.ok(r[0].startswith('-ERR [IN-USE]'), 'xidentd answers [IN-USE] while Dovecot\'s POP3 session holds the lock', r)
    pop.stdin.write(b'QUIT\r\n')
    pop.stdin.flush()
    pop.communicate(timeout=30)
    r = userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', ['STAT', 'QUIT'])
    t.ok(r[0].startswith('+OK') and r[1].startswith('+OK'), 'xidentd logs on after Dovecot\'s QUIT', r)

    c = LineConn(srv.port)
    c.readline()
    c.send('USER EXAMPLE\\jdoe')
    c.readline()
    c.send('PASS jdoe-pw')
    t.ok(c.readline().startswith('+OK'), 'xidentd POP3 session open on johnd')
    t.ok(os.path.exists(os.path.join(md, 'dovecot-pop3-session.lock'))
         and not os.path.exists(os.path.join(md, 'xidentd-pop3.lock')),
         'xidentd holds dovecot-pop3-session.lock (and no lock of its own)', sorted(os.listdir(md)))
    pop = dovecot_pop3(root, 'johnd')
    out, _ = pop.communicate(b'STAT\r\nQUIT\r\n', timeout=60)
    t.ok(b'[IN-USE]' in out and b'+OK' not in out, 'Dovecot POP3 answers [IN-USE] while xidentd\'s session holds the lock',
         repr(out))
    c.send('QUIT')
    t.ok(c.readline().startswith('+OK'), 'xidentd QUIT')
    hangup(c)
    t.ok(not os.path.exists(os.path.join(md, 'dovecot-pop3-session.lock')), 'xidentd removed the lock at QUIT')
    pop = dovecot_pop3(root, 'johnd')
    out, _ = pop.communicate(b'STAT\r\nQUIT\r\n', timeout=60)
    t.ok(out.startswith(b'+OK'), 'Dovecot POP3 logs on after xidentd\'s QUIT', repr(out))


def test_pipelining(t, srv):
    wait_until(lambda: not srv.children('xidentd-mail'), timeout=10, what='sessions ended')
    c = LineConn(srv.port)
    c.readline()
    c.s.sendall(b'USER jdoe\r\nPASS wrong\r\nUSER EXAMPLE\\asmith\r\nPASS asmith-pw\r\nSTAT\r\nQUIT\r\n')
    got = [c.readline() for _ in range(6)]
    hangup(c)
    t.ok(got[0] == '+OK' and got[1].startswith('-ERR [AUTH]') and got[2] == '+OK'
         and got[3].startswith('+OK Logged on to mailbox asmith') and got[4].startswith('+OK 0 0')
         and got[5].startswith('+OK'),
         'pipelined commands behind a delayed failure and across the hand-over to the session', got)


def test_hostile(t, srv):
    c = LineConn(srv.port)
    c.readline()
    c.send(b'USER jdoe\0evil')
    t.ok(c.readline().startswith('-ERR'), 'NUL in a command refused')
    c.send('USER *)(uid=*))(|(uid=*')
    c.readline()
    c.send('PASS x')
    t.ok(c.readline().startswith('-ERR [AUTH] ' + BAD), 'LDAP filter metacharacters: bad credentials')
    c.send(b'\xff\xfe\x80 garbage')
    t.ok(c.readline().startswith('-ERR'), 'binary garbage: -ERR')
    c.send('STAT')
    t.ok(c.readline().startswith('-ERR'), 'STAT before logon refused')
    hangup(c)
    c = LineConn(srv.port)
    c.readline()
    c.send('USER ' + 'A' * 5000)
    line = c.readline()
    t.ok(line.startswith('-ERR') and 'too long' in line, 'over-long line refused', line)
    try:
        c.readline()
        closed = False
    except (EOFError, OSError):
        closed = True
    t.ok(closed, 'over-long line closes the connection')
    hangup(c)
    r = userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', ['QUIT'])
    t.ok(r[0].startswith('+OK'), 'server still serves after hostile input')


def test_limits(t, d, root):
    srv = Server(d, root, name='xidentd-limits', max_connections_per_source=3,
                 logon_failure_delay=150, logon_failure_delay_max=2000, max_failed_logons=3,
                 diag_connections='maximum', idle_timeout_preauth=5)
    # wait_port's probe counts until the server has seen it close
    wait_until(lambda: 'event=11103' in srv.log(), timeout=10, what='probe closed')
    conns = [LineConn(srv.port) for _ in range(3)]
    for c in conns:
        c.readline()
    extra = LineConn(srv.port)
    line = extra.readline()
    t.ok(line.startswith('-ERR [SYS/TEMP]') and 'your address' in line,
         'fourth connection from one address refused', line)
    hangup(extra)
    for c in conns:
        hangup(c)
    # growing delay, and the connection closed after max_failed_logons
    wait_until(lambda: _can_connect(srv.port), timeout=10, what='slot free')
    c = LineConn(srv.port)
    c.readline()
    times = []
    for i in range(3):
        c.send('USER jdoe')
        c.readline()
        t0 = time.monotonic()
        c.send('PASS wrong%d' % i)
        c.readline()
        times.append(time.monotonic() - t0)
    # The delay is a floor (the directory's own time adds to it): 150, 300, 600 ms.
    t.ok(times[0] >= 0.14 and times[1] >= 0.29 and times[2] >= 0.58,
         'failure delay doubles per failure from the source (%.2f, %.2f, %.2f s)' % tuple(times))
    try:
        c.readline()
        closed = False
    except (EOFError, OSError):
        closed = True
    t.ok(closed, 'connection closed after max_failed_logons failures')
    hangup(c)
    t0 = time.monotonic()
    userpass(srv.port, 'jdoe', 'wrong-again')
    t.ok(time.monotonic() - t0 >= 0.9, 'a new connection from the same source keeps the penalty (%.2f s)'
         % (time.monotonic() - t0))
    c = LineConn(srv.port)
    c.readline()
    t0 = time.monotonic()
    line = c.readline()
    t.ok(line.startswith('-ERR') and 'Idle' in line and 4 <= time.monotonic() - t0 < 15,
         'idle_timeout_preauth closes a silent connection (%.1f s)' % (time.monotonic() - t0), line)
    hangup(c)
    srv.proc.stop()


def test_session_limit(t, d, root):
    srv = Server(d, root, name='xidentd-sessions', max_connections=2)
    held = []
    for name, pw in (('EXAMPLE\\bjones', 'bjones-pw'), ('EXAMPLE\\asmith', 'asmith-pw')):
        c = LineConn(srv.port)
        c.readline()
        c.send('USER ' + name)
        c.readline()
        c.send('PASS ' + pw)
        t.ok(c.readline().startswith('+OK'), 'session %s within max_connections' % name)
        held.append(c)
    r = userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
    t.ok(r[0].startswith('-ERR [SYS/TEMP]') and 'sessions' in r[0],
         'logged-on sessions count against max_connections', r)
    for c in held:
        hangup(c)
    wait_until(lambda: not srv.children('xidentd-mail'), timeout=10, what='sessions ended')
    r = userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', ['QUIT'])
    t.ok(r[0].startswith('+OK'), 'a session slot is free again once sessions end', r)
    srv.proc.stop()


def _can_connect(port):
    try:
        c = LineConn(port)
        ok = c.readline().startswith('+OK')
        hangup(c)
        return ok
    except (OSError, EOFError):
        return False


def test_kill_session(t, srv):
    a = LineConn(srv.port)
    a.readline()
    a.send('USER EXAMPLE\\bjones')
    a.readline()
    a.send('PASS bjones-pw')
    t.ok(a.readline().startswith('+OK'), 'session A (bjones) logged on')
    b = LineConn(srv.port)
    b.readline()
    b.send('USER EXAMPLE\\asmith')
    b.readline()
    b.send('PASS asmith-pw')
    t.ok(b.readline().startswith('+OK'), 'session B (asmith) logged on')
    mails = srv.children('xidentd-mail')
    t.eq(len(mails), 2, 'two mail processes')
    owners = {}
    for pid in mails:
        with open('/proc/%d/status' % pid) as f:
            st = f.read()
        owners[pid] = re.search(r'^Uid:\s+(\d+)', st, re.M).group(1)
        groups = re.search(r'^Groups:[ \t]*(.*)$', st, re.M).group(1).strip()
        t.ok(owners[pid] == str(VMAIL_UID) and groups == '', 'mail process %d runs as uid %d, no supplementary groups' % (pid, VMAIL_UID))
    os.kill(mails[0], signal.SIGKILL)
    wait_until(lambda: mails[0] not in srv.children('xidentd-mail'), timeout=10, what='killed')
    alive = []
    for c in (a, b):
        try:
            c.send('STAT')
            alive.append(c.readline().startswith('+OK'))
        except (EOFError, OSError):
            alive.append(False)
    t.eq(sorted(alive), [False, True], 'kill -9 of one session leaves the other serving')
    t.ok(_can_connect(srv.port), 'server accepts new connections after the kill')
    hangup(a)
    hangup(b)
    net = srv.children('xidentd-net')
    with open('/proc/%d/status' % net[0]) as f:
        st = f.read()
    t.ok(re.search(r'^Uid:\s+(\d+)', st, re.M).group(1) != '0', 'network process is not root')
    t.eq(os.readlink('/proc/%d/root' % net[0]) != '/', True, 'network process is chrooted')


def test_kill_auth(t, srv):
    old = srv.children('xidentd-auth')
    os.kill(old[0], signal.SIGKILL)
    wait_until(lambda: srv.children('xidentd-auth') and srv.children('xidentd-auth') != old,
               timeout=10, what='new auth process')
    r = userpass(srv.port, 'EXAMPLE\\asmith', 'asmith-pw', ['QUIT'])
    t.ok(r[0].startswith('+OK'), 'auth process killed: the master starts a new one and logons work', r)
    t.ok('auth process ended; starting a new one' in srv.log(), 'the restart is logged')


def test_tls(t, d, root):
    cert, key = throwaway_cert()
    port_s = free_port()
    srv = Server(d, root, name='xidentd-tls', tls_cert_file=cert, tls_key_file=key,
                 pop3s_listen='127.0.0.1:%d' % port_s)
    wait_port(port_s, proc=srv.proc)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    p = poplib.POP3(('127.0.0.1'), srv.port, timeout=20)
    caps = p.capa()
    if not t.ok('STLS' in caps, 'CAPA offers STLS with a certificate'):
        t.diag(srv.log())
    p.stls(ctx)
    t.ok('STLS' not in p.capa(), 'no STLS after STLS')
    p.user('EXAMPLE\\jdoe')
    t.ok(p.pass_('jdoe-pw').startswith(b'+OK Logged on to mailbox johnd'), 'logon after STLS')
    t.ok(p.stat()[0] >= 1, 'STAT over STLS (relayed to the mail process)')
    t.ok(len(p.retr(1)[1]) > 3, 'RETR over STLS')
    p.quit()
    p = poplib.POP3_SSL('127.0.0.1', port_s, context=ctx, timeout=20)
    t.ok(p.getwelcome().startswith(b'+OK'), 'pop3s greeting over implicit TLS')
    p.user('EXAMPLE\\asmith')
    t.ok(p.pass_('asmith-pw').startswith(b'+OK'), 'logon over pop3s')
    p.quit()
    line, tr = pop3_auth_tls(port_s, ctx)
    t.ok(line.startswith('+OK'), 'AUTH NTLM over pop3s (impacket)', tr)
    # old protocol refused; garbage handshake logged as 13002
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        old.set_ciphers('ALL:@SECLEVEL=0')
        s = old.wrap_socket(socket.create_connection(('127.0.0.1', port_s), timeout=10))
        s.close()
        refused = False
    except (ssl.SSLError, OSError):
        refused = True
    t.ok(refused, 'TLS 1.1 refused')
    s = socket.create_connection(('127.0.0.1', port_s), timeout=10)
    s.sendall(b'GET / HTTP/1.0\r\n\r\n')
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
    wait_until(lambda: 'event=13002' in srv.log(), timeout=10, what='13002')
    t.ok('event=13002' in srv.log() and 'TLS handshake failed' in srv.log(), 'TLS handshake failure logged as 13002')
    # command injection after STLS is discarded
    c = LineConn(srv.port)
    c.readline()
    c.s.sendall(b'STLS\r\nCAPA\r\n')
    t.eq(c.readline(), '+OK Begin TLS negotiation', 'STLS answered')
    tls = ctx.wrap_socket(c.s, server_hostname='localhost')
    tls.sendall(b'NOOP\r\n')
    t.eq(tls.recv(100), b'+OK\r\n', 'clear-text input sent with STLS is discarded (first TLS answer is NOOP\'s)')
    tls.close()
    # SIGHUP: reload with a new certificate
    cert2, key2 = throwaway_cert()
    os.replace(cert2, cert)
    os.replace(key2, key)
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_until(lambda: srv.log().count('tls: certificates loaded') >= 2, timeout=10, what='reload')
    der = ssl.PEM_cert_to_DER_cert(open(cert).read())
    s = ssl._create_unverified_context().wrap_socket(socket.create_connection(('127.0.0.1', port_s), timeout=10))
    t.ok(s.getpeercert(binary_form=True) == der, 'SIGHUP loads the new certificate')
    s.close()
    t.ok(userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', ['QUIT'])[0].startswith('+OK'),
         'logons work after SIGHUP (new auth process)')
    # SIGHUP also rereads the directory and NTLM settings
    with open(srv.conf, 'a') as f:
        f.write('ntlm_protocols = imap\n')
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_until(lambda: srv.log().count('reloaded ') >= 2, timeout=10, what='second reload')
    line, _ = pop3_auth(srv.port, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.eq(line, '-ERR [AUTH] ' + 'The NTLM Authentication package has been disabled for this protocol.',
         'SIGHUP applies a changed ntlm_protocols')
    # a broken config is refused and the running one kept
    with open(srv.conf, 'a') as f:
        f.write('no_such_key = 1\n')
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_until(lambda: 'keeping the old one' in srv.log(), timeout=10, what='refused reload')
    t.ok('no_such_key' in srv.log() and userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', ['QUIT'])[0].startswith('+OK'),
         'SIGHUP with a bad config: problem logged, old config kept, logons work')
    srv.proc.stop()


def pop3_auth_tls(port, ctx):
    c = LineConn.__new__(LineConn)
    c.s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port), timeout=20), server_hostname='localhost')
    c.f = c.s.makefile('rb')
    c.transcript = []
    driver = impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE')
    c.readline()
    c.send('AUTH NTLM')
    while True:
        line = c.readline()
        if line.startswith('+OK') or line.startswith('-ERR'):
            hangup(c)
            return line, c.transcript
        ch = base64.b64decode(line[1:].strip()) if line[1:].strip() else b''
        c.send(base64.b64encode(driver(ch)).decode())


def test_plaintext(t, d, root):
    """plaintext_logons = tls: clear-text logons only after STLS, even from
    loopback (the default, secure, allows loopback: every other test)."""
    cert, key = throwaway_cert()
    srv = Server(d, root, name='xidentd-plaintext', tls_cert_file=cert, tls_key_file=key,
                 plaintext_logons='tls')
    text = 'Plaintext authentication disallowed on non-secure (SSL/TLS) connections.'
    c = LineConn(srv.port)
    c.readline()
    c.send('CAPA')
    c.readline()
    caps = multiline(c)
    t.ok('USER' not in caps and 'SASL NTLM' in caps and 'STLS' in caps,
         'CAPA before STLS: no USER, SASL NTLM only, STLS offered', caps)
    c.send('AUTH')
    first = c.readline()
    t.eq([first] + multiline(c), ['+OK', 'NTLM'], 'AUTH alone lists only NTLM before STLS')
    before = len(srv.log())
    c.send('USER EXAMPLE\\jdoe')
    t.eq(c.readline(), '-ERR [AUTH] ' + text, 'USER before STLS refused with the outcome text')
    c.send('PASS jdoe-pw')
    t.eq(c.readline(), '-ERR [AUTH] ' + text, 'PASS before STLS refused')
    c.send('AUTH PLAIN ' + sasl_plain('', 'EXAMPLE\\jdoe', 'jdoe-pw'))
    t.eq(c.readline(), '-ERR [AUTH] ' + text, 'AUTH PLAIN before STLS refused')
    c.send('AUTH LOGIN')
    t.eq(c.readline(), '-ERR [AUTH] ' + text, 'AUTH LOGIN before STLS refused')
    hangup(c)
    log = srv.log()[before:]
    t.ok('event=13003' in log and 'plaintext_logons' in log and 'jdoe-pw' not in log,
         'refusal logged as 13003 naming plaintext_logons, no password', log[-600:])
    line, tr = pop3_auth(srv.port, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('+OK Logged on to mailbox johnd'), 'NTLM is allowed without TLS', tr)
    wait_until(lambda: not srv.children('xidentd-mail'), timeout=10, what='sessions ended')
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    p = poplib.POP3('127.0.0.1', srv.port, timeout=20)
    p.stls(ctx)
    caps = p.capa()
    t.ok('USER' in caps and 'PLAIN' in caps.get('SASL', []), 'after STLS: USER and SASL PLAIN offered', caps)
    p.user('EXAMPLE\\jdoe')
    t.ok(p.pass_('jdoe-pw').startswith(b'+OK Logged on to mailbox johnd'), 'USER/PASS after STLS')
    p.quit()
    srv.proc.stop()


def test_long_challenge(t, d, root):
    """An NTLM challenge far longer than 1 KiB (long DNS names in its target
    information) reaches the client whole."""
    long_domain = ('d' * 60 + '.') * 3 + 'example.com'
    long_host = ('h' * 60 + '.') * 3 + 'example.com'
    srv = Server(d, root, name='xidentd-longchallenge', ntlm_dns_domain=long_domain,
                 ntlm_dns_computer=long_host)
    c = LineConn(srv.port)
    c.readline()
    c.send('AUTH NTLM')
    c.readline()
    driver = impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE')
    c.send(base64.b64encode(driver(b'')).decode())
    line = c.readline()
    blob = base64.b64decode(line[2:]) if line.startswith('+ ') else b''
    t.ok(len(line) > 1100 and blob.startswith(b'NTLMSSP\0') and
         long_domain.encode('utf-16-le') in blob and long_host.encode('utf-16-le') in blob,
         'challenge line of %d bytes arrives whole with both long names' % len(line))
    c.send(base64.b64encode(driver(blob)).decode())
    line = c.readline()
    t.ok(line.startswith('+OK Logged on to mailbox johnd'), 'NTLM logon through the long challenge', line)
    hangup(c)
    srv.proc.stop()


def _logon(port, name, pw):
    c = LineConn(port)
    c.readline()
    c.send('USER ' + name)
    c.readline()
    c.send('PASS ' + pw)
    return c, c.readline()


def test_user_limit(t, d, root):
    """max_user_sessions: sessions per user and remote address, counted by
    the master; the refusal is [IN-USE] with the outcome table's text."""
    cert, key = throwaway_cert()
    srv = Server(d, root, name='xidentd-userlimit', max_user_sessions=1,
                 tls_cert_file=cert, tls_key_file=key)
    # jdoe logs on to two different mailboxes (his own, and helpdesk as a
    # delegate): the limit is per canonical user, so only the mailbox counts.
    a, line = _logon(srv.port, 'EXAMPLE\\bjones', 'bjones-pw')
    t.ok(line.startswith('+OK'), 'first session of bjones', line)
    before = len(srv.log())
    b, line = _logon(srv.port, 'EXAMPLE\\bjones', 'bjones-pw')
    t.ok(line.startswith('-ERR [IN-USE] Too many sessions') and 'max_user_sessions = 1' in line,
         'second session of bjones from the same address: [IN-USE] naming the limit', line)
    try:
        closed = b.readline() == ''
    except (EOFError, OSError):
        closed = True
    t.ok(closed, 'the refused connection is closed')
    hangup(b)
    wait_until(lambda: 'event=13003' in srv.log()[before:], timeout=10, what='event')
    log = srv.log()[before:]
    t.ok('event=13003' in log and 'max_user_sessions is 1' in log and 'bjones' in log,
         'refusal logged as 13003 with the count, the user and the limit', log[-600:])
    try:
        c, line = _logon(srv.port, 'EXAMPLE\\asmith', 'asmith-pw')
    except (EOFError, OSError) as e:
        c, line = None, repr(e)
    if not t.ok(line.startswith('+OK'), 'another user is not affected', line):
        t.diag(srv.log()[-3000:])
    if c is not None:
        hangup(c)
    # over STLS the refusal travels through the network process's relay
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    p = poplib.POP3('127.0.0.1', srv.port, timeout=20)
    p.stls(ctx)
    p.user('EXAMPLE\\bjones')
    try:
        r = p.pass_('bjones-pw')
    except poplib.error_proto as e:
        r = e.args[0]
    t.ok(r.startswith(b'-ERR [IN-USE] Too many sessions'), 'the same refusal over STLS', r)
    try:
        p.close()
    except OSError:
        pass
    hangup(a)
    wait_until(lambda: not srv.children('xidentd-mail'), timeout=10, what='sessions ended')
    c, line = _logon(srv.port, 'EXAMPLE\\bjones', 'bjones-pw')
    t.ok(line.startswith('+OK'), 'once the first session ended, bjones may log on again', line)
    hangup(c)
    srv.proc.stop()


def test_ntlm_disabled(t, d, root):
    srv = Server(d, root, name='xidentd-nontlm', ntlm_protocols='imap')
    line, tr = pop3_auth(srv.port, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.eq(line, '-ERR [AUTH] The NTLM Authentication package has been disabled for this protocol.',
         'NTLM disabled for POP3: Exchange\'s text')
    srv.proc.stop()


def test_tempfail(t, d, srv):
    d.stop()
    r = userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
    t.ok(r[0].startswith('-ERR [SYS/TEMP]'), 'directory down: -ERR [SYS/TEMP], never bad password', r)
    d.start()


def pss_kib(pid):
    with open('/proc/%d/smaps_rollup' % pid) as f:
        text = f.read()
    return int(re.search(r'^Pss:\s+(\d+) kB', text, re.M).group(1)), \
        int(re.search(r'^Rss:\s+(\d+) kB', text, re.M).group(1))


def test_memory(t, d, root, n=int(os.environ.get('XD_MEM_CONNS', '1000'))):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 500), hard))
    if hard < n + 200:
        t.skip('memory at %d connections' % n, 'open file limit %d' % hard)
        return
    srv = Server(d, root, name='xidentd-mem', max_connections_per_source=n + 10)
    net = srv.children('xidentd-net')[0]
    _can_connect(srv.port)
    pss0, rss0 = pss_kib(net)
    conns = []
    for _ in range(n):
        c = LineConn(srv.port)
        c.readline()
        conns.append(c)
    pss1, rss1 = pss_kib(net)
    per_pss = (pss1 - pss0) * 1024.0 / n
    per_rss = (rss1 - rss0) * 1024.0 / n
    t.diag('network process at %d idle plain connections: PSS %d -> %d KiB (%.0f bytes each), '
           'RSS %d -> %d KiB (%.0f bytes each); kernel socket buffers not included'
           % (n, pss0, pss1, per_pss, rss0, rss1, per_rss))
    t.ok(per_pss <= 8192, 'idle plain connection costs <= 8 KiB PSS (%.0f bytes)' % per_pss)
    for c in conns:
        hangup(c)
    srv.proc.stop()
    # the same over implicit TLS (handshake done, greeting read)
    cert, key = throwaway_cert()
    port_s = free_port()
    srv = Server(d, root, name='xidentd-mem-tls', max_connections_per_source=n + 10,
                 tls_cert_file=cert, tls_key_file=key, pop3s_listen='127.0.0.1:%d' % port_s)
    wait_port(port_s, proc=srv.proc)
    net = srv.children('xidentd-net')[0]
    ctx = ssl._create_unverified_context()
    pss0, rss0 = pss_kib(net)
    socks = []
    for _ in range(n):
        s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port_s), timeout=20))
        s.recv(100)
        socks.append(s)
    pss1, rss1 = pss_kib(net)
    per_tls = (pss1 - pss0) * 1024.0 / n
    t.diag('network process at %d idle TLS connections: PSS %d -> %d KiB (%.0f bytes each)'
           % (n, pss0, pss1, per_tls))
    if os.environ.get('XD_XIDENTD'):
        t.skip('idle TLS connection under 64 KiB', 'sanitizer build: ASan pads every allocation')
    else:
        t.ok(per_tls < 64 * 1024, 'idle TLS connection under 64 KiB (%.0f bytes PSS; OpenSSL state)' % per_tls)
    for s in socks:
        s.close()
    srv.proc.stop()


def test_daemon(t, d, root):
    port = free_port()
    chroot = tempdir('xdchroot-')
    os.chmod(chroot, 0o755)
    conf = d.write_config(xidentd_chroot=chroot, mail_root=root, pop3_listen='127.0.0.1:%d' % port)
    pidfile = os.path.join(tempdir('xdpid-'), 'xidentd.pid')
    r = run([XIDENTD, '-c', conf, '-p', pidfile], timeout=30)
    t.eq(r.returncode, 0, 'without -F the master daemonizes and the starter exits 0')
    try:
        wait_path(pidfile)
        wait_port(port)
        t.ok(userpass(port, 'EXAMPLE\\asmith', 'asmith-pw', ['QUIT'])[0].startswith('+OK'), 'daemon serves logons')
    finally:
        stop_pidfile(pidfile)
    t.ok(not _can_connect(port) and not os.path.exists(pidfile), 'daemon stopped by its pid; pid file removed')
    r = run([XIDENTD, '-c', '/nonexistent/xident.conf', '-F'], timeout=30)
    t.ok(r.returncode == 2 and '/nonexistent/xident.conf' in r.stderr, 'missing config: exit 2 naming the file', r.stderr)


def _socket_inodes(pid):
    out = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            out.add(int(link[8:-1]))
    return out


def _libraries(pid):
    with open('/proc/%d/maps' % pid) as f:
        return {os.path.basename(l.split()[-1]) for l in f if '.so' in l}


def _status_field(pid, name):
    with open('/proc/%d/status' % pid) as f:
        return re.search(r'^%s:\s+(\S+)' % name, f.read(), re.M).group(1)


def test_spawner(t, d, root):
    """The spawner (xidentd-session) forks the mail processes: a small
    program that only the master can talk to; killing it loses no session
    and no count (max_user_sessions)."""
    srv = Server(d, root, name='xidentd-spawner', max_user_sessions=1)
    # it names itself once exec'ed; the network process may be up before that
    wait_until(lambda: srv.children('xidentd-spawn'), timeout=10, what='the spawner')
    sp = srv.children('xidentd-spawn')
    t.eq(len(sp), 1, 'one spawner process')
    spawner = sp[0]
    t.eq(_status_field(spawner, 'Uid'), '0', 'the spawner is root (it becomes each mailbox user)')
    libs = _libraries(spawner)
    heavy = sorted(l for l in libs if l.startswith(('libcrypto', 'libssl', 'libldap', 'libgnutls')))
    t.eq(heavy, [], 'the spawner maps neither OpenSSL nor libldap')
    # Who holds the other end of the spawner's socket: the master alone.
    mine = _socket_inodes(spawner)
    peers = set()
    for line in subprocess.run(['ss', '-x', '-a', '-n'], stdout=subprocess.PIPE, text=True).stdout.splitlines():
        f = line.split()
        if len(f) >= 8 and f[5].isdigit() and f[7].isdigit() and int(f[5]) in mine:
            peers.add(int(f[7]))
    holders = sorted(p for p in session_processes(srv.proc.pid) if _socket_inodes(p) & peers)
    t.eq(holders, [srv.proc.pid], "only the master holds the spawner's socket (not the network or auth process)")

    a, line = _logon(srv.port, 'EXAMPLE\\bjones', 'bjones-pw')
    t.ok(line.startswith('+OK'), 'session A (bjones) logged on', line)
    mails = srv.children('xidentd-mail')
    t.eq(len(mails), 1, 'one mail process')
    t.eq(_status_field(mails[0], 'PPid'), str(spawner), 'the spawner forked it')
    heavy = sorted(l for l in _libraries(mails[0]) if l.startswith(('libcrypto', 'libssl', 'libldap')))
    t.eq(heavy, [], 'the mail process maps neither OpenSSL nor libldap')

    os.kill(spawner, signal.SIGKILL)
    wait_until(lambda: [p for p in srv.children('xidentd-spawn') if p != spawner], timeout=10,
               what='a new spawner')
    t.ok('spawner ended; starting a new one' in srv.log(), 'the master starts a new spawner, and logs it')
    a.send('STAT')
    t.ok(a.readline().startswith('+OK'), 'session A still serves after the spawner was killed')
    b, line = _logon(srv.port, 'EXAMPLE\\bjones', 'bjones-pw')
    t.ok(line.startswith('-ERR [IN-USE]'), 'session A still counts for max_user_sessions', line)
    hangup(b)
    c, line = _logon(srv.port, 'EXAMPLE\\asmith', 'asmith-pw')
    t.ok(line.startswith('+OK'), 'the new spawner starts sessions', line)
    hangup(c)
    hangup(a)
    wait_until(lambda: not srv.children('xidentd-mail'), timeout=10, what='sessions ended')
    c, line = _logon(srv.port, 'EXAMPLE\\bjones', 'bjones-pw')
    t.ok(line.startswith('+OK'), 'session A ended (reaped by the master): bjones may log on again', line)
    hangup(c)
    srv.proc.stop()


def test_shutdown(t, srv):
    pid = srv.proc.pid
    os.kill(pid, signal.SIGTERM)
    try:
        srv.proc.p.wait(10)
        code = srv.proc.p.returncode
    except subprocess.TimeoutExpired:
        code = None
    t.eq(code, 0, 'SIGTERM: clean exit 0')
    t.ok(not _can_connect(srv.port), 'port closed after SIGTERM')


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        srv = Server(d, root)
        only = os.environ.get('XD_ONLY')
        if only:
            for name in only.split(','):
                globals()['test_' + name](*{'tls': (t, d, root), 'memory': (t, d, root), 'session_limit': (t, d, root), 'daemon': (t, d, root), 'ntlm_disabled': (t, d, root), 'plaintext': (t, d, root), 'user_limit': (t, d, root), 'spawner': (t, d, root), 'long_challenge': (t, d, root),
                                               'limits': (t, d, root), 'dovecot_lock': (t, srv, root)}.get(name, (t, srv)))
            sys.exit(1 if t.failed else 0)
        t.run('logon forms', test_logons, t, srv)
        t.run('refusals', test_refusals, t, srv)
        t.run('sasl', test_sasl, t, srv)
        t.run('transaction', test_transaction, t, srv)
        t.run('pipelining', test_pipelining, t, srv)
        t.run('dovecot session lock', test_dovecot_lock, t, srv, root)
        t.run('hostile', test_hostile, t, srv)
        t.run('kill -9 session', test_kill_session, t, srv)
        t.run('kill -9 auth', test_kill_auth, t, srv)
        t.run('tempfail', test_tempfail, t, d, srv)
        t.run('limits', test_limits, t, d, root)
        t.run('session limit', test_session_limit, t, d, root)
        t.run('ntlm disabled', test_ntlm_disabled, t, d, root)
        t.run('plaintext logons', test_plaintext, t, d, root)
        t.run('user session limit', test_user_limit, t, d, root)
        t.run('spawner', test_spawner, t, d, root)
        t.run('long NTLM challenge', test_long_challenge, t, d, root)
        t.run('tls', test_tls, t, d, root)
        t.run('memory', test_memory, t, d, root)
        t.run('daemon', test_daemon, t, d, root)
        t.run('shutdown', test_shutdown, t, srv)
        check_logs(t)
