#!/usr/bin/python3
"""The private Dovecot helper (tests/lib/dovecot.py) itself: a static-passdb
Dovecot answers IMAP and POP3 logons in clear text and over TLS, refuses a
wrong password, accepts DOMAIN\\account\\alias names, and loads a module
through the bind-mount wrapper without touching the host's module folder."""
import imaplib
import os
import poplib
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from dovecot import Dovecot, STOCK_AUTH_MODULES


def auth_mounts(master_pid):
    """Mount lines seen by the master's auth child (its own namespace)."""
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            with open('/proc/%s/comm' % pid) as f:
                comm = f.read().strip()
            if int(fields[1]) == master_pid and comm == 'auth':
                with open('/proc/%s/mountinfo' % pid) as f:
                    return [l for l in f if 'dovecot/modules/auth' in l]
        except (OSError, IndexError, ValueError):
            continue
    return []


def tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


with Tap() as t:
    d = Dovecot(passdb='passdb {\n  driver = static\n  args = password=s3cret\n}',
                auth_socket=True).start()
    t.ok(d.running(), 'static-passdb Dovecot started')
    r = d.doveadm('user', 'alice')
    t.contains(r.stdout, 'home', 'doveadm -c FILE user answers from the private instance')
    im = imaplib.IMAP4('127.0.0.1', d.port('imap'))
    typ, data = im.login('alice', 's3cret')
    t.eq(typ, 'OK', 'IMAP LOGIN with the right password')
    typ, _ = im.select('INBOX')
    t.eq(typ, 'OK', 'IMAP SELECT INBOX (mail under the private folder)')
    im.logout()
    im = imaplib.IMAP4('127.0.0.1', d.port('imap'))
    try:
        im.login('alice', 'wrong')
        t.ok(False, 'IMAP LOGIN with a wrong password refused')
    except imaplib.IMAP4.error as e:
        t.contains(str(e), 'AUTHENTICATIONFAILED', 'IMAP LOGIN with a wrong password refused')
    im.logout()
    im = imaplib.IMAP4('127.0.0.1', d.port('imap'))
    typ, _ = im.login('DOM\\acct\\alias', 's3cret')
    t.eq(typ, 'OK', 'backslashes pass auth_username_chars')
    im.logout()
    im = imaplib.IMAP4_SSL('127.0.0.1', d.port('imaps'), ssl_context=tls())
    t.eq(im.login('bob', 's3cret')[0], 'OK', 'IMAPS LOGIN')
    im.logout()
    p = poplib.POP3('127.0.0.1', d.port('pop3'))
    p.user('carol')
    t.contains(p.pass_('s3cret').decode(), '+OK', 'POP3 USER/PASS')
    p.quit()
    p = poplib.POP3_SSL('127.0.0.1', d.port('pop3s'), context=tls())
    p.user('carol')
    t.contains(p.pass_('s3cret').decode(), '+OK', 'POP3S USER/PASS')
    p.quit()
    t.ok(os.path.exists(d.auth_socket), 'auth-client socket for load clients exists')
    t.contains(d.log(), 'auth', 'log file is written')
    t.eq(d.crashes(), [], 'no Fatal/Panic in the log')
    d.stop()
    t.ok(not d.running(), 'stopped by pid')

    # Module loading through the wrapper: a copy of a stock module stands in
    # for ours; the passwd-file passdb is built in, so load ldap's module copy
    # and check the host folder was not changed.
    before = sorted(os.listdir(STOCK_AUTH_MODULES))
    d2 = Dovecot(passdb='passdb {\n  driver = passwd-file\n  args = %(dir)s/passwd\n}',
                 modules=[os.path.join(STOCK_AUTH_MODULES, 'libauthdb_ldap.so')])
    with open(os.path.join(d2.dir, 'passwd'), 'w') as f:
        f.write('dave:{PLAIN}pw4\n')
    d2.start()
    im = imaplib.IMAP4('127.0.0.1', d2.port('imap'))
    t.eq(im.login('dave', 'pw4')[0], 'OK', 'IMAP LOGIN with auth running under the wrapper')
    im.logout()
    mounts = auth_mounts(d2.pid)
    t.ok(any(os.path.join(d2.dir, 'auth-modules') in m for m in mounts),
         'auth process sees the private module folder mounted', mounts)
    t.eq(sorted(os.listdir(STOCK_AUTH_MODULES)), before, 'host auth module folder untouched')
    with open('/proc/self/mountinfo') as f:
        t.ok('auth-modules' not in f.read(), 'host mount table untouched')
    t.eq(d2.crashes(), [], 'no Fatal/Panic under the wrapper')
    d2.stop()
