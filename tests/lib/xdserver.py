"""xidentd under test, for the test_xidentd_*.py suites and the benchmark
(tests/bench): a mail root with a home per sample mailbox, the server on
free loopback ports with its config next to a private slapd's (started in
the foreground as root; it drops privileges itself, stopped by pid), its
processes found by session id, and small POP3 and process helpers."""
import os
import re

from xitest import Proc, build_path, free_port, run, tempdir, wait_port, wait_until
from mailclients import LineConn

XIDENTD = os.environ.get('XD_XIDENTD') or build_path('standalone', 'xidentd')
# The process names the master gives its children (prctl PR_SET_NAME).
NETWORK, AUTH = 'xidentd-net', 'xidentd-auth'
VMAIL_UID = 5000
HOMES = ['johnd', 'asmith', 'bjones', 'bjones-projects', 'mike', 'michael', 'helpdesk',
         'olduser', 'rjames', 'wong-example', 'wong-branch', 'imaponly', 'ntlmonly', 'user',
         'mueller', 'frontdesk', 'reception', 'cwhite', 'jdoe-branch']
BAD = 'Logon failure: unknown user name or bad password.'
# name, password, mailbox: logons of distinct mailboxes (no two share a lock)
DISTINCT_LOGONS = [
    ('EXAMPLE\\jdoe', 'jdoe-pw', 'johnd'),
    ('EXAMPLE\\asmith', 'asmith-pw', 'asmith'),
    ('EXAMPLE\\bjones', 'bjones-pw', 'bjones'),
    ('EXAMPLE\\bjones\\bjones-projects', 'bjones-pw', 'bjones-projects'),
    ('EXAMPLE\\mmiller\\mike', 'mmiller-pw', 'mike'),
    ('EXAMPLE\\hdadmin\\helpdesk', 'hdadmin-pw', 'helpdesk'),
    ('EXAMPLE\\kwong', 'kwong-pw', 'wong'),
    ('reception', 'reception-pw', 'frontdesk'),
    ('BRANCH\\jdoe', 'branch-jdoe-pw', 'jdoe-branch'),
]
# Every server a suite started, for its closing check of the logs.
SERVERS = []
LISTEN_ORDER = ('pop3', 'imap', 'pop3s', 'imaps')


def built():
    return os.access(XIDENTD, os.X_OK)


def make_root(prefix='xdroot-', homes=HOMES):
    """A mail root with an empty home, owned by the mailboxes' uid, for each
    of homes."""
    root = tempdir(prefix)
    os.chmod(root, 0o755)
    os.mkdir(os.path.join(root, 'vmail'), 0o755)
    for h in homes:
        p = os.path.join(root, 'vmail', h)
        os.mkdir(p, 0o700)
        os.chown(p, VMAIL_UID, VMAIL_UID)
    return root


def drop_messages(root, home, messages):
    """Puts messages into home's Maildir/new, as any delivery agent does."""
    md = os.path.join(root, 'vmail', home, 'Maildir')
    for sub in ('', 'tmp', 'new', 'cur'):
        os.makedirs(os.path.join(md, sub), 0o700, exist_ok=True)
        os.chown(os.path.join(md, sub), VMAIL_UID, VMAIL_UID)
    for i, data in enumerate(messages):
        p = os.path.join(md, 'new', '170000000%d.M1P1.test' % i)
        with open(p, 'wb') as f:
            f.write(data)
        os.chown(p, VMAIL_UID, VMAIL_UID)


def throwaway_cert():
    """A self-signed certificate for localhost: (cert path, key path)."""
    d = tempdir('xdcert-')
    cert, key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
    run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
         '-days', '1', '-subj', '/CN=localhost'], check=True)
    return cert, key


class Server:
    """xidentd with its config written by d (a slapd.Slapd) for mail root
    root.  Each of protocols (pop3, imap, pop3s, imaps) listens on a free
    loopback port unless its PROTOCOL_listen key is given (None: not at
    all); further keys go to the config as they are.  port is the first
    listener's (protocols first), ports every one's.  work: a folder for
    the config and the chroot (default: fresh temporary ones).
    quick_failures: a short logon failure delay, so that refusals do not
    slow a suite down (the benchmark keeps the defaults).  wait_auth: also
    wait for the auth process (the benchmark's first logons would queue
    behind its start)."""

    def __init__(self, d, root, name='xidentd', conf=None, protocols=('pop3',), work=None,
                 quick_failures=True, wait_auth=False, **keys):
        self.name = name
        self.root = root
        self.quick_failures = quick_failures
        for proto in protocols:
            keys.setdefault('%s_listen' % proto, '127.0.0.1:%d' % free_port())
        for k in [k for k, v in keys.items() if k.endswith('_listen') and v is None]:
            del keys[k]
        self.ports = {}
        for proto in tuple(protocols) + LISTEN_ORDER:
            spec = keys.get('%s_listen' % proto)
            if proto not in self.ports and isinstance(spec, str) and ':' in spec:
                self.ports[proto] = int(spec.rsplit(':', 1)[1])
        self.port = next(iter(self.ports.values()), None)
        if work is not None:
            self.chroot = os.path.join(work, 'xidentd-empty-%s' % name)
            os.makedirs(self.chroot, exist_ok=True)
            conf = conf or os.path.join(work, 'xidentd-%s.conf' % name)
        else:
            self.chroot = tempdir('xdchroot-')
        os.chmod(self.chroot, 0o755)
        self.conf = self._write(d, conf, keys)
        self.proc = Proc([XIDENTD, '-F', '-c', self.conf], name=name)
        SERVERS.append(self)
        for port in self.ports.values():
            wait_port(port, proc=self.proc)
        # The master listens before it forks: wait for the network process
        # (and the auth process), or the first connections queue behind
        # their start.
        wait_until(lambda: self.children(NETWORK) and (not wait_auth or self.children(AUTH)),
                   timeout=20, what='%s network process' % name)

    def _write(self, d, path, keys):
        if self.quick_failures:
            keys.setdefault('logon_failure_delay', 50)
            keys.setdefault('logon_failure_delay_max', 400)
        return d.write_config(path=path, xidentd_chroot=self.chroot, mail_root=self.root, **keys)

    def rewrite(self, d, **keys):
        """Writes the config anew (same chroot and mail root) for a SIGHUP."""
        self._write(d, self.conf, keys)

    def maildir(self, home='asmith'):
        return os.path.join(self.root, 'vmail', home, 'Maildir')

    def log(self):
        return self.proc.output()

    def log_tail(self, n=15):
        return self.proc.output_tail(n)

    def processes(self):
        """{pid: name} of every live process of this server (its session)."""
        return session_processes(self.proc.pid)

    def children(self, comm):
        """pids of processes named comm in the server's session."""
        return [p for p, c in self.processes().items() if c == comm]

    def stop(self):
        self.proc.stop()


def for_bench(directory, work, name, mail_root, protocols=('pop3',), **keys):
    """The benchmark's server: config and chroot in work, the default
    logon failure delay, started once its auth process runs."""
    return Server(directory, mail_root, name=name, protocols=protocols, work=work,
                  quick_failures=False, wait_auth=True, **keys)


def check_logs(t):
    """The closing check of a suite: no sanitizer report or crash in the
    log of any server it started."""
    for s in SERVERS:
        out = s.log()
        t.ok('runtime error' not in out and 'Sanitizer' not in out and 'Segmentation' not in out,
             '%s: no sanitizer report or crash in its log' % s.proc.name,
             out[out.find('==ERROR'):][:6000] if '==ERROR' in out else out[-3000:])


def process_table():
    """{pid: (comm, parent pid, session id)} of every live process."""
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                st = f.read()
            with open('/proc/%s/comm' % pid) as f:
                comm = f.read().strip()
        except OSError:
            continue
        fields = st.rsplit(')', 1)[1].split()  # after the name: state, ppid, pgrp, session
        out[int(pid)] = (comm, int(fields[1]), int(fields[3]))
    return out


def session_processes(sid):
    """{pid: comm} of every live process in session sid (a server started
    by xitest.Proc leads its own session, and its children stay in it)."""
    return {pid: comm for pid, (comm, _, s) in process_table().items() if s == sid}


def smaps_rollup(pid):
    """(Pss, Pss_Anon, Rss) of a process in KiB, or None when it is gone."""
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            text = f.read()
    except OSError:
        return None

    def field(name):
        m = re.search(r'^%s:\s+(\d+) kB' % name, text, re.M)
        return int(m.group(1)) if m else 0
    return field('Pss'), field('Pss_Anon'), field('Rss')


def memory_holds(pid, needle):
    """Whether needle is in any readable writable mapping of pid (heap,
    stacks, anonymous maps: where a secret could linger).  Read in chunks;
    a sanitizer's shadow memory (reserved, terabytes) is passed over."""
    chunk = 16 << 20
    with open('/proc/%d/maps' % pid) as f:
        maps = f.read().splitlines()
    with open('/proc/%d/mem' % pid, 'rb', 0) as mem:
        for ln in maps:
            addr, perms = ln.split()[:2]
            if not perms.startswith('rw'):
                continue
            lo, hi = (int(x, 16) for x in addr.split('-'))
            if hi - lo > (4 << 30):
                continue
            for at in range(lo, hi, chunk):  # chunks overlap by the needle
                try:
                    mem.seek(at)
                    if needle in mem.read(min(chunk + len(needle), hi - at)):
                        return True
                except (OSError, OverflowError, ValueError):
                    break
    return False


def hangup(c):
    """Closes a LineConn for real (its makefile holds the socket open)."""
    try:
        c.f.close()
    except OSError:
        pass
    c.close()


def userpass(port, user, password, then=(), timeout=None):
    """USER/PASS, then commands; returns the list of lines after PASS."""
    c = LineConn(port)
    if timeout is not None:
        c.s.settimeout(timeout)
    try:
        c.readline()
        c.send('USER ' + user)
        r = c.readline()
        if not r.startswith('+OK'):
            return [r]
        c.send('PASS ' + password)
        lines = [c.readline()]
        for cmd in then:
            if not lines[0].startswith('+OK'):
                break
            c.send(cmd)
            lines.append(c.readline())
        return lines
    except (OSError, EOFError) as e:
        return c.transcript + [repr(e)]
    finally:
        hangup(c)


def multiline(c):
    lines = []
    while True:
        ln = c.readline()
        if ln == '.':
            return lines
        lines.append(ln)
