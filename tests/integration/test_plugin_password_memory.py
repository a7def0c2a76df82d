#!/usr/bin/python3
"""After a logon, Dovecot's auth process no longer holds the user's password
in its memory (password_mode = bind): libldap encodes it into the bind
request's BER buffer and frees that unwiped, so core/ldap_wipe.c puts an
I/O layer on each of our LDAP connections that zeroes what libldap wrote
(xidentd does the same with standalone/ber_wipe.c, which a plugin cannot).

A real Dovecot 2.3 with passdb xident over the private slapd: an account
gets a password made for this run; IMAP LOGIN and AUTHENTICATE PLAIN logons
(right password: bound; then a wrong one: refused by slapd), through the
live LDAP pool on resolver threads and through the mirror's main-thread
bind; then every readable writable mapping of the auth process
(/proc/PID/mem) is searched for each password as a bind request encodes
it (tag, length, bytes).  Without the layer the bind request's freed
buffer holds them, so the check fails.  Dovecot's own copy (the auth
request's pool, freed unwiped) is counted in a diagnostic only."""
import base64
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot
from slapd import Slapd, sample_ldif
from mailclients import imap_authenticate, imap_login
from xdserver import memory_holds

MODULES = [build_path('plugin', '.libs', 'libauthdb_xident.so'),
           build_path('plugin', '.libs', 'libmech_ntlm.so')]
JDOE = 'uid=jdoe,ou=EXAMPLE,ou=accounts,dc=example,dc=com'


def ssha(password):
    salt = os.urandom(8)
    return '{SSHA}' + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def instance(slapd, name, **conf):
    d = Dovecot(passdb='passdb {\n  driver = xident\n  args = %(dir)s/xident.conf\n}',
                userdb='userdb {\n  driver = prefetch\n}\n',
                modules=MODULES, mechanisms='plain login', name=name)
    slapd.write_config(path=os.path.join(d.dir, 'xident.conf'), password_mode='bind', **conf)
    return d



def check(t, d, what, right, wrong):
    imap = d.port('imap')
    line = imap_login(imap, 'EXAMPLE\\jdoe', right)[0]
    t.ok(line.startswith('a1 OK'), '%s: IMAP LOGIN with the password' % what, line)
    line = imap_authenticate(imap, 'PLAIN', lambda ch: b'\0EXAMPLE\\jdoe\0' + right.encode())[0]
    t.ok(line.startswith('a1 OK'), '%s: AUTHENTICATE PLAIN with the password' % what, line)
    line = imap_login(imap, 'EXAMPLE\\jdoe', wrong)[0]
    t.ok(line.startswith('a1 NO'), '%s: a wrong password is refused (by the bind)' % what, line)
    pid = d.auth_pid()
    # As libldap encodes it in a simple bind: context tag [0], length, bytes.
    left = [pw for pw in (right, wrong)
            if pid is not None and memory_holds(pid, b'\x80' + bytes([len(pw)]) + pw.encode())]
    t.ok(pid is not None and not left,
         '%s: no bind request holding either password is left in the auth process\'s memory'
         % what, left)
    # Dovecot's own auth request keeps its password in its memory pool,
    # freed unwiped (the pool is reused by the next request): Dovecot's,
    # not ours to wipe.  Reported, not checked.
    plain = [pw for pw in (right, wrong) if pid is not None and memory_holds(pid, pw.encode())]
    t.diag('%s: passwords found in clear (Dovecot\'s request pool): %d' % (what, len(plain)))

with Tap() as t:
    for m in MODULES:
        if not os.path.exists(m):
            t.ok(False, 'module built: ' + m)
            raise SystemExit(t.done())
    holder = Dovecot(passdb='', name='homes')  # only owns a world-traversable folder
    homes = os.path.join(holder.dir, 'home')
    os.makedirs(homes, exist_ok=True)
    os.chown(homes, holder.uid, holder.gid)
    slapd = Slapd(ldif=[sample_ldif(homes, uid=holder.uid, gid=holder.gid)])
    right = 'Right-%s' % os.urandom(8).hex()
    wrong = 'Wrong-%s' % os.urandom(8).hex()
    r = slapd.modify('dn: %s\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n' %
                     (JDOE, ssha(right)))
    t.ok(r.returncode == 0, 'jdoe gets a password made for this run', r.stderr)

    # Live LDAP: the bind on a resolver thread, through the pool.
    d = instance(slapd, 'pwlive')
    d.start()
    check(t, d, 'live pool', right, wrong)
    t.eq(d.crashes(), [], 'live pool: no Fatal/Panic/signal in the log')
    d.stop()

    # The mirror: the bind sent from the auth process's main thread.
    d = instance(slapd, 'pwmirror', directory_mirror='yes')
    d.start()
    wait_until(lambda: imap_login(d.port('imap'), 'EXAMPLE\\jdoe', right)[0].startswith('a1 OK') and
               "a bind sent from the auth process's main thread" in d.log(),
               60, 'a bind sent from the main thread (the mirror in sync)')
    check(t, d, 'mirror, main-thread bind', right, wrong)
    t.eq(d.crashes(), [], 'mirror: no Fatal/Panic/signal in the log')
    d.stop()
