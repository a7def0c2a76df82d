"""A private xidentd for benchmarks and measurements: config written next to
a private slapd's, started in the foreground as root (it drops privileges
itself), stopped by pid, and its processes (master, network, auth, one mail
process per session) found by session id."""
import os
import re

import xitest

XIDENTD = os.environ.get('XD_XIDENTD') or xitest.build_path('standalone', 'xidentd')
# The process names the master gives its children (prctl PR_SET_NAME).
NETWORK, AUTH = 'xidentd-net', 'xidentd-auth'



def built():
    return os.access(XIDENTD, os.X_OK)


class Xidentd:
    """xidentd on free loopback ports, one per protocol in `protocols`
    (pop3, pop3s, imap, imaps: the config key is PROTOCOL_listen);
    `directory` is a slapd.Slapd; further keys go to the config as they
    are."""

    def __init__(self, directory, work, name, mail_root, protocols=('pop3',), **keys):
        self.name = name
        self.ports = {}
        for proto in protocols:
            self.ports[proto] = xitest.free_port()
            keys['%s_listen' % proto] = '127.0.0.1:%d' % self.ports[proto]
        chroot = os.path.join(work, 'xidentd-empty-%s' % name)
        os.makedirs(chroot, exist_ok=True)
        os.chmod(chroot, 0o755)
        self.conf = directory.write_config(
            path=os.path.join(work, 'xidentd-%s.conf' % name),
            xidentd_chroot=chroot, mail_root=mail_root, **keys)
        self.proc = xitest.Proc([XIDENTD, '-F', '-c', self.conf], name=name)
        for port in self.ports.values():
            xitest.wait_port(port, proc=self.proc)
        # The master listens before it forks: wait for the network and auth
        # processes, or the first connections queue behind their start.
        xitest.wait_until(lambda: self.children(NETWORK) and self.children(AUTH),
                          timeout=20, what='%s network and auth processes' % name)

    def port(self, proto):
        return self.ports[proto]

    def log(self):
        return self.proc.output()

    def log_tail(self, n=15):
        return self.proc.output_tail(n)

    def processes(self):
        """{pid: name} of every live process of this server (its session)."""
        return session_processes(self.proc.pid)

    def children(self, comm):
        return [p for p, c in self.processes().items() if c == comm]

    def stop(self):
        self.proc.stop()


def session_processes(sid):
    """{pid: comm} of every live process in session sid (a server started
    by xitest.Proc leads its own session, and its children stay in it)."""
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
        if int(st.rsplit(')', 1)[1].split()[3]) == sid:
            out[int(pid)] = comm
    return out


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
