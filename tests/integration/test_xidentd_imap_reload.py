#!/usr/bin/python3
"""An IMAP NTLM exchange that a SIGHUP catches half way and the client then
cancels ("*"): the cancel reaches the auth process that holds the exchange,
the replaced auth process goes away, and the next AUTHENTICATE NTLM on the
same connection is served by the new auth process."""
import base64
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn, impacket_ntlm
from xdserver import VMAIL_UID, Server, hangup, make_root


def read_tagged(c, tag):
    while True:
        line = c.readline()
        if line.startswith(tag + ' '):
            return line


def ntlm_on(c, tag, driver):
    """AUTHENTICATE NTLM on an open connection; returns the tagged line."""
    c.send('%s AUTHENTICATE NTLM' % tag)
    while True:
        line = c.readline()
        if line.startswith('+'):
            ch = line[2:].strip()
            c.send(base64.b64encode(driver(base64.b64decode(ch) if ch else b'')).decode())
        elif line.startswith(tag + ' '):
            return line


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        iport = free_port()
        srv = Server(d, root, name='xidentd-imap-reload', imap_listen='127.0.0.1:%d' % iport)
        wait_port(iport, proc=srv.proc)
        c = LineConn(iport)
        c.readline()
        c.send('a1 AUTHENTICATE NTLM')
        t.ok(c.readline().startswith('+'), 'NTLM: first continuation')
        first = impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE')
        c.send(base64.b64encode(first(b'')).decode())
        t.ok(c.readline().startswith('+ '), 'NTLM: challenge received')

        srv.rewrite(d, imap_listen='127.0.0.1:%d' % iport)
        mark = len(srv.log())
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_until(lambda: 'listeners after reload' in srv.log()[mark:], timeout=20, what='reload')

        c.send('*')
        line = read_tagged(c, 'a1')
        t.ok(line.startswith('a1 BAD'), 'cancelled exchange answered BAD', line)
        try:
            wait_until(lambda: len(srv.children('xidentd-auth')) == 1, timeout=10,
                       what='the replaced auth process gone')
        except TimeoutError:
            pass
        t.eq(len(srv.children('xidentd-auth')), 1,
             'after the cancel the replaced auth process is released and exits')
        line = ntlm_on(c, 'a2', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
        t.ok(line.startswith('a2 OK'), 'a new NTLM logon on the same connection succeeds', line)
        hangup(c)
        out = srv.log()
        t.ok('Sanitizer' not in out and 'runtime error' not in out, 'no sanitizer report', out[-2000:])
        srv.proc.stop()
