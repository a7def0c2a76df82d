#!/usr/bin/python3
"""SIGHUP reloads xidentd's config without dropping established sessions:
listeners opened and closed, limits (connections per source, clear-text
policy) applied, certificates reloaded; a new config whose listener cannot
be opened is refused whole, logged, and the running one kept."""
import os
import poplib
import signal
import socket
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn
from xdserver import VMAIL_UID, Server, hangup, make_root, throwaway_cert

PLAINTEXT = 'Plaintext authentication disallowed on non-secure (SSL/TLS) connections.'


def greets(port):
    try:
        c = LineConn(port)
    except OSError:
        return False
    try:
        return c.readline().startswith('+OK')
    except (OSError, EOFError):
        return False
    finally:
        hangup(c)


def refused(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=5).close()
        return False
    except ConnectionRefusedError:
        return True


def reload_and_wait(srv, what):
    mark = len(srv.log())
    os.kill(srv.proc.pid, signal.SIGHUP)
    wait_until(lambda: what in srv.log()[mark:], timeout=20, what=what)
    return srv.log()[mark:]


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        cert, key = throwaway_cert()
        port_s, port_b = free_port(), free_port()
        srv = Server(d, root, name='xidentd-reload', tls_cert_file=cert, tls_key_file=key,
                     pop3s_listen='127.0.0.1:%d' % port_s, max_connections_per_source=20)
        port_a = srv.port
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        # two established sessions: plain (handed to its mail process) and TLS (relayed)
        plain = LineConn(port_a)
        plain.readline()
        plain.send('USER EXAMPLE\\bjones')
        plain.readline()
        plain.send('PASS bjones-pw')
        t.ok(plain.readline().startswith('+OK'), 'plain session established before the reload')
        tls = poplib.POP3_SSL('127.0.0.1', port_s, context=ctx, timeout=20)
        tls.user('EXAMPLE\\asmith')
        t.ok(tls.pass_('asmith-pw').startswith(b'+OK'), 'pop3s session established before the reload')

        # new config: listener A replaced by B, per-source limit 3, clear text only over TLS
        srv.rewrite(d, pop3_listen='127.0.0.1:%d' % port_b, pop3s_listen='127.0.0.1:%d' % port_s,
                    tls_cert_file=cert, tls_key_file=key, max_connections_per_source=3,
                    plaintext_logons='tls')
        log = reload_and_wait(srv, 'listeners after reload')
        t.ok('reloaded' in log, 'SIGHUP: reloaded logged', log[-800:])
        wait_until(lambda: greets(port_b), timeout=10, what='new listener')
        t.ok(greets(port_b), 'the new listener answers')
        t.ok(refused(port_a), 'the removed listener is closed')
        p = poplib.POP3_SSL('127.0.0.1', port_s, context=ctx, timeout=20)
        t.ok(p.getwelcome().startswith(b'+OK'), 'the kept pop3s listener still answers')
        p.quit()
        plain.send('STAT')
        t.ok(plain.readline().startswith('+OK'), 'the plain session goes on after the reload')
        t.ok(tls.stat()[0] >= 0, 'the pop3s session goes on after the reload (relayed by the '
             'network process)')
        # the per-source limit: the TLS session is one connection from 127.0.0.1
        held = [LineConn(port_b) for _ in range(2)]
        for c in held:
            c.readline()
        extra = LineConn(port_b)
        line = extra.readline()
        t.ok(line.startswith('-ERR [SYS/TEMP]') and 'your address' in line,
             'max_connections_per_source = 3 applies after the reload', line)
        hangup(extra)
        held[0].send('USER EXAMPLE\\jdoe')
        t.eq(held[0].readline(), '-ERR [AUTH] ' + PLAINTEXT,
             'plaintext_logons = tls applies after the reload')
        for c in held:
            hangup(c)

        # a new config whose listener cannot be opened: refused whole
        busy = socket.socket()
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port_busy = busy.getsockname()[1]
        srv.rewrite(d, pop3_listen='127.0.0.1:%d' % port_busy, pop3s_listen='127.0.0.1:%d' % port_s,
                    tls_cert_file=cert, tls_key_file=key, max_connections_per_source=20,
                    plaintext_logons='always')
        log = reload_and_wait(srv, 'keeping the old one')
        t.ok('cannot listen on 127.0.0.1:%d' % port_busy in log,
             'reload with a listener in use: the cause is logged', log[-800:])
        wait_until(lambda: greets(port_b), timeout=10, what='old listener')
        c = LineConn(port_b)
        c.readline()
        c.send('USER EXAMPLE\\jdoe')
        t.eq(c.readline(), '-ERR [AUTH] ' + PLAINTEXT, 'the old config (listener B, plaintext '
             'only over TLS) stays in force')
        hangup(c)
        busy.close()
        # two SIGHUPs back to back: every auth process but the last goes away
        srv.rewrite(d, pop3_listen='127.0.0.1:%d' % port_b, pop3s_listen='127.0.0.1:%d' % port_s,
                    tls_cert_file=cert, tls_key_file=key, max_connections_per_source=20,
                    plaintext_logons='always')
        mark = len(srv.log())
        os.kill(srv.proc.pid, signal.SIGHUP)
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_until(lambda: srv.log()[mark:].count('listeners after reload') >= 1, timeout=20,
                   what='reload')
        wait_until(lambda: len(srv.children('xidentd-auth')) == 1, timeout=20, what='one auth process')
        t.eq(len(srv.children('xidentd-auth')), 1, 'after two quick SIGHUPs one auth process is left')
        c = LineConn(port_b)
        c.readline()
        c.send('USER EXAMPLE\\jdoe')
        c.readline()
        c.send('PASS jdoe-pw')
        t.ok(c.readline().startswith('+OK Logged on to mailbox johnd'),
             'logons work after two quick SIGHUPs (plaintext_logons = always applied)')
        c.send('QUIT')
        c.readline()
        hangup(c)
        plain.send('QUIT')
        t.ok(plain.readline().startswith('+OK'), 'the plain session ends normally')
        hangup(plain)
        tls.quit()
        out = srv.log()
        t.ok('Sanitizer' not in out and 'runtime error' not in out, 'no sanitizer report', out[-2000:])
        srv.proc.stop()
