#!/usr/bin/python3
"""xidentd's auth process runs logons concurrently (auth_threads): a logon
whose LDAP search the directory holds back does not hold up the others, and
many logons at once each get their own answer.  The hold is real: a TCP relay
between xidentd and the private slapd keeps back, on its connection only,
every request that names "stallme" until the test releases it.  The same
test with auth_threads = 1 shows the serial behaviour, so the check can
fail."""
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn, impacket_ntlm, pop3_auth
from xdserver import BAD, DISTINCT_LOGONS, VMAIL_UID, Server, hangup, make_root, userpass
from stallrelay import STALL, StallRelay

def stalled_logon(port, result):
    result['line'] = userpass(port, 'stallme', 'whatever', timeout=60)[0]
    result['at'] = time.monotonic()


def logons_while_held(t, srv, relay, label):
    """Starts the held logon, then runs the others; returns how many of them
    answered while the held one was still held."""
    held = {}
    th = threading.Thread(target=stalled_logon, args=(srv.port, held))
    th.start()
    t.ok(relay.holding.wait(20), '%s: the relay holds the search for "stallme"' % label)
    answered = []
    lock = threading.Lock()

    def one(name, pw, alias):
        line = userpass(srv.port, name, pw, ['QUIT'], timeout=8)[0]
        with lock:
            answered.append((name, alias, line, time.monotonic()))

    workers = [threading.Thread(target=one, args=x) for x in DISTINCT_LOGONS[:4]]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    still_held = not relay.gate.is_set() and 'line' not in held
    in_time = [a for a in answered if a[2].startswith('+OK Logged on to mailbox %s' % a[1])]
    relay.release()
    th.join(70)
    return len(in_time) if still_held else -1, answered, held


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        relay = StallRelay(d.port)
        uri = 'ldap://127.0.0.1:%d' % relay.port
        srv = Server(d, root, name='xidentd-threads', uris=[uri], ldap_timeout=60,
                     ldap_pool_size=4, auth_threads=8)
        n, answered, held = logons_while_held(t, srv, relay, 'auth_threads = 8')
        t.ok(n == 4, 'auth_threads = 8: all 4 other logons answered +OK while one search was held',
             answered)
        t.ok(held.get('line', '').startswith('-ERR [AUTH] ' + BAD),
             'the held logon is answered once the directory answers', held)
        # many logons at once, each its own answer (right and wrong passwords)
        results = {}
        res_full = {}
        lock = threading.Lock()

        def one(i, name, pw, alias):
            wrong = i % 2 == 1
            full = userpass(srv.port, name, pw + ('x' if wrong else ''), ['QUIT'], timeout=30)
            with lock:
                results[i] = (name, alias, wrong, full[0])
                res_full[i] = full

        jobs = []
        for rnd in range(3):
            for k, (name, pw, alias) in enumerate(DISTINCT_LOGONS):
                jobs.append((rnd * len(DISTINCT_LOGONS) + k, name, pw, alias))
        # one round of distinct mailboxes at a time (a mailbox takes one POP3 session)
        for rnd in range(3):
            ths = [threading.Thread(target=one, args=j) for j in jobs
                   if j[0] // len(DISTINCT_LOGONS) == rnd]
            for th in ths:
                th.start()
            for th in ths:
                th.join(60)
            wait_until(lambda: not srv.children('xidentd-mail'), timeout=20, what='sessions ended')
        right = [r for r in results.values()
                 if (r[3].startswith('-ERR [AUTH] ' + BAD) if r[2]
                     else r[3].startswith('+OK Logged on to mailbox %s:' % r[1]))]
        if len(right) != len(jobs):
            t.diag(srv.log()[-5000:])
        t.ok(len(right) == len(jobs), '%d parallel logons (%d at once, half wrong passwords) each got '
             'its own answer' % (len(jobs), len(DISTINCT_LOGONS)),
             [(r, res_full.get(i)) for i, r in results.items() if r not in right])
        # NTLM exchanges at once: each connection's state in the auth
        # process's locked table, picked up by whichever worker is free
        ntlm = [('jdoe', 'EXAMPLE', 'jdoe-pw', 'johnd'), ('asmith', 'EXAMPLE', 'asmith-pw', 'asmith'),
                ('bjones', 'EXAMPLE', 'bjones-pw', 'bjones'), ('kwong', 'EXAMPLE', 'kwong-pw', 'wong'),
                ('hdadmin\\helpdesk', 'EXAMPLE', 'hdadmin-pw', 'helpdesk'),
                ('mmiller\\mike', 'EXAMPLE', 'mmiller-pw', 'mike'),
                ('jdoe', 'BRANCH', 'branch-jdoe-pw', 'jdoe-branch'),
                ('reception', 'EXAMPLE', 'wrong-pw', None)]
        got = {}

        def one_ntlm(user, dom, pw, alias):
            line, _ = pop3_auth(srv.port, 'NTLM', impacket_ntlm(user, pw, dom))
            with lock:
                got[(user, dom)] = (alias, line)

        for _ in range(2):
            ths = [threading.Thread(target=one_ntlm, args=x) for x in ntlm]
            for th in ths:
                th.start()
            for th in ths:
                th.join(60)
            wrong = [(k, v) for k, v in got.items()
                     if not (v[1].startswith('+OK Logged on to mailbox %s:' % v[0]) if v[0]
                             else v[1].startswith('-ERR [AUTH] ' + BAD))]
            t.ok(len(got) == len(ntlm) and not wrong, '%d NTLM exchanges at once each end in their '
                 'own answer' % len(ntlm), wrong)
            got.clear()
            wait_until(lambda: not srv.children('xidentd-mail'), timeout=20, what='sessions ended')
        # SIGHUP while a logon is held at the auth process: it finishes there
        # (its grant still reaches the master), new logons go to the new one
        relay.rearm()
        relay.pattern = b'bjones'
        held = {}

        def held_logon():
            held['line'] = userpass(srv.port, 'EXAMPLE\\bjones', 'bjones-pw', ['QUIT'], timeout=60)[0]

        th = threading.Thread(target=held_logon)
        th.start()
        t.ok(relay.holding.wait(20), 'SIGHUP test: a logon of bjones is held')
        mark = len(srv.log())
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_until(lambda: 'reloaded' in srv.log()[mark:], timeout=20, what='reload')
        line = userpass(srv.port, 'EXAMPLE\\asmith', 'asmith-pw', ['QUIT'], timeout=20)[0]
        t.ok(line.startswith('+OK Logged on to mailbox asmith'), 'after SIGHUP a new logon is '
             'answered by the new auth process while the old one still holds one', line)
        t.ok(len(srv.children('xidentd-auth')) == 2, 'the replaced auth process is still running')
        relay.release()
        th.join(70)
        t.ok(held.get('line', '').startswith('+OK Logged on to mailbox bjones'),
             'the logon held across the SIGHUP completes (not a temporary failure)', held)
        wait_until(lambda: len(srv.children('xidentd-auth')) == 1, timeout=20,
                   what='old auth process gone')
        t.ok(len(srv.children('xidentd-auth')) == 1, 'the replaced auth process exits once it has '
             'answered')
        relay.pattern = STALL
        out = srv.log()
        t.ok('Sanitizer' not in out and 'runtime error' not in out, 'no sanitizer report', out[-2000:])
        srv.proc.stop()

        # The same with one thread: the held search holds up everyone.
        relay.rearm()
        srv = Server(d, root, name='xidentd-serial', uris=[uri], ldap_timeout=60,
                     ldap_pool_size=4, auth_threads=1)
        n, answered, held = logons_while_held(t, srv, relay, 'auth_threads = 1')
        t.ok(n == 0, 'auth_threads = 1: no other logon is answered while the search is held '
             '(the check above can fail)', answered)
        srv.proc.stop()
        relay.stop()
