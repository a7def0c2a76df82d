#!/usr/bin/python3
"""passdb/userdb xident and the NTLM mechanism in a real Dovecot 2.3 over the
private slapd with the sample directory (ldap-schema/sample.ldif): every
seed scenario and outcome row through real IMAP and POP3 sessions, asserting
the exact line the client sees and the event in Dovecot's log.

Instances: `front` (this server, mail1.example.com, referrals), `proxy`
(home_server_action = proxy) and `home` (server_name 127.0.0.1, the home
server the proxy reaches), `restricted` (the service account of Q255269,
without read rights: temporary failure, never "bad password"), `imaponly`
(ntlm_protocols = imap)."""
import base64
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot
from slapd import Slapd, sample_ldif
from mailclients import (DISCONNECTED, LineConn, NtlmAuthClient, RawLine, curl_ntlm, imap_authenticate,
                         imap_login, impacket_ntlm, pop3_auth, pop3_userpass)

MODULES = [build_path('plugin', '.libs', 'libauthdb_xident.so'),
           build_path('plugin', '.libs', 'libmech_ntlm.so')]
FAILED = 'Authentication failed.'


def ssha(password):
    salt = os.urandom(8)
    return '{SSHA}' + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def nt_hash(password):
    from impacket import ntlm
    return ntlm.compute_nthash(password).hex()


# A mailbox homed on the `home` instance (127.0.0.1), for the proxy case.
PROXIED_LDIF = '''dn: uid=pjones,ou=EXAMPLE,ou=accounts,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: xidentAccount
uid: pjones
cn: Pat Jones
sn: Jones
xidentDomain: EXAMPLE
xidentAccountName: pjones
userPassword: %s
xidentNTHash: %s

dn: cn=pjones,ou=mailboxes,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: xidentMailbox
cn: pjones
sn: Jones
xidentAlias: pjones
xidentPrimaryAccount: uid=pjones,ou=EXAMPLE,ou=accounts,dc=example,dc=com
xidentHomeServer: 127.0.0.1
xidentMailHome: %%s/vmail/pjones
xidentMailLocation: maildir:~/Maildir
xidentMailUid: %%d
xidentMailGid: %%d
''' % (ssha('pjones-pw'), nt_hash('pjones-pw'))


def instance(slapd, name, homes=None, **conf):
    d = Dovecot(passdb='passdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                userdb='userdb {\n  driver = prefetch\n}\n'
                       'userdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                modules=MODULES, mechanisms='plain login ntlm', name=name,
                extra='import_environment = $import_environment XIDENT_CONF=%s\n' %
                      '%(dir)s/xident.conf')
    d.extra = d.extra % {'dir': d.dir}
    conf.setdefault('ntlm_netbios_domain', 'EXAMPLE')
    slapd.write_config(path=os.path.join(d.dir, 'xident.conf'), **conf)
    return d


with Tap() as t:
    for m in MODULES:
        if not os.path.exists(m):
            t.ok(False, 'module built: ' + m)
            raise SystemExit(t.done())

    # One folder of mailbox homes (owned by the mail user) for every instance.
    holder = Dovecot(passdb='', name='homes')  # only owns a world-traversable folder
    homes = os.path.join(holder.dir, 'home')
    os.makedirs(homes, exist_ok=True)
    os.chown(homes, holder.uid, holder.gid)
    sample = sample_ldif(homes, uid=holder.uid, gid=holder.gid)
    slapd = Slapd(ldif=[sample, PROXIED_LDIF % (homes, holder.uid, holder.gid)])
    slapd.enable_monitor()  # op_counts(): what a logon costs slapd

    front = instance(slapd, 'front')
    front.start()
    imap, pop3 = front.port('imap'), front.port('pop3')

    def both(name, password):
        """(IMAP LOGIN tagged line, POP3 USER/PASS final line)."""
        return imap_login(imap, name, password)[0], pop3_userpass(pop3, name, password)[0]

    def check_ok(name, password, mailbox, what):
        for proto in ('imap', 'pop3'):
            mark = front.log_mark()
            if proto == 'imap':
                line = imap_login(imap, name, password)[0]
                ok = line.startswith('a1 OK')
            else:
                line = pop3_userpass(pop3, name, password)[0]
                ok = line.startswith('+OK')
            t.ok(ok, '%s: %s %s logs on' % (what, proto, name), line)
            # Lines of the auth-worker and of the login process reach the
            # log through different pipes: wait for each.
            front.wait_log('Login: user=<%s>' % mailbox, mark)
            log = front.wait_log('-> %s"' % mailbox, mark)
            t.ok('event=11202' in log and ('-> %s"' % mailbox) in log,
                 '%s: %s event 11202 names mailbox %s' % (what, proto, mailbox), log[-1500:])
            t.contains(log, 'Login: user=<%s>' % mailbox,
                       '%s: %s session opened mailbox %s' % (what, proto, mailbox))

    def event_line(log, event, proto):
        for line in log.splitlines():
            if 'event=%s ' % event in line and 'protocol=%s ' % proto in line:
                return line
        return None

    def check_refused(name, password, imap_line, pop3_line, event, what):
        first = front.log_mark()
        for proto, want in (('imap', imap_line), ('pop3', pop3_line)):
            mark = front.log_mark()
            if proto == 'imap':
                got = imap_login(imap, name, password)[0]
            else:
                got = pop3_userpass(pop3, name, password)[0]
            t.eq(got, want, '%s: %s answer' % (what, proto.upper()))
            if event:
                try:
                    line = wait_until(lambda: event_line(front.log_since(mark), event, proto),
                                      timeout=10, what='event %s' % event)
                except TimeoutError:
                    line = None
                t.ok(line is not None, '%s: %s event %s logged' % (what, proto.upper(), event),
                     front.log_since(mark)[-1500:])
        return first

    # ---- the logon forms (seed scenarios)
    check_ok('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', 'johnd', 'DOMAIN\\account\\alias')
    check_ok('EXAMPLE/jdoe/johnd', 'jdoe-pw', 'johnd', 'DOMAIN/account/alias')
    check_ok('EXAMPLE\\jdoe', 'jdoe-pw', 'johnd', 'alias differs from account (Q324025)')
    check_ok('jdoe', 'jdoe-pw', 'johnd', 'account in the default domain')
    check_ok('johnd', 'jdoe-pw', 'johnd', 'alias only')
    check_ok('jdoe@example.com', 'jdoe-pw', 'johnd', 'UPN')
    check_ok('EXAMPLE\\asmith', 'asmith-pw', 'asmith', 'account == alias')
    check_ok('EXAMPLE\\bjones', 'bjones-pw', 'bjones', 'several mailboxes, one named as the account')
    check_ok('EXAMPLE\\jdoe\\helpdesk', 'jdoe-pw', 'helpdesk', 'delegate')
    check_ok('BRANCH\\cwhite\\helpdesk', 'cwhite-pw', 'helpdesk', 'delegate from another domain')
    check_ok('BRANCH\\jdoe', 'branch-jdoe-pw', 'jdoe-branch', 'same account name in another domain')

    # mail really opens under the mailbox's home
    c = LineConn(imap)
    c.readline()
    c.send('a1 LOGIN "EXAMPLE\\\\jdoe" "jdoe-pw"')
    while not c.readline().startswith('a1 '):
        pass
    c.send('a2 SELECT INBOX')
    while True:
        line = c.readline()
        if line.startswith('a2 '):
            break
    c.close()
    t.ok(line.startswith('a2 OK'), 'SELECT INBOX in the mailbox home from the directory', line)
    t.ok(os.path.isdir(os.path.join(homes, 'vmail', 'johnd')), 'home created at xidentMailHome')

    # ---- the outcome rows
    check_refused('EXAMPLE\\jdoe', 'wrong-pw', 'a1 NO [AUTHENTICATIONFAILED] ' + FAILED,
                  '-ERR [AUTH] ' + FAILED, '13003', 'wrong password')
    check_refused('EXAMPLE\\nosuchuser', 'x', 'a1 NO [AUTHENTICATIONFAILED] ' + FAILED,
                  '-ERR [AUTH] ' + FAILED, '13003', 'unknown name (same text)')
    mark = check_refused('EXAMPLE\\asmith\\helpdesk', 'asmith-pw',
                         'a1 NO [CONTACTADMIN] Access to mailbox helpdesk is denied for EXAMPLE\\asmith',
                         '-ERR [AUTH] Access to mailbox helpdesk is denied for EXAMPLE\\asmith',
                         '1023', 'neither owner nor delegate (1023)')
    t.contains(front.log_since(mark), 'was validated as uid=asmith',
               '1023 event names the account DN it validated')
    check_refused('EXAMPLE\\asmith\\helpdesk', 'wrong', 'a1 NO [AUTHENTICATIONFAILED] ' + FAILED,
                  '-ERR [AUTH] ' + FAILED, '13003', 'denial not revealed before the password')
    check_refused('EXAMPLE\\nomail', 'nomail-pw',
                  'a1 NO [CONTACTADMIN] The requested mailbox is not available on this server. '
                  'The account has no mailbox.',
                  '-ERR [AUTH] The requested mailbox is not available on this server. '
                  'The account has no mailbox.', '13005', 'account without mailbox')
    il, pl = both('EXAMPLE\\jdoe\\partner', 'jdoe-pw')
    t.ok(il.startswith('a1 NO [CONTACTADMIN] The requested mailbox is not available on this server.')
         and 'custom recipient' in il, 'custom recipient (Q173776): IMAP says what it is', il)
    t.ok(pl.startswith('-ERR [AUTH] The requested mailbox is not available on this server.'),
         'custom recipient: POP3', pl)
    il, pl = both('EXAMPLE\\jdoe\\all-staff', 'jdoe-pw')
    t.ok(il.startswith('a1 NO [CONTACTADMIN] The requested mailbox is not available'),
         'distribution list: no mailbox', il)
    check_refused('EXAMPLE\\olduser', 'olduser-pw',
                  'a1 NO [ALERT] Logon failure: account currently disabled.',
                  '-ERR [AUTH] Logon failure: account currently disabled.', '13003',
                  'disabled account, password proven')
    check_refused('EXAMPLE\\olduser', 'wrong', 'a1 NO [AUTHENTICATIONFAILED] ' + FAILED,
                  '-ERR [AUTH] ' + FAILED, '13003', 'disabled account, wrong password')
    il, pl = both('wong', 'kwong-pw')
    t.ok(il.startswith('a1 NO [CONTACTADMIN] Ambiguous Alias: the logon name wong is ambiguous'),
         'duplicate alias: ambiguous (IMAP)', il)
    t.ok(pl.startswith('-ERR [AUTH] Ambiguous Alias: the logon name wong is ambiguous'),
         'duplicate alias: ambiguous (POP3)', pl)
    il, pl = both('EXAMPLE\\mmiller', 'mmiller-pw')
    t.ok('EXAMPLE\\mmiller\\mike' in il and il.startswith('a1 NO [CONTACTADMIN]'),
         'account with two mailboxes: names the three-part forms', il)
    check_ok('EXAMPLE\\mmiller\\mike', 'mmiller-pw', 'mike', 'three-part form resolves it')
    il = imap_login(imap, 'EXAMPLE\\imaponly', 'imaponly-pw')[0]
    t.ok(il.startswith('a1 OK'), 'POP3-disabled mailbox: IMAP works', il)
    mark = front.log_mark()
    pl = pop3_userpass(pop3, 'EXAMPLE\\imaponly', 'imaponly-pw')[0]
    t.eq(pl, '-ERR [AUTH] POP3 is disabled for this mailbox', 'POP3-disabled mailbox: POP3 refused')
    front.wait_log('event=11310 ', mark)
    t.ok(event_line(front.log_since(mark), '11310', 'pop3') is not None,
         'POP3-disabled mailbox: event 11310 (POP3 LOGIN FAILURE, Q256221)', front.log_since(mark))
    il, pl = both('EXAMPLE\\ntlmonly', 'ntlmonly-pw')
    t.ok(il.startswith('a1 NO [CONTACTADMIN]') and 'disabled' in il,
         'NTLM-only mailbox refuses clear text', il)
    mark = front.log_mark()
    il, pl = both('EXAMPLE\\rjames', 'rjames-pw')
    t.eq(il, 'a1 NO [REFERRAL imap://example%5crjames;AUTH=PLAIN@mail2.example.com/] '
             'The mailbox rjames is on server mail2.example.com; connect to that server.',
         'other server: IMAP LOGIN-REFERRALS referral')
    t.eq(pl, '-ERR [AUTH] The mailbox rjames is on server mail2.example.com; connect to that server.',
         'other server: POP3 names the server')

    # ---- NTLM against the directory
    # design.md §3 under Dovecot's credentials lookup (the mechanism checks
    # the response after the passdb answered): a wrong response costs slapd
    # the same searches for an unknown name, an account whose mailbox search
    # 1 settles (bjones) and one whose mailboxes are searched (jdoe).
    costs = {}
    for user in ('nosuchuser', 'bjones', 'jdoe'):
        before = slapd.op_counts()
        imap_authenticate(imap, 'NTLM', impacket_ntlm(user, 'wrong-pw', 'EXAMPLE'))
        costs[user] = slapd.op_counts()['search'] - before['search'] - 1
    t.ok(len(set(costs.values())) == 1 and costs['jdoe'] == 2,
         'NTLM, wrong response: unknown name, settled and unsettled account cost 2 searches each', costs)
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'NTLM (impacket) EXAMPLE\\jdoe over IMAP', '\n'.join(tr))
    mark = front.log_mark()
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('jdoe\\helpdesk', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'NTLM with account\\alias opens a delegate mailbox', '\n'.join(tr))
    # The exact line: the previous logon's own Login line may be written
    # (by Dovecot's log process) after the mark.
    log = front.wait_log('Login: user=<helpdesk>', mark)
    t.contains(log, 'Login: user=<helpdesk>', 'NTLM account\\alias session is mailbox helpdesk')
    t.contains(log, 'event=11202', 'NTLM success event written after the proof')
    mark = front.log_mark()
    line, tr = pop3_auth(pop3, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('+OK'), 'SPA over POP3 with alias != account (Q191558)', '\n'.join(tr))
    t.contains(front.wait_log('Login: user=<johnd>', mark), 'Login: user=<johnd>',
               'Q191558: the NTLM logon EXAMPLE\\jdoe opened mailbox johnd')
    line, tr = pop3_auth(pop3, 'NTLM', impacket_ntlm('User', 'Password', 'EXAMPLE'))
    t.ok(line.startswith('+OK'), 'NTLM (impacket) MS-NLMP user over POP3', '\n'.join(tr))
    mark = front.log_mark()
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('jdoe', 'wrong', 'EXAMPLE'))
    t.eq(line, 'a1 NO [AUTHENTICATIONFAILED] ' + FAILED, 'NTLM wrong password refused')
    log = front.wait_log('event=1300', mark)
    t.ok('event=13003' in log or 'event=13004' in log, 'NTLM wrong password event', log[-1500:])
    # (Earlier sessions' lines may still arrive: look for this logon's.)
    wrong_ok = [l for l in log.splitlines() if 'event=11202 ' in l and 'protocol=imap ' in l
                and 'login="EXAMPLE\\\\jdoe" ' in l]
    t.eq(wrong_ok, [], 'no success event for a wrong NTLM response')
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('olduser', 'olduser-pw', 'EXAMPLE'))
    t.eq(line, 'a1 NO [CONTACTADMIN] Logon failure: account currently disabled.',
         'NTLM disabled account, response proven')
    line, tr = imap_authenticate(imap, 'NTLM', impacket_ntlm('ntlmonly', 'ntlmonly-pw', 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'NTLM-only mailbox accepts NTLM', '\n'.join(tr))
    for proto in ('imap', 'pop3'):
        r = curl_ntlm('%s://127.0.0.1:%d/' % (proto, front.port(proto)), 'EXAMPLE\\jdoe\\johnd',
                      'jdoe-pw')
        t.eq(r.returncode, 0, 'curl %s NTLM EXAMPLE\\jdoe\\johnd' % proto)
        client = NtlmAuthClient('EXAMPLE\\jdoe\\helpdesk', 'jdoe-pw', 'EXAMPLE')
        try:
            if proto == 'imap':
                line = imap_authenticate(imap, 'NTLM', client)[0]
            else:
                line = pop3_auth(pop3, 'NTLM', client)[0]
        finally:
            client.close()
        t.ok(line.startswith('a1 OK') or line.startswith('+OK'),
             'ntlm_auth %s EXAMPLE\\jdoe\\helpdesk' % proto, line)

    # ---- hostile names: clean refusal, nothing crashes
    for name, what in (('u' * 2000, '2000 characters'), ('*)(uid=*', 'LDAP filter metacharacters'),
                       ('EXAMPLE\\*', 'wildcard account'), ('a\\b\\c\\d', 'four parts'),
                       ('EXAMPLE\\jdoe\\johnd)(|(x=*', 'filter injection in the alias')):
        il = imap_login(imap, name, 'jdoe-pw')[0]
        t.ok(il.startswith('a1 NO') or il.startswith('a1 BAD') or il == DISCONNECTED,
             'IMAP LOGIN hostile name (%s) refused' % what, il)
        # SASL PLAIN carries any length to the passdb.
        line = imap_authenticate(imap, 'PLAIN',
                                 lambda ch, n=name: b'\x00' + n.encode() + b'\x00jdoe-pw')[0]
        t.ok(line.startswith('a1 NO'), 'IMAP AUTHENTICATE PLAIN hostile name (%s) refused' % what,
             line)
        pl = pop3_userpass(pop3, name, 'jdoe-pw')[0]
        t.ok(pl.startswith('-ERR') or pl == DISCONNECTED,
             'POP3 hostile name (%s) refused' % what, pl)
    for name, what in (('u' * 2000, '2000 characters'), ('*)(uid=*', 'LDAP filter metacharacters'),
                       ('jdoe\\*', 'wildcard alias')):
        line = imap_authenticate(imap, 'NTLM', impacket_ntlm(name, 'jdoe-pw', 'EXAMPLE'))[0]
        t.ok(line.startswith('a1 NO'), 'NTLM hostile user (%s) refused' % what, line)
    c = LineConn(pop3)
    c.readline()
    c.send(b'USER jdoe\x00EXAMPLE\\jdoe')
    c.readline()
    c.send('PASS jdoe-pw')
    line = c.readline()
    c.close()
    t.ok(line.startswith('+OK') or line.startswith('-ERR'), 'POP3 name with NUL answered cleanly', line)
    line = imap_authenticate(imap, 'PLAIN', lambda ch: RawLine('%%%not base64'))[0]
    t.ok(line.startswith('a1 BAD') or line.startswith('a1 NO'), 'malformed base64 refused', line)
    line = imap_authenticate(imap, 'PLAIN', lambda ch: b'\x00EXAMPLE\\jdoe\x00jdoe-pw\x00extra\x00')[0]
    t.ok(line.startswith('a1 NO'), 'PLAIN with extra NULs refused', line)
    neg = impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE')(b'')
    it = iter([neg, b'NTLMSSP\x00\x03\x00\x00\x00' + b'\x00' * 8])
    line = imap_authenticate(imap, 'NTLM', lambda ch: next(it))[0]
    t.ok(line.startswith('a1 NO'), 'truncated NTLM AUTHENTICATE refused', line)
    check_ok('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', 'johnd', 'still serving after the hostile input')

    # ---- userdb without a logon (LMTP, doveadm)
    r = front.doveadm('user', 'johnd')
    t.ok(r.returncode == 0 and os.path.join(homes, 'vmail', 'johnd') in r.stdout
         and 'quota_rule' in r.stdout, 'doveadm user johnd: home, quota from the directory',
         r.stdout + r.stderr)
    r = front.doveadm('user', 'reception')
    t.ok(os.path.join(homes, 'vmail', 'reception') in r.stdout,
         'doveadm user reception: the mailbox named reception, not the account', r.stdout + r.stderr)
    r = front.doveadm('user', 'nosuchmailbox')
    t.ok(r.returncode != 0, 'doveadm user of an unknown mailbox: not found', r.stdout + r.stderr)
    t.eq(front.crashes(), [], 'front: no Fatal/Panic/signal in the log')

    # ---- proxy to the home server
    home = instance(slapd, 'home', server_name='127.0.0.1')
    home.start()
    proxy = instance(slapd, 'proxy', home_server_action='proxy',
                     home_server_port_imap=home.port('imap'), home_server_port_pop3=home.port('pop3'))
    proxy.start()
    for proto in ('imap', 'pop3'):
        hmark = home.log_mark()
        if proto == 'imap':
            line = imap_login(proxy.port('imap'), 'EXAMPLE\\pjones', 'pjones-pw')[0]
            ok = line.startswith('a1 OK')
        else:
            line = pop3_userpass(proxy.port('pop3'), 'EXAMPLE\\pjones', 'pjones-pw')[0]
            ok = line.startswith('+OK')
        t.ok(ok, 'proxy: %s logon to a mailbox homed elsewhere' % proto, line + '\n' + proxy.log_tail(15))
        log = home.wait_log('Login: user=<pjones>', hmark)
        t.contains(log, 'Login: user=<pjones>', 'proxy: %s session reached the home server' % proto)
    line = imap_authenticate(proxy.port('imap'), 'NTLM',
                             impacket_ntlm('pjones', 'pjones-pw', 'EXAMPLE'))[0]
    t.ok(line.startswith('a1 NO [REFERRAL imap://') and '@127.0.0.1:%d/]' % home.port('imap') in line,
         'proxy mode, NTLM (no password to forward): referral to the home server', line)
    t.eq(proxy.crashes() + home.crashes(), [], 'proxy and home: no Fatal/Panic')
    proxy.stop()
    home.stop()

    # ---- the restricted service account (Q255269): temporary failure
    restricted = instance(slapd, 'restricted', bind_dn=slapd.restricted_dn,
                          bind_password=slapd.restricted_password)
    restricted.start()
    mark = restricted.log_mark()
    il = imap_login(restricted.port('imap'), 'EXAMPLE\\jdoe', 'jdoe-pw')[0]
    t.ok(il.startswith('a1 NO [UNAVAILABLE]'), 'restricted service account: IMAP temporary failure', il)
    pl = pop3_userpass(restricted.port('pop3'), 'EXAMPLE\\jdoe', 'jdoe-pw')[0]
    t.ok(pl.startswith('-ERR [SYS/TEMP]'), 'restricted service account: POP3 temporary failure', pl)
    log = restricted.wait_log('xident-restricted', mark)
    t.contains(log, 'cn=xident-restricted', 'tempfail event names the service account DN')
    t.ok('privilege' in log or 'right' in log, 'tempfail event names the missing right', log[-2000:])
    line = imap_authenticate(restricted.port('imap'), 'NTLM',
                             impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))[0]
    t.ok(line.startswith('a1 NO [UNAVAILABLE]'), 'restricted service account: NTLM temporary failure',
         line)
    t.eq(restricted.crashes(), [], 'restricted: no Fatal/Panic')
    restricted.stop()

    # ---- NTLM disabled for POP3
    imaponly = instance(slapd, 'imaponly', ntlm_protocols='imap')
    imaponly.start()
    line = imap_authenticate(imaponly.port('imap'), 'NTLM',
                             impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))[0]
    t.ok(line.startswith('a1 OK'), 'ntlm_protocols = imap: IMAP NTLM works', line)
    mark = imaponly.log_mark()
    line = pop3_auth(imaponly.port('pop3'), 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))[0]
    t.eq(line, '-ERR [AUTH] The NTLM Authentication package has been disabled for this protocol.',
         'ntlm_protocols = imap: POP3 NTLM refused with the design text')
    log = imaponly.wait_log('event=13004', mark)
    t.contains(log, 'event=13004', 'NTLM disabled: event 13004')
    il, pl = imap_login(imaponly.port('imap'), 'EXAMPLE\\jdoe', 'jdoe-pw')[0], \
        pop3_userpass(imaponly.port('pop3'), 'EXAMPLE\\jdoe', 'jdoe-pw')[0]
    t.ok(pl.startswith('+OK'), 'ntlm_protocols = imap: POP3 clear text still works', pl)
    t.eq(imaponly.crashes(), [], 'imaponly: no Fatal/Panic')

    # ---- diagnostics levels: success audits (level 1) off, errors (level 0) kept
    quiet = instance(slapd, 'quiet', diag_authentication='none')
    quiet.start()
    mark = quiet.log_mark()
    il = imap_login(quiet.port('imap'), 'EXAMPLE\\jdoe', 'jdoe-pw')[0]
    t.ok(il.startswith('a1 OK'), 'diag_authentication = none: logon works', il)
    il = imap_login(quiet.port('imap'), 'EXAMPLE\\jdoe', 'wrong')[0]
    log = quiet.wait_log('event=13003', mark)
    quiet.wait_log('Login: user=<johnd>', mark)
    log = quiet.log_since(mark)
    t.ok('event=11202' not in log, 'diag_authentication = none: no success audit', log[-1500:])
    t.contains(log, 'event=13003', 'diag_authentication = none: failures (level 0) still logged')
    t.eq(quiet.crashes(), [], 'quiet: no Fatal/Panic')

    # ---- password_mode = hash: userPassword compared by the resolver
    hashed = instance(slapd, 'hashed', password_mode='hash')
    hashed.start()
    for proto in ('imap', 'pop3'):
        if proto == 'imap':
            good = imap_login(hashed.port('imap'), 'EXAMPLE\\jdoe\\johnd', 'jdoe-pw')[0]
            bad = imap_login(hashed.port('imap'), 'EXAMPLE\\jdoe\\johnd', 'jdoe-px')[0]
        else:
            good = pop3_userpass(hashed.port('pop3'), 'EXAMPLE\\jdoe\\johnd', 'jdoe-pw')[0]
            bad = pop3_userpass(hashed.port('pop3'), 'EXAMPLE\\jdoe\\johnd', 'jdoe-px')[0]
        t.ok(good.startswith('a1 OK') or good.startswith('+OK'),
             'password_mode = hash: %s right password' % proto, good)
        t.ok(bad in ('a1 NO [AUTHENTICATIONFAILED] ' + FAILED, '-ERR [AUTH] ' + FAILED),
             'password_mode = hash: %s wrong password' % proto, bad)
    t.eq(hashed.crashes(), [], 'hashed: no Fatal/Panic')
