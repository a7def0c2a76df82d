#!/usr/bin/python3
"""A password is sent to the directory once per logon, however the bind
ends (plugin/passdb-xident.c, the bind sent from the auth process's main
thread in bind mode with the directory mirror; core/ldap_conn.c).

A real Dovecot 2.3 with passdb xident (password_mode = bind,
directory_mirror = yes, ldap_pool_size = 1) reaches the private slapd
through a TCP relay in this test that passes every byte on both ways and
counts the client->server chunks holding a given password: how many times
that password reached slapd.  The relay can also

- cut a connection after passing on a request that holds CUT_PW, once
  slapd has answered it (the answer is dropped): the bind reached the
  server, the auth process sees the connection break before any answer.
  The logon is a temporary failure and the password went out once (before
  the fix the logon was retried on a resolver thread: twice, which a
  directory counting failed attempts, ppolicy, counts as two);
- close, from the server's side, the idle bind connection: the next logon
  finds it closed before sending anything, sends its password once on a
  new connection and logs on (a restarted or idle-timed-out slapd costs no
  failed logon).

Then 60 logons pipelined on one auth-socket connection, right and wrong
passwords interleaved, all waiting for the one bind connection
(ldap_pool_size = 1): each bind goes out on the connection the previous
answer came back on (held by the main thread, not returned to the pool in
between); every answer is its own, every bind was sent from the main
thread, and each right password reached slapd once per logon.
"""
import base64
import collections
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot
from slapd import Slapd, sample_ldif
from mailclients import imap_login

MODULES = [build_path('plugin', '.libs', 'libauthdb_xident.so')]
BIND = "a bind sent from the auth process's main thread"
BIND_THREAD = "bind not answered in the main thread: to a resolver thread"
CUT_PW = b'cut-after-send-pw'
RIGHT_PW = b'jdoe-pw'
SYNC_WAIT = 60.0


class Pair:
    def __init__(self, c, s):
        self.c, self.s = c, s
        self.carried = set()
        self.cut = False


class CountingRelay:
    """Loopback TCP relay to slapd that counts, per watched pattern, the
    client->server chunks holding it (a bind request is one small chunk)."""

    def __init__(self, target_port, watch):
        self.target = target_port
        self.watch = tuple(watch)
        self.seen = collections.Counter()
        self.pairs = []
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.bind(('127.0.0.1', 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.uri = 'ldap://127.0.0.1:%d' % self.port
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def count(self, pattern):
        with self.lock:
            return self.seen[pattern]

    def close_where(self, pattern):
        """Closes, as a server would, every connection that carried pattern."""
        with self.lock:
            victims = [p for p in self.pairs if pattern in p.carried]
        for p in victims:
            self._close(p)
        return len(victims)

    def stop(self):
        self.stopped = True
        self.ls.close()
        with self.lock:
            pairs = list(self.pairs)
        for p in pairs:
            self._close(p)

    @staticmethod
    def _close(p):
        for x in (p.c, p.s):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(('127.0.0.1', self.target), timeout=10)
            except OSError:
                c.close()
                continue
            s.settimeout(None)
            p = Pair(c, s)
            with self.lock:
                self.pairs.append(p)
            threading.Thread(target=self._up, args=(p,), daemon=True).start()
            threading.Thread(target=self._down, args=(p,), daemon=True).start()

    def _up(self, p):
        try:
            while True:
                data = p.c.recv(65536)
                if not data:
                    break
                with self.lock:
                    for w in self.watch:
                        if w in data:
                            self.seen[w] += 1
                            p.carried.add(w)
                    if CUT_PW in data:
                        p.cut = True   # before slapd can answer
                p.s.sendall(data)
        except OSError:
            pass
        self._close(p)

    def _down(self, p):
        try:
            while True:
                data = p.s.recv(65536)
                if not data:
                    break
                with self.lock:
                    cut = p.cut
                if cut:
                    break   # slapd answered: drop it and break the connection
                p.c.sendall(data)
        except OSError:
            pass
        self._close(p)


def instance(slapd, relay):
    d = Dovecot(passdb='passdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                userdb='userdb {\n  driver = prefetch\n}\n', modules=MODULES,
                name='bindonce', auth_socket=True)
    slapd.write_config(path=os.path.join(d.dir, 'xident.conf'), uris=[relay.uri],
                       password_mode='bind', directory_mirror='yes', ldap_pool_size='1',
                       ldap_timeout='5')
    return d


def took(d, mark):
    """'bind' (sent from the main thread and answered there), 'thread', or ''."""
    try:
        wait_until(lambda: BIND in d.log_since(mark) or BIND_THREAD in d.log_since(mark), 5.0,
                   'the debug line of the logon')
    except TimeoutError:
        pass
    log = d.log_since(mark)
    return 'thread' if BIND_THREAD in log else 'bind' if BIND in log else ''


def login(d, password):
    return imap_login(d.port('imap'), 'EXAMPLE\\jdoe', password.decode())[0]


def wait_bind_path(d):
    """Logons until one has its bind sent and answered on the main thread
    (the mirror in sync and the bind connection open)."""
    def cond():
        mark = d.log_mark()
        return login(d, RIGHT_PW).startswith('a1 OK') and took(d, mark) == 'bind'
    try:
        wait_until(cond, SYNC_WAIT, 'a logon whose bind is sent from the main thread')
        return True
    except TimeoutError:
        return False


def cut_after_send(t, d, relay):
    t.ok(wait_bind_path(d), 'the mirror in sync: binds are sent from the main thread',
         d.log_tail())
    before = relay.count(CUT_PW)
    mark = d.log_mark()
    line = login(d, CUT_PW)
    sent = relay.count(CUT_PW) - before
    t.ok(line.startswith('a1 NO') and 'UNAVAILABLE' in line,
         'connection broken after the bind was sent: temporary failure', line)
    t.eq(sent, 1, 'connection broken after the bind was sent: the password reached the '
         'directory once (not again from a resolver thread)')
    t.eq(took(d, mark), 'bind', 'connection broken after the bind was sent: answered on the '
         'main thread, not handed to a thread')
    line = login(d, RIGHT_PW)
    t.ok(line.startswith('a1 OK'), 'the next logon opens a new bind connection and logs on', line)


def server_closed_idle(t, d, relay):
    t.ok(wait_bind_path(d), 'a bind connection open and idle', d.log_tail())
    closed = relay.close_where(RIGHT_PW)
    t.ok(closed >= 1, 'the relay closed the idle bind connection (server side)', str(closed))
    before = relay.count(RIGHT_PW)
    line = login(d, RIGHT_PW)
    sent = relay.count(RIGHT_PW) - before
    t.ok(line.startswith('a1 OK'), 'idle bind connection closed by the server: the next '
         'logon still logs on', line)
    t.eq(sent, 1, 'idle bind connection closed by the server: the password was sent once '
         '(found closed before sending, sent on a new connection)')


def auth_pipelined(path, requests, timeout=60.0):
    """Sends every (id, user, password) on one auth-client connection
    before reading; returns {id: (OK|FAIL, {field: value})}."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    out = [b'VERSION\t1\t2\nCPID\t%d\n' % os.getpid()]
    for rid, user, password in requests:
        resp = base64.b64encode(b'\0' + user.encode() + b'\0' + password.encode())
        out.append(b'AUTH\t%d\tPLAIN\tservice=imap\tsecured\tresp=%s\n' % (rid, resp))
    s.sendall(b''.join(out))
    got, buf = {}, b''
    try:
        while len(got) < len(requests):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                parts = line.decode('utf-8', 'replace').split('\t')
                if parts[0] in ('OK', 'FAIL') and len(parts) > 1 and parts[1].isdigit():
                    got[int(parts[1])] = (parts[0], dict(p.split('=', 1) if '=' in p else (p, '')
                                                         for p in parts[2:]))
    except OSError:
        pass
    s.close()
    return got


def pipelined_on_one_connection(t, d, relay):
    users = [('EXAMPLE\\jdoe', 'jdoe-pw', 'johnd'), ('EXAMPLE\\asmith', 'asmith-pw', 'asmith'),
             ('bjones', 'bjones-pw', 'bjones')]
    t.ok(wait_bind_path(d), 'pipelined: binds are sent from the main thread', d.log_tail())
    requests, want = [], {}
    for k in range(60):
        name, password, mailbox = users[k % 3]
        wrong = (k // 3) % 2 == 1
        requests.append((k + 1, name, 'nope' if wrong else password))
        want[k + 1] = ('FAIL', None) if wrong else ('OK', mailbox)
    right_jdoe = sum(1 for _, n, p in requests if p == RIGHT_PW.decode())
    before = relay.count(RIGHT_PW)
    mark = d.log_mark()
    got = auth_pipelined(d.auth_socket, requests)
    bad = [(i, w, got.get(i)) for i, w in want.items()
           if got.get(i) is None or got[i][0] != w[0] or
           (w[1] is not None and got[i][1].get('user') != w[1]) or
           got[i][1].get('code') == 'temp_fail']
    t.ok(not bad, '60 pipelined logons, one bind connection: each answer is its own',
         '\n'.join(map(repr, bad[:10])))
    wait_until(lambda: d.log_since(mark).count(BIND) >= len(requests), 10.0, 'debug lines')
    log = d.log_since(mark)
    t.eq((log.count(BIND), log.count(BIND_THREAD)), (len(requests), 0),
         'pipelined: every bind sent and answered on the main thread (queued ones on the connection that just answered)')
    t.eq(relay.count(RIGHT_PW) - before, right_jdoe,
         'pipelined: each right password reached slapd once per logon')


with Tap() as t:
    for m in MODULES:
        if not os.path.exists(m):
            t.skip('bind sent once', 'not built: ' + m)
            raise SystemExit(t.done())
    holder = Dovecot(passdb='', name='homes')
    homes = os.path.join(holder.dir, 'home')
    os.makedirs(homes, exist_ok=True)
    os.chown(homes, holder.uid, holder.gid)
    slapd = Slapd(ldif=[sample_ldif(homes, uid=holder.uid, gid=holder.gid)])
    relay = CountingRelay(slapd.port, (CUT_PW, RIGHT_PW))
    d = instance(slapd, relay)
    try:
        d.start()
        t.run('cut after send', cut_after_send, t, d, relay)
        t.run('server closed the idle connection', server_closed_idle, t, d, relay)
        t.run('pipelined', pipelined_on_one_connection, t, d, relay)
        t.eq(d.crashes(), [], 'no Fatal/Panic in the log')
    finally:
        d.stop()
        relay.stop()
        slapd.stop()
