#!/usr/bin/python3
"""Real NTLM clients against core/ntlm_server, through tests/ntlm-driver.

Clients: Samba's ntlm_auth (ntlmssp-client-1 helper, NTLMv2), python3-impacket
(NTLMv2) and gsasl/libntlm (NTLMv1: refused unless --allow-v1).  Right and
wrong passwords, with and without a domain, and `account\\alias` as the user.
The NT hash given to the server comes from impacket's own MD4, so the server's
hash code is not its own oracle.  Runs the driver of every build present
(build/ and the sanitizer build-san/).

XI_NTLM_SAVE_CORPUS=DIR writes each exchange as a fuzz seed (see
tests/fuzz/fuzz_ntlm.c for the format).
"""
import base64
import os
import select
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403

from impacket import ntlm  # noqa: E402

PASSWORD = 'Secret1'
NT_HASH = ntlm.compute_nthash(PASSWORD).hex()
TIMEOUT = 20.0
REFUSAL = 'The NTLM Authentication package has been disabled for this protocol.'
save_dir = os.environ.get('XI_NTLM_SAVE_CORPUS')
saved = [0]


def read_line(proc, what):
    """One line from proc's stdout, or an exception after TIMEOUT.  Reads the
    pipe's fd directly: a buffered readline could swallow the next line too,
    and select() would then wait for data already read."""
    fd = proc.stdout.fileno()
    buf = getattr(proc, 'xi_pending', b'')
    deadline = time.monotonic() + TIMEOUT
    while b'\n' not in buf:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise RuntimeError('timed out waiting for %s' % what)
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeError('%s: unexpected end of output' % what)
        buf += chunk
    line, _, rest = buf.partition(b'\n')
    proc.xi_pending = rest
    return line.decode('utf-8', 'replace')


class Driver:
    """One exchange with tests/ntlm-driver."""

    def __init__(self, binary, args=(), nt_hash=NT_HASH, env=None):
        self.proc = subprocess.Popen([binary] + list(args) + [nt_hash], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env)
        self.negotiate = None
        self.authenticate = None

    def challenge(self, negotiate_b64):
        self.negotiate = negotiate_b64
        self.proc.stdin.write(negotiate_b64 + '\n')
        self.proc.stdin.flush()
        line = read_line(self.proc, 'CHALLENGE')
        if not line.startswith('CHALLENGE '):
            raise RuntimeError('driver refused NEGOTIATE: ' + line)
        return line.split(' ', 1)[1]

    def finish(self, authenticate_b64):
        """Returns (result line, {USER,DOMAIN,WORKSTATION,REPLAY})."""
        self.authenticate = authenticate_b64
        try:
            out, err = self.proc.communicate(authenticate_b64 + '\n', timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        fields, result = {}, None
        for line in out.splitlines():
            key, _, value = line.partition(' ')
            if key in ('OK', 'FAIL'):
                result = line
            else:
                fields[key] = value
        # a sanitizer report (the build-san driver) lands on stderr and
        # changes the exit status: both make the check fail
        if err.strip():
            fields['STDERR'] = err
        if self.proc.returncode not in (0, 1):
            fields['EXIT'] = self.proc.returncode
        if save_dir and self.negotiate and authenticate_b64:
            neg = base64.b64decode(self.negotiate)
            auth = base64.b64decode(authenticate_b64)
            os.makedirs(save_dir, exist_ok=True)
            with open(os.path.join(save_dir, 'client-%02d' % saved[0]), 'wb') as f:
                f.write(b'\x07' + struct.pack('<H', len(neg)) + neg + auth)
            saved[0] += 1
        return result, fields


def nt_response_len(authenticate_b64):
    msg = base64.b64decode(authenticate_b64)
    return struct.unpack('<H', msg[20:22])[0]


# ------------------------------------------------------------------ clients

def ntlm_auth_exchange(driver, conf, user, domain, password):
    """Samba's helper: YR -> NEGOTIATE; TT challenge -> PW; PW -> OK; TT -> AF."""
    argv = ['ntlm_auth', '--helper-protocol=ntlmssp-client-1', '--username=' + user,
            '--configfile=' + conf, '--option=winbind separator=\\']
    if domain is not None:
        argv.append('--domain=' + domain)
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        def say(line, what):
            client.stdin.write(line + '\n')
            client.stdin.flush()
            return read_line(client, what).split(' ', 1)

        reply = say('YR', 'ntlm_auth NEGOTIATE')
        if reply[0] != 'YR':
            raise RuntimeError('ntlm_auth: %r' % reply)
        challenge = driver.challenge(reply[1])
        reply = say('TT ' + challenge, 'ntlm_auth after TT')
        if reply[0] == 'PW':
            reply = say('PW ' + base64.b64encode(password.encode()).decode(), 'ntlm_auth after PW')
            reply = say('TT ' + challenge, 'ntlm_auth AUTHENTICATE')
        if reply[0] not in ('AF', 'KK'):
            raise RuntimeError('ntlm_auth: %r' % reply)
        return reply[1]
    finally:
        client.stdin.close()
        client.kill()
        client.wait()


def impacket_exchange(driver, user, domain, password):
    t1 = ntlm.getNTLMSSPType1('WS1', '', signingRequired=False, use_ntlmv2=True)
    challenge = base64.b64decode(driver.challenge(base64.b64encode(t1.getData()).decode()))
    t3, _ = ntlm.getNTLMSSPType3(t1, challenge, user, password, domain, use_ntlmv2=True)
    return base64.b64encode(t3.getData()).decode()


def gsasl_exchange(driver, user, realm, password):
    """gsasl's NTLM is client-first: it prints NEGOTIATE at once, then reads the
    challenge (sending it a blank line first would be taken as the challenge)."""
    argv = ['gsasl', '--client', '--mechanism=NTLM', '--authentication-id=' + user,
            '--password=' + password, '--quiet']
    if realm is not None:
        argv.append('--realm=' + realm)
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        if realm is None:
            # it asks for the realm first (prompt without a newline, then
            # NEGOTIATE on the same line); an empty answer means none
            client.stdin.write('\n')
            client.stdin.flush()
        line = read_line(client, 'gsasl mechanism')
        if line.strip() == 'NTLM':
            line = read_line(client, 'gsasl NEGOTIATE')
        challenge = driver.challenge(line.split()[-1])
        client.stdin.write(challenge + '\n')
        client.stdin.flush()
        return read_line(client, 'gsasl AUTHENTICATE').strip()
    finally:
        client.kill()
        client.wait()


# -------------------------------------------------------------------- suite

def suite(t, binary, label, conf):
    def check(name, result, fields, want, user=None, domain=None):
        good = result is not None and result.startswith(want)
        good = good and 'STDERR' not in fields and 'EXIT' not in fields
        if user is not None:
            good = good and fields.get('USER') == user
        if domain is not None:
            good = good and fields.get('DOMAIN') == domain
        t.ok(good, '%s: %s' % (label, name), 'result: %r\nfields: %r' % (result, fields))

    # Samba ntlm_auth
    for user, domain, pw, want, wuser, wdomain, name in [
            ('alice', 'XIDENT', PASSWORD, 'OK', 'alice', 'XIDENT', 'ntlm_auth v2 right password'),
            ('alice', 'XIDENT', 'wrong', 'FAIL bad_response', 'alice', 'XIDENT', 'ntlm_auth v2 wrong password'),
            ('alice', '', PASSWORD, 'OK', 'alice', '', 'ntlm_auth v2 without domain'),
            ('alice', '', 'wrong', 'FAIL bad_response', 'alice', '', 'ntlm_auth v2 without domain, wrong password'),
            ('XIDENT\\alice\\sales', 'XIDENT', PASSWORD, 'OK', 'alice\\sales', 'XIDENT',
             'ntlm_auth v2 DOMAIN\\account\\alias'),
            ('XIDENT\\alice\\sales', 'XIDENT', 'wrong', 'FAIL bad_response', 'alice\\sales', 'XIDENT',
             'ntlm_auth v2 DOMAIN\\account\\alias wrong password')]:
        d = Driver(binary)
        auth = ntlm_auth_exchange(d, conf, user, domain, pw)
        result, fields = d.finish(auth)
        check(name, result, fields, want, wuser, wdomain)
        if want == 'OK':
            t.ok(nt_response_len(auth) > 24, '%s: %s sent NTLMv2' % (label, name))

    d = Driver(binary, ['--replay'])
    result, fields = d.finish(ntlm_auth_exchange(d, conf, 'alice', 'XIDENT', PASSWORD))
    t.ok(result and result.startswith('OK') and fields.get('REPLAY') == 'replayed',
         '%s: ntlm_auth AUTHENTICATE sent twice: second refused as replayed' % label, fields)
    d = Driver(binary, nt_hash='-')
    result, fields = d.finish(ntlm_auth_exchange(d, conf, 'nobody', 'XIDENT', PASSWORD))
    check('ntlm_auth unknown user (no NT hash)', result, fields, 'FAIL bad_response')
    d = Driver(binary, ['--window', '10'])
    result, fields = d.finish(ntlm_auth_exchange(d, conf, 'alice', 'XIDENT', PASSWORD))
    check('ntlm_auth with a 10 s window still verifies', result, fields, 'OK')

    # impacket
    for user, domain, pw, want, name in [
            ('alice', 'XIDENT', PASSWORD, 'OK', 'impacket v2 right password'),
            ('alice', 'XIDENT', 'wrong', 'FAIL bad_response', 'impacket v2 wrong password'),
            ('alice', '', PASSWORD, 'OK', 'impacket v2 without domain'),
            ('alice', '', 'wrong', 'FAIL bad_response', 'impacket v2 without domain, wrong password'),
            ('alice\\sales', 'XIDENT', PASSWORD, 'OK', 'impacket v2 account\\alias'),
            ('alice\\sales', 'XIDENT', 'wrong', 'FAIL bad_response', 'impacket v2 account\\alias wrong password'),
            ('J\u00f6rg', 'XIDENT', PASSWORD, 'OK', 'impacket v2 non-ASCII user J\u00f6rg')]:
        d = Driver(binary)
        auth = impacket_exchange(d, user, domain, pw)
        result, fields = d.finish(auth)
        check(name, result, fields, want, user, domain)
        if want == 'OK':
            t.ok(nt_response_len(auth) > 24, '%s: %s sent NTLMv2' % (label, name))

    # gsasl / libntlm: NTLMv1 only
    d = Driver(binary)
    result, fields = d.finish(gsasl_exchange(d, 'alice', 'XIDENT', PASSWORD))
    check('gsasl NTLMv1 refused by default', result, fields, 'FAIL v1_refused')
    for user, pw, want, wuser, name in [
            ('alice', PASSWORD, 'OK', 'alice', 'gsasl NTLMv1 right password with allow_v1'),
            ('alice', 'wrong', 'FAIL bad_response', 'alice', 'gsasl NTLMv1 wrong password with allow_v1'),
            ('alice\\sales', PASSWORD, 'OK', 'alice\\sales', 'gsasl NTLMv1 account\\alias with allow_v1'),
            ('alice\\sales', 'wrong', 'FAIL bad_response', 'alice\\sales',
             'gsasl NTLMv1 account\\alias wrong password')]:
        d = Driver(binary, ['--allow-v1'])
        auth = gsasl_exchange(d, user, 'XIDENT', pw)
        result, fields = d.finish(auth)
        check(name, result, fields, want, wuser, 'XIDENT')
        if want == 'OK':
            t.eq(nt_response_len(auth), 24, '%s: %s sent NTLMv1' % (label, name))

    d = Driver(binary, ['--allow-v1'])
    result, fields = d.finish(gsasl_exchange(d, 'alice', None, PASSWORD))
    check('gsasl NTLMv1 without a realm (libntlm sends the server\'s domain)', result, fields,
          'OK', 'alice', 'XIDENT')
    d = Driver(binary, ['--allow-v1'])
    result, fields = d.finish(gsasl_exchange(d, 'alice', None, 'wrong'))
    check('gsasl NTLMv1 without a realm, wrong password', result, fields, 'FAIL bad_response')

    # Without OpenSSL's legacy provider (no module folder to load it from):
    # NTLMv2 needs only the default provider; NTLMv1 (DES, MD4) cannot work.
    no_legacy = dict(os.environ, OPENSSL_MODULES=os.path.join(conf + '.no-such-folder'))
    d = Driver(binary, ['--allow-v1'], env=no_legacy)
    result, fields = d.finish(impacket_exchange(d, 'alice', 'XIDENT', PASSWORD))
    check('without the legacy provider NTLMv2 still verifies', result, fields, 'OK', 'alice')
    d = Driver(binary, ['--allow-v1'], env=no_legacy)
    result, fields = d.finish(gsasl_exchange(d, 'alice', 'XIDENT', PASSWORD))
    check('without the legacy provider NTLMv1 fails as internal (DES unavailable)', result, fields,
          'FAIL internal')

    # NTLM off for the protocol
    d = Driver(binary, ['--disabled'])
    try:
        d.challenge(base64.b64encode(ntlm.getNTLMSSPType1('WS1', '', use_ntlmv2=True).getData()).decode())
        t.ok(False, '%s: NTLM disabled for the protocol is refused' % label)
    except RuntimeError as e:
        t.contains(str(e), REFUSAL, '%s: NTLM disabled for the protocol is refused with Exchange\'s text' % label)
    d.proc.kill()
    d.proc.wait()


with Tap() as t:
    workdir = tempdir('xident-ntlm-')
    conf = os.path.join(workdir, 'smb.conf')
    with open(conf, 'w') as f:
        f.write('[global]\n')
    builds = [('build', os.environ.get('XI_BUILD') or build_path())]
    if os.environ.get('XI_SAN_BUILD'):
        builds.append(('build-san', os.environ['XI_SAN_BUILD']))
    for label, tree in builds:
        binary = os.path.join(tree, 'tests', 'ntlm-driver')
        if not os.access(binary, os.X_OK):
            t.ok(False, '%s: %s exists (make check builds it)' % (label, binary))
            continue
        t.run('%s: real NTLM clients' % label, suite, t, binary, label, conf)
