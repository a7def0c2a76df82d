#!/usr/bin/python3
"""One LDAP search per logon on live LDAP (issue #10), counted by slapd.

A private slapd holding the sample directory (plus a few entries for the
fallback cases) with its cn=Monitor database; the real resolver in one
long-lived tests/resolver-loop per password mode.  For every logon form and
every case where search 1 does not settle the mailbox, the suite checks the
outcome and canonical user (what design.md section 2 says, unchanged from
the two-search resolver), and the searches and binds slapd itself counted
for that one logon: one search in the common cases, a second only in the
fallbacks named below, and none of the fallbacks before the password is
proven (a wrong password costs what an unknown name costs).  The same
logons through the directory mirror must end the same way, and NTLM
logons (`xident resolve --ntlm`) report the same counts.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from slapd import Slapd  # noqa: E402

LOOP = build_path('tests', 'resolver-loop')
XIDENT = build_path('tools', 'xident')

# twin: an account whose mailbox is named after it, while another owner's
# mailbox shares that alias (two candidates in search 1: the fallback).
EXTRA = '''dn: uid=twin,ou=EXAMPLE,ou=accounts,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: xidentAccount
uid: twin
cn: Twin
sn: Twin
xidentDomain: EXAMPLE
xidentAccountName: twin
userPassword: %(pw)s

dn: cn=twin,ou=mailboxes,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: xidentMailbox
cn: twin
sn: Twin
xidentAlias: twin
mail: twin@example.com
xidentPrimaryAccount: uid=twin,ou=EXAMPLE,ou=accounts,dc=example,dc=com
xidentMailHome: /var/lib/xident-demo/vmail/twin

dn: cn=twin-other,ou=mailboxes,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: xidentMailbox
cn: twin-other
sn: Twin Other
xidentAlias: twin
mail: twin-other@example.com
xidentPrimaryAccount: uid=hdadmin,ou=EXAMPLE,ou=accounts,dc=example,dc=com
xidentMailHome: /var/lib/xident-demo/vmail/twin-other

'''

# name, password, outcome, canonical user, searches with the right password,
# searches with a wrong one (None: no right password to try).
# (name, password, outcome, user, searches with the password, searches with
# a wrong one).  Before the proof every name of a form costs the same
# (design.md §3): DOMAIN\account and the forms naming the mailbox one
# search; a bare name or name@suffix two, since as an alias it costs a
# search and the read of its primary account (the others make up with a
# read of a DN that does not exist).
CASES = [
    # common cases: search 1 finds the account and the mailbox named after it
    ('EXAMPLE\\bjones', 'bjones-pw', 'ok', 'bjones', 1, 1),       # owns two; the named one wins
    ('bjones', 'bjones-pw', 'ok', 'bjones', 2, 2),
    ('example/BJONES', 'bjones-pw', 'ok', 'bjones', 1, 1),
    ('EXAMPLE\\asmith', 'asmith-pw', 'ok', 'asmith', 1, 1),       # mailbox on the account's entry
    ('asmith', 'asmith-pw', 'ok', 'asmith', 2, 2),
    ('cwhite', 'cwhite-pw', 'ok', 'cwhite', 2, 2),                # second default domain
    ('EXAMPLE\\imaponly', 'imaponly-pw', 'ok', 'imaponly', 1, 1),
    ('EXAMPLE\\rjames', 'rjames-pw', 'other_server', 'rjames', 1, 1),
    # forms that name the mailbox: one search, as before
    ('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', 'ok', 'johnd', 1, 1),
    ('EXAMPLE\\jdoe\\helpdesk', 'jdoe-pw', 'ok', 'helpdesk', 1, 1),   # delegate
    ('EXAMPLE\\jdoe\\johnd@example.com', 'jdoe-pw', 'ok', 'johnd', 1, 1),
    ('jdoe@example.com/johnd', 'jdoe-pw', 'ok', 'johnd', 1, 1),
    # fallbacks: the account's mailboxes are searched, after the proof only
    ('EXAMPLE\\jdoe', 'jdoe-pw', 'ok', 'johnd', 2, 1),            # its mailbox has another alias
    ('jdoe', 'jdoe-pw', 'ok', 'johnd', 3, 2),
    ('EXAMPLE\\mmiller', 'mmiller-pw', 'ambiguous', '', 2, 1),    # owns two, neither named after it
    ('reception', 'reception-pw', 'ok', 'frontdesk', 3, 2),       # alias "reception" has another owner
    ('EXAMPLE\\twin', 'twin-pw', 'ok', 'twin', 2, 1),             # two mailboxes share alias "twin"
    ('twin', 'twin-pw', 'ok', 'twin', 3, 2),
    ('jdoe@example.com', 'jdoe-pw', 'ok', 'johnd', 3, 2),         # UPN: the account name is not typed
    # no mailbox: the owned search, then the check that mailboxes are visible
    ('EXAMPLE\\nomail', 'nomail-pw', 'no_mailbox', '', 3, 1),
    # a name that is only an alias: its primary account is read before the proof (the
    # second operation every bare name costs)
    ('johnd', 'jdoe-pw', 'ok', 'johnd', 2, 2),
    # refused before any proof: what the form costs
    ('wong', None, 'ambiguous', '', None, 2),
    ('nosuchuser', None, 'bad_credentials', '', None, 2),
    ('EXAMPLE\\nosuchuser', None, 'bad_credentials', '', None, 1),
    ('nosuch@example.com', None, 'bad_credentials', '', None, 2),
]


class Loop:
    """One resolver-loop: a long-lived resolver (its connection is made by
    the warm-up logon, so the counts below are the logons' own)."""

    def __init__(self, conf):
        self.p = subprocess.Popen([LOOP, conf], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

    def logon(self, name, pw):
        self.p.stdin.write('%s\t%s\timap\n' % (name, pw))
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        out = {}
        for part in line.split(' cause=', 1)[0].split():
            k, _, v = part.partition('=')
            out[k] = v
        return out, line

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=60)
        return rc, self.p.stderr.read()


def counted(d, loop, name, pw):
    """One logon and what slapd saw for it (less the second reading's own
    bind and search)."""
    before = d.op_counts()
    r, line = loop.logon(name, pw)
    after = d.op_counts()
    return r, line, after['search'] - before['search'] - 1, after['bind'] - before['bind'] - 1


def live(t, d, mode):
    conf = d.write_config(password_mode=mode)
    loop = Loop(conf)
    binds = 1 if mode == 'bind' else 0
    try:
        r, line = loop.logon('EXAMPLE\\bjones', 'bjones-pw')
        t.eq(r.get('outcome'), 'ok', '%s: warm-up logon' % mode)
        for name, pw, outcome, user, s_right, s_wrong in CASES:
            if pw is not None:
                r, line, s, b = counted(d, loop, name, pw)
                if not t.eq((r.get('outcome'), r.get('user')), (outcome, user),
                            '%s: %s: %s, user %r' % (mode, name, outcome, user)):
                    t.diag(line)
                t.eq((s, b), (s_right, binds),
                     '%s: %s with its password: slapd saw %d search(es), %d bind(s)' %
                     (mode, name, s_right, binds))
                t.eq(r.get('ops'), str(s + b), '%s: %s: the resolver counts what slapd saw' % (mode, name))
            r, line, s, b = counted(d, loop, name, 'wrong-password')
            want = 'ambiguous' if outcome == 'ambiguous' and pw is None else 'bad_credentials'
            t.eq(r.get('outcome'), want, '%s: %s, wrong password: %s' % (mode, name, want))
            t.eq((s, b), (s_wrong, binds),
                 '%s: %s, wrong password: slapd saw %d search(es), %d bind(s)' % (mode, name, s_wrong, binds))
    finally:
        rc, err = loop.close()
    t.eq(rc, 0, '%s: resolver-loop ended cleanly' % mode)
    t.ok('Sanitizer' not in err and 'runtime error' not in err, '%s: no sanitizer report' % mode, err)


def mirror_agrees(t, d):
    """The mirror answers the combined search as live LDAP does: every case
    ends the same way through it."""
    for mode in ('bind', 'hash'):
        lines = ''.join('%s\t%s\timap\n' % (n, pw or 'wrong-password') for n, pw, *_ in CASES)
        a = run([LOOP, d.write_config(password_mode=mode)], input=lines)
        b = run([LOOP, d.write_config(password_mode=mode, directory_mirror='yes',
                                      directory_mirror_secrets='yes')], input=lines)
        strip = [[x for x in l.split(' cause=')[0].split() if not x.startswith('ops=')]
                 for l in a.stdout.splitlines()]
        mirr = [[x for x in l.split(' cause=')[0].split() if not x.startswith('ops=')]
                for l in b.stdout.splitlines()]
        t.eq(len(strip), len(CASES), '%s: every case answered live' % mode)
        t.eq(mirr, strip, '%s: the mirror gives every case the outcome, event and user live LDAP gives' % mode)
        noisy = [x for x in (a.stderr, b.stderr) if 'Sanitizer' in x or 'runtime error' in x]
        t.ok(not noisy, '%s: no sanitizer report from live or mirror' % mode, '\n'.join(noisy)[:2000])


def ntlm(t, conf):
    """NTLM names go through the same search: the counts the resolver
    reports (`xident resolve --ntlm`, the proof taken from the password)."""
    for user, pw, outcome, ops in [('bjones', 'bjones-pw', 'ok', '1'), ('jdoe', 'jdoe-pw', 'ok', '2'),
                                   ('jdoe\\johnd', 'jdoe-pw', 'ok', '1'), ('jdoe', 'wrong', 'bad_credentials', '1'),
                                   ('nosuchuser', 'wrong', 'bad_credentials', '1')]:
        r = run([XIDENT, 'resolve', '-c', conf, '--password-stdin', '--ntlm', '--ntlm-domain', 'EXAMPLE', user],
                input=pw + '\n')
        got = dict(l.split(': ', 1) for l in r.stdout.splitlines() if ': ' in l and not l.startswith(' '))
        if not t.eq((got.get('outcome'), got.get('ldap operations')), (outcome, ops),
                    'NTLM EXAMPLE + %s (%s password): %s, %s operation(s)' % (user, 'wrong' if pw == 'wrong' else 'right', outcome, ops)):
            t.diag(r.stdout + r.stderr)
        t.ok('Sanitizer' not in r.stderr and 'runtime error' not in r.stderr,
             'NTLM %s: no sanitizer report' % user, r.stderr[:2000])


def crowded(t, d):
    """More mailboxes named after an account than one result holds (the
    sizelimit is 33): search 1 is truncated, and the account, added last,
    may not be among the entries returned.  It must still be found (search
    1 again without the mailbox part), never read as an unknown name."""
    ldif = ''.join('dn: cn=crowd-%02d,ou=mailboxes,dc=example,dc=com\nchangetype: add\n'
                   'objectClass: inetOrgPerson\nobjectClass: xidentMailbox\ncn: crowd-%02d\nsn: x\n'
                   'xidentAlias: crowd\n'
                   'xidentPrimaryAccount: uid=hdadmin,ou=EXAMPLE,ou=accounts,dc=example,dc=com\n\n' % (i, i)
                   for i in range(40))
    pw = run(['slappasswd', '-h', '{SSHA}', '-s', 'crowd-pw']).stdout.strip()
    ldif += ('dn: uid=crowd,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: add\n'
             'objectClass: inetOrgPerson\nobjectClass: xidentAccount\nuid: crowd\ncn: crowd\nsn: x\n'
             'xidentDomain: EXAMPLE\nxidentAccountName: crowd\nuserPassword: %s\n\n'
             'dn: cn=crowd-box,ou=mailboxes,dc=example,dc=com\nchangetype: add\n'
             'objectClass: inetOrgPerson\nobjectClass: xidentMailbox\ncn: crowd-box\nsn: x\n'
             'xidentAlias: crowd-box\nxidentMailHome: /var/lib/xident-demo/vmail/crowd-box\n'
             'xidentPrimaryAccount: uid=crowd,ou=EXAMPLE,ou=accounts,dc=example,dc=com\n\n' % pw)
    r = d.modify(ldif)
    t.ok(r.returncode == 0, '40 mailboxes with alias "crowd", then the account crowd', r.stderr)
    for mode in ('bind', 'hash'):
        r = run([LOOP, d.write_config(password_mode=mode)],
                input='EXAMPLE\\crowd\tcrowd-pw\timap\nEXAMPLE\\crowd\twrong\timap\n')
        lines = r.stdout.splitlines() + ['', '']
        t.contains(lines[0], 'outcome=ok ', '%s: EXAMPLE\\crowd logs on despite the crowd' % mode)
        t.contains(lines[0], 'user=crowd-box ', '%s: EXAMPLE\\crowd opens crowd-box' % mode)
        t.contains(lines[1], 'cause=wrong password for EXAMPLE\\crowd',
                   '%s: a wrong password is a wrong password, not an unknown name' % mode)


def main():
    with Tap() as t:
        if not os.access(LOOP, os.X_OK):
            t.ok(False, 'resolver-loop built at %s' % LOOP)
            return
        d = Slapd()
        d.enable_monitor()
        pw = run(['slappasswd', '-h', '{SSHA}', '-s', 'twin-pw']).stdout.strip()
        r = d.modify(EXTRA % {'pw': pw})
        t.ok(r.returncode == 0, 'the twin entries added', r.stderr)
        t.ok(d.op_counts()['search'] > 0, 'slapd counts its operations (cn=Monitor)')
        t.run('live bind', live, t, d, 'bind')
        t.run('live hash', live, t, d, 'hash')
        t.run('mirror', mirror_agrees, t, d)
        t.run('ntlm', ntlm, t, d.write_config())
        t.run('crowded', crowded, t, d)
        d.stop()


if __name__ == '__main__':
    main()
