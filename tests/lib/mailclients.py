"""Real mail clients for integration suites: raw IMAP/POP3 SASL exchanges
whose exact server lines the tests assert, and three independent NTLM client
implementations to drive them (impacket, Samba's ntlm_auth, curl).

A SASL driver is a function bytes -> bytes | RawLine: given the decoded
server challenge (b'' for the empty first prompt) it returns the client's
next message, which is base64-encoded on the wire; a RawLine is sent as is
(for malformed base64 and cancellation tests).
"""
import base64
import os
import socket
import subprocess

TIMEOUT = 20


class RawLine(str):
    """A client line sent without base64 encoding."""


# What the helpers return when the server closed the connection instead of
# answering (e.g. a line longer than the login process accepts).
DISCONNECTED = '* DISCONNECTED'
_GONE = (EOFError, ConnectionResetError, BrokenPipeError)


class LineConn:
    def __init__(self, port, host='127.0.0.1'):
        self.s = socket.create_connection((host, port), timeout=TIMEOUT)
        self.f = self.s.makefile('rb')
        self.transcript = []

    def readline(self):
        line = self.f.readline(65536)
        if not line:
            raise EOFError('server closed the connection')
        text = line.decode('utf-8', 'replace').rstrip('\r\n')
        self.transcript.append('S: ' + text)
        return text

    def send(self, text):
        data = text.encode('utf-8', 'surrogateescape') if isinstance(text, str) else text
        self.transcript.append('C: ' + (data[:200].decode('latin-1')))
        self.s.sendall(data + b'\r\n')

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def _respond(conn, driver, challenge_b64):
    try:
        challenge = base64.b64decode(challenge_b64) if challenge_b64 else b''
    except Exception:  # noqa: BLE001 - hand the raw text to the driver
        challenge = challenge_b64.encode()
    resp = driver(challenge)
    if isinstance(resp, RawLine):
        conn.send(str(resp))
    else:
        conn.send(base64.b64encode(resp).decode())


def imap_authenticate(port, mech, driver, tag='a1'):
    """AUTHENTICATE mech driven by driver; returns (tagged line, transcript)."""
    c = LineConn(port)
    try:
        c.readline()
        c.send('%s AUTHENTICATE %s' % (tag, mech))
        while True:
            line = c.readline()
            if line.startswith('+'):
                _respond(c, driver, line[2:].strip())
            elif line.startswith(tag + ' '):
                return line, c.transcript
    finally:
        c.close()


def imap_login(port, user, password, tag='a1'):
    """LOGIN with quoted strings; returns (tagged line, transcript)."""
    def q(s):
        return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')
    c = LineConn(port)
    try:
        c.readline()
        c.send('%s LOGIN %s %s' % (tag, q(user), q(password)))
        while True:
            line = c.readline()
            if line.startswith(tag + ' '):
                return line, c.transcript
    except _GONE:
        return DISCONNECTED, c.transcript
    finally:
        c.close()


def pop3_auth(port, mech, driver):
    """AUTH mech driven by driver; returns (final +OK/-ERR line, transcript)."""
    c = LineConn(port)
    try:
        c.readline()
        c.send('AUTH %s' % mech)
        while True:
            line = c.readline()
            if line.startswith('+OK') or line.startswith('-ERR'):
                return line, c.transcript
            if line.startswith('+'):
                _respond(c, driver, line[1:].strip())
    finally:
        c.close()


def pop3_userpass(port, user, password):
    """USER/PASS; returns (final line, transcript)."""
    c = LineConn(port)
    try:
        c.readline()
        c.send('USER ' + user)
        line = c.readline()
        if not line.startswith('+OK'):
            return line, c.transcript
        c.send('PASS ' + password)
        return c.readline(), c.transcript
    except _GONE:
        return DISCONNECTED, c.transcript
    finally:
        c.close()


# ---------------------------------------------------------------- NTLM clients

def impacket_ntlm(user, password, domain):
    """NTLMv2 through python3-impacket (Debian's /usr/bin/python3 only)."""
    from impacket import ntlm
    state = {}

    def driver(challenge):
        if 'type1' not in state:
            state['type1'] = ntlm.getNTLMSSPType1('', '', signingRequired=False, use_ntlmv2=True)
            return state['type1'].getData()
        type3, _key = ntlm.getNTLMSSPType3(state['type1'], challenge, user, password, domain,
                                           use_ntlmv2=True)
        return type3.getData()
    return driver


class NtlmAuthClient:
    """Samba's `ntlm_auth --helper-protocol=ntlmssp-client-1` (NTLMv2).  It
    asks for the password only after the challenge."""

    def __init__(self, user, password, domain):
        self.password = password
        self.p = subprocess.Popen(
            ['ntlm_auth', '--helper-protocol=ntlmssp-client-1', '--username=' + user,
             '--domain=' + domain, '--option=winbind separator=\\'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)

    def _ask(self, line):
        self.p.stdin.write(line + '\n')
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def __call__(self, challenge):
        if challenge == b'':
            reply = self._ask('YR')
        else:
            reply = self._ask('TT ' + base64.b64encode(challenge).decode())
            if reply == 'PW':
                reply = self._ask('PW ' + base64.b64encode(self.password.encode()).decode())
                if reply.startswith('OK'):
                    reply = self._ask('TT ' + base64.b64encode(challenge).decode())
        code, _, blob = reply.partition(' ')
        if code not in ('YR', 'KK', 'AF') or not blob:
            raise RuntimeError('ntlm_auth answered %r' % reply)
        return base64.b64decode(blob)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait(timeout=10)


class GsaslNTLM:
    """gsasl (libntlm): NTLMv1 with a real LM response beside it.  Client-first:
    it prints NEGOTIATE at once, then reads the challenge."""

    def __init__(self, user, password, realm):
        self.p = subprocess.Popen(
            ['gsasl', '--client', '--mechanism=NTLM', '--authentication-id=' + user,
             '--password=' + password, '--realm=' + realm, '--quiet'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)

    def _line(self):
        line = self.p.stdout.readline().strip()
        if not line:
            raise RuntimeError('gsasl printed nothing')
        return line

    def __call__(self, challenge):
        if challenge == b'':
            line = self._line()
            if line == 'NTLM':
                line = self._line()
            return base64.b64decode(line.split()[-1])
        self.p.stdin.write(base64.b64encode(challenge).decode() + '\n')
        self.p.stdin.flush()
        return base64.b64decode(self._line())

    def close(self):
        self.p.kill()
        self.p.wait()


def curl_ntlm(url, user, password, extra=()):
    """curl with --login-options AUTH=NTLM (NTLMv2); user may be DOM\\name.
    Returns the CompletedProcess (exit 0 = logged on, 67 = refused)."""
    return subprocess.run(['curl', '-sS', '-v', '--max-time', str(TIMEOUT),
                           '--login-options', 'AUTH=NTLM', '-u', '%s:%s' % (user, password)]
                          + list(extra) + [url],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors='replace', timeout=TIMEOUT + 10)


def nt_hash_hex(password):
    """The NT hash (MD4 of UTF-16LE) as passwd-file's {NTLM} wants it."""
    from impacket import ntlm
    return ntlm.compute_nthash(password).hex()


def truncate(blob, n):
    return blob[:n]


def b64(data):
    return base64.b64encode(data).decode()


def have_impacket():
    try:
        import impacket  # noqa: F401
        return True
    except ImportError:
        return False


def env_with(**kw):
    e = dict(os.environ)
    e.update(kw)
    return e
