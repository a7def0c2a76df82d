#!/usr/bin/python3
"""`xident doctor` against a private slapd: a healthy deployment passes; each
broken part (dead server, wrong service password, wrong CA, a service
account that lost its rights, a schema map the directory does not know, a
bad config file) is a FAIL line with a remedy and exit 1."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from slapd import Slapd  # noqa: E402

XIDENT = build_path('tools', 'xident')


def doctor(conf):
    return run([XIDENT, 'doctor', '-c', conf])


def lines(r, level):
    return [l for l in r.stdout.splitlines() if l.startswith(level + ' ')]


def main():
    with Tap() as t:
        with Slapd(tls=True) as d:
            r = doctor(d.write_config(starttls=True, password_mode='hash'))
            t.eq(r.returncode, 0, 'healthy deployment: exit 0')
            if r.returncode != 0:
                t.diag(r.stdout + r.stderr)
            t.eq(lines(r, 'FAIL'), [], 'healthy deployment: no FAIL line')
            for what in ('answers', 'certificate and host name verified', 'bind ', 'knows xidentAlias',
                         'sees', 'xidentNTHash readable on', 'userPassword readable on', 'indexes'):
                t.ok(any(what in l for l in lines(r, 'OK')), 'healthy: OK line for "%s"' % what, r.stdout)

            dead = 'ldap://127.0.0.1:%d' % free_port()
            r = doctor(d.write_config(uris=[dead, d.uri], ldap_network_timeout=2))
            t.eq(r.returncode, 1, 'dead first server: exit 1')
            t.ok(any(dead in l for l in lines(r, 'FAIL')), 'dead first server: FAIL names it', r.stdout)
            t.ok(any('bind %s' % d.uri in l for l in lines(r, 'OK')), 'the second server still checked', r.stdout)
            t.contains(r.stdout, 'remedy:', 'dead server: a remedy is given')

            r = doctor(d.write_config(bind_password='wrong'))
            t.eq(r.returncode, 1, 'wrong service password: exit 1')
            t.ok(any('Invalid credentials' in l for l in lines(r, 'FAIL')), 'wrong service password: FAIL says so', r.stdout)
            t.contains(r.stdout, 'ldap_bind_password', 'wrong service password: remedy names the key')

            r = doctor(d.write_config(bind_dn=d.restricted_dn, bind_password=d.restricted_password,
                                      password_mode='hash'))
            t.eq(r.returncode, 1, 'Q255269 restricted service account: exit 1')
            fails = '\n'.join(lines(r, 'FAIL'))
            t.contains(fails, 'xidentNTHash readable on 0', 'restricted: NT hash unreadable is a FAIL')
            t.contains(fails, 'userPassword readable on 0', 'restricted: userPassword unreadable is a FAIL')
            t.contains(fails, 'sees no xidentMailbox', 'restricted: invisible mailboxes are a FAIL')

            r = doctor(d.write_config(schema='ad'))
            t.eq(r.returncode, 1, 'schema = ad on an xident directory: exit 1')
            t.ok(any('mailNickname' in l for l in lines(r, 'FAIL')), 'schema map mismatch named', r.stdout)

            wrong = tempdir('wrongca-')
            ca = os.path.join(wrong, 'ca.pem')
            run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
                 os.path.join(wrong, 'ca.key'), '-out', ca, '-days', '1', '-subj', '/CN=wrong CA'])
            r = doctor(d.write_config(ldaps=True, ldap_tls_ca_file=ca))
            t.eq(r.returncode, 1, 'wrong CA: exit 1')
            t.ok(any('TLS' in l for l in lines(r, 'FAIL')), 'wrong CA: FAIL says TLS', r.stdout)

            r = doctor(d.write_config(ldap_tls_require_cert='no', ldaps=True))
            t.ok(any('NOT verified' in l for l in lines(r, 'WARN')), 'require_cert = no: WARN', r.stdout)

        bad = os.path.join(tempdir('badconf-'), 'xident.conf')
        with open(bad, 'w') as f:
            f.write('no_such_key = 1\n')
        r = doctor(bad)
        t.eq(r.returncode, 1, 'bad config: exit 1')
        t.ok(any('no_such_key' in l for l in lines(r, 'FAIL')), 'bad config: FAIL quotes the problem', r.stdout)


main()
