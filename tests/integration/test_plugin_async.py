#!/usr/bin/python3
"""passdb/userdb xident answered by resolver threads inside Dovecot's auth
process (not by auth-workers), in a real Dovecot 2.3 over the private slapd
with the sample directory:

  - many logons in flight at once, right and wrong passwords interleaved,
    through the auth-client socket (one connection, answers matched by
    request id: each names its own mailbox or refuses) and through IMAP and
    POP3 sessions opened in parallel;
  - after a logon the userdb step does no directory work (userdb xident
    alone, no prefetch: it answers from the fields the passdb returned);
    a lookup without a logon (doveadm user) does;
  - slapd stopped in the middle of a run: every request is answered, as a
    temporary failure once slapd is gone, none hangs; logons work again
    when it is back;
  - a directory that never answers (a TCP listener that accepts and stays
    silent): the bounded queue refuses the excess at once (temporary
    failure, logged reason), and SIGTERM to the auth process while jobs run
    and wait ends it cleanly (queued jobs answered as failed, no crash in
    the master's log), then the whole Dovecot stops on SIGTERM;
  - blocking=yes still works (auth-worker processes), and so does threads=0
    (the resolver in the auth process's main thread, for a local mirror)."""
import base64
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot
from slapd import Slapd, sample_ldif
from mailclients import imap_login, pop3_userpass

MODULES = [build_path('plugin', '.libs', 'libauthdb_xident.so')]

# (logon name, password, mailbox it opens)
USERS = [('EXAMPLE\\jdoe', 'jdoe-pw', 'johnd'),
         ('EXAMPLE\\asmith', 'asmith-pw', 'asmith'),
         ('BRANCH\\cwhite', 'cwhite-pw', 'cwhite'),
         ('EXAMPLE\\jdoe\\helpdesk', 'jdoe-pw', 'helpdesk'),
         ('bjones', 'bjones-pw', 'bjones')]


class AuthClient:
    """Dovecot's auth-client protocol on the auth socket: requests pipelined
    on one connection, replies read by a thread of its own (so that a
    sender never blocks on a full socket) and matched by id."""

    def __init__(self, path, timeout=30.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b''
        self.got = {}
        self.closed = False
        self.cond = threading.Condition()
        self.s.sendall(b'VERSION\t1\t2\nCPID\t%d\n' % os.getpid())
        while self._readline() != 'DONE':
            pass
        self.s.settimeout(None)
        self.reader = threading.Thread(target=self._read_replies, daemon=True)
        self.reader.start()

    def _readline(self):
        while b'\n' not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError('auth process closed the connection')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        return line.decode('utf-8', 'replace')

    def _read_replies(self):
        try:
            while True:
                parts = self._readline().split('\t')
                if parts[0] in ('OK', 'FAIL') and len(parts) > 1 and parts[1].isdigit():
                    fields = dict(p.split('=', 1) if '=' in p else (p, '') for p in parts[2:])
                    with self.cond:
                        self.got[int(parts[1])] = (parts[0], fields)
                        self.cond.notify_all()
        except (EOFError, OSError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def send_plain(self, rid, user, password, service='imap'):
        resp = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode()).decode()
        self.s.sendall(('AUTH\t%d\tPLAIN\tservice=%s\tsecured\tresp=%s\n' %
                        (rid, service, resp)).encode())

    def replies(self, ids, timeout):
        """{id: (OK|FAIL, {field: value})} for the ids answered before the
        deadline (or before the connection closed)."""
        want = set(ids)
        deadline = time.monotonic() + timeout
        with self.cond:
            while want - set(self.got) and not self.closed and time.monotonic() < deadline:
                self.cond.wait(max(0.01, deadline - time.monotonic()))
            return {i: self.got[i] for i in want if i in self.got}

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()
        self.reader.join(10)


class SilentLdap:
    """A TCP listener that accepts connections and never answers: an LDAP
    server that hangs.  Stopped by stop()."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()
        self.thread.join(5)


def children(pid):
    """Pids of the processes whose parent is pid."""
    out = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                with open('/proc/%s/stat' % d) as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')
    except OSError:
        return []


def is_worker(argv):
    return any(b'auth-worker' in a for a in argv) or b'-w' in argv



def auth_workers(d):
    return [p for p in children(d.pid) if is_worker(cmdline(p))]


def gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def instance(slapd, name, args='', userdb='xident', conf=None, uris=None):
    userdb_text = ('userdb {\n  driver = prefetch\n}\n' if userdb == 'prefetch' else '') + \
        'userdb {\n  driver = xident\n  args = %(dir)s/xident.conf' + args + '\n}'
    d = Dovecot(passdb='passdb {\n  driver = xident\n  args = %(dir)s/xident.conf' + args + '\n}',
                userdb=userdb_text, modules=MODULES, mechanisms='plain login',
                name=name, auth_socket=True)
    slapd.write_config(path=os.path.join(d.dir, 'xident.conf'), uris=uris, **(conf or {}))
    return d


def temporary(reply):
    """A FAIL the client is told to retry (Dovecot 2.3: code=temp_fail)."""
    return reply is not None and reply[0] == 'FAIL' and reply[1].get('code') == 'temp_fail'


def test_pipelined(t, d, rounds=12):
    """len(USERS) * 2 * rounds requests on one auth connection at once."""
    c = AuthClient(d.auth_socket)
    want = {}
    rid = 0
    for r in range(rounds):
        for name, password, mailbox in USERS:
            for wrong in (False, True):
                rid += 1
                c.send_plain(rid, name, password + ('x' if wrong else ''),
                             service='imap' if rid % 3 else 'pop3')
                want[rid] = ('FAIL', None) if wrong else ('OK', mailbox)
    got = c.replies(want, timeout=60)
    c.close()
    t.eq(len(got), len(want), '%d pipelined logons on one auth connection: every one answered' % len(want))
    bad = []
    for i, (status, mailbox) in want.items():
        g = got.get(i)
        if g is None or g[0] != status or (mailbox is not None and g[1].get('user') != mailbox) or \
                temporary(g):
            bad.append((i, status, mailbox, g))
    t.ok(not bad, 'pipelined: each answer is its own (right password -> its mailbox, '
         'wrong -> refused, never temporary)', '\n'.join(map(repr, bad[:10])))


def test_parallel_sessions(t, d, workers=8, per_worker=6):
    imap, pop3 = d.port('imap'), d.port('pop3')
    results, lock = [], threading.Lock()

    def work(k):
        for j in range(per_worker):
            name, password, mailbox = USERS[(k + j) % len(USERS)]
            wrong = (k + j) % 2 == 1
            pw = password + ('x' if wrong else '')
            if j % 2 == 0:
                line = imap_login(imap, name, pw)[0]
                ok = line.startswith('a1 OK') if not wrong else line.startswith('a1 NO [AUTHENTICATIONFAILED]')
            else:
                line = pop3_userpass(pop3, name, pw)[0]
                ok = line.startswith('+OK') if not wrong else line.startswith('-ERR [AUTH]')
            with lock:
                results.append((ok, name, wrong, line))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    bad = [r for r in results if not r[0]]
    t.eq(len(results), workers * per_worker,
         '%d IMAP/POP3 sessions in parallel: every one answered' % (workers * per_worker))
    t.ok(not bad, 'parallel sessions: right passwords log on, wrong ones are refused',
         '\n'.join(map(repr, bad[:10])))


def test_userdb_no_directory(t, d):
    """userdb xident alone after a passdb logon: the fields came with it."""
    mark = d.log_mark()
    logons = 0
    for name, password, mailbox in USERS[:3]:
        line = imap_login(d.port('imap'), name, password)[0]
        t.ok(line.startswith('a1 OK'), 'userdb-only instance: %s logs on over IMAP' % name, line)
        d.wait_log('Login: user=<%s>' % mailbox, mark)
        logons += 1
    log = d.wait_log('mailbox fields came with the logon', mark)
    came = log.count('mailbox fields came with the logon')
    t.eq(came, logons, 'userdb after each IMAP logon answered from the passdb\'s fields')
    t.ok('looking up mailbox' not in log, 'userdb after a logon sent no directory search',
         [l for l in log.splitlines() if 'looking up mailbox' in l][:5])
    mark = d.log_mark()
    r = d.doveadm('user', 'johnd')
    t.ok(r.returncode == 0 and 'home' in r.stdout, 'doveadm user johnd (no logon) is answered', r.stdout + r.stderr)
    log = d.wait_log('looking up mailbox johnd in the directory', mark)
    t.contains(log, 'looking up mailbox johnd in the directory',
               'a lookup without a logon searches the directory')
    r = d.doveadm('user', 'nosuchmailbox')
    t.ok(r.returncode != 0 and "doesn't exist" in r.stdout + r.stderr,
         'doveadm user of an unknown mailbox: user unknown', r.stdout + r.stderr)


def test_slapd_stops(t, d, slapd):
    """slapd stopped while logons are in flight: each is answered."""
    try:
        stop_slapd_mid_run(t, d, slapd)
    finally:
        if not slapd.running():
            slapd.start()
    c = AuthClient(d.auth_socket)
    c.send_plain(1, USERS[0][0], USERS[0][1])
    g = c.replies([1], timeout=30).get(1)
    c.close()
    t.ok(g is not None and g[0] == 'OK' and g[1].get('user') == USERS[0][2],
         'slapd back: logons work again', '%r\n%s' % (g, d.log_tail(30)))


def stop_slapd_mid_run(t, d, slapd):
    c = AuthClient(d.auth_socket)
    stopper = threading.Thread(target=slapd.stop)
    want = []
    # Logons keep going in while slapd is being stopped: some run before,
    # some while, some after it went away.
    i = 0
    while i < 40 or (stopper.is_alive() and i < 3000):
        i += 1
        name, password, _ = USERS[i % len(USERS)]
        c.send_plain(i, name, password)
        want.append(i)
        if i == 40:
            stopper.start()
        if i % 10 == 0:
            time.sleep(0.005)  # pacing the sender, not synchronisation
    stopper.join(60)
    after = list(range(10001, 10021))
    for i in after:
        name, password, _ = USERS[i % len(USERS)]
        c.send_plain(i, name, password)
    t0 = time.monotonic()
    got = c.replies(want + after, timeout=90)
    took = time.monotonic() - t0
    c.close()
    ok = sum(1 for g in got.values() if g[0] == 'OK')
    temp = sum(1 for g in got.values() if temporary(g))
    t.eq(len(got), len(want) + len(after),
         'slapd stopped mid-run: all %d logons answered (%d OK, %d temporary failures; '
         'the last in %.1f s), none hangs' % (len(want) + len(after), ok, temp, took))
    t.ok(ok > 0 and temp > len(after), 'slapd stopped mid-run: logons succeeded before and failed '
         'temporarily after (%d, %d)' % (ok, temp))
    wrong = [(i, g) for i, g in got.items() if g[0] == 'FAIL' and not temporary(g)]
    t.ok(not wrong, 'no logon is told "bad password" because slapd went away', wrong[:5])
    late = [got.get(i) for i in after]
    t.ok(all(temporary(g) for g in late),
         'logons after slapd stopped: temporary failure', late[:3])


def test_silent_directory(t, slapd):
    silent = SilentLdap()
    d = instance(slapd, 'silent', args=' threads=2 queue=4', uris=['ldap://127.0.0.1:%d' % silent.port],
                 conf={'ldap_timeout': 4, 'ldap_network_timeout': 4})
    try:
        d.start()
        mark = d.log_mark()
        # A client that goes away while its logons run and wait (2 threads
        # busy, 1 queued): their answers, when they come, must find the
        # requests still valid (Dovecot keeps them: auth_request_ref).
        gone_client = AuthClient(d.auth_socket)
        for i in range(1, 4):
            gone_client.send_plain(i, USERS[1][0], USERS[1][1])
        wait_until(lambda: 'Performing passdb lookup' in d.log_since(mark), timeout=10,
                   what='the first logon reaching the passdb')
        gone_client.close()
        c = AuthClient(d.auth_socket)
        ids = list(range(1, 11))
        for i in ids:
            c.send_plain(i, USERS[0][0], USERS[0][1])
        # 2 running and 1 queued for the client gone; 3 more fit the queue:
        # the other 7 are refused at once.
        early = c.replies(ids, timeout=2.5)
        t.ok(len(early) >= 4 and all(temporary(g) for g in early.values()),
             'queue full (threads=2 queue=4, 13 logons): the excess (%d) is refused at once as a '
             'temporary failure' % len(early), early)
        log = d.wait_log('already wait for a resolver thread', mark)
        t.contains(log, 'already wait for a resolver thread', 'queue full: the reason is logged')
        pid = d.auth_pid()
        t.ok(pid is not None, 'found the auth process', children(d.pid))
        if pid is None:
            return
        t.ok(len(os.listdir('/proc/%d/task' % pid)) >= 3, 'the auth process runs resolver threads')
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        rest = c.replies([i for i in ids if i not in early], timeout=30)
        wait_until(lambda: gone(pid), timeout=30, what='auth process exit')
        took = time.monotonic() - t0
        t.ok(gone(pid), 'SIGTERM with jobs running and queued: the auth process exits (%.1f s)' % took)
        t.ok(all(g[0] == 'FAIL' for g in rest.values()),
             'SIGTERM: no pending logon is answered OK (%d answered before exit)' % len(rest), rest)
        log = d.wait_log('auth process stopping', mark, timeout=5)
        t.contains(log, 'auth process stopping: logon not resolved',
                   'SIGTERM: the queued logons were answered as failed')
        # The master reports a child that crashed or exited with an error.
        bad = [l for l in d.log_since(mark).splitlines()
               if 'Panic' in l or 'Fatal' in l or 'killed with signal' in l or
               'returned error' in l or 'core dumped' in l]
        t.ok(not bad, 'SIGTERM: the auth process exited cleanly (no panic, crash or error exit)', bad)
        c.close()
        # The master starts a new auth process; stop everything while a
        # logon waits on the silent directory.
        c = AuthClient(d.auth_socket)
        c.send_plain(1, USERS[0][0], USERS[0][1])
        master = d.pid
        t0 = time.monotonic()
        d.proc.p.send_signal(signal.SIGTERM)
        wait_until(lambda: d.proc.p.poll() is not None and not children(master),
                   timeout=30, what='Dovecot exit')
        t.ok(d.proc.p.poll() is not None and not children(master),
             'SIGTERM to Dovecot with a logon in flight: every process exits (%.1f s)' % (time.monotonic() - t0))
        c.close()
    finally:
        d.stop()
        silent.stop()


def test_blocking(t, slapd, args=' blocking=yes', what='blocking=yes (auth-workers)'):
    d = instance(slapd, args.strip().replace('=', '-'), args=args, userdb='prefetch')
    try:
        d.start()
        c = AuthClient(d.auth_socket)
        want = {}
        for i, (name, password, mailbox) in enumerate(USERS * 2, 1):
            wrong = i % 2 == 0
            c.send_plain(i, name, password + ('x' if wrong else ''))
            want[i] = ('FAIL', None) if wrong else ('OK', mailbox)
        got = c.replies(want, timeout=60)
        c.close()
        bad = [(i, w, got.get(i)) for i, w in want.items()
               if got.get(i) is None or got[i][0] != w[0] or
               (w[1] is not None and got[i][1].get('user') != w[1])]
        t.ok(not bad, '%s: each logon gets its own answer' % what, bad)
        workers = auth_workers(d)
        threads = [l for l in d.log().splitlines() if 'resolver threads' in l]
        if 'blocking' in args:
            t.ok(workers, '%s: the logons ran in auth-worker processes' % what,
                 [cmdline(p) for p in children(d.pid)])
        else:
            t.ok(not workers and not threads, '%s: no auth-worker, no resolver thread' % what,
                 [workers, threads])
        line = imap_login(d.port('imap'), USERS[0][0], USERS[0][1])[0]
        t.ok(line.startswith('a1 OK'), '%s: IMAP logon' % what, line)
        t.ok(not d.crashes(), '%s: no Fatal/Panic' % what, d.crashes())
    finally:
        d.stop()



def test_default_threads(t, slapd):
    """Without threads=: one resolver thread per search connection in hash
    mode (a logon holds nothing else; more threads would only wait for a
    connection), twice as many in bind mode (search set + bind set)."""
    for mode, pool, want in (('hash', 3, 3), ('bind', 3, 6)):
        d = instance(slapd, 'threads-%s' % mode, conf={'password_mode': mode, 'ldap_pool_size': str(pool)})
        d.start()
        try:
            c = AuthClient(d.auth_socket)
            c.send_plain(1, USERS[0][0], USERS[0][1])
            g = c.replies([1], timeout=30).get(1)
            c.close()
            lines = [l for l in d.log().splitlines() if 'resolver threads' in l]
            t.ok(g is not None and g[0] == 'OK' and any('xident: %d resolver threads' % want in l for l in lines),
                 '%s mode, ldap_pool_size = %d: %d resolver threads by default' % (mode, pool, want),
                 '%r %r' % (g, lines))
        finally:
            d.stop()


with Tap() as t:
    for m in MODULES:
        if not os.path.exists(m):
            t.ok(False, 'module built: ' + m)
            raise SystemExit(t.done())
    holder = Dovecot(passdb='', name='homes')
    homes = os.path.join(holder.dir, 'home')
    os.makedirs(homes, exist_ok=True)
    os.chown(homes, holder.uid, holder.gid)
    slapd = Slapd(ldif=[sample_ldif(homes, uid=holder.uid, gid=holder.gid)])

    # A queue larger than anything sent here: every temporary failure below
    # comes from the directory, none from the queue limit.
    d = instance(slapd, 'async', args=' threads=4 queue=100000')
    d.start()
    t.run('pipelined', test_pipelined, t, d)
    t.run('parallel sessions', test_parallel_sessions, t, d)
    t.run('userdb', test_userdb_no_directory, t, d)
    threads = [l for l in d.log().splitlines() if 'resolver threads' in l]
    t.ok(any('4 resolver threads' in l for l in threads), 'threads=4: the log says 4 resolver threads', threads)
    t.ok(d.auth_pid() is not None and not auth_workers(d), 'an auth process and no auth-worker process',
         [cmdline(p) for p in children(d.pid)])
    t.run('slapd stops', test_slapd_stops, t, d, slapd)
    t.ok(not d.crashes(), 'async instance: no Fatal/Panic', d.crashes())
    t.ok('already wait for a resolver thread' not in d.log(), 'async instance: the queue never overflowed')
    d.stop()
    t.run('silent directory', test_silent_directory, t, slapd)
    t.run('blocking', test_blocking, t, slapd)
    t.run('inline', test_blocking, t, slapd, ' threads=0', 'threads=0 (main thread)')
    t.run('default threads', test_default_threads, t, slapd)
