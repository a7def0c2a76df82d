#!/usr/bin/python3
"""The directory mirror (directory_mirror = yes: RFC 4533 refreshAndPersist
against the private slapd's syncprov overlay) against live LDAP.

- tests/mirror-compare asks the mirror and live LDAP the same directory
  questions -- every account, UPN, alias, mail address, owner key and DN of
  the sample directory, with case and Unicode variants -- and compares the
  answers field by field; also with 4 reader threads per question.
- tests/resolver-loop runs every seed scenario of test_resolver.py with
  the mirror off and on: same outcome, event, user and cause; with the
  mirror in sync a logon sends no LDAP operation in hash mode (secrets
  kept) and only the bind in bind mode.
- Changes (ldapmodify, `xident account disable`, add, modrdn, delete) reach
  the next logon within a bounded wait; slapd stopped -> tempfail like live;
  slapd back -> the mirror refreshes and answers from memory again.
- Over directory_mirror_max_entries: never in sync, every answer from LDAP.
- 10,000 synthetic users (tests/bench/gen-users): refresh time and bytes
  per entry, printed as diagnostics (timings on a shared machine are noisy).
"""
import ast
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from slapd import Slapd  # noqa: E402

XIDENT = build_path('tools', 'xident')
LOOP = build_path('tests', 'resolver-loop')
COMPARE = build_path('tests', 'mirror-compare')
GEN_USERS = src_path('tests', 'bench', 'gen-users')
SYNC_WAIT = 30.0


def resolver_scenarios():
    """SCENARIOS of test_resolver.py (read, not imported: importing runs it)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_resolver.py')
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    keep = [n for n in tree.body if isinstance(n, ast.Assign) and
            any(getattr(tg, 'id', None) in ('BAD', 'TEMP', 'SCENARIOS') for tg in n.targets)]
    ns = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, 'exec'), ns)  # noqa: S102
    return ns['SCENARIOS']


class Lines:
    """A driver reading one line and answering one line."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, encoding='utf-8')

    def ask(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()
        return self.p.stdout.readline().rstrip('\n')

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=60)
        return rc, self.p.stderr.read()


def fields(line):
    out = {}
    for part in line.split(' '):
        k, sep, v = part.partition('=')
        if sep:
            out[k] = v
    return out


def logon(loop, name, pw, proto='imap'):
    return fields(loop.ask('%s\t%s\t%s' % (name, pw, proto)))


def variants(v):
    out = {v, v.upper(), v.lower(), v.swapcase(), v.title()}
    # Kelvin sign and long s: caseIgnoreMatch folds them to k and s
    out.add(v.replace('k', '\u212a'))
    out.add(v.replace('s', '\u017f'))
    # Turkic dotless i: simple case mapping joins it to I, slapd does not
    out.add(v.replace('i', '\u0131'))
    return sorted(out)


def questions(d):
    """Every directory question the resolver can ask about the sample."""
    qs = []
    entries = d.search('(|(objectClass=xidentAccount)(objectClass=xidentMailbox)'
                       '(objectClass=xidentCustomRecipient)(objectClass=xidentDistributionList))',
                       ['*'], bind='root')
    for dn, a in entries:
        for v in a.get('xidentAccountName', []):
            for x in variants(v):
                qs.append('find\taccount=%s\tdomains=EXAMPLE,BRANCH' % x)
                qs.append('find\taccount=%s' % x)
                qs.append('find\taccount=%s\tdomains=BRANCH' % x)
                # a one-part name asks every part at once
                qs.append('find\taccount=%s\tdomains=EXAMPLE,BRANCH\talias=%s\tupn=%s\tmail=%s'
                          % (x, x, x, x))
        for v in a.get('xidentUserPrincipalName', []):
            for x in variants(v):
                qs.append('find\tupn=%s\tmail=%s' % (x, x))
        for v in a.get('xidentAlias', []):
            for x in variants(v):
                qs.append('find\talias=%s' % x)
        for v in a.get('mail', []):
            for x in variants(v):
                qs.append('find\tmail=%s' % x)
        for v in a.get('xidentPrimaryAccount', []) + a.get('xidentDelegate', []):
            qs.append('find\towner=%s' % v.lower())
        qs.append('read\t%s' % dn)
        qs.append('read\t%s' % dn.upper())
    for secret in ('nt=1', 'pw=1'):
        qs.append('find\taccount=jdoe\tdomains=EXAMPLE\t%s' % secret)
        qs.append('find\talias=johnd\t%s' % secret)
    qs.append('read\tuid=jdoe,ou=EXAMPLE,ou=accounts,dc=example,dc=com\tnt\tpw')
    qs.append('find\taccount=nosuchname\tdomains=EXAMPLE,BRANCH\talias=nosuchname')
    qs.append('find\towner=cn=xident-no-such-account,dc=example,dc=com')
    qs.append('read\tcn=xident-no-such-account,dc=example,dc=com')
    qs.append('visible')
    return qs


def compare_all(t, conf, qs, label, threads=0, min_found=1):
    argv = [COMPARE, conf] + (['--threads', str(threads)] if threads else [])
    c = Lines(argv)
    try:
        st = fields(c.ask('wait\t%d' % int(SYNC_WAIT * 1000)))
        t.eq(st.get('in_sync'), '1', '%s: mirror in sync' % label)
        diffs, found, ops = [], 0, 0
        for q in qs:
            r = c.ask(q)
            if not r.startswith('same'):
                diffs.append('%s -> %s' % (q, r))
            f = fields(r)
            found += int(f.get('count', '0'))
            ops += int(f.get('mirror_ops', '0'))
        t.ok(not diffs, '%s: %d questions, mirror and live give the same answers' % (label, len(qs)),
             '\n'.join(diffs[:10]))
        t.ok(found >= min_found, '%s: the questions found entries (%d)' % (label, found))
        t.eq(ops, 0, '%s: the mirror sent no LDAP operation' % label)
    finally:
        rc, err = c.close()
    t.eq(rc, 0, '%s: driver exit 0' % label)
    t.ok('Sanitizer' not in err and 'runtime error' not in err and 'WARNING: ThreadSanitizer' not in err,
         '%s: no sanitizer report' % label, err[-2000:])


def wait_ops(loop, name, pw, want_ops, timeout=SYNC_WAIT):
    """Logs on until a logon costs want_ops LDAP operations (the mirror is
    answering) or the deadline passes; returns the last result."""
    last = {}

    def cond():
        last.clear()
        last.update(logon(loop, name, pw))
        return last.get('outcome') == 'ok' and last.get('ops') == str(want_ops)
    try:
        wait_until(cond, timeout, 'mirror answering')
    except TimeoutError:
        pass
    return last


def matrix(t, d, mode, secrets):
    label = '%s mode, secrets %s' % (mode, 'kept' if secrets else 'not kept')
    keys = {'password_mode': mode}
    live = Lines([LOOP, d.write_config(**keys)])
    mirror = Lines([LOOP, d.write_config(directory_mirror='yes',
                                         directory_mirror_secrets='yes' if secrets else 'no', **keys)])
    # hash mode, secrets kept: no LDAP at all; bind mode: the bind only;
    # hash mode without secrets: the secret's search only.
    want = {('hash', True): 0, ('bind', True): 1, ('bind', False): 1, ('hash', False): 1}[(mode, secrets)]
    try:
        r = wait_ops(mirror, 'EXAMPLE\\jdoe', 'jdoe-pw', want)
        t.eq(r.get('ops'), str(want), '%s: EXAMPLE\\jdoe costs %d LDAP operation(s) once in sync' % (label, want))
        mism, ops_bad = [], []
        for name, pw, proto, outcome, event, client, user in resolver_scenarios():
            a = logon(live, name, pw, proto or 'imap')
            b = logon(mirror, name, pw, proto or 'imap')
            for k in ('outcome', 'event', 'user', 'cause'):
                if a.get(k) != b.get(k):
                    mism.append('%s %s: live %s mirror %s' % (name, k, a.get(k), b.get(k)))
            if a.get('outcome') != outcome:
                mism.append('%s: live outcome %s, expected %s' % (name, a.get('outcome'), outcome))
            if int(b.get('ops', '99')) > (want if secrets else int(a.get('ops', '0'))):
                ops_bad.append('%s: %s ops (live %s)' % (name, b.get('ops'), a.get('ops')))
        t.ok(not mism, '%s: every seed scenario ends the same with the mirror as live' % label,
             '\n'.join(mism[:10]))
        t.ok(not ops_bad, '%s: no scenario costs more than %s with the mirror' %
             (label, '%d LDAP operation(s)' % want if secrets else 'live'),
             '\n'.join(ops_bad[:10]))
    finally:
        for p in (live, mirror):
            rc, err = p.close()
            t.ok(rc == 0 and 'Sanitizer' not in err and 'runtime error' not in err,
                 '%s: driver clean exit' % label, err[-2000:])


def changes(t, d):
    """Persist phase: what the directory changes reaches the next logon."""
    admin = d.write_config(admin_bind_dn=d.admin_dn, secrets={'admin_bind_password': d.admin_password})
    loop = Lines([LOOP, d.write_config(directory_mirror='yes', directory_mirror_secrets='yes',
                                       password_mode='hash')])

    def until(name, pw, outcome, what, timeout=10.0):
        last = {}
        t0 = time.monotonic()

        def cond():
            last.clear()
            last.update(logon(loop, name, pw))
            return last.get('outcome') == outcome and last.get('ops') == '0'
        try:
            wait_until(cond, timeout, what)
        except TimeoutError:
            pass
        t.ok(last.get('outcome') == outcome and last.get('ops') == '0',
             '%s (from the mirror, within %.0f s)' % (what, timeout), str(last))
        t.diag('%s: seen after %.3f s' % (what, time.monotonic() - t0))
        return last

    try:
        until('EXAMPLE\\asmith', 'asmith-pw', 'ok', 'in sync: asmith logs on')
        r = run([XIDENT, 'account', 'disable', '-c', admin, 'EXAMPLE\\asmith'])
        t.ok(r.returncode == 0, 'xident account disable EXAMPLE\\asmith', r.stderr)
        until('EXAMPLE\\asmith', 'asmith-pw', 'account_disabled', 'disabled account refused')
        r = run([XIDENT, 'account', 'enable', '-c', admin, 'EXAMPLE\\asmith'])
        t.ok(r.returncode == 0, 'xident account enable EXAMPLE\\asmith', r.stderr)
        until('EXAMPLE\\asmith', 'asmith-pw', 'ok', 'enabled again: logs on')

        # ldapmodify: a new mail address is a logon name at once
        r = d.modify('dn: cn=johnd,ou=mailboxes,dc=example,dc=com\nchangetype: modify\n'
                     'add: mail\nmail: JD.Mirror@Example.COM\n')
        t.ok(r.returncode == 0, 'ldapmodify adds a mail address', r.stderr)
        r = until('jd.mirror@example.com', 'jdoe-pw', 'ok', 'new mail address logs on')
        t.eq(r.get('user'), 'johnd', 'new mail address opens johnd')

        # add an account and its mailbox, log on, rename the mailbox, delete the account
        pwhash = run(['slappasswd', '-h', '{SSHA}', '-s', 'temp-pw']).stdout.strip()
        r = d.modify('dn: uid=mirrortemp,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: add\n'
                     'objectClass: inetOrgPerson\nobjectClass: xidentAccount\nuid: mirrortemp\n'
                     'cn: Mirror Temp\nsn: Temp\nxidentDomain: EXAMPLE\nxidentAccountName: mirrortemp\n'
                     'userPassword: %s\n\n'
                     'dn: cn=mtbox,ou=mailboxes,dc=example,dc=com\nchangetype: add\n'
                     'objectClass: inetOrgPerson\nobjectClass: xidentMailbox\ncn: mtbox\nsn: box\n'
                     'xidentAlias: mtbox\n'
                     'xidentPrimaryAccount: uid=mirrortemp,ou=EXAMPLE,ou=accounts,dc=example,dc=com\n'
                     % pwhash)
        t.ok(r.returncode == 0, 'ldapmodify adds an account and a mailbox', r.stderr)
        r = until('EXAMPLE\\mirrortemp', 'temp-pw', 'ok', 'added account logs on')
        t.eq(r.get('user'), 'mtbox', 'added account opens its mailbox')
        r = d.modify('dn: cn=mtbox,ou=mailboxes,dc=example,dc=com\nchangetype: modrdn\n'
                     'newrdn: cn=mtbox2\ndeleteoldrdn: 1\n')
        t.ok(r.returncode == 0, 'ldapmodify renames the mailbox entry (modrdn)', r.stderr)
        r = d.modify('dn: cn=mtbox2,ou=mailboxes,dc=example,dc=com\nchangetype: modify\n'
                     'replace: xidentAlias\nxidentAlias: mtbox-renamed\n')
        t.ok(r.returncode == 0, 'ldapmodify changes its alias', r.stderr)
        r = until('EXAMPLE\\mirrortemp\\mtbox-renamed', 'temp-pw', 'ok', 'renamed mailbox opens by its new alias')
        r = until('EXAMPLE\\mirrortemp\\mtbox', 'temp-pw', 'no_mailbox', 'old alias gone')
        r = d.modify('dn: uid=mirrortemp,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: delete\n')
        t.ok(r.returncode == 0, 'ldapdelete of the account', r.stderr)
        until('EXAMPLE\\mirrortemp', 'temp-pw', 'bad_credentials', 'deleted account refused')
        d.modify('dn: cn=mtbox2,ou=mailboxes,dc=example,dc=com\nchangetype: delete\n')

        # slapd stopped: the mirror must not answer for a directory it no
        # longer follows; every logon is a temporary failure, as live.
        d.stop()
        last = {}

        def down():
            last.clear()
            last.update(logon(loop, 'EXAMPLE\\jdoe', 'jdoe-pw'))
            return last.get('outcome') == 'tempfail'
        try:
            wait_until(down, 10.0, 'tempfail')
        except TimeoutError:
            pass
        t.ok(last.get('outcome') == 'tempfail', 'slapd stopped: tempfail, as live', str(last))
        t.eq(logon(loop, 'EXAMPLE\\jdoe', 'wrong').get('outcome'), 'tempfail',
             'slapd stopped, wrong password: tempfail, never bad password')
        # a change made while the mirror was disconnected
        d.start()
        wait_port(d.port)
        r = d.modify('dn: uid=olduser,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: modify\n'
                     'replace: xidentAccountDisabled\nxidentAccountDisabled: FALSE\n')
        t.ok(r.returncode == 0, 'olduser enabled while the mirror reconnects', r.stderr)
        until('EXAMPLE\\jdoe', 'jdoe-pw', 'ok', 'slapd back: the mirror resyncs and answers again', SYNC_WAIT)
        until('EXAMPLE\\olduser', 'olduser-pw', 'ok', 'the change made meanwhile is in the mirror')
    finally:
        rc, err = loop.close()
    t.ok(rc == 0 and 'Sanitizer' not in err and 'runtime error' not in err, 'changes: driver clean exit',
         err[-2000:])


def over_limit(t, d):
    conf = d.write_config(directory_mirror='yes', directory_mirror_max_entries='5')
    c = Lines([COMPARE, conf])
    try:
        st = c.ask('wait\t3000')
        t.contains(st, 'in_sync=0', 'over the entry limit: never in sync')
        t.contains(st, 'directory_mirror_max_entries', 'the state names the limit', )
        r = fields(c.ask('find\taccount=jdoe\tdomains=EXAMPLE'))
        t.eq(r.get('mirror_ops'), '1', 'over the limit: answered by LDAP (1 search)')
    finally:
        c.close()
    loop = Lines([LOOP, conf])
    try:
        r = logon(loop, 'EXAMPLE\\jdoe', 'jdoe-pw')
        t.eq((r.get('outcome'), r.get('user')), ('ok', 'johnd'), 'over the limit: logons still work (live)')
        t.ok(int(r.get('ops', '0')) >= 2, 'over the limit: the logon used LDAP', str(r))
    finally:
        loop.close()


def doctor(t, d):
    conf = d.write_config(directory_mirror='yes')
    r = run([XIDENT, 'doctor', '-c', conf])
    t.contains(r.stdout, 'OK   directory mirror: ', 'doctor: syncprov offered to the service account')
    t.contains(r.stdout, 'OK   directory mirror: 3', 'doctor: the mirror refreshed, entries and bytes named')
    r = run([XIDENT, 'doctor', '-c', d.write_config(directory_mirror='yes', directory_mirror_max_entries='5')])
    t.contains(r.stdout, 'WARN directory mirror: not in sync: more than directory_mirror_max_entries (5)',
               'doctor: a mirror over its entry limit is reported')
    t.contains(r.stdout, 'remedy: raise directory_mirror_max_entries', 'doctor: with the remedy')
    r = run([XIDENT, 'doctor', '-c', d.write_config()])
    t.ok('directory mirror' not in r.stdout, 'doctor: mirror off, nothing said about it')


def no_syncprov(t):
    """A server without the syncprov overlay: doctor warns with the remedy;
    the mirror never claims to be in sync and logons go to LDAP."""
    with Slapd(syncprov=False) as d:
        conf = d.write_config(directory_mirror='yes', password_mode='hash', directory_mirror_secrets='yes')
        r = run([XIDENT, 'doctor', '-c', conf])
        t.contains(r.stdout, 'WARN directory mirror: ', 'doctor without syncprov: WARN')
        t.contains(r.stdout, 'overlay syncprov', 'doctor without syncprov: the remedy names the overlay')
        t.eq(r.returncode, 0, 'doctor without syncprov: a WARN, not a FAIL')
        c = Lines([COMPARE, conf])
        try:
            st = c.ask('wait\t2000')
            t.contains(st, 'in_sync=0', 'without syncprov: the mirror is never in sync')
            t.contains(st, 'syncprov', 'without syncprov: its state says why')
        finally:
            c.close()
        loop = Lines([LOOP, conf])
        try:
            r = logon(loop, 'EXAMPLE\\jdoe', 'jdoe-pw')
            t.ok(r.get('outcome') == 'ok' and int(r.get('ops', '0')) >= 2,
                 'without syncprov: logons work through LDAP', str(r))
        finally:
            loop.close()


def thread_sanitizer(t, d):
    """mirror-compare built with -fsanitize=thread: 4 reader threads per
    question while ldapmodify changes the entries they read (the sync
    thread writes meanwhile)."""
    import shutil
    import glob
    if not shutil.which('clang'):
        t.skip('ThreadSanitizer run', 'clang not installed')
        return
    out = os.path.join(tempdir('tsan-'), 'mirror-compare-tsan')
    src = src_path('core')
    r = run(['clang', '-std=gnu11', '-g', '-O1', '-fsanitize=thread', '-DHAVE_CONFIG_H',
             '-I' + build_path(), '-I' + src, '-I' + src_path('tests')] +
            sorted(glob.glob(os.path.join(src, '*.c'))) + [src_path('tests', 'mirror-compare.c'), '-o', out,
             '-lldap', '-llber', '-lcrypto', '-lssl', '-lcrypt', '-largon2', '-lpthread'], timeout=600)
    t.ok(r.returncode == 0, 'ThreadSanitizer build of mirror-compare', r.stderr[-2000:])
    if r.returncode != 0:
        return
    conf = d.write_config(directory_mirror='yes', directory_mirror_secrets='yes')
    changes = ''.join('dn: uid=jdoe,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: modify\n'
                      'replace: xidentUserPrincipalName\nxidentUserPrincipalName: jdoe%d@example.com\n\n' % i
                      for i in range(60))
    lines = ''.join(
        'find\taccount=jdoe\tdomains=EXAMPLE\nfind\talias=johnd\tpw=1\n'
        'read\tuid=jdoe,ou=EXAMPLE,ou=accounts,dc=example,dc=com\tnt\nvisible\n' for _ in range(40)) + 'stats\n'
    p = subprocess.Popen([out, conf, '--threads', '4'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, TSAN_OPTIONS='halt_on_error=0 exitcode=66'))
    p.stdin.write('wait\t%d\n' % int(SYNC_WAIT * 1000))
    p.stdin.flush()
    first = p.stdout.readline()
    t.contains(first, 'in_sync=1', 'ThreadSanitizer build: mirror in sync')
    # the changes run while the readers read
    done = []
    import threading
    th = threading.Thread(target=lambda: done.append(d.modify(changes)))
    th.start()
    so, se = p.communicate(lines, timeout=600)
    th.join()
    m = done[0]
    t.ok(m.returncode == 0, 'ldapmodify changed jdoe 60 times meanwhile', m.stderr)
    st = fields(so.strip().splitlines()[-1]) if so.strip() else {}
    t.ok(int(st.get('changes', '0')) > 0, 'the sync thread applied changes while readers read', so[-300:])
    t.ok(p.returncode == 0 and 'ThreadSanitizer' not in se, 'ThreadSanitizer: no report', se[-3000:])
    d.modify('dn: uid=jdoe,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: modify\n'
             'replace: xidentUserPrincipalName\nxidentUserPrincipalName: jdoe@example.com\n')


def tls(t, qs):
    """The sync connection goes through ldap_conn like every other: ldaps and
    StartTLS with the CA."""
    with Slapd(tls=True) as d:
        for how in ('ldaps', 'starttls'):
            conf = d.write_config(directory_mirror='yes', **{how: True})
            compare_all(t, conf, qs, 'mirror over %s' % how)


def dovecot(t, d):
    """The plugin gets the mirror from its config alone.  Proof that logons
    are answered from memory: with slapd frozen (SIGSTOP: its connections
    stay open, nothing answers) a hash-mode logon through Dovecot still
    succeeds, once the auth process's mirror is in sync."""
    import signal
    module = build_path('plugin', '.libs', 'libauthdb_xident.so')
    if not os.path.exists(module):
        t.skip('Dovecot with the mirror', 'plugin not built (sanitizer build)')
        return
    from dovecot import Dovecot
    dc = Dovecot(passdb='passdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                 modules=[module], name='mirror')
    d.write_config(path=os.path.join(dc.dir, 'xident.conf'), directory_mirror='yes',
                   directory_mirror_secrets='yes', password_mode='hash', ldap_timeout='2')
    dc.start()
    try:
        def auth(name, pw):
            r = dc.doveadm('auth', 'test', '-x', 'service=imap', name, pw)
            return r.stdout + r.stderr
        out = auth('EXAMPLE\\jdoe', 'jdoe-pw')
        t.contains(out, 'auth succeeded', 'Dovecot with the mirror: EXAMPLE\\jdoe logs on')
        t.contains(out, 'user=johnd', 'Dovecot with the mirror: opens johnd')
        frozen_ok = []

        def from_memory():
            # Each unanswered try keeps slapd frozen for ldap_timeout, and a
            # refresh caught by the freeze starts over; a few logons with
            # slapd running between tries leave the refresh room to finish.
            # Freeze only once a logon was answered from the mirror's
            # memory (the plugin's debug line), not after a guessed number
            # of logons: a refresh still running would fall through to the
            # frozen slapd.
            def in_memory():
                mark = dc.log_mark()
                auth('EXAMPLE\\asmith', 'asmith-pw')
                return "answered from the mirror's memory" in dc.wait_log(
                    "answered from the mirror's memory", mark, timeout=2.0)
            try:
                wait_until(in_memory, SYNC_WAIT, 'a logon answered from memory')
            except TimeoutError:
                pass
            os.kill(d.pid, signal.SIGSTOP)
            try:
                out = auth('EXAMPLE\\asmith', 'asmith-pw')
            finally:
                os.kill(d.pid, signal.SIGCONT)
            frozen_ok[:] = [out]
            return 'auth succeeded' in out
        try:
            wait_until(from_memory, 2 * SYNC_WAIT, 'a logon with slapd frozen')
        except TimeoutError:
            pass
        t.ok(frozen_ok and 'auth succeeded' in frozen_ok[0],
             'Dovecot with the mirror: a logon succeeds while slapd is frozen (no LDAP operation)',
             frozen_ok[0] if frozen_ok else '')
        os.kill(d.pid, signal.SIGSTOP)
        try:
            out = auth('EXAMPLE\\asmith', 'wrong')
        finally:
            os.kill(d.pid, signal.SIGCONT)
        t.contains(out, 'auth failed', 'Dovecot with the mirror: a wrong password is still refused')
        t.eq(dc.crashes(), [], 'Dovecot with the mirror: no Fatal/Panic in the log')
    finally:
        dc.stop()


def blocking_warning(t, d):
    """With blocking=yes every auth-worker would keep a mirror of its own
    (measured: 19 workers refreshing at once, logons waiting seconds); the
    auth process says so once, and stays silent without blocking=yes."""
    module = build_path('plugin', '.libs', 'libauthdb_xident.so')
    if not os.path.exists(module):
        t.skip('Dovecot with the mirror and blocking=yes', 'plugin not built (sanitizer build)')
        return
    from dovecot import Dovecot
    for blocking in (True, False):
        dc = Dovecot(passdb='passdb {\n  driver = xident\n  args = %%(dir)s/xident.conf%s\n}' % (
            ' blocking=yes' if blocking else ''), modules=[module], name='mirrorblk')
        d.write_config(path=os.path.join(dc.dir, 'xident.conf'), directory_mirror='yes')
        dc.start()
        try:
            r = dc.doveadm('auth', 'test', '-x', 'service=imap', 'EXAMPLE\\jdoe', 'jdoe-pw')
            t.contains(r.stdout + r.stderr, 'auth succeeded',
                       'blocking=%s with the mirror: EXAMPLE\\jdoe logs on' % ('yes' if blocking else 'no'))
            warned = 'every auth-worker process keeps a mirror of its own' in dc.log()
            t.eq(warned, blocking, 'blocking=%s with the mirror: the per-worker mirror warning %s' % (
                'yes' if blocking else 'no', 'is logged' if blocking else 'is not logged'))
        finally:
            dc.stop()


def ten_thousand(t):
    tmp = tempdir('mirror10k-')
    ldif, users = os.path.join(tmp, 'users.ldif'), os.path.join(tmp, 'users.txt')
    r = run([GEN_USERS, '-n', '10000', ldif, users], timeout=300)
    t.ok(r.returncode == 0, 'gen-users 10,000', r.stderr)
    service = ('dn: ou=services,dc=example,dc=com\nobjectClass: organizationalUnit\nou: services\n\n'
               'dn: cn=xident-service,ou=services,dc=example,dc=com\nobjectClass: organizationalRole\n'
               'objectClass: simpleSecurityObject\ncn: xident-service\nuserPassword: service-pw\n')
    with Slapd(ldif=[ldif, service]) as d:
        for secrets in ('no', 'yes'):
            conf = d.write_config(directory_mirror='yes', directory_mirror_secrets=secrets,
                                  default_domains='BENCH')
            c = Lines([COMPARE, conf])
            try:
                st = fields(c.ask('wait\t120000'))
                t.eq(st.get('in_sync'), '1', '10,000 users (secrets %s): in sync' % secrets)
                n, b = int(st.get('entries', '0')), int(st.get('bytes', '0'))
                t.eq(n, 20000, '10,000 users: 20,000 entries mirrored (account + mailbox each)')
                t.diag('10,000 users, secrets %s: refresh %s s, %d bytes = %d bytes/entry (%d per user)'
                       % (secrets, st.get('refresh_seconds'), b, b // max(n, 1), b // 10000))
                diffs = [q for q in ('find\taccount=u00001\tdomains=BENCH', 'find\talias=U09999',
                                     'find\tmail=u05000@bench.example',
                                     'find\tupn=U00777@BENCH.EXAMPLE' + ('\tpw=1' if secrets == 'yes' else ''))
                         if not c.ask(q).startswith('same count=1 mirror_ops=0')]
                t.ok(not diffs, '10,000 users: sample questions answered from memory, equal to live',
                     str(diffs))
            finally:
                c.close()


def main():
    with Tap() as t:
        for p in (LOOP, COMPARE, XIDENT):
            if not os.access(p, os.X_OK):
                t.ok(False, 'built: %s' % p)
                return
        with Slapd() as d:
            qs = questions(d)
            conf = d.write_config(directory_mirror='yes', directory_mirror_secrets='yes')
            t.run('compare', compare_all, t, conf, qs, 'sample directory')
            t.run('compare threads', compare_all, t, conf, qs[:60], 'sample, 4 reader threads', 4)
            conf = d.write_config(directory_mirror='yes',
                                  bind_dn=d.restricted_dn, bind_password=d.restricted_password)
            t.run('compare restricted', compare_all, t, conf, [q for q in qs if 'nt=1' not in q and
                                                            'pw=1' not in q and '\tnt' not in q],
                  'restricted service account')
            for mode, secrets in (('hash', True), ('bind', True), ('hash', False)):
                t.run('matrix', matrix, t, d, mode, secrets)
            t.run('over limit', over_limit, t, d)
            t.run('doctor', doctor, t, d)
            t.run('thread sanitizer', thread_sanitizer, t, d)
            t.run('dovecot', dovecot, t, d)
            t.run('blocking warning', blocking_warning, t, d)
            t.run('changes', changes, t, d)
        t.run('no syncprov', no_syncprov, t)
        t.run('tls', tls, t, [q for q in qs if 'alias=' in q][:40])
        t.run('10,000 users', ten_thousand, t)


main()
