#!/usr/bin/python3
"""The `xident` directory verbs (account, mailbox, recipient) against a real
private slapd holding the sample directory.

Every verb is driven and its effect checked with ldapsearch/ldapwhoami (not
with the CLI itself): duplicate names, UPNs and aliases are refused with
exit 4 and change nothing; names with ,+"\\<>;=*() and non-ASCII letters
round-trip (RFC 4514 DNs, RFC 4515 filters: a `*` typed as a name matches
nothing else); passwords come from stdin or a terminal without echo, never
argv, and `passwd` writes an {SSHA512} userPassword slapd accepts and the NT
hash of MS-NLMP ("Password" -> a4f49c406510bdcab6824ee7c30fd852); --dry-run
prints LDIF and writes nothing; exit codes 0/1/2/3/4/75.

Runs the normal build's CLI, and the sanitizer build's too when it exists
(ASan/UBSan/LSan abort the run on any error or leak).
"""
import os
import pty
import select
import signal
import subprocess
import termios
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from slapd import Slapd, account_dn, parse_ldif  # noqa: E402

NLMP_HASH = 'a4f49c406510bdcab6824ee7c30fd852'
WEIRD = 'we,ird+"\\<>;=*()'             # account name with every DN/filter special
WEIRD_ALIAS = 'a,b+c"d\\e<f>g;h=i*j(k)l'
VERBS = {
    'account': ['add', 'show', 'list', 'disable', 'enable', 'delete', 'passwd'],
    'mailbox': ['add', 'show', 'list', 'grant', 'revoke', 'set-home', 'set-protocols',
                'set-mail', 'delete'],
    'recipient': ['add', 'show', 'delete'],
    'list': ['add', 'show', 'add-members', 'remove-members', 'delete'],
}


def nt_hash(password):
    r = subprocess.run(['openssl', 'dgst', '-md4', '-provider', 'legacy', '-provider',
                        'default', '-r'], input=password.encode('utf-16-le'),
                       stdout=subprocess.PIPE, check=True)
    return r.stdout.split()[0].decode()


class Cli:
    def __init__(self, binary, conf, tag):
        self.binary, self.conf, self.tag = binary, conf, tag

    def __call__(self, *args, input=None, conf=True):
        argv = [self.binary] + list(args[:2])
        if conf and len(args) >= 2:
            argv += ['-c', self.conf]
        argv += list(args[2:])
        return run(argv, input=input)


def bind_ok(d, dn, password):
    return run(['ldapwhoami', '-x', '-H', d.uri, '-D', dn, '-w', password]).returncode == 0


def one(d, filt, attrs=()):
    r = d.search(filt, list(attrs), bind='service')
    return r[0] if len(r) == 1 else None


def escape_filter(v):
    out = []
    for b in v.encode('utf-8'):
        c = chr(b)
        out.append('\\%02x' % b if c in '*()\\' or b == 0 else (c if b < 0x80 else '\\%02x' % b))
    return ''.join(out)


def suite(t, binary, tag):
    T = lambda name: '[%s] %s' % (tag, name)  # noqa: E731
    d = Slapd()
    conf = d.write_config(admin_bind_dn=d.admin_dn,
                          secrets={'admin_bind_password': d.admin_password})
    x = Cli(binary, conf, tag)
    svc = Cli(binary, d.write_config(), tag)   # binds as the service account

    # --help of every group and verb
    bad = []
    for group, verbs in VERBS.items():
        r = x(group, '--help', conf=False)
        if r.returncode != 0 or not all(v in r.stdout for v in verbs):
            bad.append((group, r.returncode, r.stdout[:200]))
        for v in verbs:
            r = x(group, v, '--help')
            if r.returncode != 0 or not r.stdout.startswith('usage: xident %s %s' % (group, v)):
                bad.append((group, v, r.returncode, r.stdout[:120], r.stderr[:200]))
    t.ok(not bad, T('--help for every verb (%d) exits 0 with its usage' %
                    sum(len(v) for v in VERBS.values())), bad)
    r = x('account', 'frobnicate')
    t.eq(r.returncode, 2, T('unknown verb: exit 2'))
    r = x('account', 'passwd', 'EXAMPLE\\jdoe', '--password', 'secret')
    t.ok(r.returncode == 2 and 'unknown option' in r.stderr,
         T('a password on the command line is refused (no such option)'), r.stderr)

    # ------------------------------------------------------------ reading
    r = x('account', 'list')
    lines = r.stdout.splitlines()
    t.ok(r.returncode == 0 and len(lines) == 17 and 'EXAMPLE\\jdoe\tenabled\tjdoe@example.com'
         in lines and 'EXAMPLE\\olduser\tdisabled\tolduser@example.com' in lines,
         T('account list: the 17 sample accounts with state and UPN'), r.stdout + r.stderr)
    r = x('account', 'list', 'j*', '--domain', 'BRANCH')
    t.eq(r.stdout.splitlines(), ['BRANCH\\jdoe\tenabled\tjdoe@branch.example.com'],
         T('account list PATTERN --domain'))
    r = svc('account', 'show', 'EXAMPLE\\jdoe')
    t.ok(r.returncode == 0 and 'johnd (cn=johnd,ou=mailboxes' in r.stdout and
         'delegate of:    helpdesk' in r.stdout and 'password:       {SSHA512}' in r.stdout and
         'nt hash:        set' in r.stdout,
         T('account show (service account): mailboxes owned and delegated, password scheme'),
         r.stdout + r.stderr)
    r = x('account', 'show', 'EXAMPLE\\jdoe')
    t.ok(r.returncode == 0 and 'password:       not set (or not readable)' in r.stdout and
         'nt hash:        not set (or not readable)' in r.stdout,
         T('account show (administrator): the hashes are write-only to it'), r.stdout + r.stderr)
    r = svc('account', 'show', 'EXAMPLE/User')
    pwline = [ln for ln in r.stdout.splitlines() if ln.startswith('password:')]
    t.ok(r.returncode == 0 and NLMP_HASH not in r.stdout and
         pwline == ['password:       {SSHA512}'],
         T('account show never prints a hash value'), r.stdout)
    r = x('account', 'show', 'jdoe')
    t.ok(r.returncode == 1 and 'EXAMPLE\\jdoe' in r.stderr and 'BRANCH\\jdoe' in r.stderr,
         T('account show jdoe: ambiguous across domains, exit 1, names both'), r.stderr)
    r = x('account', 'show', 'nomail')
    t.ok(r.returncode == 0 and 'EXAMPLE\\nomail' in r.stdout,
         T('account show without domain when only one has it'), r.stderr)
    r = x('account', 'show', 'EXAMPLE\\nobody')
    t.eq(r.returncode, 3, T('account show of an unknown account: exit 3'))
    r = x('account', 'show', 'EXAMPLE\\*')
    t.eq(r.returncode, 3, T('a name "*" is a value, not a wildcard (RFC 4515): exit 3'))
    r = x('account', 'show', 'EXAMPLE\\jdoe)(xidentAccountName=*')
    t.eq(r.returncode, 3, T('a filter-injection name finds nothing: exit 3'))
    r = x('mailbox', 'show', 'helpdesk')
    t.ok(r.returncode == 0 and 'owner:          EXAMPLE\\hdadmin' in r.stdout and
         'delegate:       EXAMPLE\\jdoe' in r.stdout and
         'delegate:       BRANCH\\cwhite' in r.stdout and 'quota:          2G' in r.stdout,
         T('mailbox show: owner, delegates, quota'), r.stdout + r.stderr)
    r = x('mailbox', 'show', 'MÜLLER')
    t.ok(r.returncode == 0 and 'alias:          müller' in r.stdout,
         T('mailbox show matches a non-ASCII alias case-insensitively'), r.stdout + r.stderr)
    r = x('mailbox', 'show', 'wong')
    t.ok(r.returncode == 1 and 'ambiguous' in r.stderr and '--dn' in r.stderr,
         T('mailbox show of a duplicate alias: ambiguous, exit 1'), r.stderr)
    r = x('mailbox', 'show', 'wong', '--dn', 'cn=wong-branch,ou=mailboxes,dc=example,dc=com')
    t.ok(r.returncode == 0 and 'owner:          BRANCH\\lwong' in r.stdout,
         T('mailbox show --dn picks one of the duplicates'), r.stdout + r.stderr)
    r = x('mailbox', 'list', '--owner', 'EXAMPLE\\bjones')
    t.eq(r.stdout.splitlines(), ['bjones\tEXAMPLE\\bjones\t-',
                                 'bjones-projects\tEXAMPLE\\bjones\t-'],
         T('mailbox list --owner'))
    r = x('mailbox', 'list', 'rj*')
    t.eq(r.stdout.splitlines(), ['rjames\tEXAMPLE\\rjames\tmail2.example.com'],
         T('mailbox list PATTERN shows the home server'))
    many = ''.join('dn: cn=bulk%02d,ou=mailboxes,dc=example,dc=com\nchangetype: add\n'
                   'objectClass: inetOrgPerson\nobjectClass: xidentMailbox\ncn: bulk%02d\n'
                   'sn: bulk\nxidentAlias: bulk%02d\nxidentPrimaryAccount: %s\n\n'
                   % (i, i, i, account_dn('BRANCH', 'lwong')) for i in range(40))
    t.eq(d.modify(many).returncode, 0, T('40 more mailboxes of BRANCH\\lwong added with ldapmodify'))
    r = x('mailbox', 'list', '--owner', 'BRANCH\\lwong')
    lines = r.stdout.splitlines()
    t.ok(r.returncode == 0 and len(lines) == 41 and
         all(ln.split('\t')[1] == 'BRANCH\\lwong' for ln in lines) and lines[0].startswith('bulk00\t'),
         T('mailbox list of many mailboxes names every owner (one account search)'), r.stdout[-500:])
    r = x('recipient', 'show', 'partner')
    t.ok(r.returncode == 0 and 'target:         SMTP:partner@elsewhere.example' in r.stdout,
         T('recipient show'), r.stdout + r.stderr)
    r = x('recipient', 'show', 'johnd')
    t.eq(r.returncode, 3, T('recipient show of a mailbox alias: exit 3'))

    # ------------------------------------------------------ account add
    r = x('account', 'add', 'EXAMPLE\\vector', '--password-stdin', '--upn',
          'vector@example.com', '--cn', 'Test Vector', input='Password\n')
    e = one(d, '(&(xidentDomain=EXAMPLE)(xidentAccountName=vector))',
            ['xidentNTHash', 'userPassword', 'sn', 'xidentUserPrincipalName'])
    t.ok(r.returncode == 0 and e is not None and e[1].get('xidentNTHash') == [NLMP_HASH],
         T('account add: NT hash of "Password" is a4f49c406510bdcab6824ee7c30fd852'),
         (r.stdout, r.stderr, e))
    t.ok(e is not None and e[1]['userPassword'][0].startswith('{SSHA512}') and
         bind_ok(d, e[0], 'Password') and not bind_ok(d, e[0], 'password'),
         T('account add: {SSHA512} userPassword that slapd accepts on bind'), e)
    t.eq(e and e[0], account_dn('EXAMPLE', 'vector'), T('account add: DN uid=NAME,ou=DOMAIN,ou=accounts'))
    r = x('account', 'add', 'example\\VECTOR', '--no-password')
    t.ok(r.returncode == 4 and 'already exists' in r.stderr,
         T('account add of an existing name (other case): exit 4'), r.stderr)
    r = x('account', 'add', 'BRANCH\\vector2', '--no-password', '--upn', 'VECTOR@example.com')
    t.ok(r.returncode == 4 and 'principal name' in r.stderr and
         one(d, '(xidentAccountName=vector2)') is None,
         T('account add with a UPN in use: exit 4, nothing added'), r.stderr)
    r = x('account', 'add', 'BRANCH\\vector3', '--no-password', '--mailbox', 'JohnD')
    t.ok(r.returncode == 4 and one(d, '(xidentAccountName=vector3)') is None,
         T('account add --mailbox with an alias in use: exit 4, nothing added'), r.stderr)
    r = x('account', 'add', 'BRANCH\\dry', '--password-stdin', '--dry-run', '--mailbox', 'dry',
          input='Password\n')
    t.ok(r.returncode == 0 and 'dn: uid=dry,ou=BRANCH,ou=accounts,dc=example,dc=com\n'
         'changetype: add\n' in r.stdout and ('xidentNTHash: ' + NLMP_HASH) in r.stdout and
         'xidentAlias: dry' in r.stdout and one(d, '(xidentAccountName=dry)') is None,
         T('account add --dry-run prints the add record and writes nothing'), r.stdout + r.stderr)
    r = x('account', 'add', 'newbie', '--no-password')
    t.ok(r.returncode == 0 and one(d, '(&(xidentDomain=EXAMPLE)(xidentAccountName=newbie))'),
         T('account add without domain uses the first default domain'), r.stderr)
    r = x('account', 'add', 'EXAMPLE\\nopw')
    t.ok(r.returncode == 1 and 'not a terminal' in r.stderr and
         one(d, '(xidentAccountName=nopw)') is None,
         T('account add without a terminal or --password-stdin refuses'), r.stderr)
    r = x('account', 'add', 'EXAMPLE\\emptypw', '--password-stdin', input='\n')
    t.ok(r.returncode != 0 and one(d, '(xidentAccountName=emptypw)') is None,
         T('an empty password is refused'), r.stderr)

    # names with every special character and non-ASCII
    r = x('account', 'add', 'EXAMPLE\\' + WEIRD, '--password-stdin', '--mailbox', 'weird.box',
          input='w-pw\n')
    e = one(d, '(xidentAccountName=%s)' % escape_filter(WEIRD), ['uid', 'xidentAlias'])
    t.ok(r.returncode == 0 and e is not None and e[1]['uid'] == [WEIRD] and
         bind_ok(d, e[0], 'w-pw'),
         T('account add with ,+"\\<>;=*() in the name: escaped DN, binds'), (r.stderr, e))
    r = x('account', 'show', 'EXAMPLE\\' + WEIRD)
    t.ok(r.returncode == 0 and ('account:        EXAMPLE\\' + WEIRD) in r.stdout and
         'mailbox:        weird.box' in r.stdout,
         T('account show of that name (filter escaping)'), r.stdout + r.stderr)
    r = x('account', 'list', 'we,ird*')
    t.eq(r.stdout.splitlines(), ['EXAMPLE\\' + WEIRD + '\tenabled\t-'],
         T('account list with a pattern holding specials'))
    r = x('account', 'add', 'BRANCH\\jörg', '--password-stdin', '--cn', 'Jörg SStraße',
          '--mailbox', 'jörg.müller', input='grüße-pw\n')
    e = one(d, '(xidentAccountName=J\\c3\\96RG)', ['xidentNTHash', 'xidentAlias', 'sn'])
    t.ok(r.returncode == 0 and e is not None and e[1]['xidentAlias'] == ['jörg.müller'] and
         e[1]['xidentNTHash'] == [nt_hash('grüße-pw')] and bind_ok(d, e[0], 'grüße-pw'),
         T('non-ASCII account, alias and password (NT hash over UTF-16LE)'), (r.stderr, e))
    r = x('account', 'show', 'BRANCH\\JÖRG')
    t.ok(r.returncode == 0 and 'jörg.müller' in r.stdout,
         T('account show finds a non-ASCII name in another case'), r.stdout + r.stderr)
    r = x('mailbox', 'add', 'JÖRG.MÜLLER', '--owner', 'BRANCH\\jörg')
    t.eq(r.returncode, 4, T('mailbox add with a non-ASCII alias in use (other case): exit 4'))

    # ------------------------------------------------------ passwd
    dn = account_dn('EXAMPLE', 'jdoe')
    r = x('account', 'passwd', 'EXAMPLE\\jdoe', '--password-stdin', input='n3w-Pässword\n')
    e = one(d, '(&(xidentDomain=EXAMPLE)(xidentAccountName=jdoe))', ['xidentNTHash'])
    t.ok(r.returncode == 0 and bind_ok(d, dn, 'n3w-Pässword') and not bind_ok(d, dn, 'jdoe-pw')
         and e[1]['xidentNTHash'] == [nt_hash('n3w-Pässword')],
         T('passwd --password-stdin: new password binds, old does not, NT hash updated'),
         r.stderr)
    t.ok('n3w' not in r.stdout + r.stderr, T('passwd prints no password'))
    r = x('account', 'passwd', 'EXAMPLE\\jdoe', '--password-stdin', '--dry-run',
          input='Password\n')
    t.ok(r.returncode == 0 and 'changetype: modify' in r.stdout and
         ('xidentNTHash: ' + NLMP_HASH) in r.stdout and bind_ok(d, dn, 'n3w-Pässword'),
         T('passwd --dry-run prints the LDIF (NT hash of "Password") and writes nothing'),
         r.stdout + r.stderr)
    t.run(T('passwd on a terminal'), tty_passwd, t, T, x, d)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGTSTP):
        t.run(T('passwd prompt and %s' % sig.name), tty_signal, t, T, x, sig)
    if built_with_argon2(binary):
        r = x('account', 'passwd', 'EXAMPLE\\nomail', '--password-stdin', '--scheme', 'argon2',
              input='Argon-pässword\n')
        e = one(d, '(&(xidentDomain=EXAMPLE)(xidentAccountName=nomail))',
                ['userPassword', 'xidentNTHash'])
        dn_nomail = account_dn('EXAMPLE', 'nomail')
        t.ok(r.returncode == 0 and e[1]['userPassword'][0].startswith('{ARGON2}$argon2') and
             bind_ok(d, dn_nomail, 'Argon-pässword') and not bind_ok(d, dn_nomail, 'argon-pässword')
             and e[1]['xidentNTHash'] == [nt_hash('Argon-pässword')],
             T('passwd --scheme argon2: {ARGON2} userPassword that slapd accepts on bind, '
               'NT hash updated'), (r.stdout, r.stderr, e))
    else:
        t.skip(T('passwd --scheme argon2'), 'built without libargon2')
    r = x('account', 'passwd', 'EXAMPLE\\jdoe', '--password-stdin', '--scheme', 'md5',
          input='x\n')
    t.eq(r.returncode, 2, T('passwd --scheme unknown: exit 2'))

    # ------------------------------------------------------ disable / enable
    r = x('account', 'disable', 'EXAMPLE\\asmith')
    e = one(d, '(xidentAccountName=asmith)', ['xidentAccountDisabled'])
    t.ok(r.returncode == 0 and e[1].get('xidentAccountDisabled') == ['TRUE'],
         T('account disable sets xidentAccountDisabled TRUE'), r.stderr)
    r = x('account', 'enable', 'EXAMPLE\\asmith')
    e = one(d, '(xidentAccountName=asmith)', ['xidentAccountDisabled'])
    t.ok(r.returncode == 0 and 'xidentAccountDisabled' not in e[1],
         T('account enable removes it'), r.stderr)
    r = x('account', 'enable', 'EXAMPLE\\olduser', '--dry-run')
    t.ok(r.returncode == 0 and 'delete: xidentAccountDisabled' in r.stdout and
         one(d, '(xidentAccountName=olduser)', ['xidentAccountDisabled'])[1].get(
             'xidentAccountDisabled') == ['TRUE'],
         T('account enable --dry-run prints LDIF, changes nothing'), r.stdout)

    # ------------------------------------------------------ mailboxes
    r = x('mailbox', 'add', WEIRD_ALIAS, '--owner', 'EXAMPLE\\vector', '--display-name',
          'Wëird box', '--mail', 'weird@example.com', '--protocols', 'imap',
          '--logon-methods', 'ntlm', '--home', '/var/lib/xident-demo/vmail/weird',
          '--location', 'maildir:~/Maildir', '--uid', '5000', '--gid', '5000', '--quota', '1G')
    e = one(d, '(xidentAlias=%s)' % escape_filter(WEIRD_ALIAS),
            ['xidentPrimaryAccount', 'xidentProtocols', 'xidentLogonMethods', 'displayName',
             'xidentMailHome', 'xidentMailQuota', 'cn'])
    t.ok(r.returncode == 0 and e is not None and
         e[1]['xidentPrimaryAccount'] == [account_dn('EXAMPLE', 'vector')] and
         e[1]['xidentProtocols'] == ['imap'] and e[1]['xidentLogonMethods'] == ['ntlm'] and
         e[1]['displayName'] == ['Wëird box'] and e[1]['cn'] == [WEIRD_ALIAS] and
         e[0].endswith(',ou=mailboxes,dc=example,dc=com'),
         T('mailbox add with special characters in the alias, every field'), (r.stderr, e))
    r = x('mailbox', 'add', 'Helpdesk', '--owner', 'EXAMPLE\\vector')
    t.ok(r.returncode == 4 and 'already used' in r.stderr, T('mailbox add duplicate alias: exit 4'),
         r.stderr)
    r = x('mailbox', 'add', 'partner', '--owner', 'EXAMPLE\\vector')
    t.eq(r.returncode, 4, T('mailbox add with a custom recipient\'s alias: exit 4'))
    r = x('mailbox', 'add', 'orphan', '--owner', 'EXAMPLE\\ghost')
    t.ok(r.returncode == 3 and one(d, '(xidentAlias=orphan)') is None,
         T('mailbox add with an unknown owner: exit 3, nothing added'), r.stderr)
    r = x('mailbox', 'add', 'vecbox', '--owner', 'EXAMPLE\\vector', '--on-account')
    e = one(d, '(xidentAlias=vecbox)', ['objectClass', 'xidentPrimaryAccount'])
    t.ok(r.returncode == 0 and e is not None and e[0] == account_dn('EXAMPLE', 'vector') and
         'xidentMailbox' in e[1]['objectClass'],
         T('mailbox add --on-account puts the mailbox on the account entry'), (r.stderr, e))
    r = x('mailbox', 'grant', WEIRD_ALIAS, 'BRANCH\\cwhite')
    e = one(d, '(xidentAlias=%s)' % escape_filter(WEIRD_ALIAS), ['xidentDelegate'])
    t.ok(r.returncode == 0 and e[1].get('xidentDelegate') == [account_dn('BRANCH', 'cwhite')],
         T('mailbox grant adds the delegate DN'), r.stderr)
    r = x('mailbox', 'grant', WEIRD_ALIAS, 'BRANCH\\cwhite')
    t.ok(r.returncode == 0 and 'already' in r.stdout, T('grant twice changes nothing'), r.stdout)
    r = x('mailbox', 'grant', WEIRD_ALIAS, 'EXAMPLE\\' + WEIRD)
    e = one(d, '(xidentAlias=%s)' % escape_filter(WEIRD_ALIAS), ['xidentDelegate'])
    t.ok(r.returncode == 0 and len(e[1].get('xidentDelegate', [])) == 2,
         T('mailbox grant to an account whose name has specials'), r.stderr)
    r = x('mailbox', 'revoke', WEIRD_ALIAS, 'BRANCH\\cwhite')
    e = one(d, '(xidentAlias=%s)' % escape_filter(WEIRD_ALIAS), ['xidentDelegate'])
    t.ok(r.returncode == 0 and account_dn('BRANCH', 'cwhite') not in e[1].get('xidentDelegate', []),
         T('mailbox revoke removes it'), r.stderr)
    r = x('mailbox', 'revoke', WEIRD_ALIAS, 'BRANCH\\cwhite')
    t.eq(r.returncode, 3, T('revoke of a non-delegate: exit 3'))
    r = x('mailbox', 'set-home', 'johnd', 'mail2.example.com')
    t.eq(one(d, '(xidentAlias=johnd)', ['xidentHomeServer'])[1].get('xidentHomeServer'),
         ['mail2.example.com'], T('mailbox set-home sets xidentHomeServer'))
    r = x('mailbox', 'set-home', 'johnd', '--clear')
    t.ok(r.returncode == 0 and 'xidentHomeServer' not in one(d, '(xidentAlias=johnd)',
                                                              ['xidentHomeServer'])[1],
         T('mailbox set-home --clear removes it'), r.stderr)
    r = x('mailbox', 'set-protocols', 'johnd', 'imap', '--logon-methods', 'plain')
    e = one(d, '(xidentAlias=johnd)', ['xidentProtocols', 'xidentLogonMethods'])
    t.ok(r.returncode == 0 and e[1].get('xidentProtocols') == ['imap'] and
         e[1].get('xidentLogonMethods') == ['plain'],
         T('mailbox set-protocols imap --logon-methods plain'), (r.stderr, e))
    r = x('mailbox', 'set-protocols', 'johnd', 'all', '--logon-methods', 'all')
    e = one(d, '(xidentAlias=johnd)', ['xidentProtocols', 'xidentLogonMethods'])
    t.ok(r.returncode == 0 and 'xidentProtocols' not in e[1] and
         'xidentLogonMethods' not in e[1], T('mailbox set-protocols all removes the limits'),
         (r.stderr, e))
    r = x('mailbox', 'set-protocols', 'johnd', 'smtp')
    t.eq(r.returncode, 2, T('set-protocols with an unknown protocol: exit 2'))
    r = x('mailbox', 'delete', 'vecbox')
    e = one(d, '(xidentAccountName=vector)', ['objectClass', 'xidentAlias'])
    t.ok(r.returncode == 0 and e is not None and 'xidentMailbox' not in e[1]['objectClass'] and
         'xidentAlias' not in e[1],
         T('mailbox delete of an on-account mailbox keeps the account'), (r.stderr, e))
    r = x('mailbox', 'delete', WEIRD_ALIAS, '--dry-run')
    t.ok(r.returncode == 0 and 'changetype: delete' in r.stdout and
         one(d, '(xidentAlias=%s)' % escape_filter(WEIRD_ALIAS)) is not None,
         T('mailbox delete --dry-run deletes nothing'), r.stdout)
    r = x('mailbox', 'delete', WEIRD_ALIAS)
    t.ok(r.returncode == 0 and one(d, '(xidentAlias=%s)' % escape_filter(WEIRD_ALIAS)) is None,
         T('mailbox delete'), r.stderr)

    # ------------------------------------------------------ set-mail
    mail_attrs = ['xidentMailHome', 'xidentMailLocation', 'xidentMailUid', 'xidentMailGid',
                  'xidentMailQuota']
    before = one(d, '(xidentAlias=johnd)', mail_attrs)[1]
    r = x('mailbox', 'set-mail', 'johnd', '--home', '/srv/mail/johnd', '--location',
          'mdbox:~/mdbox', '--uid', '5001', '--gid', 'vmail', '--quota', '3G', '--dry-run')
    t.ok(r.returncode == 0 and 'changetype: modify' in r.stdout and
         'replace: xidentMailHome\nxidentMailHome: /srv/mail/johnd' in r.stdout and
         one(d, '(xidentAlias=johnd)', mail_attrs)[1] == before,
         T('mailbox set-mail --dry-run prints the replace records, writes nothing'),
         r.stdout + r.stderr)
    r = x('mailbox', 'set-mail', 'johnd', '--home', '/srv/mail/johnd', '--location',
          'mdbox:~/mdbox', '--uid', '5001', '--gid', 'vmail', '--quota', '3G')
    e = one(d, '(xidentAlias=johnd)', mail_attrs + ['xidentPrimaryAccount'])
    t.ok(r.returncode == 0 and e[1].get('xidentMailHome') == ['/srv/mail/johnd'] and
         e[1].get('xidentMailLocation') == ['mdbox:~/mdbox'] and
         e[1].get('xidentMailUid') == ['5001'] and e[1].get('xidentMailGid') == ['vmail'] and
         e[1].get('xidentMailQuota') == ['3G'] and
         e[1].get('xidentPrimaryAccount') == [account_dn('EXAMPLE', 'jdoe')],
         T('mailbox set-mail changes home, location, uid, gid, quota after creation'),
         (r.stderr, e))
    r = x('mailbox', 'set-mail', 'johnd', '--quota', '4G', '--unset', 'uid', '--unset', 'gid')
    e = one(d, '(xidentAlias=johnd)', mail_attrs)
    t.ok(r.returncode == 0 and e[1].get('xidentMailQuota') == ['4G'] and
         'xidentMailUid' not in e[1] and 'xidentMailGid' not in e[1] and
         e[1].get('xidentMailHome') == ['/srv/mail/johnd'],
         T('mailbox set-mail --unset removes fields, the others stay'), (r.stderr, e))
    r = x('mailbox', 'set-mail', 'johnd', '--unset', 'uid')
    t.eq(r.returncode, 0, T('mailbox set-mail --unset of a field not set: nothing to do, exit 0'))
    for bad, why in ((['--home', 'relative/dir'], 'a relative home'),
                     (['--quota', '3\tG'], 'a control character'),
                     (['--location', 'maildir:~/Mäildir'], 'non-ASCII (IA5String)'),
                     (['--unset', 'shell'], 'an unknown field'),
                     (['--home', '/x', '--unset', 'home'], 'a field both set and unset'),
                     ([], 'nothing to change')):
        r = x('mailbox', 'set-mail', 'johnd', *bad)
        t.ok(r.returncode == 2 and one(d, '(xidentAlias=johnd)', mail_attrs)[1].get(
            'xidentMailQuota') == ['4G'], T('mailbox set-mail with %s: exit 2' % why),
             r.stderr)
    r = x('mailbox', 'set-mail', 'nosuchbox', '--quota', '1G')
    t.eq(r.returncode, 3, T('mailbox set-mail of an unknown alias: exit 3'))
    r = x('mailbox', 'set-mail', 'wong', '--quota', '1G')
    t.ok(r.returncode == 1 and '--dn' in r.stderr,
         T('mailbox set-mail of a duplicate alias asks for --dn'), r.stderr)
    r = x('mailbox', 'set-mail', 'wong', '--quota', '7G', '--dn',
          'cn=wong-branch,ou=mailboxes,dc=example,dc=com')
    t.ok(r.returncode == 0 and one(d, '(cn=wong-branch)', ['xidentMailQuota'])[1].get(
        'xidentMailQuota') == ['7G'] and one(d, '(cn=wong-example)', ['xidentMailQuota'])[1].get(
        'xidentMailQuota') != ['7G'], T('mailbox set-mail --dn changes only that entry'),
         r.stderr)

    # ------------------------------------------------------ distribution lists
    r = x('list', 'show', 'all-staff')
    t.ok(r.returncode == 0 and 'member:         EXAMPLE\\jdoe' in r.stdout and
         'member:         BRANCH\\cwhite' in r.stdout and 'mail:           all-staff@example.com'
         in r.stdout and 'none (distribution list)' in r.stdout,
         T('list show of the sample list: members as DOMAIN\\name'), r.stdout + r.stderr)
    r = x('list', 'add', 'sales', '--member', 'EXAMPLE\\bjones', '--member-alias', 'partner',
          '--member', 'example/BJONES', '--display-name', 'Sälës', '--mail', 'sales@example.com',
          '--dry-run')
    t.ok(r.returncode == 0 and 'changetype: add' in r.stdout and 'objectClass: groupOfNames'
         in r.stdout and 'member: ' + account_dn('EXAMPLE', 'bjones') in r.stdout and
         r.stdout.count('member: ') == 2 and one(d, '(xidentAlias=sales)') is None,
         T('list add --dry-run: the add record (a member typed twice once), nothing written'),
         r.stdout + r.stderr)
    r = x('list', 'add', 'sales', '--member', 'EXAMPLE\\bjones', '--member-alias', 'partner',
          '--display-name', 'Sälës', '--mail', 'sales@example.com')
    e = one(d, '(xidentAlias=sales)', ['objectClass', 'member', 'displayName', 'mail'])
    t.ok(r.returncode == 0 and e is not None and
         sorted(e[1]['member']) == sorted([account_dn('EXAMPLE', 'bjones'),
                                           'cn=partner,ou=recipients,dc=example,dc=com']) and
         'xidentDistributionList' in e[1]['objectClass'] and e[1]['displayName'] == ['Sälës'] and
         e[0] == 'cn=sales,ou=recipients,dc=example,dc=com',
         T('list add: groupOfNames + xidentDistributionList with an account and a recipient'),
         (r.stdout, r.stderr, e))
    r = x('list', 'add', 'SALES', '--member', 'EXAMPLE\\bjones')
    t.eq(r.returncode, 4, T('list add of an alias in use (other case): exit 4'))
    r = x('list', 'add', 'johnd', '--member', 'EXAMPLE\\bjones')
    t.eq(r.returncode, 4, T('list add with a mailbox\'s alias: exit 4'))
    r = x('list', 'add', 'empty.list')
    t.ok(r.returncode == 2 and one(d, '(xidentAlias=empty.list)') is None,
         T('list add without members: exit 2 (groupOfNames needs one)'), r.stderr)
    r = x('list', 'add', 'ghosts', '--member', 'EXAMPLE\\ghost')
    t.ok(r.returncode == 3 and one(d, '(xidentAlias=ghosts)') is None,
         T('list add with an unknown member: exit 3, nothing added'), r.stderr)
    r = x('list', 'add', 'ghosts', '--member-alias', 'no.such.alias')
    t.eq(r.returncode, 3, T('list add with an unknown member alias: exit 3'))
    r = x('list', 'add-members', 'sales', '--member', 'BRANCH\\lwong', '--member-alias',
          'all-staff', '--member', 'EXAMPLE\\bjones')
    e = one(d, '(xidentAlias=sales)', ['member'])
    t.ok(r.returncode == 0 and len(e[1]['member']) == 4 and 'already a member' in r.stdout and
         'cn=all-staff,ou=recipients,dc=example,dc=com' in e[1]['member'],
         T('list add-members: new ones added (a nested list too), existing ones left'),
         (r.stdout, r.stderr, e))
    r = x('list', 'add-members', 'sales', '--member-alias', 'SALES')
    t.ok(r.returncode == 1 and 'own member' in r.stderr and
         len(one(d, '(xidentAlias=sales)', ['member'])[1]['member']) == 4,
         T('list add-members of the list itself is refused'), r.stderr)
    r = x('list', 'remove-members', 'sales', '--member', 'BRANCH\\lwong', '--dry-run')
    t.ok(r.returncode == 0 and 'delete: member' in r.stdout and
         len(one(d, '(xidentAlias=sales)', ['member'])[1]['member']) == 4,
         T('list remove-members --dry-run writes nothing'), r.stdout)
    r = x('list', 'remove-members', 'sales', '--member', 'BRANCH\\lwong', '--member-alias',
          'all-staff')
    e = one(d, '(xidentAlias=sales)', ['member'])
    t.ok(r.returncode == 0 and len(e[1]['member']) == 2 and
         account_dn('BRANCH', 'lwong') not in e[1]['member'],
         T('list remove-members'), (r.stderr, e))
    r = x('list', 'remove-members', 'sales', '--member', 'BRANCH\\lwong')
    t.eq(r.returncode, 3, T('list remove-members of a non-member: exit 3'))
    r = x('list', 'remove-members', 'sales', '--member', 'EXAMPLE\\bjones', '--member-alias',
          'partner')
    t.ok(r.returncode == 1 and 'without members' in r.stderr and
         len(one(d, '(xidentAlias=sales)', ['member'])[1]['member']) == 2,
         T('list remove-members of every member is refused, nothing removed'), r.stderr)
    gone = 'uid=gone,ou=EXAMPLE,ou=accounts,dc=example,dc=com'
    d.modify('dn: cn=sales,ou=recipients,dc=example,dc=com\nchangetype: modify\n'
             'add: member\nmember: %s\n\n' % gone)
    r = x('list', 'remove-members', 'sales', '--member-dn', gone)
    t.ok(r.returncode == 0 and gone not in one(d, '(xidentAlias=sales)', ['member'])[1]['member'],
         T('list remove-members --member-dn removes a member whose entry is gone'), r.stderr)
    r = x('list', 'show', 'johnd')
    t.eq(r.returncode, 3, T('list show of a mailbox alias: exit 3'))
    r = x('list', 'delete', 'sales', '--dry-run')
    t.ok(r.returncode == 0 and 'changetype: delete' in r.stdout and
         one(d, '(xidentAlias=sales)') is not None, T('list delete --dry-run deletes nothing'),
         r.stdout)
    r = x('list', 'delete', 'sales')
    t.ok(r.returncode == 0 and one(d, '(xidentAlias=sales)') is None and
         one(d, '(xidentAccountName=bjones)') is not None,
         T('list delete: the list goes, its members stay'), r.stderr)

    # ------------------------------------------------------ recipients
    r = x('recipient', 'add', 'ext.partner', '--target', 'someone@elsewhere.example',
          '--display-name', 'Söme One')
    e = one(d, '(xidentAlias=ext.partner)', ['xidentTargetAddress', 'objectClass'])
    t.ok(r.returncode == 0 and e is not None and
         e[1]['xidentTargetAddress'] == ['SMTP:someone@elsewhere.example'] and
         'xidentCustomRecipient' in e[1]['objectClass'],
         T('recipient add (bare address gets SMTP:)'), (r.stderr, e))
    r = x('recipient', 'add', 'EXT.PARTNER', '--target', 'SMTP:x@y.example')
    t.eq(r.returncode, 4, T('recipient add duplicate alias: exit 4'))
    r = x('recipient', 'add', 'asmith', '--target', 'SMTP:x@y.example')
    t.eq(r.returncode, 4, T('recipient add with a mailbox\'s alias: exit 4'))
    r = x('recipient', 'add', 'bad', '--target', 'SMTP:')
    t.eq(r.returncode, 2, T('recipient add with an empty target: exit 2'))
    r = x('recipient', 'add', 'dry.one', '--target', 'SMTP:a@b.example', '--display-name',
          'Dry Rün', '--dry-run')
    t.ok(r.returncode == 0 and 'changetype: add' in r.stdout and 'displayName:: ' in r.stdout
         and one(d, '(xidentAlias=dry.one)') is None,
         T('recipient add --dry-run: LDIF (base64 for non-ASCII), nothing written'), r.stdout)
    r = x('recipient', 'delete', 'ext.partner')
    t.ok(r.returncode == 0 and one(d, '(xidentAlias=ext.partner)') is None,
         T('recipient delete'), r.stderr)
    r = x('recipient', 'delete', 'johnd')
    t.ok(r.returncode == 3 and one(d, '(xidentAlias=johnd)') is not None,
         T('recipient delete of a mailbox alias: exit 3, mailbox kept'), r.stderr)

    # ------------------------------------------------------ account delete
    r = x('account', 'delete', 'EXAMPLE\\hdadmin')
    t.ok(r.returncode == 1 and 'helpdesk' in r.stderr and
         one(d, '(xidentAccountName=hdadmin)') is not None,
         T('account delete refuses while it owns mailboxes'), r.stderr)
    r = x('account', 'delete', 'BRANCH\\cwhite')
    t.ok(r.returncode == 1 and 'delegate' in r.stderr, T('account delete refuses a delegate'),
         r.stderr)
    r = x('account', 'delete', 'BRANCH\\cwhite', '--force')
    e = one(d, '(xidentAlias=helpdesk)', ['xidentDelegate'])
    t.ok(r.returncode == 0 and one(d, '(&(xidentDomain=BRANCH)(xidentAccountName=cwhite))') is None
         and account_dn('BRANCH', 'cwhite') not in e[1].get('xidentDelegate', []),
         T('account delete --force deletes it and its delegations'), (r.stderr, e))
    r = x('account', 'delete', 'EXAMPLE\\' + WEIRD)
    t.ok(r.returncode == 0 and one(d, '(xidentAccountName=%s)' % escape_filter(WEIRD)) is None,
         T('account delete of the name with specials'), r.stderr)
    r = x('account', 'delete', 'EXAMPLE\\' + WEIRD)
    t.eq(r.returncode, 3, T('account delete again: exit 3'))

    # ------------------------------------------------------ binds and errors
    svc_conf = d.write_config()
    r = run([binary, 'account', 'disable', '-c', svc_conf, 'EXAMPLE\\asmith'])
    t.ok(r.returncode == 1 and 'nsufficient' in r.stderr,
         T('writes as the service account fail: insufficient access, exit 1'), r.stderr)
    pwfile = os.path.join(tempdir('pw-'), 'root.pw')
    with open(pwfile, 'w') as f:
        f.write(d.root_password + '\n')
    for mode in (0o644, 0o640, 0o604):
        os.chmod(pwfile, mode)
        r = run([binary, 'account', 'enable', '-c', svc_conf, '--bind-dn', d.rootdn,
                 '--bind-password-file', pwfile, 'EXAMPLE\\olduser'])
        t.ok(r.returncode == 1 and ('chmod 600 ' + pwfile) in r.stderr and
             ('%04o' % mode) in r.stderr and
             one(d, '(xidentAccountName=olduser)', ['xidentAccountDisabled'])[1].get(
                 'xidentAccountDisabled') == ['TRUE'],
             T('--bind-password-file with mode %04o is refused with the chmod 600 advice, '
               'nothing written' % mode), r.stderr)
    os.chmod(pwfile, 0o600)
    r = run([binary, 'account', 'disable', '-c', svc_conf, '--bind-dn', d.rootdn,
             '--bind-password-file', pwfile, 'EXAMPLE\\asmith'])
    t.ok(r.returncode == 0 and one(d, '(xidentAccountName=asmith)', ['xidentAccountDisabled'])[1]
         .get('xidentAccountDisabled') == ['TRUE'],
         T('--bind-dn/--bind-password-file bind as that DN'), r.stderr)
    r = run([binary, 'account', 'show', '-c', svc_conf, '--bind-dn', d.rootdn, 'x'])
    t.eq(r.returncode, 1, T('--bind-dn without a password file is refused'))
    wrong = d.write_config(admin_bind_dn=d.admin_dn, secrets={'admin_bind_password': 'wrong'})
    r = run([binary, 'account', 'list', '-c', wrong])
    t.ok(r.returncode == 1 and d.admin_dn in r.stderr,
         T('a wrong admin password: exit 1 naming the DN'), r.stderr)
    dead = d.write_config(uris=['ldap://127.0.0.1:%d' % free_port()], ldap_network_timeout=2)
    r = run([binary, 'account', 'list', '-c', dead])
    t.eq(r.returncode, 75, T('directory unreachable: exit 75 (try again)'))
    r = run([binary, 'account', 'list', '-c', '/nonexistent/xident.conf'])
    t.ok(r.returncode == 1 and '/nonexistent/xident.conf' in r.stderr,
         T('missing configuration: exit 1 naming the file'), r.stderr)
    d.stop()


def tty_passwd(t, T, x, d):
    """passwd with no --password-stdin on a terminal: prompts twice, no echo."""
    master, slave = pty.openpty()
    p = subprocess.Popen([x.binary, 'account', 'passwd', '-c', x.conf, 'EXAMPLE\\nomail'],
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    seen = b''

    def read_until(token, timeout=20.0):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while token not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError('no %r from xident; got %r' % (token, seen))
            r, _, _ = select.select([master], [], [], left)
            if r:
                try:
                    chunk = os.read(master, 1024)
                except OSError:
                    chunk = b''
                if not chunk:
                    raise RuntimeError('xident closed the terminal; got %r' % seen)
                seen += chunk

    try:
        read_until(b'New password: ')
        os.write(master, 'tty-Sécret\n'.encode())
        read_until(b'Retype new password: ')
        os.write(master, 'tty-Sécret\n'.encode())
        read_until(b'password of EXAMPLE\\nomail set')
        rc = p.wait(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    t.ok(rc == 0 and bind_ok(d, account_dn('EXAMPLE', 'nomail'), 'tty-Sécret'),
         T('passwd on a terminal: prompts twice, password set'), seen)
    t.ok('tty-S'.encode() not in seen, T('passwd on a terminal does not echo the password'), seen)


def built_with_argon2(binary):
    header = os.path.join(os.path.dirname(os.path.dirname(binary)), 'xident-config.h')
    try:
        with open(header) as f:
            return '#define HAVE_ARGON2 1' in f.read()
    except OSError:
        return False


def tty_signal(t, T, x, sig):
    """A signal while the password prompt has echo off: echo comes back; after
    a stop and a continue it goes off again for the rest of the prompt."""
    master, slave = pty.openpty()
    # Its own process group, not its own session: a stop signal stops it
    # (the kernel discards stops in orphaned process groups).
    p = subprocess.Popen([x.binary, 'account', 'passwd', '-c', x.conf, 'EXAMPLE\\nomail'],
                         stdin=slave, stdout=slave, stderr=slave, process_group=0)
    seen = b''

    def echo_on():
        return bool(termios.tcgetattr(slave)[3] & termios.ECHO)

    def read_until(token, timeout=20.0):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while token not in seen and time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if r:
                seen += os.read(master, 1024)
        return token in seen

    def until(cond, timeout=20.0):
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            select.select([], [], [], 0.01)
        return cond()

    try:
        prompted = read_until(b'New password: ')
        quiet = prompted and not echo_on()
        p.send_signal(sig)
        if sig == signal.SIGTSTP:
            _, status = os.waitpid(p.pid, os.WUNTRACED)
            stopped_echo = os.WIFSTOPPED(status) and echo_on()
            p.send_signal(signal.SIGCONT)
            requiet = until(lambda: not echo_on())
            os.write(master, b'tstp-Secret\n')
            retyped = read_until(b'Retype')
            t.ok(stopped_echo and requiet and retyped and b'tstp-S' not in seen,
                 T('SIGTSTP during the prompt: echo on while stopped, off again after fg, '
                   'nothing typed shown'), (stopped_echo, requiet, seen))
            p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=20)
        echo = echo_on()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        os.close(slave)
    want = -signal.SIGINT if sig == signal.SIGTSTP else -sig
    t.ok(quiet and rc == want and echo,
         T('%s during the prompt: ended by it, terminal echo restored' %
           ('SIGINT after SIGTSTP' if sig == signal.SIGTSTP else sig.name)),
         (quiet, rc, echo, seen))


with Tap() as t:
    binaries = [('build', build_path('tools', 'xident'))]
    san = os.environ.get('XI_SAN_BUILD') or os.path.join(SRC, 'build-san')
    if os.access(os.path.join(san, 'tools', 'xident'), os.X_OK):
        binaries.append(('san', os.path.join(san, 'tools', 'xident')))
    for tag, binary in binaries:
        if not os.access(binary, os.X_OK):
            t.ok(False, '[%s] %s is built' % (tag, binary))
            continue
        t.run('[%s] suite' % tag, suite, t, binary, tag)
