#!/usr/bin/python3
"""The xident schema and sample directory in a real slapd.

- xident.ldif and sample.ldif are what their generators make from the one
  source (xident.schema, gen-sample), and the check notices a difference;
- slaptest accepts a slapd.conf with only the stock core, cosine,
  inetorgperson and nis schemas plus ours;
- the cn=config LDIF slapadds into a private cn=config (slapd -F), the
  sample loads into both kinds of server, and both publish the same
  definitions in their subschema;
- the ACLs: only the service account reads xidentNTHash and userPassword,
  the restricted (Q255269) account sees neither the hash nor any mailbox
  entry, anonymous may only bind; every documented demo password binds;
- the index lines and the access list of ldap-schema/README.md are the
  ones the private slapd uses, the service account's clause first;
- ldaps:// and StartTLS with the throwaway CA.
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from slapd import Slapd, parse_ldif, account_dn  # noqa: E402

SCHEMA = src_path('ldap-schema', 'xident.schema')
LDIF = src_path('ldap-schema', 'xident.ldif')
SAMPLE = src_path('ldap-schema', 'sample.ldif')
README = src_path('ldap-schema', 'README.md')
GEN_LDIF = src_path('ldap-schema', 'gen-ldif')
GEN_SAMPLE = src_path('ldap-schema', 'gen-sample')
STOCK = '/etc/ldap/schema'
BASE = 'dc=example,dc=com'
NLMP_PASSWORD_HASH = 'a4f49c406510bdcab6824ee7c30fd852'

ATTRIBUTES = ['xidentDomain', 'xidentAccountName', 'xidentUserPrincipalName', 'xidentNTHash',
              'xidentAccountDisabled', 'xidentAlias', 'xidentPrimaryAccount', 'xidentDelegate',
              'xidentHomeServer', 'xidentProtocols', 'xidentLogonMethods',
              'xidentTargetAddress', 'xidentMailHome', 'xidentMailLocation', 'xidentMailUid',
              'xidentMailGid', 'xidentMailQuota']
CLASSES = ['xidentAccount', 'xidentMailbox', 'xidentCustomRecipient', 'xidentDistributionList']


def generators(t):
    r = run([GEN_LDIF, '--check', SCHEMA, LDIF])
    t.eq(r.returncode, 0, 'xident.ldif is what gen-ldif makes of xident.schema')
    r = run([GEN_SAMPLE, '--check', SAMPLE])
    t.eq(r.returncode, 0, 'sample.ldif is what gen-sample makes')
    # The check must be able to fail: an edited copy of the schema differs.
    d = tempdir('schema-')
    edited = os.path.join(d, 'xident.schema')
    with open(SCHEMA) as f:
        text = f.read()
    with open(edited, 'w') as f:
        f.write(text.replace("'xidentAlias'", "'xidentAliasX'"))
    r = run([GEN_LDIF, '--check', edited, LDIF])
    t.eq(r.returncode, 1, 'gen-ldif --check notices a schema that differs')
    with open(LDIF) as f:
        ldif = f.read()
    t.eq(len(re.findall(r'^olcAttributeTypes:', ldif, re.M)), len(ATTRIBUTES),
         'cn=config LDIF defines %d attribute types' % len(ATTRIBUTES))
    t.eq(len(re.findall(r'^olcObjectClasses:', ldif, re.M)), len(CLASSES),
         'cn=config LDIF defines %d object classes' % len(CLASSES))
    oids = re.findall(r'\(\s*(2\.25\.175656911308558484818441796982005658837\.(\d)\.(\d+))', text)
    t.ok(len(oids) == len(ATTRIBUTES) + len(CLASSES) and
         len(set(o[0] for o in oids)) == len(oids) and
         all(o[1] == '1' for o in oids[:len(ATTRIBUTES)]) and
         all(o[1] == '2' for o in oids[len(ATTRIBUTES):]),
         'OIDs unique, under the arc, .1.N attributes and .2.N classes', oids)


def slapd_conf(d, schemas):
    conf = os.path.join(d, 'slapd.conf')
    os.makedirs(os.path.join(d, 'db'), exist_ok=True)
    with open(conf, 'w') as f:
        for s in schemas:
            f.write('include %s\n' % s)
        f.write('modulepath /usr/lib/ldap\nmoduleload back_mdb\n'
                'database mdb\nsuffix %s\nrootdn cn=root,%s\ndirectory %s/db\n'
                % (BASE, BASE, d))
    return conf


def slaptest(t):
    d = tempdir('slaptest-')
    stock = [os.path.join(STOCK, s + '.schema') for s in ('core', 'cosine', 'inetorgperson', 'nis')]
    conf = slapd_conf(d, stock + [SCHEMA])
    r = run(['slaptest', '-u', '-f', conf])
    t.eq(r.returncode, 0, 'slaptest accepts core+cosine+inetorgperson+nis+xident.schema')
    if r.returncode:
        t.diag(r.stderr)
    r = run(['slapadd', '-f', conf, '-l', SAMPLE])
    t.eq(r.returncode, 0, 'sample.ldif slapadds into the slapd.conf server')
    if r.returncode:
        t.diag(r.stderr)
    r = run(['slapcat', '-o', 'ldif-wrap=no', '-f', conf])
    t.eq(len(parse_ldif(r.stdout)), count_entries(SAMPLE), 'slapcat returns every sample entry')
    # Without our schema slapd refuses the sample: the load test can fail.
    d2 = tempdir('slaptest-')
    r = run(['slapadd', '-f', slapd_conf(d2, stock), '-l', SAMPLE])
    t.ok(r.returncode != 0, 'without xident.schema the sample is refused')


def count_entries(path):
    with open(path, encoding='utf-8') as f:
        return len(re.findall(r'^dn::? ', f.read(), re.M))


CONFIG_HEAD = """dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {d}/slapd.pid

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: pw-sha2

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

"""

CONFIG_DB = """
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {base}
olcRootDN: cn=root,{base}
olcRootPW: root-pw
olcDbDirectory: {d}/db
olcDbIndex: objectClass eq
olcDbIndex: xidentAccountName,xidentAlias eq,sub
olcAccess: {{0}}to attrs=userPassword,xidentNTHash by dn.exact="cn=xident-service,ou=services,{base}" read by anonymous auth by * none
olcAccess: {{1}}to * by users read by anonymous auth
"""


def cn_config(t):
    """Returns a running slapd -F server holding the sample, or None."""
    d = tempdir('cnconfig-')
    cfg = os.path.join(d, 'slapd.d')
    os.makedirs(cfg)
    os.makedirs(os.path.join(d, 'db'))
    parts = [CONFIG_HEAD.format(d=d)]
    for s in ('core', 'cosine', 'inetorgperson', 'nis'):
        with open(os.path.join(STOCK, s + '.ldif')) as f:
            parts.append(f.read() + '\n')
    with open(LDIF) as f:
        parts.append(f.read() + '\n')
    parts.append(CONFIG_DB.format(d=d, base=BASE))
    config_ldif = os.path.join(d, 'config.ldif')
    with open(config_ldif, 'w') as f:
        f.write('\n'.join(parts))
    r = run(['slapadd', '-n0', '-F', cfg, '-l', config_ldif])
    if not t.eq(r.returncode, 0, 'xident.ldif slapadds into a private cn=config'):
        t.diag(r.stderr)
        return None
    r = run(['slapcat', '-n0', '-F', cfg, '-a', '(cn={4}xident)'])
    t.eq(len(re.findall(r'^olcAttributeTypes:', r.stdout, re.M)), len(ATTRIBUTES),
         'cn=config holds cn={4}xident with every attribute type')
    r = run(['slapadd', '-F', cfg, '-b', BASE, '-l', SAMPLE])
    if not t.eq(r.returncode, 0, 'sample.ldif slapadds into the cn=config server'):
        t.diag(r.stderr)
        return None
    port = free_port()
    p = Proc(['slapd', '-d', '1024', '-F', cfg, '-h', 'ldap://127.0.0.1:%d/' % port],
             name='slapd-cnconfig', logdir=d)
    wait_port(port, proc=p)
    p.uri = 'ldap://127.0.0.1:%d' % port
    r = run(['ldapsearch', '-LLL', '-o', 'ldif-wrap=no', '-x', '-H', p.uri,
             '-D', 'cn=xident-service,ou=services,' + BASE, '-w', 'service-pw',
             '-b', BASE, '(&(xidentDomain=example)(xidentAccountName=USER))', 'xidentNTHash'])
    e = parse_ldif(r.stdout)
    t.ok(len(e) == 1 and e[0][1].get('xidentNTHash') == [NLMP_PASSWORD_HASH],
         'cn=config server: case-insensitive search finds EXAMPLE\\User and its NT hash', r)
    return p


def subschema(uri):
    r = run(['ldapsearch', '-LLL', '-o', 'ldif-wrap=no', '-x', '-H', uri, '-s', 'base',
             '-b', 'cn=Subschema', '(objectClass=*)', 'attributeTypes', 'objectClasses'])
    defs = set()
    for _dn, attrs in parse_ldif(r.stdout):
        for a in ('attributeTypes', 'objectClasses'):
            for v in attrs.get(a, []):
                if 'xident' in v:
                    defs.add(re.sub(r'\s+', ' ', v))
    return defs


def acls(t, d):
    s = d.search('(&(objectClass=xidentAccount)(xidentAccountName=User))',
                 ['xidentNTHash', 'userPassword'])
    t.ok(len(s) == 1 and s[0][1].get('xidentNTHash') == [NLMP_PASSWORD_HASH],
         'service account reads the NT hash of EXAMPLE\\User (MS-NLMP vector)', s)
    t.ok(len(s) == 1 and s[0][1].get('userPassword', [''])[0].startswith('{SSHA512}'),
         'service account reads userPassword ({SSHA512})', s)
    accounts = d.search('(objectClass=xidentAccount)', ['xidentNTHash', 'userPassword'])
    missing = [dn for dn, a in accounts if not (a.get('xidentNTHash') and a.get('userPassword'))]
    t.ok(len(accounts) == 17 and not missing,
         'all %d sample accounts carry userPassword and xidentNTHash' % len(accounts), missing)
    # The restricted account (Q255269), with ldapsearch as it.
    r = d.ldapsearch('(xidentAccountName=nomail)', ['xidentNTHash', 'userPassword'],
                     bind='restricted')
    e = parse_ldif(r.stdout)
    t.ok(r.returncode == 0 and len(e) == 1 and 'xidentNTHash' not in e[0][1] and
         'userPassword' not in e[0][1],
         'restricted account finds EXAMPLE\\nomail but reads no NT hash nor userPassword',
         r.stdout + r.stderr)
    r = d.ldapsearch('(xidentNTHash=%s)' % NLMP_PASSWORD_HASH, ['dn'], bind='restricted')
    t.ok(r.returncode == 0 and parse_ldif(r.stdout) == [],
         'restricted account cannot even filter on xidentNTHash', r.stdout)
    r = d.ldapsearch('(xidentNTHash=%s)' % NLMP_PASSWORD_HASH, ['dn'], bind='service')
    t.eq(len(parse_ldif(r.stdout)), 1, 'service account can filter on xidentNTHash')
    r = d.ldapsearch('(objectClass=xidentMailbox)', ['dn'], bind='restricted')
    t.ok(r.returncode == 0 and parse_ldif(r.stdout) == [],
         'restricted account sees no mailbox entry', r.stdout)
    t.ok(len(d.search('(objectClass=xidentMailbox)', ['dn'])) >= 18,
         'service account sees the mailbox entries')
    r = d.ldapsearch('(xidentAccountName=User)', ['xidentNTHash', 'userPassword'],
                     bind=(account_dn('EXAMPLE', 'jdoe'), 'jdoe-pw'))
    e = parse_ldif(r.stdout)
    t.ok(len(e) == 1 and 'xidentNTHash' not in e[0][1] and 'userPassword' not in e[0][1],
         'an ordinary account reads neither hash of another', r.stdout)
    r = d.ldapsearch('(xidentAccountName=jdoe)', ['xidentNTHash'],
                     bind=(account_dn('EXAMPLE', 'jdoe'), 'jdoe-pw'))
    e = [x for x in parse_ldif(r.stdout) if 'EXAMPLE' in x[0]]
    t.ok(len(e) == 1 and 'xidentNTHash' not in e[0][1],
         'an account does not read its own NT hash', r.stdout)
    r = d.ldapsearch('(xidentAccountName=User)', ['xidentNTHash', 'userPassword', 'cn'],
                     bind='admin')
    e = parse_ldif(r.stdout)
    t.ok(len(e) == 1 and 'cn' in e[0][1] and 'xidentNTHash' not in e[0][1] and
         'userPassword' not in e[0][1],
         'the administrator reads entries but not the hashes (it may only write them)',
         r.stdout)
    r = d.modify('dn: %s\nchangetype: modify\nreplace: xidentNTHash\nxidentNTHash: %s\n' %
                 (account_dn('EXAMPLE', 'nomail'), '0' * 32), bind='admin')
    t.eq(r.returncode, 0, 'the administrator may write an NT hash')
    r = d.ldapsearch('(xidentAccountName=jdoe)', ['dn'], bind=None)
    t.ok(r.returncode != 0 or parse_ldif(r.stdout) == [], 'anonymous cannot search',
         r.stdout)
    r = run(['ldapwhoami', '-x', '-H', d.uri, '-D', account_dn('EXAMPLE', 'jdoe'),
             '-w', 'wrong'])
    t.eq(r.returncode, 49, 'wrong password: invalidCredentials (49)')


# DN, password: the table of ldap-schema/README.md.
DEMO_BINDS = [
    ('cn=root,' + BASE, 'root-pw'),
    ('cn=xident-service,ou=services,' + BASE, 'service-pw'),
    ('cn=xident-restricted,ou=services,' + BASE, 'restricted-pw'),
    ('cn=xident-admin,ou=services,' + BASE, 'admin-pw'),
] + [(account_dn(dom, n), pw) for dom, n, pw in [
    ('EXAMPLE', 'jdoe', 'jdoe-pw'), ('EXAMPLE', 'asmith', 'asmith-pw'),
    ('EXAMPLE', 'bjones', 'bjones-pw'), ('EXAMPLE', 'mmiller', 'mmiller-pw'),
    ('EXAMPLE', 'hdadmin', 'hdadmin-pw'), ('EXAMPLE', 'olduser', 'olduser-pw'),
    ('EXAMPLE', 'rjames', 'rjames-pw'), ('EXAMPLE', 'kwong', 'kwong-pw'),
    ('BRANCH', 'lwong', 'lwong-pw'), ('EXAMPLE', 'nomail', 'nomail-pw'),
    ('EXAMPLE', 'imaponly', 'imaponly-pw'), ('EXAMPLE', 'ntlmonly', 'ntlmonly-pw'),
    ('EXAMPLE', 'User', 'Password'), ('EXAMPLE', 'jmueller', 'müller-pw'),
    ('EXAMPLE', 'reception', 'reception-pw'), ('BRANCH', 'cwhite', 'cwhite-pw'),
    ('BRANCH', 'jdoe', 'branch-jdoe-pw')]]


def demo_passwords(t, d):
    bad = []
    for dn, pw in DEMO_BINDS:
        r = run(['ldapwhoami', '-x', '-H', d.uri, '-D', dn, '-w', pw])
        if r.returncode != 0:
            bad.append((dn, r.stderr.strip()))
        with open(README, encoding='utf-8') as f:
            if '`%s`' % pw not in f.read():
                bad.append((dn, 'password not documented in the README'))
    t.ok(not bad, 'every documented demo password (%d) binds' % len(DEMO_BINDS), bad)
    with open(SAMPLE, encoding='utf-8') as f:
        cases = re.findall(r'^# Case: (.*)$', f.read(), re.M)
    want = ['Q324025', 'account == alias', 'owning two mailboxes', 'two delegates', 'Q173776',
            'distribution list', 'disabled account', 'another server', 'duplicate alias',
            'no mailbox', 'POP3 disabled', 'NTLM-only', '"Password"', 'non-ASCII']
    missing = [w for w in want if not any(w in c for c in cases)]
    t.ok(not missing, 'sample names every seed scenario in a "# Case:" comment', missing)


def indexes(t, d):
    with open(README, encoding='utf-8') as f:
        readme = [re.sub(r'\s+', ' ', x.strip()) for x in f if x.startswith('index ')]
    with open(os.path.join(d.dir, 'slapd.conf')) as f:
        used = [re.sub(r'\s+', ' ', x.strip()) for x in f if x.startswith('index ')]
    t.ok(readme and readme == used, 'the private slapd uses the index lines of the README',
         'README: %r\nslapd.conf: %r' % (readme, used))


def access_lines(text):
    """The access list of a slapd.conf text: the 'access to' lines and the
    'by' lines under them, white space folded."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith('access to '):
            inside = True
        elif not (inside and line[:1] in ' \t' and line.strip().startswith('by ')):
            inside = False
            continue
        out.append(re.sub(r'\s+', ' ', line.strip()))
    return out


def access_list(t, d):
    with open(README, encoding='utf-8') as f:
        readme = f.read()
    readme = readme[readme.index('## Access control'):]
    readme = access_lines(readme[readme.index('```') + 3:readme.index('```', readme.index('```') + 3)])
    with open(os.path.join(d.dir, 'slapd.conf')) as f:
        used = access_lines(f.read())
    t.ok(readme and readme == used, 'the private slapd uses the access list of the README',
         'README: %r\nslapd.conf: %r' % (readme, used))
    t.ok(readme[:3] == ['access to *', 'by dn.exact="cn=xident-service,ou=services,%s" read' % BASE,
                        'by * break'],
         'the service account\'s clause comes first (slapd checks every returned attribute)', readme[:3])


def tls(t):
    with Slapd(tls=True) as d:
        env = dict(os.environ, LDAPTLS_CACERT=d.ca_file)
        r = run(['ldapwhoami', '-x', '-H', d.ldaps_uri, '-D', d.service_dn,
                 '-w', d.service_password], env=env)
        t.eq(r.returncode, 0, 'ldaps:// bind with the throwaway CA')
        r = run(['ldapwhoami', '-ZZ', '-x', '-H', d.uri, '-D', d.service_dn,
                 '-w', d.service_password], env=env)
        t.eq(r.returncode, 0, 'StartTLS bind with the throwaway CA')
        env = dict(os.environ, LDAPTLS_CACERT='/etc/ssl/certs/ca-certificates.crt')
        r = run(['ldapwhoami', '-ZZ', '-x', '-H', d.uri], env=env)
        t.ok(r.returncode != 0, 'StartTLS fails against a CA that did not sign the server')
        port = d.port
        d.stop()
        t.ok(not d.running(), 'stop: slapd is gone')
        d.start()
        t.ok(d.port == port and len(d.search('(xidentAlias=johnd)')) == 1,
             'start again: same port, same data')


MAP_LINE = re.compile(r'^(class\s+)?([A-Za-z][A-Za-z0-9-]*)\s*=\s*(\S.*?)\s*$')
CONVERSIONS = re.compile(r'^(flag:\d+|sid|last-cn|mdb-server|protocol-settings|kib)$')


def attribute_maps(t):
    for name in ('xident', 'ad', 'exchange55'):
        path = src_path('ldap-schema', 'attrmap-%s.map' % name)
        seen_attrs, seen_classes, bad = [], [], []
        with open(path, encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                if not line.strip() or line.lstrip().startswith('#'):
                    continue
                m = MAP_LINE.match(line)
                if not m:
                    bad.append((n, line))
                    continue
                value = m.group(3)
                if m.group(1):
                    seen_classes.append(m.group(2))
                    if value != '-' and not (value.startswith('(') and value.endswith(')')):
                        bad.append((n, 'class value is neither - nor a filter'))
                    continue
                seen_attrs.append(m.group(2))
                words = value.split()
                if words != ['-'] and (len(words) > 2 or
                                       (len(words) == 2 and not CONVERSIONS.match(words[1]))):
                    bad.append((n, 'unknown conversion: ' + line))
        want_attrs = ATTRIBUTES + ['mail', 'displayName']
        t.ok(not bad and sorted(seen_attrs) == sorted(want_attrs) and
             sorted(seen_classes) == sorted(CLASSES),
             'attrmap-%s.map: every class and attribute once, known conversions' % name,
             'bad: %r\nattrs: %r\nclasses: %r' % (bad, sorted(set(want_attrs) ^ set(seen_attrs)),
                                                 seen_classes))


with Tap() as t:
    t.run('generators', generators, t)
    t.run('attribute maps', attribute_maps, t)
    t.run('slaptest', slaptest, t)
    cc = t.run('cn=config', cn_config, t)
    with Slapd() as d:
        t.ok(d.running(), 'private slapd (slapd.conf, sample) runs')
        t.run('acls', acls, t, d)
        t.run('demo passwords', demo_passwords, t, d)
        t.run('indexes', indexes, t, d)
        t.run('access list', access_list, t, d)
        if cc is not None:
            a, b = subschema(d.uri), subschema(cc.uri)
            t.ok(len(a) == len(ATTRIBUTES) + len(CLASSES) and a == b,
                 'slapd.conf and cn=config servers publish the same xident definitions',
                 sorted(a ^ b))
            cc.stop()
        else:
            t.ok(False, 'cn=config server did not start: no subschema comparison')
    t.run('tls', tls, t)
