"""xidentd under test: a mail root with a home per sample mailbox, a server
process on a free loopback port, and small POP3 helpers.  Used by the
test_xidentd_*.py suites written after test_xidentd_pop3.py (which keeps
its own copies)."""
import os

from xitest import Proc, build_path, free_port, tempdir, wait_port, wait_until
from mailclients import LineConn

XIDENTD = os.environ.get('XD_XIDENTD') or build_path('standalone', 'xidentd')
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


def make_root():
    root = tempdir('xdroot-')
    os.chmod(root, 0o755)
    os.mkdir(os.path.join(root, 'vmail'), 0o755)
    for h in HOMES:
        p = os.path.join(root, 'vmail', h)
        os.mkdir(p, 0o700)
        os.chown(p, VMAIL_UID, VMAIL_UID)
    return root


class Server:
    def __init__(self, d, root, name='xidentd', conf=None, **keys):
        self.port = free_port()
        self.chroot = tempdir('xdchroot-')
        self.root = root
        os.chmod(self.chroot, 0o755)
        keys.setdefault('pop3_listen', '127.0.0.1:%d' % self.port)
        keys.setdefault('logon_failure_delay', 50)
        keys.setdefault('logon_failure_delay_max', 400)
        self.conf = d.write_config(path=conf, xidentd_chroot=self.chroot, mail_root=root, **keys)
        self.proc = Proc([XIDENTD, '-F', '-c', self.conf], name=name)
        wait_port(self.port, proc=self.proc)
        wait_until(lambda: self.children('xidentd-net'), timeout=20, what='network process')

    def rewrite(self, d, **keys):
        """Writes the config anew (same chroot and mail root) for a SIGHUP."""
        keys.setdefault('logon_failure_delay', 50)
        keys.setdefault('logon_failure_delay_max', 400)
        d.write_config(path=self.conf, xidentd_chroot=self.chroot, mail_root=self.root, **keys)

    def log(self):
        return self.proc.output()

    def children(self, comm):
        """pids of processes named comm in the server's session."""
        out = []
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % pid) as f:
                    st = f.read()
                with open('/proc/%s/comm' % pid) as f:
                    c = f.read().strip()
            except OSError:
                continue
            fields = st.rsplit(')', 1)[1].split()
            if int(fields[3]) == self.proc.pid and c == comm:  # session id
                out.append(int(pid))
        return out


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
