#!/usr/bin/python3
"""xidentd's Maildir storage and the real Dovecot 2.3 on the same Maildir.

Dovecot is its own imap binary run preauthenticated over a pipe
(`/usr/lib/dovecot/imap -c CONF` with USER and HOME set: no daemon, no
passdb), as the `mail` user (Dovecot refuses uid 0 for mail); our side is
build/tests/maildir-driver run as the same user.

- Dovecot -> xidentd: messages APPENDed with flags, keywords STOREd, one
  expunged, a subfolder: the driver sees the same UIDVALIDITY, UIDNEXT, UIDs,
  flags, keywords and RFC822.SIZE (our vsize).
- xidentd -> Dovecot: deliveries, flag and keyword changes and an expunge by
  the driver, and a Maildir made by the driver alone: Dovecot FETCHes the
  same UIDs, flags, keywords and sizes, and logs no error.
- Folders renamed and deleted on one side are so on the other.
- POP3 session lock (Dovecot's pop3_lock_session file): a Dovecot POP3
  session keeps xidentd's out, and xidentd's keeps Dovecot's out ([IN-USE]).
- Both at once: parallel deliveries by several drivers and Dovecot APPENDs
  under the dovecot-uidlist.lock protocol give every message one UID, the
  same on both sides.
"""
import imaplib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403

DOVECOT_IMAP = '/usr/lib/dovecot/imap'
DOVECOT_POP3 = '/usr/lib/dovecot/pop3'
MAIL_UID = 8  # the Debian `mail` user, as tests/lib/dovecot.py uses
DRIVER = build_path('tests', 'maildir-driver')
SYSTEM_FLAGS = ('\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft')


def as_mail(argv):
    return ['setpriv', '--reuid=%d' % MAIL_UID, '--regid=%d' % MAIL_UID, '--clear-groups'] + argv


class Site:
    def __init__(self, base, user):
        self.base = base
        self.home = os.path.join(base, user)
        self.root = os.path.join(self.home, 'Maildir')
        self.conf = os.path.join(base, 'dovecot-%s.conf' % user)
        self.log = os.path.join(base, 'dovecot-%s.log' % user)
        self.user = user
        os.makedirs(self.home)
        os.chown(self.home, MAIL_UID, MAIL_UID)
        with open(self.conf, 'w') as f:
            f.write('mail_location = maildir:~/Maildir\n'
                    'ssl = no\n'
                    'base_dir = %s/run\n'
                    'first_valid_uid = 1\n'
                    'mail_uid = %d\nmail_gid = %d\n'
                    'protocols = imap pop3\n'
                    'pop3_lock_session = yes\n' % (base, MAIL_UID, MAIL_UID))

    def imap(self):
        cmd = ' '.join(shlex.quote(a) for a in as_mail(
            ['env', '-i', 'USER=' + self.user, 'HOME=' + self.home, DOVECOT_IMAP, '-c', self.conf]))
        return imaplib.IMAP4_stream('exec %s 2>>%s' % (cmd, shlex.quote(self.log)))

    def pop3(self):
        """Dovecot's pop3 binary, preauthenticated over pipes."""
        return subprocess.Popen(as_mail(['env', '-i', 'USER=' + self.user, 'HOME=' + self.home,
                                         DOVECOT_POP3, '-c', self.conf]),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(self.log, 'a'))

    def driver_rc(self, *args):
        p = subprocess.run(as_mail([DRIVER] + list(args)), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stderr.decode()

    def driver(self, *args, input=None):
        p = subprocess.run(as_mail([DRIVER] + list(args)), input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            raise RuntimeError('maildir-driver %s: %s' % (' '.join(args), p.stderr.decode()))
        return p.stdout.decode()

    def dump(self, folder='INBOX'):
        return json.loads(self.driver('dump', self.root, folder))

    def dovecot_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ''


def fetch_all(m, folder):
    """Dovecot's view: (uidvalidity, uidnext, {uid: (flags, keywords, size)})."""
    typ, data = m.status(folder, '(UIDVALIDITY UIDNEXT)')
    st = data[0].decode()
    validity = int(re.search(r'UIDVALIDITY (\d+)', st).group(1))
    uidnext = int(re.search(r'UIDNEXT (\d+)', st).group(1))
    m.select(folder)
    typ, data = m.uid('FETCH', '1:*', '(UID FLAGS RFC822.SIZE INTERNALDATE)')
    msgs = {}
    for item in data:
        if item is None:
            continue
        line = item.decode() if isinstance(item, bytes) else item[0].decode()
        mm = re.search(r'UID (\d+)', line)
        if not mm:
            continue
        flags = re.search(r'FLAGS \(([^)]*)\)', line).group(1).split()
        size = int(re.search(r'RFC822\.SIZE (\d+)', line).group(1))
        received = int(time.mktime(imaplib.Internaldate2tuple(line.encode())))
        sysf = sorted(f for f in flags if f in SYSTEM_FLAGS)
        kw = sorted(f for f in flags if not f.startswith('\\'))
        msgs[int(mm.group(1))] = (sysf, kw, size, received)
    m.close()
    return validity, uidnext, msgs


def ours(dump):
    return {m['uid']: (sorted(m['flags']), sorted(m['keywords']), m['vsize'], m['received'])
            for m in dump['messages']}


def message(i):
    return ('From: a@example.com\r\nSubject: message %d\r\n\r\nbody %d\r\n' % (i, i)).encode()


def dovecot_to_xidentd(t, site):
    m = site.imap()
    m.append('INBOX', '(\\Seen)', None, message(1))
    m.append('INBOX', '(\\Flagged \\Answered)', None, message(2))
    m.append('INBOX', None, None, message(3))
    m.append('INBOX', '(\\Draft)', imaplib.Time2Internaldate(1600000000), message(4))
    m.select('INBOX')
    m.uid('STORE', '2', '+FLAGS', '($Junk Project)')
    m.uid('STORE', '4', '+FLAGS', '(Project \\Seen)')
    m.uid('STORE', '1', '+FLAGS', '(\\Deleted)')
    m.expunge()
    m.close()
    m.create('Work.Sub')
    m.append('Work.Sub', '(\\Seen $Label1)', None, message(5))
    d_validity, d_next, d_msgs = fetch_all(m, 'INBOX')
    s_validity, s_next, s_msgs = fetch_all(m, 'Work.Sub')
    m.logout()
    t.eq(sorted(d_msgs), [2, 3, 4], 'Dovecot: UIDs 2, 3, 4 after expunging 1')

    dump = site.dump()
    t.eq(dump['uidvalidity'], d_validity, 'Dovecot -> xidentd: same UIDVALIDITY')
    t.eq(dump['uidnext'], d_next, 'Dovecot -> xidentd: same UIDNEXT')
    t.eq(ours(dump), d_msgs, 'Dovecot -> xidentd: same UIDs, flags, keywords, sizes, dates in INBOX')
    t.eq(ours(dump).get(4, [0] * 4)[3], 1600000000, 'APPEND\'s date is our received date')
    t.ok('Work.Sub' in site.driver('list', site.root).split('\n'), 'Dovecot folder Work.Sub listed')
    sub = site.dump('Work.Sub')
    t.eq((sub['uidvalidity'], sub['uidnext'], ours(sub)), (s_validity, s_next, s_msgs),
         'Dovecot -> xidentd: the subfolder too')


def xidentd_to_dovecot(t, site):
    before = site.dump()
    uid_a = int(site.driver('deliver', site.root, 'INBOX', '--received=1500000000', input=message(10)))
    uid_b = int(site.driver('deliver', site.root, 'INBOX', '\\Seen', input=b'Subject: lf only\n\nx\n'))
    t.ok(uid_a == before['uidnext'] and uid_b == uid_a + 1,
         'xidentd delivery continues Dovecot\'s UIDs (%d, %d)' % (uid_a, uid_b))
    site.driver('flags', site.root, 'INBOX', '2', '=', '\\Answered', '$Label1', 'Project')
    site.driver('flags', site.root, 'INBOX', '3', '+', '\\Flagged', 'NewKeyword')
    site.driver('flags', site.root, 'INBOX', str(uid_a), '+', '\\Seen', '$Junk')
    site.driver('expunge', site.root, 'INBOX', '4')
    site.driver('mkdir', site.root, 'Archive.2026')
    uid_c = int(site.driver('deliver', site.root, 'Archive.2026', '\\Seen', '\\Flagged', input=message(11)))
    dump = site.dump()
    archive = site.dump('Archive.2026')

    m = site.imap()
    d_validity, d_next, d_msgs = fetch_all(m, 'INBOX')
    typ, data = m.list()
    folders = b' '.join(d for d in data if d)
    a_validity, a_next, a_msgs = fetch_all(m, 'Archive.2026')
    m.logout()
    t.eq(d_validity, dump['uidvalidity'], 'xidentd -> Dovecot: same UIDVALIDITY')
    t.eq(d_next, dump['uidnext'], 'xidentd -> Dovecot: same UIDNEXT')
    t.eq(d_msgs, ours(dump), 'xidentd -> Dovecot: same UIDs, flags, keywords, sizes, dates in INBOX')
    t.eq(d_msgs.get(uid_a, [0] * 4)[3], 1500000000, 'our received date is Dovecot\'s INTERNALDATE')
    t.ok(d_msgs.get(2, ([], [], 0, 0))[:2] == (['\\Answered'], ['$Label1', 'Project']),
         'flags replaced by xidentd seen by Dovecot', repr(d_msgs.get(2)))
    t.ok(4 not in d_msgs, 'message expunged by xidentd is gone for Dovecot')
    t.ok(b'Archive.2026' in folders, 'folder made by xidentd listed by Dovecot')
    t.eq((a_validity, a_next, a_msgs), (archive['uidvalidity'], archive['uidnext'], ours(archive)),
         'xidentd -> Dovecot: folder made and filled by xidentd (UID %d)' % uid_c)


def fresh_maildir(t, site):
    """A Maildir only xidentd has written opens in Dovecot with our UIDs."""
    for i in range(3):
        site.driver('deliver', site.root, 'INBOX', *(['\\Seen'] if i == 1 else []), input=message(20 + i))
    site.driver('flags', site.root, 'INBOX', '3', '+', '\\Deleted', 'Todo')
    dump = site.dump()
    m = site.imap()
    d_validity, d_next, d_msgs = fetch_all(m, 'INBOX')
    m.logout()
    t.eq((d_validity, d_next), (dump['uidvalidity'], dump['uidnext']),
         'xidentd-only Maildir: Dovecot keeps our UIDVALIDITY and UIDNEXT')
    t.eq(d_msgs, ours(dump), 'xidentd-only Maildir: Dovecot sees UIDs 1-3 with our flags and keyword')


def folders(t, site):
    before = site.dump('Archive.2026')
    site.driver('rename', site.root, 'Archive', 'Old')
    m = site.imap()
    typ, data = m.list()
    names = sorted(re.search(rb'"([^"]*)"$|(\S+)$', d).group(0).strip(b'"').decode() for d in data if d)
    o_validity, o_next, o_msgs = fetch_all(m, 'Old.2026')
    t.ok('Old.2026' in names and 'Archive.2026' not in names, 'folder renamed by xidentd: Dovecot lists Old.2026',
         repr(names))
    t.eq((o_validity, o_msgs), (before['uidvalidity'], ours(before)), 'renamed folder keeps UIDVALIDITY and UIDs')
    m.create('Entw&APw-rfe')  # "Entwürfe": IMAP and Dovecot's disk both use modified UTF-7
    m.create('Scratch')
    m.append('Scratch', None, None, message(30))
    m.rename('Work.Sub', 'Work.Moved')
    m.delete('Scratch')
    m.logout()
    listed = site.driver('list', site.root).split()
    t.ok('Scratch' not in listed and 'Work.Moved' in listed and 'Work.Sub' not in listed,
         'folders deleted and renamed by Dovecot: xidentd lists them so', repr(listed))
    t.ok('Entw&APw-rfe' in listed, 'a non-ASCII folder by Dovecot listed by its modified UTF-7 name', repr(listed))
    uid = int(site.driver('deliver', site.root, 'Entw&APw-rfe', input=message(31)))
    m = site.imap()
    e_validity, e_next, e_msgs = fetch_all(m, 'Entw&APw-rfe')
    m.logout()
    t.eq(sorted(e_msgs), [uid], 'delivered by xidentd into it, fetched by Dovecot')
    site.driver('rmdir', site.root, 'Old.2026')
    m = site.imap()
    typ, data = m.list()
    m.logout()
    t.ok(not any(b'Old.2026' in d for d in data if d), 'folder deleted by xidentd: gone for Dovecot', repr(data))


def session_lock(t, site):
    pop = site.pop3()
    pop.stdin.write(b'STAT\r\n')
    pop.stdin.flush()
    first = pop.stdout.readline()
    t.ok(first.startswith(b'+OK'), 'Dovecot POP3 session open', repr(first))
    rc, err = site.driver_rc('session-try', site.root)
    t.ok(rc == 3 and 'in use' in err, 'xidentd refused while Dovecot\'s POP3 session holds the lock',
         '%d %s' % (rc, err))
    pop.stdin.write(b'QUIT\r\n')
    pop.stdin.flush()
    pop.communicate(timeout=30)
    rc, err = site.driver_rc('session-try', site.root)
    t.eq((rc, err), (0, ''), 'free again after Dovecot\'s QUIT')

    hold = subprocess.Popen(as_mail([DRIVER, 'session-hold', site.root]), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    t.eq(hold.stdout.readline(), b'locked\n', 'xidentd holds the POP3 session lock')
    pop = site.pop3()
    out, _ = pop.communicate(b'STAT\r\nQUIT\r\n', timeout=60)
    t.ok(b'[IN-USE]' in out and b'+OK' not in out, 'Dovecot POP3 refused with [IN-USE] meanwhile',
         repr(out))
    hold.stdin.close()
    hold.wait(timeout=30)
    pop = site.pop3()
    out, _ = pop.communicate(b'STAT\r\nQUIT\r\n', timeout=60)
    t.ok(out.startswith(b'+OK'), 'Dovecot POP3 works once xidentd let go', repr(out))

    # A session process killed with its lock held: Dovecot reads our
    # "pid:host", sees the process gone and takes the lock over (it waits
    # up to 10 s, so no 300 s stale wait).
    hold = subprocess.Popen(as_mail([DRIVER, 'session-hold', site.root]), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    t.eq(hold.stdout.readline(), b'locked\n', 'xidentd holds the lock again')
    hold.kill()
    hold.wait(timeout=30)
    lock = os.path.join(site.root, 'dovecot-pop3-session.lock')
    t.ok(os.path.exists(lock), 'the killed session left its lock file')
    start = time.monotonic()
    pop = site.pop3()
    out, _ = pop.communicate(b'STAT\r\nQUIT\r\n', timeout=60)
    t.ok(out.startswith(b'+OK') and time.monotonic() - start < 10,
         'Dovecot overrides the lock of the dead xidentd process (%.1f s)' % (time.monotonic() - start),
         repr(out))


def concurrent(t, site):
    per_driver, drivers, per_imap, imaps = 15, 3, 15, 2
    errors = []

    def drive():
        for i in range(per_driver):
            try:
                site.driver('deliver', site.root, 'INBOX', input=message(100 + i))
            except Exception as e:  # noqa: BLE001 - collected and reported
                errors.append(str(e))

    def append():
        try:
            m = site.imap()
            for i in range(per_imap):
                m.append('INBOX', None, None, message(200 + i))
            m.logout()
        except Exception as e:  # noqa: BLE001
            errors.append(str(e))

    before = len(site.dump()['messages'])
    threads = [threading.Thread(target=drive) for _ in range(drivers)]
    threads += [threading.Thread(target=append) for _ in range(imaps)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    t.eq(errors, [], 'concurrent deliveries by xidentd and Dovecot: no failure')
    dump = site.dump()
    want = before + per_driver * drivers + per_imap * imaps
    uids = [m['uid'] for m in dump['messages']]
    t.eq(len(uids), want, 'every concurrent message has a UID (%d)' % want)
    t.eq(len(set(uids)), len(uids), 'no UID given twice')
    m = site.imap()
    d_validity, d_next, d_msgs = fetch_all(m, 'INBOX')
    m.logout()
    t.eq(d_msgs, ours(dump), 'after the race Dovecot and xidentd agree on every UID and flag')
    t.eq(d_next, dump['uidnext'], 'and on UIDNEXT')


def main():
    with Tap() as t:
        if not os.access(DOVECOT_IMAP, os.X_OK):
            t.skip('Maildir interop', 'Dovecot is not installed')
            return
        if not os.path.exists(DRIVER):
            t.ok(False, 'maildir-driver is built', DRIVER)
            return
        base = tempdir('xi-maildir-')
        os.chmod(base, 0o755)
        site = Site(base, 'shared')
        t.run('Dovecot -> xidentd', dovecot_to_xidentd, t, site)
        t.run('xidentd -> Dovecot', xidentd_to_dovecot, t, site)
        fresh = Site(base, 'fresh')
        t.run('xidentd-only Maildir', fresh_maildir, t, fresh)
        t.run('folders', folders, t, site)
        t.run('POP3 session lock', session_lock, t, site)
        t.run('concurrent', concurrent, t, site)
        log = site.dovecot_log() + fresh.dovecot_log()
        bad = [ln for ln in log.splitlines() if re.search(r'Error|Panic|Fatal|corrupt|Warning', ln)]
        t.eq(bad, [], 'Dovecot logged no error, warning or corruption')


main()
