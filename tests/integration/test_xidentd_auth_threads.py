#!/usr/bin/python3
"""How many worker threads xidentd's auth process starts.  Without
auth_threads (its default 0): one per connection a logon holds at a time,
ldap_pool_size in password_mode = hash, twice that in bind mode, as the
plugin's resolver threads.  An explicit auth_threads is taken as it is,
which also shows the thread count read from /proc is the workers plus the
main thread (so the default checks can fail)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from xdserver import AUTH, VMAIL_UID, Server, make_root, userpass


def auth_workers(srv):
    """Worker threads of the running auth process (its tasks but the main
    thread), after one logon has been answered (the workers are started
    before the auth process reads its first request)."""
    line = userpass(srv.port, 'EXAMPLE\\asmith', 'asmith-pw', ['QUIT'], timeout=30)[0]
    pids = srv.children(AUTH)
    if len(pids) != 1:
        return None, line
    return len(os.listdir('/proc/%d/task' % pids[0])) - 1, line


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        for label, keys, want in (
                ('explicit auth_threads = 5', dict(password_mode='hash', ldap_pool_size=3, auth_threads=5), 5),
                ('password_mode = hash, ldap_pool_size = 3, no auth_threads',
                 dict(password_mode='hash', ldap_pool_size=3), 3),
                ('password_mode = bind, ldap_pool_size = 3, no auth_threads',
                 dict(password_mode='bind', ldap_pool_size=3), 6),
                ('password_mode = bind, ldap_pool_size = 40 (twice is above the range)',
                 dict(password_mode='bind', ldap_pool_size=40), 64)):
            srv = Server(d, root, name='xidentd-threads-%d' % want, **keys)
            try:
                n, line = auth_workers(srv)
                t.ok(n == want and line.startswith('+OK'),
                     '%s: %d auth worker threads, the logon answered' % (label, want),
                     'workers %r, logon %r; %s' % (n, line, srv.log_tail()))
                out = srv.log()
                t.ok('Sanitizer' not in out and 'runtime error' not in out,
                     '%s: no sanitizer report' % label, out[-2000:])
            finally:
                srv.stop()
