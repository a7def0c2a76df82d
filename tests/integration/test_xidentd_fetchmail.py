#!/usr/bin/python3
"""fetchmail (the Debian package) retrieves mail from xidentd over POP3:
USER/PASS with DOMAIN\\account and UPN names, a wrong password refused,
--nokeep removing what was fetched, and fetchmail's NTLM (`auth ntlm`): it
speaks NTLMv1 only, so xidentd refuses it by default and accepts it with
ntlm_v1 = yes; with plaintext_logons = tls it is refused without TLS and
fetches after STLS."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from xdserver import VMAIL_UID, Server, make_root, throwaway_cert, userpass

MESSAGE = (b'From: a@example.com\nTo: johnd@example.com\nSubject: fetch me %d\n'
           b'Message-ID: <fm%d@example.com>\n\nbody line\n.dotted line\n')


def drop_messages(root, home, count):
    md = os.path.join(root, 'vmail', home, 'Maildir')
    for sub in ('', 'tmp', 'new', 'cur'):
        os.makedirs(os.path.join(md, sub), 0o700, exist_ok=True)
        os.chown(os.path.join(md, sub), VMAIL_UID, VMAIL_UID)
    for i in range(count):
        p = os.path.join(md, 'new', '170000100%d.M1P1.fetch' % i)
        with open(p, 'wb') as f:
            f.write(MESSAGE % (i, i))
        os.chown(p, VMAIL_UID, VMAIL_UID)


def fetchmail(port, user, password, auth='password', keep=True, tls=False):
    """One fetchmail run; returns (exit code, what the MDA got, fetchmail's output)."""
    home = tempdir('xdfetch-')
    out = os.path.join(home, 'delivered')
    rc = os.path.join(home, 'fetchmailrc')
    quoted = lambda s: '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')
    with open(rc, 'w') as f:
        f.write('poll 127.0.0.1 service %d protocol pop3 auth %s timeout 20\n'
                '  user %s password %s\n' % (port, auth, quoted(user), quoted(password)))
    os.chmod(rc, 0o600)
    argv = ['fetchmail', '-f', rc, '--nodetach', '--nosyslog', '-v'] + (
        ['--sslproto', 'tls1.2+', '--nosslcertck'] if tls else ['--sslproto', '']) + [
            '--mda', 'cat >> ' + out, '--idfile', os.path.join(home, 'ids'),
            '--pidfile', os.path.join(home, 'pid'), '--keep' if keep else '--nokeep']
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=dict(os.environ, HOME=home, FETCHMAILHOME=home), timeout=90)
    got = open(out, 'rb').read() if os.path.exists(out) else b''
    return p.returncode, got, p.stdout


with Tap() as t:
    root = make_root()
    drop_messages(root, 'johnd', 2)
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        srv = Server(d, root, name='xidentd-fetchmail')
        code, got, out = fetchmail(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
        t.ok(code == 0 and b'Subject: fetch me 0' in got and b'Subject: fetch me 1' in got,
             'fetchmail USER/PASS as EXAMPLE\\jdoe retrieves both messages (exit %d)' % code,
             out[-1500:])
        t.ok(b'\n.dotted line' in got and b'\n..dotted' not in got,
             'dot-stuffing undone by fetchmail: the body arrives as stored')
        code, got, out = fetchmail(srv.port, 'jdoe@example.com', 'jdoe-pw')
        t.ok(code == 0 and got.count(b'Subject: fetch me') == 2,
             'fetchmail with the UPN jdoe@example.com (exit %d)' % code, out[-1500:])
        mark = len(srv.log())
        code, got, out = fetchmail(srv.port, 'EXAMPLE\\jdoe', 'wrong')
        t.ok(code == 3 and got == b'', 'a wrong password: fetchmail reports an authentication '
             'failure (exit %d = 3)' % code, out[-1500:])
        t.ok('event=13003' in srv.log()[mark:], 'the failed logon is logged as 13003')
        mark = len(srv.log())
        code, got, out = fetchmail(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', auth='ntlm')
        t.diag([ln for ln in srv.log()[mark:].splitlines() if 'event=13004' in ln][:1])
        t.ok('event=13004' in srv.log()[mark:] and 'v1' in srv.log()[mark:],
             'the NTLMv1 refusal is logged as 13004 naming NTLMv1')
        t.ok(code != 0 and got == b'', 'fetchmail auth ntlm (NTLMv1) refused while ntlm_v1 = no '
             '(exit %d)' % code, out[-1500:])
        srv.proc.stop()
        srv = Server(d, root, name='xidentd-fetchmail-v1', ntlm_v1='yes')
        code, got, out = fetchmail(srv.port, 'jdoe', 'jdoe-pw', auth='ntlm')
        t.ok(code == 0 and got.count(b'Subject: fetch me') == 2,
             'fetchmail auth ntlm with ntlm_v1 = yes (exit %d)' % code, out[-2500:])
        code, got, out = fetchmail(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', keep=False)
        t.ok(code == 0 and got.count(b'Subject: fetch me') == 2, '--nokeep fetches both', out[-1500:])
        r = userpass(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', ['STAT', 'QUIT'])
        t.ok(len(r) > 1 and r[1].startswith('+OK 0 '), 'after --nokeep the mailbox is empty', r)
        out = srv.log()
        t.ok('Sanitizer' not in out and 'runtime error' not in out, 'no sanitizer report', out[-2000:])
        srv.proc.stop()
        # clear text only over TLS: fetchmail takes STLS, then USER/PASS
        drop_messages(root, 'johnd', 1)
        cert, key = throwaway_cert()
        srv = Server(d, root, name='xidentd-fetchmail-tls', tls_cert_file=cert, tls_key_file=key,
                     plaintext_logons='tls')
        code, got, out = fetchmail(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
        t.ok(code != 0 and got == b'', 'plaintext_logons = tls: fetchmail without TLS is refused '
             '(exit %d)' % code, out[-1500:])
        code, got, out = fetchmail(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw', tls=True)
        t.ok(code == 0 and b'Subject: fetch me 0' in got and 'STLS' in out,
             'fetchmail --sslproto tls1.2+: STLS, then USER/PASS (exit %d)' % code, out[-2000:])
        srv.proc.stop()
