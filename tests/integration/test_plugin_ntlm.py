#!/usr/bin/python3
"""libmech_ntlm.so in a real Dovecot 2.3 with a passwd-file passdb holding
{NTLM} hashes (and one {PLAIN} password, converted through the NTLM scheme
the module registers), driven by three independent NTLMv2 clients (curl,
Samba's ntlm_auth, impacket) over IMAP and POP3; wrong passwords, hostile
blobs and a protocol with NTLM disabled are refused cleanly, with the
event in Dovecot's log and no process crash."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot
from mailclients import (GsaslNTLM, RawLine, NtlmAuthClient, curl_ntlm, imap_authenticate, imap_login,
                         impacket_ntlm, nt_hash_hex, pop3_auth)

MODULE = build_path('plugin', '.libs', 'libmech_ntlm.so')
USERS = {
    'alice': 'Wonder-Land1',
    'acct\\alias': 'Ali4s-pass',     # a mailbox named through NTLM: account\alias
    'bob': 'Bob-Pl4in',              # {PLAIN}: the scheme generates the NT hash
}
BAD_TEXT = 'Authentication failed.'


def passwd_file(path):
    with open(path, 'w') as f:
        for user, pw in USERS.items():
            name = user.replace('\\', '\\\\')  # passwd-file escapes \ as \\
            if user == 'bob':
                f.write('%s:{PLAIN}%s\n' % (name, pw))
            else:
                f.write('%s:{NTLM}%s\n' % (name, nt_hash_hex(pw)))


def start(extra='', name='dovecot'):
    d = Dovecot(passdb='passdb {\n  driver = passwd-file\n  args = %(dir)s/passwd\n}',
                modules=[MODULE], mechanisms='plain login ntlm', extra=extra, name=name)
    passwd_file(os.path.join(d.dir, 'passwd'))
    return d.start()


def imap_caps(port):
    from mailclients import LineConn
    c = LineConn(port)
    try:
        c.readline()
        c.send('c1 CAPABILITY')
        caps = c.readline()
        c.readline()
        return caps
    finally:
        c.close()


def pop3_sasl_list(port):
    from mailclients import LineConn
    c = LineConn(port)
    try:
        c.readline()
        c.send('AUTH')
        lines = [c.readline()]
        while lines[-1] != '.' and not lines[-1].startswith('-ERR'):
            lines.append(c.readline())
        return lines
    finally:
        c.close()


with Tap() as t:
    if not os.path.exists(MODULE):
        t.ok(False, 'libmech_ntlm.so built', MODULE)
        raise SystemExit(t.done())
    d = start()
    imap, pop3 = d.port('imap'), d.port('pop3')

    t.contains(imap_caps(imap), 'AUTH=NTLM', 'IMAP CAPABILITY advertises AUTH=NTLM')
    t.ok('NTLM' in pop3_sasl_list(pop3), 'POP3 AUTH lists NTLM', pop3_sasl_list(pop3))

    # ---- curl (NTLMv2, OEM names)
    for proto, port in (('imap', imap), ('pop3', pop3)):
        url = '%s://127.0.0.1:%d/' % (proto, port)
        r = curl_ntlm(url, 'WORKGROUP\\alice', USERS['alice'])
        t.eq(r.returncode, 0, 'curl %s AUTH=NTLM alice logs on' % proto)
        r = curl_ntlm(url, 'alice', USERS['alice'])
        t.eq(r.returncode, 0, 'curl %s AUTH=NTLM without a domain logs on' % proto)
        r = curl_ntlm(url, 'WORKGROUP\\acct\\alias', USERS['acct\\alias'])
        t.eq(r.returncode, 0, 'curl %s AUTH=NTLM with account\\alias logs on' % proto)
        r = curl_ntlm(url, 'WORKGROUP\\bob', USERS['bob'])
        t.eq(r.returncode, 0, 'curl %s AUTH=NTLM against a {PLAIN} entry logs on' % proto)
        r = curl_ntlm(url, 'WORKGROUP\\alice', 'wrong-password')
        t.eq(r.returncode, 67, 'curl %s AUTH=NTLM wrong password refused (exit 67)' % proto)
        r = curl_ntlm(url, 'WORKGROUP\\nobody', 'whatever')
        t.eq(r.returncode, 67, 'curl %s AUTH=NTLM unknown user refused (exit 67)' % proto)

    # ---- impacket (NTLMv2, Unicode names)
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('alice', USERS['alice'], 'DOM'))
    t.ok(line.startswith('a1 OK'), 'impacket IMAP AUTHENTICATE NTLM alice', '\n'.join(tr))
    t.eq(tr[2], 'S: + ', 'IMAP first continuation is "+ " (with the space)')
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('Alice', USERS['alice'], 'dom'))
    t.ok(line.startswith('a1 OK'), 'impacket: user name matched case-insensitively', '\n'.join(tr))
    line, tr = imap_authenticate(imap, 'NTLM',
                                 impacket_ntlm('acct\\alias', USERS['acct\\alias'], 'DOM'))
    t.ok(line.startswith('a1 OK'), 'impacket IMAP NTLM with account\\alias', '\n'.join(tr))
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('bob', USERS['bob'], 'DOM'))
    t.ok(line.startswith('a1 OK'), 'impacket IMAP NTLM against {PLAIN}', '\n'.join(tr))
    mark = d.log_mark()
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('alice', 'nope', 'DOM'))
    t.eq(line, 'a1 NO [AUTHENTICATIONFAILED] ' + BAD_TEXT, 'impacket IMAP wrong password: exact refusal')
    log = d.wait_log('event=', mark)
    t.ok('event=13003' in log or 'event=13004' in log,
         'wrong NTLM response logged as an event', log)
    line, tr = pop3_auth(pop3, 'NTLM', impacket_ntlm('alice', USERS['alice'], 'DOM'))
    t.ok(line.startswith('+OK'), 'impacket POP3 AUTH NTLM alice', '\n'.join(tr))
    line, tr = pop3_auth(pop3, 'NTLM', impacket_ntlm('alice', 'nope', 'DOM'))
    t.eq(line, '-ERR [AUTH] ' + BAD_TEXT, 'impacket POP3 wrong password: exact refusal')

    # ---- Samba ntlm_auth (NTLMv2)
    for proto in ('imap', 'pop3'):
        for user, pw, want_ok in (('alice', USERS['alice'], True),
                                  ('acct\\alias', USERS['acct\\alias'], True),
                                  ('alice', 'bad-one', False)):
            client = NtlmAuthClient('DOM\\' + user, pw, 'DOM')
            try:
                if proto == 'imap':
                    line, tr = imap_authenticate(imap, 'NTLM', client)
                    ok = line.startswith('a1 OK')
                else:
                    line, tr = pop3_auth(pop3, 'NTLM', client)
                    ok = line.startswith('+OK')
            finally:
                client.close()
            t.eq(ok, want_ok, 'ntlm_auth %s %s %s' % (proto, user, 'logs on' if want_ok else 'refused'))

    # ---- hostile input: every one a clean refusal, the next logon still works
    neg = impacket_ntlm('alice', USERS['alice'], 'DOM')(b'')

    def seq(*msgs):
        it = iter(msgs)
        return lambda challenge: next(it)

    cases = [
        ('malformed base64', seq(RawLine('!!!not-base64***'))),
        ('garbage NEGOTIATE', seq(b'NTLMSSP\x00\x09\x00\x00\x00' + b'A' * 20)),
        ('truncated NEGOTIATE', seq(neg[:10])),
        ('truncated AUTHENTICATE', seq(neg, b'NTLMSSP\x00\x03\x00\x00\x00\xff\xff')),
        ('AUTHENTICATE with offsets past the end',
         seq(neg, b'NTLMSSP\x00\x03\x00\x00\x00' + (b'\xff\xff\xff\xff\xf0\xff\x00\x00' * 6))),
        ('oversized blob', seq(b'NTLMSSP\x00\x01\x00\x00\x00' + b'B' * 6000)),
        ('NUL bytes', seq(b'\x00' * 64)),
        ('second NEGOTIATE instead of AUTHENTICATE', seq(neg, neg)),
        ('cancelled with *', seq(RawLine('*'))),
    ]
    for name, driver in cases:
        line, tr = imap_authenticate(imap, 'NTLM', driver)
        t.ok(line.startswith('a1 NO') or line.startswith('a1 BAD'),
             'IMAP hostile NTLM: %s refused' % name, '\n'.join(tr))
    # POP3 takes the same hostile blobs.
    for name, msgs in (('malformed base64', [RawLine('@@@')]),
                       ('truncated AUTHENTICATE', [neg, b'NTLMSSP\x00\x03\x00']),
                       ('NUL bytes', [b'\x00' * 40])):
        line, tr = pop3_auth(pop3, 'NTLM', seq(*msgs))
        t.ok(line.startswith('-ERR'), 'POP3 hostile NTLM: %s refused' % name, '\n'.join(tr))
    long_user = 'u' * 2000
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm(long_user, 'x', 'DOM'))
    t.ok(line.startswith('a1 NO'), 'IMAP NTLM with a 2000-character user refused', '\n'.join(tr))
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('*)(uid=*', 'x', 'DOM'))
    t.ok(line.startswith('a1 NO'), 'IMAP NTLM with an LDAP-filter user refused', '\n'.join(tr))
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('alice', USERS['alice'], 'DOM'))
    t.ok(line.startswith('a1 OK'), 'a good NTLM logon still works after the hostile ones',
         '\n'.join(tr))
    # gsasl/libntlm speaks NTLMv1 only: refused while ntlm_v1 = no (the default)
    mark = d.log_mark()
    g = GsaslNTLM('alice', USERS['alice'], 'DOM')
    try:
        line, tr = imap_authenticate(imap, 'NTLM', g)
    finally:
        g.close()
    t.eq(line, 'a1 NO [AUTHENTICATIONFAILED] Authentication failed.',
         'gsasl NTLMv1 refused by default')
    t.contains(d.wait_log('event=13004', mark), 'event=13004', 'NTLMv1 refusal logged as 13004')
    line, tr = imap_login(imap, 'bob', USERS['bob'])
    t.ok(line.startswith('a1 OK'), 'PLAIN LOGIN still works beside NTLM', '\n'.join(tr))
    t.eq(d.crashes(), [], 'no Fatal/Panic/signal in the log')
    d.stop()

    # ---- NTLM disabled for POP3 by xident.conf (ntlm_protocols = imap)
    conf = os.path.join(tempdir(), 'xident.conf')
    with open(conf, 'w') as f:
        f.write('ldap_uris = ldap://127.0.0.1:9/\nldap_base_dn = dc=example,dc=org\n'
                'ntlm_protocols = imap\nntlm_netbios_domain = EXAMPLE\nntlm_v1 = yes\n')
    os.chmod(os.path.dirname(conf), 0o755)
    d2 = start(extra='import_environment = $import_environment XIDENT_CONF=%s\n' % conf,
               name='dovecot-ntlm-imap-only')
    line, tr = imap_authenticate(d2.port('imap'), 'NTLM',
                                 impacket_ntlm('alice', USERS['alice'], 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'ntlm_protocols = imap: IMAP NTLM still works', '\n'.join(tr))
    for user, pw, want in (('alice', USERS['alice'], 'a1 OK'), ('alice', 'wrong', 'a1 NO')):
        g = GsaslNTLM(user, pw, 'EXAMPLE')
        try:
            line, tr = imap_authenticate(d2.port('imap'), 'NTLM', g)
        finally:
            g.close()
        t.ok(line.startswith(want), 'ntlm_v1 = yes: gsasl NTLMv1 %s' %
             ('logs on' if want == 'a1 OK' else 'with a wrong password refused'), '\n'.join(tr))
    mark = d2.log_mark()
    line, tr = pop3_auth(d2.port('pop3'), 'NTLM', impacket_ntlm('alice', USERS['alice'], 'EXAMPLE'))
    t.eq(line, '-ERR [AUTH] The NTLM Authentication package has been disabled for this protocol.',
         'ntlm_protocols = imap: POP3 NTLM refused with the design text')
    log = d2.wait_log('ntlm_protocols', mark)
    t.contains(log, 'ntlm_protocols', 'the refusal is logged with its cause')
    t.eq(d2.crashes(), [], 'no Fatal/Panic with xident.conf')
    d2.stop()
