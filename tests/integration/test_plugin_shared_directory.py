#!/usr/bin/python3
"""The passdb and the userdb xident of one Dovecot auth process share one
core directory (authdb-xident.c: the resolver's own, xi_resolver_directory):
with directory_mirror = yes the auth process holds the mirror's syncrepl
connection and one LDAP pool, and a userdb lookup (doveadm user, as LMTP
makes them) is answered by the mirror, not by a second live pool.

A real Dovecot 2.3 (passdb xident, userdb xident) over the private slapd
with the sample directory and cn=Monitor.  Counted: the auth process's TCP
connections to slapd (its sockets in /proc/PID/fd matched against
/proc/PID/net/tcp) and slapd's searches (cn=Monitor).  Before the change
the userdb opened a live LDAP directory of its own: one more connection
and one search per lookup, so both checks fail without it.  Also without
the mirror: the userdb's lookups use the passdb's pool (no new
connection)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot
from slapd import Slapd, sample_ldif
from mailclients import imap_login

MODULES = [build_path('plugin', '.libs', 'libauthdb_xident.so'),
           build_path('plugin', '.libs', 'libmech_ntlm.so')]
MEMORY = "answered from the mirror's memory"
SYNC_WAIT = 60.0


def instance(slapd, name, **conf):
    d = Dovecot(passdb='passdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                userdb='userdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                modules=MODULES, mechanisms='plain login', name=name,
                extra='import_environment = $import_environment XIDENT_CONF=%s\n' %
                      '%(dir)s/xident.conf')
    d.extra = d.extra % {'dir': d.dir}
    slapd.write_config(path=os.path.join(d.dir, 'xident.conf'), **conf)
    return d



def slapd_connections(pid, port):
    """pid's established TCP connections to port."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[8:-1])
    n = 0
    for table in ('tcp', 'tcp6'):
        try:
            with open('/proc/%d/net/%s' % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            col = row.split()
            if int(col[2].rsplit(':', 1)[1], 16) == port and col[3] == '01' and col[9] in inodes:
                n += 1
    return n


def userdb_lookups(t, d, homes, what):
    r = d.doveadm('user', 'johnd')
    t.ok(r.returncode == 0 and os.path.join(homes, 'vmail', 'johnd') in r.stdout,
         '%s: doveadm user johnd: its home from the directory' % what, r.stdout + r.stderr)
    r = d.doveadm('user', 'reception')
    t.ok(r.returncode == 0 and os.path.join(homes, 'vmail', 'reception') in r.stdout,
         '%s: doveadm user reception' % what, r.stdout + r.stderr)
    r = d.doveadm('user', 'nosuchmailbox')
    t.ok(r.returncode != 0, '%s: doveadm user of an unknown mailbox: not found' % what,
         r.stdout + r.stderr)


with Tap() as t:
    for m in MODULES:
        if not os.path.exists(m):
            t.ok(False, 'module built: ' + m)
            raise SystemExit(t.done())

    holder = Dovecot(passdb='', name='homes')  # only owns a world-traversable folder
    homes = os.path.join(holder.dir, 'home')
    os.makedirs(homes, exist_ok=True)
    os.chown(homes, holder.uid, holder.gid)
    slapd = Slapd(ldif=[sample_ldif(homes, uid=holder.uid, gid=holder.gid)])
    slapd.enable_monitor()

    # ---- with the mirror: one syncrepl connection, the userdb answered from it
    d = instance(slapd, 'shared', directory_mirror='yes', directory_mirror_secrets='yes',
                 password_mode='hash')
    d.start()

    def in_sync():
        mark = d.log_mark()
        line = imap_login(d.port('imap'), 'EXAMPLE\\jdoe', 'jdoe-pw')[0]
        if not line.startswith('a1 OK'):
            return False
        # wait_log returns what it has after the timeout: look for the line.
        return MEMORY in d.wait_log(MEMORY, mark, timeout=5)
    # The lookups must meet the mirror in sync to show it answers them: a
    # sync session that drops meanwhile (the lookups' debug lines then say
    # "LDAP (mirror not in sync ...)") is retried, at most 5 times.
    for attempt in range(5):
        wait_until(in_sync, SYNC_WAIT, 'a logon answered from the mirror')
        pid = d.auth_pid()
        before = slapd_connections(pid, slapd.port)
        ops = slapd.op_counts()
        mark = d.log_mark()
        userdb_lookups(t, d, homes, 'mirror')
        after_ops = slapd.op_counts()
        after = slapd_connections(pid, slapd.port)
        log = d.wait_log('no mailbox named nosuchmailbox', mark)
        if '(LDAP (mirror not in sync' not in log:
            break
        why = log.split('(LDAP (mirror not in sync', 1)[1].split('):', 1)[0]
        t.diag('attempt %d: the mirror was not in sync during the lookups (%s); again' %
               (attempt + 1, why[:200]))
    t.ok(pid is not None, 'mirror: the auth process found')
    t.diag('mirror: the auth process holds %d connection(s) to slapd (syncrepl, pool)' % before)
    # Each lookup went through the passdb's mirror directory: answered
    # from memory ("mirror of base=..."), or handed by the mirror to the
    # pool it shares ("LDAP (mirror not in sync ...)").  A userdb directory
    # of its own would say "base=..." alone.
    t.ok(log.count('(mirror of base=') + log.count('(LDAP (mirror ') == 3,
         'mirror: the userdb lookups went through the passdb\'s mirror directory', log[-3000:])
    if '(LDAP (mirror not in sync' in log:
        # Seen on the loaded shared machine: the mirror's connection to
        # slapd dropped and "Can't contact LDAP server" for a while.
        t.skip('mirror: the userdb lookups cost slapd no search',
               'the mirror was out of sync in every attempt (see the diagnostics above)')
    else:
        t.ok(log.count('(mirror of base=') == 3 and after_ops['search'] - ops['search'] == 1,
             'mirror: answered from memory, the userdb lookups cost slapd no search (only '
             'the cn=Monitor read counts)', 'searches: %d\n%s' %
             (after_ops['search'] - ops['search'], log[-3000:]))
    t.eq(after, before, 'mirror: no connection of a second directory after userdb lookups '
         '(auth process connections to slapd: %d before, %d after)' % (before, after))
    t.eq(d.crashes(), [], 'mirror: no Fatal/Panic/signal in the log')
    d.stop()

    # ---- live LDAP: the userdb uses the passdb's pool
    d = instance(slapd, 'sharedlive', password_mode='hash', ldap_pool_size='1')
    d.start()
    line = imap_login(d.port('imap'), 'EXAMPLE\\jdoe', 'jdoe-pw')[0]
    t.ok(line.startswith('a1 OK'), 'live: a logon', line)
    mark = d.log_mark()
    pid = d.auth_pid()
    before = slapd_connections(pid, slapd.port)
    t.eq(before, 1, 'live: the logon left one pooled connection (ldap_pool_size = 1)')
    userdb_lookups(t, d, homes, 'live')
    after = slapd_connections(pid, slapd.port)
    t.eq(after, before, 'live: the userdb lookups opened no connection of their own')
    log = d.wait_log('no mailbox named nosuchmailbox', mark)
    t.ok(log.count('(base="') == 3, 'live: each lookup searched LDAP (no mirror)', log[-3000:])
    t.eq(d.crashes(), [], 'live: no Fatal/Panic/signal in the log')
    d.stop()
