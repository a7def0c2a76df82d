#!/usr/bin/python3
"""mail_process_sessions: a mail process serves several sessions one after
another (as Dovecot's service_count), only of mailboxes with its own uid
and gid, and exits after the configured number.  The master's session
counts stay exact: max_user_sessions frees a slot when a session ends in a
process that lives on, and when a reused process is killed mid-session."""
import ctypes
import imaplib
import os
import re
import signal
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn
from xdserver import VMAIL_UID, Server, hangup, make_root

OTHER_UID = VMAIL_UID + 1


def proc_ids(pid):
    """(uid, gid) a process runs as (real ids)."""
    with open('/proc/%d/status' % pid) as f:
        st = dict(l.split(':', 1) for l in f.read().splitlines() if ':' in l)
    return int(st['Uid'].split()[0]), int(st['Gid'].split()[0])


# recvmsg's system call number: a reused mail process waits in it for its
# next session (it waits in poll or read while it serves one).
RECVMSG = {'x86_64': 47, 'aarch64': 212}.get(os.uname().machine)


def waiting_for_work(pid):
    """Whether mail process pid has reported its session's end and waits
    for another (/proc/PID/syscall: blocked in recvmsg)."""
    try:
        with open('/proc/%d/syscall' % pid) as f:
            return RECVMSG is not None and f.read().split()[0] == str(RECVMSG)
    except (OSError, IndexError):
        return False


def idle_after(s, pids):
    """Waits until every live mail process in pids waits for work, so that
    the next logon finds them idle (the end of a session reaches the
    spawner after the client has its last answer)."""
    wait_until(lambda: all(waiting_for_work(p) for p in pids if p in s.children('xidentd-mail')),
               timeout=20, what='mail processes idle')


class Pop3:
    """A POP3 session held open: logged on, then QUIT at close()."""

    def __init__(self, port, name, pw):
        self.c = LineConn(port)
        self.c.s.settimeout(15)
        self.c.readline()
        self.c.send('USER ' + name)
        self.c.readline()
        self.c.send('PASS ' + pw)
        self.reply = self.c.readline()

    def close(self):
        if self.reply.startswith('+OK'):
            self.c.send('QUIT')
            self.c.readline()
        hangup(self.c)


def msg_type(name):
    """A message type's number, counted in standalone/privsep.h's enum."""
    with open(os.path.join(SRC, 'standalone', 'privsep.h')) as f:
        body = f.read().split('enum xi_msg_type {', 1)[1].split('};', 1)[0]
    names = re.findall(r'^\s*(XI_MSG_\w+)', body, re.M)
    first = int(re.search(r'XI_MSG_\w+\s*=\s*(\d+)', body).group(1))
    return first + names.index(name)


def seqpacket_fds(pid):
    """pid's descriptors that are AF_UNIX SOCK_SEQPACKET sockets (the mail
    process's socket to the spawner)."""
    types = {}
    with open('/proc/net/unix') as f:
        for row in f.read().splitlines()[1:]:
            col = row.split()
            types[col[6]] = col[4]
    out = []
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if target.startswith('socket:[') and types.get(target[8:-1]) == '0005':
            out.append(int(fd))
    return out


def steal_fd(pid, fd):
    """A copy of pid's descriptor fd (pidfd_getfd(2), as root)."""
    nr = {'x86_64': 438, 'aarch64': 438}[os.uname().machine]
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(nr, pidfd, fd, 0)
        if got < 0:
            raise OSError(ctypes.get_errno(), 'pidfd_getfd')
        return got
    finally:
        os.close(pidfd)


def imap_open(port, name, pw):
    c = imaplib.IMAP4('127.0.0.1', port, timeout=15)
    try:
        c.login(name, pw)
    except imaplib.IMAP4.error as e:
        c.shutdown()
        return None, str(e)
    return c, 'OK'


with Tap() as t:
    root = make_root()
    os.chown(os.path.join(root, 'vmail', 'asmith'), OTHER_UID, OTHER_UID)
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        r = d.modify('dn: uid=asmith,ou=EXAMPLE,ou=accounts,dc=example,dc=com\nchangetype: modify\n'
                     'replace: xidentMailUid\nxidentMailUid: %d\n-\n'
                     'replace: xidentMailGid\nxidentMailGid: %d\n' % (OTHER_UID, OTHER_UID))
        t.ok(r.returncode == 0, 'asmith\'s mailbox gets uid/gid %d' % OTHER_UID, r.stderr)
        iport = free_port()
        s = Server(d, root, imap_listen='127.0.0.1:%d' % iport, mail_process_sessions=3,
                   max_user_sessions=2)

        # Sequential sessions of one uid: one process for three, then a new one.
        pids = []
        for i in range(4):
            p = Pop3(s.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
            t.ok(p.reply.startswith('+OK'), 'POP3 session %d logs on' % (i + 1), p.reply)
            pids.append(set(s.children('xidentd-mail')))
            p.close()
            idle_after(s, pids[-1])
        busy = [x for x in pids if len(x) == 1]
        t.ok(len(busy) == 4 and pids[0] == pids[1] == pids[2] and pids[3] != pids[0],
             'sessions 1-3 in one mail process, session 4 in a new one (mail_process_sessions = 3)',
             repr(pids))
        first = next(iter(pids[3]))
        t.eq(proc_ids(first), (VMAIL_UID, VMAIL_UID), 'the reused process runs as the mailbox uid/gid')

        # Another uid/gid never gets the idle process: a process of its own.
        p = Pop3(s.port, 'EXAMPLE\\asmith', 'asmith-pw')
        t.ok(p.reply.startswith('+OK'), 'asmith (uid %d) logs on' % OTHER_UID, p.reply + s.log()[-1500:])
        mine = [x for x in s.children('xidentd-mail') if x != first]
        t.ok(len(mine) == 1 and proc_ids(mine[0]) == (OTHER_UID, OTHER_UID),
             'asmith is served by a process of uid %d, not the idle one of uid %d' % (OTHER_UID, VMAIL_UID),
             repr([(x, proc_ids(x)) for x in s.children('xidentd-mail')]))
        p.close()
        idle_after(s, [first])
        p = Pop3(s.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
        t.ok(p.reply.startswith('+OK') and first in s.children('xidentd-mail'),
             'jdoe again: the idle process of its uid takes the session', p.reply)
        p.close()

        # max_user_sessions = 2 with reused processes: the slot is freed
        # when a session ends in a process that lives on.
        a, why = imap_open(iport, 'EXAMPLE\\bjones', 'bjones-pw')
        b, why2 = imap_open(iport, 'EXAMPLE\\bjones', 'bjones-pw')
        t.ok(a is not None and b is not None, 'two IMAP sessions of bjones', why + why2)
        c, why = imap_open(iport, 'EXAMPLE\\bjones', 'bjones-pw')
        t.ok(c is None and 'max_user_sessions' in why, 'a third is refused (max_user_sessions = 2)', why)
        a.logout()
        c = None
        for _ in range(50):  # the slot frees when the spawner reports the end
            c, why = imap_open(iport, 'EXAMPLE\\bjones', 'bjones-pw')
            if c is not None:
                break
        t.ok(c is not None, 'after one LOGOUT a new session is accepted (count follows reuse)', why)
        # kill -9 of the processes in bjones's sessions (one of them was
        # handed its session after serving another): both slots free.
        for x in s.children('xidentd-mail'):
            if x != first:
                os.kill(x, signal.SIGKILL)
        for x in (b, c):
            try:
                x.noop()
            except (imaplib.IMAP4.abort, OSError, AttributeError):
                pass
        got = []
        for _ in range(50):
            x, why = imap_open(iport, 'EXAMPLE\\bjones', 'bjones-pw')
            if x is not None:
                got.append(x)
                if len(got) == 2:
                    break
        t.ok(len(got) == 2, 'after its mail processes are killed, bjones opens two sessions again', why)
        for x in got:
            try:
                x.logout()
            except (imaplib.IMAP4.abort, OSError):
                pass
        t.ok(s.proc.p.poll() is None and 'killed by signal' in s.log(),
             'xidentd runs on and logged the killed process', s.log()[-1500:])

        # A compromised reused mail process reports its session ended (an
        # XI_MSG_ENDED on its own socket to the spawner, forged here with
        # a copy of that socket) while it goes on serving the client: the
        # spawner shuts the client connection down, so the master's count
        # (max_user_sessions) stays true.  Without that, the client below
        # would still be served after the session was counted as ended.
        for x in s.children('xidentd-mail'):
            os.kill(x, signal.SIGKILL)
        wait_until(lambda: not s.children('xidentd-mail'), timeout=20, what='no mail process left')
        p = Pop3(s.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
        t.ok(p.reply.startswith('+OK'), 'jdoe logs on (a reusable mail process)', p.reply)
        liar = s.children('xidentd-mail')
        socks = seqpacket_fds(liar[0]) if len(liar) == 1 else []
        t.ok(len(socks) == 1, 'its mail process has one socket to the spawner', repr((liar, socks)))
        if len(socks) == 1:
            forged = steal_fd(liar[0], socks[0])
            os.write(forged, struct.pack('=II', msg_type('XI_MSG_ENDED'), 0))
            os.close(forged)
            p.c.send('STAT')
            try:
                answer = p.c.readline()
            except (OSError, EOFError) as e:
                answer = repr(e)
            t.ok(not answer.startswith('+OK'),
                 'after it says its session ended, its client is no longer served', answer)
            wait_until(lambda: liar[0] not in s.children('xidentd-mail'), timeout=20,
                       what='the lying process gone')
            t.ok(True, 'the lying process is gone (its real end came out of turn: killed)')
        hangup(p.c)
        s.proc.stop()
        t.ok('Sanitizer' not in s.log() and 'runtime error' not in s.log(),
             'no sanitizer report in the server log', s.log()[-3000:])
