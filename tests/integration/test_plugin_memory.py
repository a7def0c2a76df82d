#!/usr/bin/python3
"""The plugin answers from the directory mirror's memory on the auth
process's main thread (passdb-xident.c, xi_resolver_memory_only), and hands
every logon it cannot answer so to a resolver thread.

A real Dovecot 2.3 with passdb xident (directory_mirror = yes,
directory_mirror_secrets = yes) and the NTLM mechanism over the private
slapd with the sample directory; auth_debug names the path each logon took.

- In sync, hash mode: clear text (right, wrong, unknown name) and NTLM
  (impacket, right and wrong) are answered from memory with the same
  answers as ever; the resolver threads are never started (the auth
  process's thread count does not grow).
- A {CRYPT}$6$ password (a slow hash) is not checked on the main thread:
  that logon goes to a thread, which starts the pool, and succeeds.
- slapd stopped: the mirror is out of sync; logons go to a thread and are
  temporary failures, never a wrong password; slapd back: answered from
  memory again.
- Bind mode with the mirror: NTLM is answered from memory; clear text is
  resolved from memory and its bind sent from the main thread without
  waiting (right, wrong, unknown name).  With slapd frozen, a clear-text
  logon waits for its bind while an NTLM logon is answered from memory
  meanwhile (the main thread is not blocked); the bind ends as a temporary
  failure after ldap_timeout.
- userdb xident (doveadm user, as LMTP asks): while the mirror is in sync
  a mailbox is looked up in its memory on the main thread (found, and not
  found), no resolver thread started; slapd stopped: the lookup goes to a
  resolver thread (a temporary failure, never "no such mailbox").
"""
import signal
import threading
import time
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot
from slapd import Slapd, sample_ldif
from mailclients import imap_authenticate, imap_login, impacket_ntlm

MODULES = [build_path('plugin', '.libs', 'libauthdb_xident.so'),
           build_path('plugin', '.libs', 'libmech_ntlm.so')]
MEMORY = "answered from the mirror's memory"
THREAD = "not answered from the mirror's memory: to a resolver thread"
BIND = "a bind sent from the auth process's main thread"
BIND_THREAD = "bind not answered in the main thread: to a resolver thread"
SYNC_WAIT = 60.0

SLOW_LDIF = '''dn: uid=slowhash,ou=EXAMPLE,ou=accounts,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: xidentAccount
uid: slowhash
cn: Slow Hash
sn: Hash
xidentDomain: EXAMPLE
xidentAccountName: slowhash
userPassword: {CRYPT}%s

dn: cn=slowhash,ou=mailboxes,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: xidentMailbox
cn: slowhash
sn: Hash
xidentAlias: slowhash
xidentPrimaryAccount: uid=slowhash,ou=EXAMPLE,ou=accounts,dc=example,dc=com
xidentMailHome: %%s/vmail/slowhash
xidentMailLocation: maildir:~/Maildir
xidentMailUid: %%d
xidentMailGid: %%d
'''


def sha512_crypt(password):
    r = subprocess.run(['openssl', 'passwd', '-6', password], stdout=subprocess.PIPE, text=True,
                       check=True)
    return r.stdout.strip()


def instance(slapd, name, userdb='userdb {\n  driver = prefetch\n}\n', **conf):
    d = Dovecot(passdb='passdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                userdb=userdb,
                modules=MODULES, mechanisms='plain login ntlm', name=name,
                extra='import_environment = $import_environment XIDENT_CONF=%s\n' %
                      '%(dir)s/xident.conf')
    d.extra = d.extra % {'dir': d.dir}
    conf.setdefault('ntlm_netbios_domain', 'EXAMPLE')
    slapd.write_config(path=os.path.join(d.dir, 'xident.conf'), directory_mirror='yes',
                       directory_mirror_secrets='yes', ldap_timeout='2', **conf)
    return d


def threads(pid):
    if pid is None:
        return -1   # not found (e.g. under XI_DOVECOT_VALGRIND)
    try:
        return len(os.listdir('/proc/%d/task' % pid))
    except OSError:
        return -1


def stopped(pid):
    """Every thread of pid stopped (SIGSTOP delivered)."""
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/stat' % (pid, task)) as f:
                if f.read().rsplit(')', 1)[1].split()[0] not in ('T', 't'):
                    return False
        return True
    except OSError:
        return False


def took(d, mark):
    """'memory', 'bind', 'thread' or '' for the logons since mark (the last
    one); the log process writes after the client's answer, so wait a bit."""
    try:
        wait_until(lambda: any(m in d.log_since(mark) for m in (MEMORY, THREAD, BIND,
                                                                BIND_THREAD)),
                   5.0, 'the debug line of the logon')
    except TimeoutError:
        pass
    log = d.log_since(mark)
    if THREAD in log or BIND_THREAD in log:
        return 'thread'
    if BIND in log:
        return 'bind'
    if MEMORY in log:
        return 'memory'
    return ''


def login(d, user, password):
    return imap_login(d.port('imap'), user, password)[0]


def ntlm(d, user, password):
    return imap_authenticate(d.port('imap'), 'NTLM', impacket_ntlm(user, password, 'EXAMPLE'))[0]


def wait_memory(d, user='EXAMPLE\\jdoe', password='jdoe-pw'):
    """Logons until one is answered from memory (the mirror in sync)."""
    def cond():
        mark = d.log_mark()
        line = login(d, user, password)
        return line.startswith('a1 OK') and took(d, mark) == 'memory'
    try:
        wait_until(cond, SYNC_WAIT, 'a logon answered from memory')
        return True
    except TimeoutError:
        return False


def hash_mode(t, slapd):
    d = instance(slapd, 'memhash', password_mode='hash')
    d.start()
    try:
        t.ok(wait_memory(d), 'hash mode: once the mirror is in sync, a logon is answered from memory',
             d.log_tail())
        pid = d.auth_pid()
        before = threads(pid)

        def check(what, fn, user, password, ok, path):
            mark = d.log_mark()
            line = fn(d, user, password)
            t.ok(line.startswith('a1 OK') if ok else line.startswith('a1 NO'),
                 '%s: %s' % (what, 'logs on' if ok else 'refused'), line)
            t.eq(took(d, mark), path, '%s: answered %s' % (
                what, 'from memory' if path == 'memory' else 'by a resolver thread'))
            return d.log_since(mark)

        check('clear text EXAMPLE\\jdoe', login, 'EXAMPLE\\jdoe', 'jdoe-pw', True, 'memory')
        mark = d.log_mark()
        check('clear text wrong password', login, 'EXAMPLE\\jdoe', 'wrong', False, 'memory')
        t.contains(d.wait_log('event=', mark), 'event=', 'wrong password from memory: its event is written')
        check('clear text unknown name', login, 'EXAMPLE\\nobody', 'x', False, 'memory')
        mark = d.log_mark()
        check('NTLM EXAMPLE\\jdoe', ntlm, 'jdoe', 'jdoe-pw', True, 'memory')
        t.contains(d.wait_log('Login: user=<johnd>', mark), 'Login: user=<johnd>',
                   'NTLM from memory opens mailbox johnd')
        check('NTLM wrong password', ntlm, 'jdoe', 'wrong', False, 'memory')
        after = threads(pid)
        t.ok(pid is not None and before > 0 and after == before,
             'answered from memory: no resolver thread started (%d threads before, %d after)' %
             (before, after))

        check('{CRYPT}$6$ (slow hash)', login, 'EXAMPLE\\slowhash', 'slow-pw', True, 'thread')
        grown = threads(pid)
        if after <= 2:
            t.ok(grown > after, 'the slow hash started the resolver threads (%d -> %d threads)' %
                 (after, grown))
        else:
            # logons before the mirror was in sync had started them
            t.skip('the slow hash starts the resolver threads', 'already started (%d threads)' % after)
        check('{CRYPT}$6$ wrong password', login, 'EXAMPLE\\slowhash', 'wrong', False, 'thread')

        # The mirror out of sync: to a thread, a temporary failure as live.
        slapd.stop()
        last = {}

        def down():
            mark = d.log_mark()
            last['line'] = login(d, 'EXAMPLE\\jdoe', 'jdoe-pw')
            last['path'] = took(d, mark)
            return last['path'] == 'thread'
        try:
            wait_until(down, 20.0, 'a logon sent to a thread')
        except TimeoutError:
            pass
        t.eq(last.get('path'), 'thread', 'slapd stopped: the mirror out of sync, logon to a thread')
        t.ok('UNAVAILABLE' in last.get('line', ''),
             'slapd stopped: a temporary failure, never a wrong password', last.get('line', ''))
        slapd.start()
        wait_port(slapd.port)
        t.ok(wait_memory(d), 'slapd back: answered from memory again')
        t.eq(d.crashes(), [], 'hash mode with the mirror: no Fatal/Panic in the log')
    finally:
        d.stop()


def bind_mode(t, slapd):
    d = instance(slapd, 'membind', password_mode='bind')
    d.start()
    try:
        # NTLM takes the NT hash from memory in bind mode too.
        def cond():
            mark = d.log_mark()
            return ntlm(d, 'jdoe', 'jdoe-pw').startswith('a1 OK') and took(d, mark) == 'memory'
        try:
            wait_until(cond, SYNC_WAIT, 'an NTLM logon answered from memory')
            synced = True
        except TimeoutError:
            synced = False
        t.ok(synced, 'bind mode: NTLM is answered from memory once in sync', d.log_tail())
        # The pool opens its bind connections on a thread, as they are
        # needed; the main thread only uses one already open.
        login(d, 'EXAMPLE\\jdoe', 'jdoe-pw')
        for what, user, password, ok in (('clear text', 'EXAMPLE\\jdoe', 'jdoe-pw', True),
                                         ('wrong password', 'EXAMPLE\\jdoe', 'wrong', False),
                                         ('unknown name', 'EXAMPLE\\nobody', 'x', False)):
            mark = d.log_mark()
            line = login(d, user, password)
            t.ok(line.startswith('a1 OK') if ok else line.startswith('a1 NO'),
                 'bind mode, %s: %s' % (what, 'logs on' if ok else 'refused'), line)
            t.eq(took(d, mark), 'bind', 'bind mode, %s: bind sent from the main thread' % what)
        # slapd frozen: the bind waits, the main thread does not.
        got = {}

        def slow():
            t0 = time.monotonic()
            got['line'] = login(d, 'EXAMPLE\\jdoe', 'jdoe-pw')
            got['done'] = time.monotonic()
            got['took'] = got['done'] - t0
        mark = d.log_mark()
        os.kill(slapd.pid, signal.SIGSTOP)
        try:
            # SIGSTOP reaches a loaded process's threads a little later.
            wait_until(lambda: stopped(slapd.pid), 10.0, 'slapd stopped')
            th = threading.Thread(target=slow)
            th.start()
            wait_until(lambda: 'bind' in d.log_since(mark) or not th.is_alive(), 10.0,
                       'the clear-text logon reached the auth process')
            line = ntlm(d, 'jdoe', 'jdoe-pw')
            ntlm_done = time.monotonic()
            th.join(30)
        finally:
            os.kill(slapd.pid, signal.SIGCONT)
        t.ok(line.startswith('a1 OK') and 'done' in got and ntlm_done < got['done'],
             'slapd frozen: an NTLM logon is answered while a bind waits', '%s %s' % (line, got))
        t.ok('UNAVAILABLE' in got.get('line', '') and got.get('took', 0) >= 1.5,
             'slapd frozen: the waiting bind ends as a temporary failure after ldap_timeout',
             str(got))
        line = login(d, 'EXAMPLE\\jdoe', 'jdoe-pw')
        t.ok(line.startswith('a1 OK'), 'slapd thawed: clear text logs on again', line)
        t.eq(d.crashes(), [], 'bind mode with the mirror: no Fatal/Panic in the log')
    finally:
        d.stop()


USERDB_MEMORY = "looked up in the mirror's memory in the auth process's main thread"
USERDB_THREAD = "memory (the mirror cannot answer this from memory now): to a resolver thread"


def userdb_mode(t, slapd, homes):
    d = instance(slapd, 'memuserdb', password_mode='hash',
                 userdb='userdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}')
    d.start()
    try:
        t.ok(wait_memory(d), 'userdb: the mirror in sync (a logon answered from memory)', d.log_tail())
        pid = d.auth_pid()
        before = threads(pid)
        for user, home in (('johnd', 'johnd'), ('reception', 'reception'), ('nosuchmailbox', None)):
            mark = d.log_mark()
            r = d.doveadm('user', user)
            if home is not None:
                t.ok(r.returncode == 0 and os.path.join(homes, 'vmail', home) in r.stdout,
                     'userdb: doveadm user %s: its home from the directory' % user, r.stdout + r.stderr)
            else:
                t.ok(r.returncode != 0 and 'UNAVAILABLE' not in r.stdout + r.stderr,
                     'userdb: doveadm user %s: not found' % user, r.stdout + r.stderr)
            log = d.wait_log(USERDB_MEMORY, mark, timeout=5)
            t.ok('mailbox %s %s' % (user, USERDB_MEMORY) in log and USERDB_THREAD not in log,
                 'userdb: %s looked up in memory on the main thread' % user, log[-2000:])
        after = threads(pid)
        t.ok(pid is not None and before > 0 and after == before,
             'userdb lookups from memory: no thread started (%d threads before, %d after)' %
             (before, after))
        if before > 2:
            # logons before the mirror was in sync had started the resolver
            # threads: the count above cannot show a lookup handed to one
            t.diag('userdb: the resolver threads were already running (%d threads): the debug '
                   'lines above, not the thread count, show the main thread answered' % before)

        # The mirror out of sync: to a thread, a temporary failure as live.
        slapd.stop()
        last = {}

        def down():
            mark = d.log_mark()
            r = d.doveadm('user', 'johnd')
            last['r'] = r
            last['log'] = d.wait_log('to a resolver thread', mark, timeout=5)
            return USERDB_THREAD in last['log']
        try:
            wait_until(down, 20.0, 'a userdb lookup sent to a thread')
        except TimeoutError:
            pass
        t.ok(USERDB_THREAD in last.get('log', ''),
             'userdb, slapd stopped: the mirror out of sync, the lookup to a resolver thread',
             last.get('log', '')[-2000:])
        r = last.get('r')
        t.ok(r is not None and r.returncode != 0,
             'userdb, slapd stopped: the lookup fails (no home given)',
             r and (r.stdout + r.stderr))
        slapd.start()
        wait_port(slapd.port)
        t.ok(wait_memory(d), 'userdb: slapd back, in sync again')
        t.eq(d.crashes(), [], 'userdb from memory: no Fatal/Panic in the log')
    finally:
        d.stop()


with Tap() as t:
    for m in MODULES:
        if not os.path.exists(m):
            t.skip('plugin memory path', 'not built: ' + m)
            raise SystemExit(t.done())
    holder = Dovecot(passdb='', name='homes')
    homes = os.path.join(holder.dir, 'home')
    os.makedirs(homes, exist_ok=True)
    os.chown(homes, holder.uid, holder.gid)
    sample = sample_ldif(homes, uid=holder.uid, gid=holder.gid)
    slow = (SLOW_LDIF % sha512_crypt('slow-pw')) % (homes, holder.uid, holder.gid)
    slapd = Slapd(ldif=[sample, slow])
    try:
        t.run('hash mode', hash_mode, t, slapd)
        t.run('bind mode', bind_mode, t, slapd)
        t.run('userdb', userdb_mode, t, slapd, homes)
    finally:
        slapd.stop()
