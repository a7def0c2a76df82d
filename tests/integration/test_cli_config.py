#!/usr/bin/python3
"""`xident config`: check, show, doc and example, as an administrator runs them.

Exit codes and streams are the interface: check prints OK on stdout (exit 0)
or every problem as file:line: reason on stderr (exit 1); a bad command line
exits 2.  The committed doc/xident.conf.5 and doc/xident.conf.example must be
exactly what the CLI generates, so they cannot drift from the key table.
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403

XIDENT = build_path('tools', 'xident')
REQ = 'ldap_uris = ldap://127.0.0.1:3890\nldap_base_dn = dc=example,dc=com\n'


def write(d, name, text, mode=0o644):
    path = os.path.join(d, name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def xident(*args):
    return run([XIDENT] + list(args))


def read(path):
    with open(path) as f:
        return f.read()


with Tap() as t:
    d = tempdir('xi-cli-config-')

    # ---------------------------------------------------------- check: OK
    good = write(d, 'good.conf', '# a good file\n' + REQ + 'schema = ad   # AD\n')
    r = xident('config', 'check', good)
    t.eq(r.returncode, 0, 'check of a good file exits 0')
    t.eq(r.stdout, 'OK\n', 'check prints OK on stdout')
    t.eq(r.stderr, '', 'check of a good file prints nothing on stderr')

    # ---------------------------------------------------------- check: problems
    bad = write(d, 'bad.conf',
                'ldap_uris = ldap://h\n'
                'ldap_timeout = 0\n'
                'colour = blue\n'
                'ntlm_v1 = maybe\n'
                'ntlm_v1 = no\n'
                'schema = openldap\n')
    r = xident('config', 'check', bad)
    t.eq(r.returncode, 1, 'check of a bad file exits 1')
    t.eq(r.stdout, '', 'nothing on stdout when there are problems')
    t.eq(r.stderr.splitlines(), [
        bad + ":2: 0 is out of range for 'ldap_timeout' (1..300)",
        bad + ":3: unknown key 'colour'",
        bad + ":4: bad boolean 'maybe' for 'ntlm_v1' (yes/no, true/false, on/off or 1/0)",
        bad + ":5: duplicate key 'ntlm_v1' (first set on line 4)",
        bad + ":6: bad value 'openldap' for 'schema' (one of: xident, ad, exchange55)",
        bad + ": missing required key 'ldap_base_dn'",
    ], 'every problem listed as file:line: reason, in file order')

    absent = os.path.join(d, 'absent.conf')
    r = xident('config', 'check', absent)
    t.eq((r.returncode, r.stderr), (1, absent + ': cannot read: No such file or directory\n'),
         'unreadable file: exit 1 and the errno text')

    secrets = write(d, 'secrets', 'ldap_bind_password = "Very Secret 42"\n', 0o640)
    withsecrets = write(d, 'withsecrets.conf', REQ + 'secrets_file = %s\n' % secrets)
    r = xident('config', 'check', withsecrets)
    t.eq(r.returncode, 1, 'group-readable secrets file: exit 1')
    t.eq(r.stderr, '%s: secrets file has mode 0640, open to group or others; it must be readable '
         'by its owner only: chmod 600 %s\n' % (secrets, secrets),
         'the reason names the mode and chmod 600')
    os.chmod(secrets, 0o600)
    r = xident('config', 'check', withsecrets)
    t.eq((r.returncode, r.stdout), (0, 'OK\n'), 'after chmod 600 the file checks out')

    crlf = write(d, 'crlf.conf', REQ.replace('\n', '\r\n'))
    r = xident('config', 'check', crlf)
    t.eq((r.returncode, r.stdout), (0, 'OK\n'), 'CRLF line ends accepted')

    # ---------------------------------------------------------- show
    r = xident('config', 'show', withsecrets)
    t.eq(r.returncode, 0, 'show exits 0')
    t.ok('Very Secret' not in r.stdout and 'Very Secret' not in r.stderr, 'show never prints the secret')
    t.contains(r.stdout, 'ldap_bind_password = ********\n', 'show masks the secret')
    t.contains(r.stdout, 'ldap_base_dn = dc=example,dc=com\n', 'show prints a value from the file')
    t.contains(r.stdout, 'ldap_timeout = 10  # default\n', 'show marks defaults')
    t.contains(r.stdout, 'ntlm_dns_domain = # not set\n', 'show marks keys without a value')
    keys = [ln.split(' =')[0] for ln in r.stdout.splitlines()]
    example_keys = re.findall(r'^#([a-z_0-9]+) =', read(src_path('doc', 'xident.conf.example')), re.M)
    t.eq(keys, example_keys, 'show prints every key, in table order')
    r = xident('config', 'show', bad)
    t.eq((r.returncode, r.stdout), (1, ''), 'show of a bad file exits 1 and prints no values')

    # ---------------------------------------------------------- doc and example
    r = xident('config', 'doc')
    t.eq(r.returncode, 0, 'doc exits 0')
    if not t.eq(r.stdout == read(src_path('doc', 'xident.conf.5')), True,
                'doc/xident.conf.5 equals `xident config doc`'):
        t.diag('regenerate: build/tools/xident config doc > doc/xident.conf.5')
    r = xident('config', 'example')
    if not t.eq(r.stdout == read(src_path('doc', 'xident.conf.example')), True,
                'doc/xident.conf.example equals `xident config example`'):
        t.diag('regenerate: build/tools/xident config example > doc/xident.conf.example')

    # The example's defaults, uncommented, must be a valid file.
    text = re.sub(r'^#([a-z_0-9]+ =)', r'\1', read(src_path('doc', 'xident.conf.example')), flags=re.M)
    text = text.replace('\nldap_uris =\n', '\nldap_uris = ldap://127.0.0.1\n')
    text = text.replace('\nldap_base_dn =\n', '\nldap_base_dn = dc=example,dc=com\n')
    text = re.sub(r'^(secrets_file|ldap_tls_ca_file|tls_cert_file|tls_key_file|tls_ca_file|mail_root) =\n', '', text, flags=re.M)
    r = xident('config', 'check', write(d, 'example.conf', text))
    t.eq((r.returncode, r.stderr), (0, ''), 'every default of the example parses')

    if shutil.which('groff'):
        r = run(['groff', '-man', '-Tutf8', '-ww', '-z', src_path('doc', 'xident.conf.5')])
        t.eq((r.returncode, r.stderr), (0, ''), 'groff renders xident.conf.5 without warnings')
    else:
        t.skip('groff renders xident.conf.5 without warnings', 'groff not installed')

    # ---------------------------------------------------------- usage
    for argv, what in ((['config'], 'no action'),
                       (['config', 'check'], 'check without a file'),
                       (['config', 'check', good, good], 'check with two files'),
                       (['config', 'doc', 'extra'], 'doc with an argument'),
                       (['config', 'frobnicate'], 'unknown action')):
        r = xident(*argv)
        t.eq((r.returncode, r.stdout), (2, ''), 'usage error exits 2: %s' % what)
        t.contains(r.stderr, 'usage: xident config check FILE', 'usage on stderr: %s' % what)
    r = xident('config', '--help')
    t.eq((r.returncode, r.stderr), (0, ''), 'config --help exits 0')
    t.contains(r.stdout, 'xident config show FILE', '--help prints the usage on stdout')
    r = xident('--help')
    t.ok(re.search(r'^\s+config\s', r.stdout, re.M) is not None, 'xident --help lists the config verb')
