#!/usr/bin/python3
"""xidentd with directory_mirror = yes: its auth process builds the mirror
after the fork (and a new one after SIGHUP, in the new auth process), so
that once the mirror is in sync a hash-mode logon costs slapd nothing.

Proof by freezing slapd (SIGSTOP): once in sync, POP3 and IMAP logons
succeed while slapd cannot answer anything; changes (a new mail address,
a disabled account) reach those logons; after SIGHUP the new auth
process's mirror answers the same way.  Before the mirror is in sync a
frozen slapd makes a logon a temporary failure within ldap_timeout, so
each probe is bounded and the test waits for the mirror by probing, never
by sleeping."""
import imaplib
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from xdserver import VMAIL_UID, Server, make_root, userpass

SYNC_WAIT = 60.0
MIRROR = dict(password_mode='hash', directory_mirror='yes', directory_mirror_secrets='yes',
              ldap_timeout=2, ldap_network_timeout=2)


def frozen(d, fn):
    """fn() while slapd is stopped (SIGSTOP), slapd resumed whatever happens."""
    os.kill(d.pid, signal.SIGSTOP)
    try:
        return fn()
    finally:
        os.kill(d.pid, signal.SIGCONT)


def pop3_logon(port, name, pw):
    return userpass(port, name, pw, timeout=15)[0]


def imap_logon(port, name, pw):
    try:
        c = imaplib.IMAP4('127.0.0.1', port, timeout=15)
    except OSError as e:
        return repr(e)
    try:
        typ, data = c.login(name, pw)
        c.logout()
        return '%s %s' % (typ, data[0].decode(errors='replace'))
    except (imaplib.IMAP4.error, OSError) as e:
        return 'NO %s' % e
    finally:
        try:
            c.shutdown()
        except OSError:
            pass


def wait_synced(t, d, fn, what, timeout=SYNC_WAIT):
    """Waits, slapd running, until fn()'s logon costs slapd no search: the
    auth process's mirror is complete (slapd's cn=Monitor counters; each
    reading is itself one search)."""
    deadline = time.monotonic() + timeout
    probes, cost = 0, None
    while time.monotonic() < deadline:
        probes += 1
        before = d.op_counts()
        fn()
        cost = d.op_counts()['search'] - before['search'] - 1
        if cost == 0:
            break
    return t.ok(cost == 0, '%s (%d probes)' % (what, probes),
                'the last logon cost %r searches' % cost)


def until_frozen(t, d, fn, want, what, timeout=SYNC_WAIT):
    """Probes fn() with slapd frozen until its answer starts with want."""
    deadline = time.monotonic() + timeout
    probes, got = 0, None
    while time.monotonic() < deadline:
        probes += 1
        got = frozen(d, fn)
        if got.startswith(want):
            break
    return t.ok(got is not None and got.startswith(want), '%s (%d probes)' % (what, probes),
                'last answer: %r' % got)


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        d.enable_monitor()
        # The control: without the mirror a frozen slapd fails the logon
        # (within ldap_timeout), so the probes below can tell.
        live = Server(d, root, name='xidentd-live', password_mode='hash', ldap_timeout=2,
                      ldap_network_timeout=2)
        t.ok(pop3_logon(live.port, 'EXAMPLE\\jdoe', 'jdoe-pw').startswith('+OK'),
             'no mirror: POP3 logon with slapd running')
        t.ok(frozen(d, lambda: pop3_logon(live.port, 'EXAMPLE\\jdoe', 'jdoe-pw')).startswith('-ERR [SYS/TEMP]'),
             'no mirror: with slapd stopped the logon is a temporary failure')
        live.proc.stop()
        iport = free_port()
        s = Server(d, root, imap_listen='127.0.0.1:%d' % iport, **MIRROR)
        pop3 = lambda n, p: lambda: pop3_logon(s.port, n, p)  # noqa: E731
        imap = lambda n, p: lambda: imap_logon(iport, n, p)  # noqa: E731

        # Live first: the server works with slapd running.
        t.ok(pop3_logon(s.port, 'EXAMPLE\\jdoe', 'jdoe-pw').startswith('+OK'),
             'POP3 logon with slapd running')
        wait_synced(t, d, pop3('EXAMPLE\\jdoe', 'jdoe-pw'), 'the mirror answers: a logon costs slapd no search')
        until_frozen(t, d, pop3('EXAMPLE\\jdoe', 'jdoe-pw'), '+OK',
                     'mirror in sync: POP3 logon while slapd is stopped')
        t.ok(frozen(d, imap('EXAMPLE\\asmith', 'asmith-pw')).startswith('OK'),
             'IMAP logon while slapd is stopped')
        t.ok(frozen(d, pop3('EXAMPLE\\mmiller\\mike', 'mmiller-pw')).startswith('+OK'),
             'account\\alias logon while slapd is stopped')
        t.ok(frozen(d, pop3('EXAMPLE\\jdoe', 'wrong-pw')).startswith('-ERR [AUTH]'),
             'a wrong password is refused from the mirror too')

        # Changes reach the mirror (and only the mirror answers here).
        r = d.modify('dn: cn=johnd,ou=mailboxes,dc=example,dc=com\nchangetype: modify\n'
                     'add: mail\nmail: jd.mirror@example.com\n')
        t.ok(r.returncode == 0, 'ldapmodify adds a mail address to johnd', r.stderr)
        until_frozen(t, d, pop3('jd.mirror@example.com', 'jdoe-pw'), '+OK Logged on to mailbox johnd',
                     'the new address logs on from the mirror', timeout=20)
        r = d.modify('dn: uid=asmith,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: modify\n'
                     'replace: xidentAccountDisabled\nxidentAccountDisabled: TRUE\n')
        t.ok(r.returncode == 0, 'ldapmodify disables EXAMPLE\\asmith', r.stderr)
        until_frozen(t, d, imap('EXAMPLE\\asmith', 'asmith-pw'), 'NO',
                     'the disabled account is refused from the mirror', timeout=20)

        # SIGHUP: a new auth process, a new mirror, the same answers.
        old_auth = s.children('xidentd-auth')
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_until(lambda: [p for p in s.children('xidentd-auth') if p not in old_auth],
                   timeout=20, what='a new auth process')
        wait_synced(t, d, imap('EXAMPLE\\jdoe', 'jdoe-pw'),
                    'after SIGHUP the new mirror answers: a logon costs slapd no search')
        until_frozen(t, d, imap('EXAMPLE\\jdoe', 'jdoe-pw'), 'OK',
                     'after SIGHUP the new auth process answers from its mirror')
        t.ok(frozen(d, pop3('jd.mirror@example.com', 'jdoe-pw')).startswith('+OK'),
             'after SIGHUP: the added address still logs on with slapd stopped')
        t.ok(frozen(d, pop3('EXAMPLE\\asmith', 'asmith-pw')).startswith('-ERR'),
             'after SIGHUP: the disabled account is still refused')
        t.ok(s.proc.p.poll() is None, 'xidentd still running', s.log()[-2000:])
        s.proc.stop()
