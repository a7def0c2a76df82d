#!/usr/bin/python3
"""The resolver against a private slapd holding the sample directory, through
`xident resolve` (one process per logon) and tests/resolver-loop (one
resolver over many logons, for the pool).

Each seed scenario and each outcome row of design.md section 3 is checked
for outcome, client text and event id, in bind and hash password modes;
then failover, a slapd stopped and restarted mid-run, TLS (ldaps and
StartTLS with the throwaway CA, refused with a wrong CA), filter-injection
names, the Q255269 restricted service account, and equal LDAP operation
counts for unknown names and wrong passwords.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from slapd import Slapd  # noqa: E402

XIDENT = build_path('tools', 'xident')
LOOP = build_path('tests', 'resolver-loop')

BAD = 'Logon failure: unknown user name or bad password.'
TEMP = 'The logon service is temporarily unavailable; please try again later.'

# stderr of every run that printed a sanitizer or libldap complaint
NOISY = []


def resolve(conf, name, password=None, protocol=None, ntlm=False, ntlm_domain=None, lookup=False):
    """Runs `xident resolve`; returns a dict of its result lines plus rc,
    stdout and stderr."""
    argv = [XIDENT, 'resolve', '-c', conf]
    if password is not None:
        argv.append('--password-stdin')
    if protocol:
        argv += ['--protocol', protocol]
    if ntlm:
        argv.append('--ntlm')
    if ntlm_domain:
        argv += ['--ntlm-domain', ntlm_domain]
    if lookup:
        argv.append('--lookup')
    argv.append(name)
    r = run(argv, input=(password + '\n') if password is not None else '')
    out = {'rc': r.returncode, 'stdout': r.stdout, 'stderr': r.stderr}
    if 'Sanitizer' in r.stderr or 'runtime error' in r.stderr:
        NOISY.append('%s: %s' % (name, r.stderr))
    for line in r.stdout.splitlines():
        if line.startswith(' ') or ': ' not in line:
            continue
        k, v = line.split(': ', 1)
        out.setdefault(k, v)
    return out


def check(t, r, name, outcome, event=None, client=None, user=None, cause=None):
    """Asserts one logon: outcome, and when given event id, client text
    (substring), canonical user and cause (substring)."""
    ok = t.eq(r.get('outcome'), outcome, '%s: outcome %s' % (name, outcome))
    if not ok:
        t.diag(r['stdout'] + r['stderr'])
    if event is not None:
        t.eq(r.get('event'), str(event), '%s: event %s' % (name, event))
    if client is not None:
        t.contains(r.get('client'), client, '%s: client told "%s"' % (name, client))
    if user is not None:
        t.eq(r.get('user'), user, '%s: canonical user %s' % (name, user))
    if cause is not None:
        t.contains(r.get('cause'), cause, '%s: cause names "%s"' % (name, cause))


# name, password, protocol, outcome, event, client text, canonical user
SCENARIOS = [
    # Q324025 / Q191558: mailbox alias differs from the account name
    ('EXAMPLE\\jdoe', 'jdoe-pw', None, 'ok', 11202, '(logged on)', 'johnd'),
    ('EXAMPLE/jdoe', 'jdoe-pw', None, 'ok', 11202, None, 'johnd'),
    ('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', None, 'ok', 11202, None, 'johnd'),
    ('example/JDOE/JohnD', 'jdoe-pw', None, 'ok', 11202, None, 'johnd'),
    ('jdoe', 'jdoe-pw', None, 'ok', 11202, None, 'johnd'),
    ('johnd', 'jdoe-pw', None, 'ok', 11202, None, 'johnd'),
    ('jdoe@example.com', 'jdoe-pw', None, 'ok', 11202, None, 'johnd'),
    ('jdoe@example.com/helpdesk', 'jdoe-pw', None, 'ok', 11202, None, 'helpdesk'),
    ('EXAMPLE\\asmith', 'asmith-pw', 'pop3', 'ok', 11202, None, 'asmith'),
    # owns two mailboxes: the one named after the account; else ambiguous
    ('EXAMPLE\\bjones', 'bjones-pw', None, 'ok', 11202, None, 'bjones'),
    ('EXAMPLE\\bjones\\bjones-projects', 'bjones-pw', None, 'ok', 11202, None, 'bjones-projects'),
    ('EXAMPLE\\mmiller', 'mmiller-pw', None, 'ambiguous', 13003,
     'log on as EXAMPLE\\mmiller\\', None),
    ('EXAMPLE\\mmiller\\mike', 'mmiller-pw', None, 'ok', 11202, None, 'mike'),
    # shared mailbox: owner and delegates; others get 1023
    ('EXAMPLE\\hdadmin\\helpdesk', 'hdadmin-pw', None, 'ok', 11202, None, 'helpdesk'),
    ('EXAMPLE\\jdoe\\helpdesk', 'jdoe-pw', None, 'ok', 11202, None, 'helpdesk'),
    ('BRANCH\\cwhite\\helpdesk', 'cwhite-pw', None, 'ok', 11202, None, 'helpdesk'),
    ('EXAMPLE\\asmith\\helpdesk', 'asmith-pw', None, 'access_denied', 1023,
     'Access to mailbox helpdesk is denied for EXAMPLE\\asmith', None),
    # Q173776: custom recipients and distribution lists have no mailbox
    ('EXAMPLE\\jdoe\\partner', 'jdoe-pw', None, 'no_mailbox', 13005,
     'The requested mailbox is not available on this server. partner is a custom recipient', None),
    ('EXAMPLE\\jdoe\\all-staff', 'jdoe-pw', None, 'no_mailbox', 13005,
     'not available on this server', None),
    ('EXAMPLE\\nomail', 'nomail-pw', None, 'no_mailbox', 13005, 'not available on this server', None),
    ('EXAMPLE\\jdoe\\nosuchbox', 'jdoe-pw', None, 'no_mailbox', 13005, None, None),
    ('partner', 'jdoe-pw', None, 'bad_credentials', 13003, BAD, None),
    # disabled: bad credentials before proof, disabled after
    ('EXAMPLE\\olduser', 'olduser-pw', None, 'account_disabled', 13003, 'account currently disabled', None),
    ('EXAMPLE\\olduser', 'wrong', None, 'bad_credentials', 13003, BAD, None),
    # other server, duplicate alias, account wins over alias
    ('EXAMPLE\\rjames', 'rjames-pw', None, 'other_server', 13005, 'mail2.example.com', 'rjames'),
    ('wong', 'kwong-pw', None, 'ambiguous', 13003, 'Ambiguous Alias: the logon name wong is ambiguous', None),
    ('EXAMPLE\\kwong', 'kwong-pw', None, 'ok', 11202, None, 'wong'),
    ('BRANCH\\lwong', 'lwong-pw', None, 'ok', 11202, None, 'wong'),
    ('reception', 'reception-pw', None, 'ok', 11202, None, 'frontdesk'),
    ('BRANCH\\jdoe', 'branch-jdoe-pw', None, 'ok', 11202, None, 'jdoe-branch'),
    ('EXAMPLE\\jmueller', 'müller-pw', None, 'ok', 11202, None, 'müller'),
    ('EXAMPLE\\jmueller\\MÜLLER', 'müller-pw', None, 'ok', 11202, None, 'müller'),
    # Q256221: POP3 refused (11310) where the mailbox allows IMAP only
    ('imaponly', 'imaponly-pw', 'pop3', 'protocol_disabled', 11310, 'POP3 is disabled for this mailbox', None),
    ('imaponly', 'imaponly-pw', 'imap', 'ok', 11202, None, 'imaponly'),
    ('ntlmonly', 'ntlmonly-pw', None, 'method_disabled', 13003, 'logons are disabled for this mailbox', None),
    # unknown names and wrong passwords: one text
    ('EXAMPLE\\jdoe', 'wrong', None, 'bad_credentials', 13003, BAD, None),
    ('nobody', 'x', None, 'bad_credentials', 13003, BAD, None),
    ('EXAMPLE\\nobody', 'x', None, 'bad_credentials', 13003, BAD, None),
    ('EXAMPLE\\jdoe', '', None, 'bad_credentials', 13003, BAD, None),
    ('EXAMPLE\\', 'x', None, 'invalid_name', 13003, BAD, None),
]


def scenarios(t, conf, mode):
    for name, pw, proto, outcome, event, client, user in SCENARIOS:
        r = resolve(conf, name, pw, protocol=proto)
        label = '%s %s%s' % (mode, name, ' (%s)' % proto if proto else '')
        check(t, r, label, outcome, event, client, user)
        if outcome != 'ok':
            t.ok(r.get('user') is None or outcome == 'other_server',
                 '%s: no canonical user on refusal' % label)


def trace_says(t, conf):
    """`xident resolve` explains the decision, not just the outcome."""
    r = resolve(conf, 'reception', 'reception-pw')
    t.contains(r['stdout'], 'the account wins', 'reception: the trace says the account wins over the alias')
    r = resolve(conf, 'EXAMPLE\\bjones', 'bjones-pw')
    t.contains(r['stdout'], 'the one whose alias equals the account name wins',
               'bjones: the trace names the rule that chose the mailbox')
    r = resolve(conf, 'EXAMPLE\\jdoe\\helpdesk', 'jdoe-pw')
    t.contains(r['stdout'], 'is a delegate of the mailbox', 'jdoe\\helpdesk: the trace says delegate')
    r = resolve(conf, 'EXAMPLE\\bjones')
    t.contains(r['stdout'], 'search 1: base="dc=example,dc=com" scope=sub filter=(|',
               'the trace shows the search filter')
    t.contains(r['stdout'], 'if the password is proven: ok', 'without a password the trace says what would happen')
    t.eq(r.get('outcome'), 'bad_credentials', 'without a password the outcome is bad credentials')
    # jdoe's mailbox is johnd: search 1 cannot settle it, the search of
    # its mailboxes waits for the proof, and the trace says so.
    r = resolve(conf, 'EXAMPLE\\jdoe')
    t.contains(r['stdout'], 'its mailboxes are searched once the password is proven',
               'EXAMPLE\\jdoe without a password: the trace says the mailbox search waits for the proof')


def ntlm_cases(t, conf):
    # Q191558: NTLM can name the mailbox (account\alias in the user field)
    check(t, resolve(conf, 'jdoe', 'jdoe-pw', ntlm=True, ntlm_domain='EXAMPLE'),
          'NTLM EXAMPLE + jdoe', 'ok', 11202, user='johnd')
    check(t, resolve(conf, 'jdoe\\helpdesk', 'jdoe-pw', ntlm=True, ntlm_domain='EXAMPLE'),
          'NTLM EXAMPLE + jdoe\\helpdesk', 'ok', 11202, user='helpdesk')
    check(t, resolve(conf, 'User', 'Password', ntlm=True, ntlm_domain='EXAMPLE'),
          'NTLM MS-NLMP User', 'ok', 11202, user='user')
    check(t, resolve(conf, 'jdoe', 'wrong', ntlm=True, ntlm_domain='EXAMPLE'),
          'NTLM wrong password', 'bad_credentials', 13003, BAD)
    check(t, resolve(conf, 'ntlmonly', 'ntlmonly-pw', ntlm=True, ntlm_domain='EXAMPLE'),
          'NTLM ntlmonly', 'ok', 11202, user='ntlmonly')


def lookups(t, conf, restricted_conf):
    """XI_METHOD_NONE (userdb, LMTP): no password, no protocol or method rule."""
    r = resolve(conf, 'johnd', lookup=True, protocol='pop3')
    check(t, r, 'lookup johnd', 'ok', 11202, user='johnd')
    t.contains(r.get('userdb'), 'home=/var/lib/xident-demo/vmail/johnd', 'lookup johnd: userdb home')
    check(t, resolve(conf, 'imaponly', lookup=True, protocol='pop3'), 'lookup imaponly over pop3', 'ok',
          user='imaponly')
    check(t, resolve(conf, 'ntlmonly', lookup=True), 'lookup ntlmonly', 'ok', user='ntlmonly')
    check(t, resolve(conf, 'EXAMPLE\\rjames', lookup=True), 'lookup rjames', 'other_server', user='rjames')
    # A lookup has no password to guard: the host is told what the name is.
    r = resolve(conf, 'nobody', lookup=True)
    check(t, r, 'lookup unknown', 'no_mailbox', 13005,
          client='The requested mailbox is not available on this server. '
                 'no mailbox or recipient named nobody in the directory',
          cause='no mailbox or recipient named nobody in the directory')
    t.contains(r['stdout'] + r['stderr'], 'xident recipient add', 'lookup unknown: remedy names the admin commands')
    t.ok('password-guessing' not in r['stdout'] + r['stderr'], 'lookup unknown: no password-guessing remedy')
    check(t, resolve(conf, 'partner', lookup=True), 'lookup custom recipient', 'no_mailbox', 13005,
          client='partner is a custom recipient (target SMTP:partner@elsewhere.example)')
    check(t, resolve(conf, 'all-staff', lookup=True), 'lookup distribution list', 'no_mailbox', 13005,
          client='all-staff is a distribution list')
    check(t, resolve(restricted_conf, 'EXAMPLE\\jdoe', lookup=True), 'lookup with the restricted account',
          'tempfail', 13003, cause='A required privilege is not held')


ADSTYLE = """dn: uid=adstyle,ou=EXAMPLE,ou=accounts,dc=example,dc=com
changetype: add
objectClass: inetOrgPerson
objectClass: xidentAccount
objectClass: xidentMailbox
uid: adstyle
cn: AD Style
sn: Style
xidentDomain: EXAMPLE
xidentAccountName: adstyle
userPassword: %s
xidentAlias: ad-box
mail: ad-box@example.com
xidentMailHome: /var/lib/xident-demo/vmail/ad-box

"""


def ad_style(t, d, confs):
    """An account entry carrying its own mailbox (Active Directory style)
    with an alias unlike the account name, and no primary account link."""
    pw = run(['slappasswd', '-h', '{SSHA}', '-s', 'adstyle-pw']).stdout.strip()
    r = d.modify(ADSTYLE % pw)
    t.ok(r.returncode == 0, 'AD-style entry added', r.stderr)
    for mode, conf in confs:
        check(t, resolve(conf, 'EXAMPLE\\adstyle', 'adstyle-pw'), '%s: AD style EXAMPLE\\adstyle' % mode,
              'ok', 11202, user='ad-box')
        check(t, resolve(conf, 'ad-box', 'adstyle-pw'), '%s: AD style alias ad-box' % mode,
              'ok', 11202, user='ad-box')
        check(t, resolve(conf, 'ad-box@example.com', 'adstyle-pw'), '%s: AD style mail address' % mode,
              'ok', 11202, user='ad-box')
        check(t, resolve(conf, 'EXAMPLE\\adstyle\\ad-box', 'adstyle-pw'), '%s: AD style three-part' % mode,
              'ok', 11202, user='ad-box')
        a = resolve(conf, 'ad-box', 'wrong')
        b = resolve(conf, 'no-such-box', 'wrong')
        t.eq(a.get('ldap operations'), b.get('ldap operations'),
             '%s: AD-style alias and unknown name cost the same' % mode)


def hostile_values(t, d, conf):
    """Directory values are bounded and checked: too long or with control
    bytes, they are ignored and named, never cut or passed on."""
    import base64
    ldif = ('dn: cn=longtarget,ou=recipients,dc=example,dc=com\nchangetype: add\n'
            'objectClass: inetOrgPerson\nobjectClass: xidentCustomRecipient\n'
            'cn: longtarget\nsn: x\nxidentAlias: longtarget\n'
            'xidentTargetAddress: SMTP:%s@example.com\n'
            'displayName:: %s\n\n' % ('a' * 2000, base64.b64encode(b'bell\x07ring').decode()))
    r = d.modify(ldif)
    t.ok(r.returncode == 0, 'entry with hostile values added', r.stderr)
    r = resolve(conf, 'EXAMPLE\\jdoe\\longtarget', 'jdoe-pw')
    check(t, r, 'custom recipient with a 2000-byte target', 'no_mailbox', 13005)
    t.contains(r['stdout'], 'xidentTargetAddress value too long (ignored)', 'the too-long value is named')
    t.contains(r['stdout'], 'displayName value holds control bytes (ignored)', 'the control bytes are named')
    t.ok('a' * 1100 not in r['stdout'], 'the long value is not passed on', r['stdout'][:300])

    # A policy value that cannot be read fails closed: imaponly's POP3 ban
    # must not turn into "every protocol" because its one value is unreadable.
    r = d.modify('dn: uid=imaponly,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: modify\n'
                 'replace: xidentProtocols\nxidentProtocols:: %s\n\n'
                 % base64.b64encode(b'imap\x01').decode())
    t.ok(r.returncode == 0, 'unreadable xidentProtocols value written', r.stderr)
    for proto in ('pop3', 'imap'):
        r = resolve(conf, 'EXAMPLE\\imaponly', 'imaponly-pw', protocol=proto)
        check(t, r, 'unreadable protocol policy over %s' % proto, 'protocol_disabled')
    t.contains(r['stdout'], 'no protocol allowed', 'the unreadable policy is named')
    r = d.modify('dn: uid=imaponly,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: modify\n'
                 'replace: xidentProtocols\nxidentProtocols: imap\n\n')
    t.ok(r.returncode == 0, 'xidentProtocols restored', r.stderr)


def class_checked(t, d, confs):
    """The xident map's search names no objectClass (its schema allows the
    names on no other entry: core/dir_filter.c), so an entry that carries
    them anyway (extensibleObject allows any attribute) comes back from
    slapd; it must still be neither an account nor a mailbox."""
    pw = run(['slappasswd', '-h', '{SSHA}', '-s', 'ghost-pw']).stdout.strip()
    r = d.modify('dn: cn=ghost,ou=services,dc=example,dc=com\nchangetype: add\n'
                 'objectClass: device\nobjectClass: extensibleObject\ncn: ghost\n'
                 'xidentDomain: EXAMPLE\nxidentAccountName: ghost\nuserPassword: %s\n\n'
                 'dn: cn=ghostbox,ou=services,dc=example,dc=com\nchangetype: add\n'
                 'objectClass: device\nobjectClass: extensibleObject\ncn: ghostbox\n'
                 'xidentAlias: ghostbox\n'
                 'xidentPrimaryAccount: uid=jdoe,ou=EXAMPLE,ou=accounts,dc=example,dc=com\n\n' % pw)
    t.ok(r.returncode == 0, 'classless entries with xident names added', r.stderr)
    for mode, conf in confs:
        r = resolve(conf, 'EXAMPLE\\ghost', 'ghost-pw')
        check(t, r, '%s: EXAMPLE\\ghost (no xidentAccount class) is no account' % mode, 'bad_credentials')
        t.contains(r['stdout'], 'cn=ghost,ou=services', '%s: slapd returned it (the filter has no class term)'
                   % mode)
        check(t, resolve(conf, 'ghostbox', 'jdoe-pw'),
              '%s: ghostbox (no xidentMailbox class) is no mailbox' % mode, 'bad_credentials')
        check(t, resolve(conf, 'EXAMPLE\\jdoe\\ghostbox', 'jdoe-pw'),
              '%s: EXAMPLE\\jdoe\\ghostbox opens no classless entry' % mode, 'no_mailbox')
        check(t, resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw'),
              '%s: EXAMPLE\\jdoe still opens johnd beside a classless entry it is primary of' % mode,
              'ok', 11202, user='johnd')
    r = d.modify('dn: cn=ghost,ou=services,dc=example,dc=com\nchangetype: delete\n\n'
                 'dn: cn=ghostbox,ou=services,dc=example,dc=com\nchangetype: delete\n\n')
    t.ok(r.returncode == 0, 'classless entries removed', r.stderr)


def equal_cost(t, conf, mode):
    """Unknown name vs wrong password of the same form: same LDAP operations."""
    pairs = [
        ('EXAMPLE\\jdoe', 'EXAMPLE\\nosuchuser'),
        ('jdoe', 'nosuchuser'),
        ('jdoe@example.com', 'nosuch@example.com'),
        ('EXAMPLE\\jdoe\\johnd', 'EXAMPLE\\nosuchuser\\johnd'),
        ('jdoe@example.com/helpdesk', 'nosuch@example.com/helpdesk'),
    ]
    for known, unknown in pairs:
        a = resolve(conf, known, 'wrong-password')
        b = resolve(conf, unknown, 'wrong-password')
        t.eq(a.get('outcome') in ('bad_credentials', 'ambiguous') and b.get('outcome'),
             'bad_credentials', '%s: %s and %s both refused' % (mode, known, unknown))
        if not t.eq(a.get('ldap operations'), b.get('ldap operations'),
                    '%s: %s and %s cost the same LDAP operations (%s)' %
                    (mode, known, unknown, a.get('ldap operations'))):
            t.diag(a['stdout'] + b['stdout'])
        t.eq(a.get('client'), b.get('client'), '%s: %s and %s get the same text' % (mode, known, unknown))
    # A name that is only the alias of a mailbox has its primary account
    # read before the proof (the bind DN, the hash); every other name of
    # that form makes up for it, so an alias costs what an unknown name
    # costs.  The mailbox search of an account that search 1 does not
    # settle waits for the proof.
    a = resolve(conf, 'johnd', 'wrong-password')
    b = resolve(conf, 'nosuchalias', 'wrong-password')
    t.eq((a.get('outcome'), b.get('outcome'), a.get('client')), ('bad_credentials', 'bad_credentials', b.get('client')),
         '%s: johnd and nosuchalias both refused with the same text' % mode)
    if not t.eq(a.get('ldap operations'), b.get('ldap operations'),
                '%s: the alias johnd and nosuchalias cost the same LDAP operations (%s)' %
                (mode, a.get('ldap operations'))):
        t.diag(a['stdout'] + b['stdout'])
    # An alias two mailboxes share is refused before any proof (Exchange's
    # "Ambiguous Alias"), but it costs what an unknown name costs.
    a = resolve(conf, 'wong', 'wrong-password')
    b = resolve(conf, 'nosuchuser', 'wrong-password')
    t.eq(a.get('ldap operations'), b.get('ldap operations'),
         '%s: ambiguous alias and unknown name cost the same LDAP operations' % mode)


def ops_per_mode(t, conf, mode, want):
    """Documents the LDAP operations per successful logon for each form."""
    for name, pw, n in want:
        r = resolve(conf, name, pw)
        t.eq(r.get('ldap operations'), str(n), '%s: %s takes %d LDAP operations' % (mode, name, n))


def injection(t, conf):
    """Filter metacharacters in names are escaped: they match nothing, and a
    right password of another user never logs them on."""
    for name in ['*', ')(xidentAccountName=*', '*)(|(xidentAlias=*', 'EXAMPLE\\*',
                 'EXAMPLE\\jdoe\\*', 'j*', '\\00', 'jdoe)(objectClass=*', '*@example.com',
                 'EXAMPLE\\jdoe\\johnd)(xidentAlias=*']:
        r = resolve(conf, name, 'jdoe-pw')
        t.ok(r.get('outcome') in ('bad_credentials', 'invalid_name', 'no_mailbox'),
             'injection %r refused (%s)' % (name, r.get('outcome')), r['stdout'])
        t.ok('found' not in r['stdout'] or ' 0 entries found' in r['stdout'] or
             r.get('outcome') == 'no_mailbox',
             'injection %r matched no entry' % name, r['stdout'])
        filters = [line.split('filter=', 1)[1] for line in r['stdout'].splitlines()
                   if 'search 1:' in line and 'filter=' in line]
        t.ok(len(filters) <= 1 and all('*' not in f and f.count('(') == f.count(')') for f in filters),
             'injection %r escaped in the filter (no raw *, balanced)' % name, r['stdout'])
    # the account exists but the mailbox part is a wildcard: no mailbox, never another one
    r = resolve(conf, 'EXAMPLE\\jdoe\\*', 'jdoe-pw')
    check(t, r, 'EXAMPLE\\jdoe\\* (wildcard alias)', 'no_mailbox', 13005)


def config_rows(t, d):
    """Outcome rows that depend on the server's configuration."""
    conf = d.write_config(protocols='imap', ntlm_protocols='imap')
    check(t, resolve(conf, 'EXAMPLE\\asmith', 'asmith-pw', protocol='pop3'),
          'protocols = imap, POP3 logon', 'protocol_disabled', 11310, 'POP3 is disabled')
    check(t, resolve(conf, 'asmith', 'asmith-pw', protocol='pop3', ntlm=True, ntlm_domain='EXAMPLE'),
          'ntlm_protocols = imap, NTLM over POP3', 'ntlm_disabled', 13004,
          'The NTLM Authentication package has been disabled for this protocol.')
    conf = d.write_config(canonical_user_format='%u@%d/%a')
    check(t, resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw'), 'canonical_user_format %u@%d/%a',
          'ok', user='jdoe@EXAMPLE/johnd')
    conf = d.write_config(server_name='')
    check(t, resolve(conf, 'EXAMPLE\\rjames', 'rjames-pw'), 'server_name empty: every home server is ours',
          'ok', user='rjames')
    conf = d.write_config(upn_logon='no', mail_address_logon='no')
    check(t, resolve(conf, 'jdoe@example.com', 'jdoe-pw'), 'upn_logon = no', 'bad_credentials', 13003)


def restricted(t, d):
    """Q255269: a service account that lost its rights is a temporary failure
    naming the DN and the right, never a bad password."""
    for mode in ('bind', 'hash'):
        conf = d.write_config(bind_dn=d.restricted_dn, bind_password=d.restricted_password,
                              password_mode=mode)
        r = resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw')
        check(t, r, 'restricted service account (%s mode)' % mode, 'tempfail', 13003, TEMP,
              cause='A required privilege is not held by the client')
        t.contains(r.get('cause'), d.restricted_dn, 'restricted (%s): cause names the service DN' % mode)
        t.eq(r['rc'], 75, 'restricted (%s): exit 75 (EX_TEMPFAIL)' % mode)
    conf = d.write_config(bind_dn=d.restricted_dn, bind_password=d.restricted_password)
    r = resolve(conf, 'jdoe', 'jdoe-pw', ntlm=True, ntlm_domain='EXAMPLE')
    check(t, r, 'restricted service account (NTLM)', 'tempfail', 13003, TEMP, cause='xidentNTHash')
    conf = d.write_config(bind_password='not-the-service-password')
    r = resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw')
    check(t, r, 'wrong service password', 'tempfail', 13003, TEMP, cause='service bind')


def failover_and_restart(t, d):
    dead = 'ldap://127.0.0.1:%d' % free_port()
    conf = d.write_config(uris=[dead, d.uri], ldap_network_timeout=2)
    check(t, resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw'), 'failover: first URI dead', 'ok', 11202, user='johnd')
    # A first server that accepts connections but never answers: failover
    # within ldap_timeout, for the search and the bind connections alike.
    import socket
    hung = socket.socket()
    hung.bind(('127.0.0.1', 0))
    hung.listen(16)
    try:
        hung_uri = 'ldap://127.0.0.1:%d' % hung.getsockname()[1]
        for mode in ('bind', 'hash'):
            conf = d.write_config(uris=[hung_uri, d.uri], ldap_timeout=1, ldap_network_timeout=1,
                                  password_mode=mode)
            check(t, resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw'),
                  'failover (%s mode): first server hung' % mode, 'ok', 11202, user='johnd')
        conf = d.write_config(uris=[hung_uri], ldap_timeout=1, ldap_network_timeout=1)
        r = resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw')
        check(t, r, 'only server hung', 'tempfail', 13003, TEMP, cause=hung_uri)
    finally:
        hung.close()
    conf_dead = d.write_config(uris=[dead])
    r = resolve(conf_dead, 'EXAMPLE\\jdoe', 'jdoe-pw')
    check(t, r, 'only URI dead', 'tempfail', 13003, TEMP, cause=dead)
    t.eq(r['rc'], 75, 'only URI dead: exit 75')

    # One resolver across a slapd restart: tempfail while down, then the
    # pool reconnects by itself.
    conf = d.write_config(ldap_pool_size=2)
    p = subprocess.Popen([LOOP, conf], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)

    def logon(name, pw):
        p.stdin.write('%s\t%s\timap\n' % (name, pw))
        p.stdin.flush()
        return p.stdout.readline()

    try:
        t.contains(logon('EXAMPLE\\jdoe', 'jdoe-pw'), 'outcome=ok', 'loop: logon before the restart')
        d.stop()
        line = logon('EXAMPLE\\jdoe', 'jdoe-pw')
        t.contains(line, 'outcome=tempfail', 'loop: slapd down: tempfail, never bad password')
        line = logon('EXAMPLE\\jdoe', 'wrong')
        t.contains(line, 'outcome=tempfail', 'loop: slapd down, wrong password: still tempfail')
        d.start()
        wait_port(d.port)
        t.contains(logon('EXAMPLE\\jdoe', 'jdoe-pw'), 'outcome=ok', 'loop: recovered after the restart')
        t.contains(logon('EXAMPLE\\asmith', 'asmith-pw'), 'user=asmith ', 'loop: next logon fine')
        t.contains(logon('EXAMPLE\\jdoe', 'wrong'), 'outcome=bad_credentials', 'loop: wrong password after restart')
        # A restart between two logons costs no failed logon: the idle
        # connections turn out broken and the operation is retried once on
        # new ones (search and bind connections alike).
        d.stop()
        d.start()
        wait_port(d.port)
        line = logon('EXAMPLE\\jdoe', 'jdoe-pw')
        t.ok(line.startswith('outcome=ok ') and ' user=johnd ' in line,
             'loop: restart between logons: the next logon succeeds (retried on a new connection)', line)
        d.stop()
        d.start()
        wait_port(d.port)
        t.contains(logon('EXAMPLE\\jdoe', 'wrong'), 'outcome=bad_credentials',
                   'loop: restart between logons: a wrong password is still a wrong password')
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    t.eq(p.returncode, 0, 'loop: driver exits cleanly')
    err = p.stderr.read()
    t.ok('Sanitizer' not in err and 'runtime error' not in err, 'loop: no sanitizer report', err)


def threads(t, d):
    """One resolver shared by 8 threads over a pool of 2 connections per
    kind: every logon ends as it does alone."""
    lines = ''.join('%s\t%s\t%s\n' % x for x in [
        ('EXAMPLE\\jdoe', 'jdoe-pw', 'imap'), ('wong', 'x', 'imap'), ('EXAMPLE\\jdoe', 'wrong', 'imap'),
        ('EXAMPLE\\bjones', 'bjones-pw', 'imap'), ('imaponly', 'imaponly-pw', 'pop3'),
        ('reception', 'reception-pw', 'imap'), ('nobody', 'x', 'imap'), ('johnd', 'jdoe-pw', 'imap')])
    for mode in ('bind', 'hash'):
        conf = d.write_config(password_mode=mode, ldap_pool_size=2)
        r = run([LOOP, conf, '--threads', '8', '--rounds', '10'], input=lines, timeout=300)
        t.eq((r.returncode, r.stdout.strip()), (0, 'threads ok=640 mismatched=0'),
             '%s mode: 8 threads x 10 rounds x 8 logons on 2 connections, all as alone' % mode)
        t.ok('Sanitizer' not in r.stderr and 'runtime error' not in r.stderr,
             '%s mode threads: no sanitizer report' % mode, r.stderr)


def tls(t):
    with Slapd(tls=True) as d:
        check(t, resolve(d.write_config(ldaps=True), 'EXAMPLE\\jdoe', 'jdoe-pw'), 'ldaps with the CA',
              'ok', 11202, user='johnd')
        check(t, resolve(d.write_config(starttls=True), 'EXAMPLE\\jdoe', 'jdoe-pw'), 'StartTLS with the CA',
              'ok', 11202, user='johnd')
        wrong = tempdir('wrongca-')
        ca = os.path.join(wrong, 'ca.pem')
        r = run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
                 os.path.join(wrong, 'ca.key'), '-out', ca, '-days', '1', '-subj', '/CN=wrong CA'])
        t.eq(r.returncode, 0, 'a wrong CA made')
        for how in ('ldaps', 'starttls'):
            conf = d.write_config(ldap_tls_ca_file=ca, **{how: True})
            r = resolve(conf, 'EXAMPLE\\jdoe', 'jdoe-pw')
            check(t, r, '%s with a wrong CA refused' % how, 'tempfail', 13003, TEMP)
            t.ok('TLS' in (r.get('cause') or ''), '%s wrong CA: the cause says TLS' % how, r.get('cause'))


def main():
    with Tap() as t:
        if not os.access(XIDENT, os.X_OK):
            t.ok(False, 'xident built at %s' % XIDENT)
            return
        d = Slapd()
        bind_conf = d.write_config()
        hash_conf = d.write_config(password_mode='hash')
        t.run('bind scenarios', scenarios, t, bind_conf, 'bind')
        t.run('hash scenarios', scenarios, t, hash_conf, 'hash')
        t.run('ntlm', ntlm_cases, t, bind_conf)
        t.run('trace', trace_says, t, bind_conf)
        t.run('lookups', lookups, t, bind_conf,
              d.write_config(bind_dn=d.restricted_dn, bind_password=d.restricted_password))
        t.run('equal cost bind', equal_cost, t, bind_conf, 'bind')
        t.run('equal cost hash', equal_cost, t, hash_conf, 'hash')
        # LDAP operations per logon (searches + binds), measured
        t.run('ops bind', ops_per_mode, t, bind_conf, 'bind', [
            ('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', 2), ('EXAMPLE\\jdoe', 'jdoe-pw', 3),
            ('johnd', 'jdoe-pw', 3), ('jdoe@example.com', 'jdoe-pw', 4),
            ('EXAMPLE\\rjames', 'rjames-pw', 2), ('rjames', 'rjames-pw', 3), ('EXAMPLE\\bjones', 'bjones-pw', 2)])
        t.run('ops hash', ops_per_mode, t, hash_conf, 'hash', [
            ('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', 1), ('EXAMPLE\\jdoe', 'jdoe-pw', 2),
            ('johnd', 'jdoe-pw', 2), ('jdoe@example.com', 'jdoe-pw', 3),
            ('EXAMPLE\\rjames', 'rjames-pw', 1), ('rjames', 'rjames-pw', 2), ('EXAMPLE\\bjones', 'bjones-pw', 1)])
        t.run('ad style', ad_style, t, d, [('bind', bind_conf), ('hash', hash_conf)])
        t.run('hostile values', hostile_values, t, d, bind_conf)
        t.run('class checked', class_checked, t, d, [('bind', bind_conf), ('hash', hash_conf)])
        t.run('injection', injection, t, bind_conf)
        t.run('config rows', config_rows, t, d)
        t.run('restricted', restricted, t, d)
        t.run('threads', threads, t, d)
        t.run('failover and restart', failover_and_restart, t, d)
        d.stop()
        t.run('tls', tls, t)
        t.ok(not NOISY, 'no sanitizer report from any xident run', '\n'.join(NOISY[:3]))


main()
