#!/usr/bin/python3
"""standalone/imap_fetch.c, mime_section.c and imap_search.c against the
real Dovecot 2.3, byte for byte.

The MIME corpus tests/data/mime/*.eml and the edge cases of
tests/data/imapmsg/*.eml (odd headers, no blank line, bare CR, NUL, mixed
line ends, many parts, deep message/rfc822, long lines, empty) go into a Maildir with assorted
flags and modification times (INTERNALDATE); a private Dovecot
(tests/lib/dovecot.py) serves it.  For every message and every FETCH item
list below, Dovecot's whole "* n FETCH (...)" response (item order, section
names, literals) must equal what build/tests/imapmsg-driver renders from the
same file with the flags, UID and INTERNALDATE Dovecot reports.  SEARCH:
each query must find the same messages.  Read-only (EXAMINE) first, so
nothing changes; then one read-write FETCH of BODY[] for the implicit \\Seen
(FLAGS added to the response).
"""
import glob
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from dovecot import Dovecot  # noqa: E402

DRIVER = build_path('tests', 'imapmsg-driver')
CORPUS = (sorted(glob.glob(src_path('tests', 'data', 'mime', '*.eml'))) +
          sorted(glob.glob(src_path('tests', 'data', 'imapmsg', '*.eml'))))
USER = 'msgtest'
MAILDIR_FLAGS = ['', 'S', 'F', 'RS', 'DS', 'T', 'FS', '']
FLAG_BITS = {'\\Seen': 1, '\\Answered': 2, '\\Flagged': 4, '\\Deleted': 8, '\\Draft': 16,
             '\\Recent': 32}
BASE_TIME = 1700000000  # 2023-11-14 22:13:20 UTC; message i is i*2.5 days later

FETCHES = [
    'BODY.PEEK[]', 'BODY.PEEK[HEADER]', 'BODY.PEEK[TEXT]', 'BODY.PEEK[1]', 'BODY.PEEK[2]',
    'BODY.PEEK[3]', 'BODY.PEEK[1.MIME]', 'BODY.PEEK[2.MIME]', 'BODY.PEEK[1.1]', 'BODY.PEEK[1.2]',
    'BODY.PEEK[2.1]', 'BODY.PEEK[2.1.MIME]', 'BODY.PEEK[2.2]', 'BODY.PEEK[1.HEADER]',
    'BODY.PEEK[1.TEXT]', 'BODY.PEEK[2.HEADER]', 'BODY.PEEK[2.TEXT]',
    'BODY.PEEK[2.HEADER.FIELDS (Subject)]', 'BODY.PEEK[3.HEADER]', 'BODY.PEEK[3.MIME]', 'BODY.PEEK[3.TEXT]',
    'BODY.PEEK[4.MIME]', 'BODY.PEEK[1.1.HEADER]', 'BODY.PEEK[header.fields.not ("x-a" b)]', 'BODY.PEEK[1.1.1]', 'BODY.PEEK[2.1.1]',
    'BODY.PEEK[HEADER.FIELDS (From Subject)]', 'BODY.PEEK[HEADER.FIELDS ("to" CC date)]',
    'BODY.PEEK[HEADER.FIELDS.NOT (From Subject Received Content-Type)]',
    'BODY.PEEK[TEXT]<0.100>', 'BODY.PEEK[]<10.50>', 'BODY.PEEK[1]<3.0>', 'BODY.PEEK[2]<100000.5>',
    'RFC822.HEADER', 'RFC822.SIZE', '(UID FLAGS INTERNALDATE RFC822.SIZE)', 'FAST', 'ALL',
    'FULL', '(BODY.PEEK[1] UID ENVELOPE FLAGS BODYSTRUCTURE RFC822.SIZE)',
    '(BODY ENVELOPE BODY.PEEK[HEADER.FIELDS (Message-ID)] INTERNALDATE)',
    '(FLAGS FLAGS UID)', 'BODY', 'RFC822', 'RFC822.TEXT', 'BODY[TEXT]<5.10>', 'body.peek[1.mime]',
    '(rfc822.size body.peek[2]<0.5> uid)',
    '(BODY.PEEK[1]<0.2> BODY.PEEK[1]<0.2> RFC822.HEADER RFC822.HEADER BODY BODY RFC822.SIZE RFC822.SIZE UID UID '
    'ENVELOPE ENVELOPE)', '(BODY.PEEK[1]<0.2> BODY.PEEK[1]<1.2> BODY.PEEK[1]<0.3>)', 'BODYSTRUCTURE', 'ENVELOPE',
]
UID_FETCHES = ['(BODY.PEEK[1]<0.10> FLAGS)', 'RFC822.SIZE']

SEARCHES = [
    'ALL', 'SEEN', 'UNSEEN', 'FLAGGED', 'ANSWERED UNDELETED', 'DELETED', 'DRAFT', 'NEW', 'OLD',
    'RECENT', 'NOT SEEN', 'OR FLAGGED DRAFT', 'OR (SEEN FLAGGED) NOT OR ANSWERED DELETED',
    '1:5,9,20:*', '*', 'UID 3:7', 'UID 25:*', 'NOT 2:28',
    'SINCE 1-Dec-2023', 'BEFORE 1-Dec-2023', 'ON 4-Dec-2023', 'SINCE 4-Dec-2023 BEFORE 20-Dec-2023',
    'SENTSINCE 5-Mar-2025', 'SENTBEFORE 5-Mar-2025', 'SENTON 4-Mar-2025',
    'LARGER 1000', 'SMALLER 500', 'LARGER 700 SMALLER 900',
    'FROM alice', 'FROM "example.net"', 'TO bob', 'CC frank', 'BCC x', 'SUBJECT "folded subject"',
    'SUBJECT report', 'HEADER Message-ID orig', 'HEADER X-Mailer ""', 'HEADER Content-Type mixed',
    'BODY lait', 'BODY deepest', 'TEXT Mallory', 'TEXT multipart', 'BODY "Second line"',
    'CHARSET UTF-8 BODY {5+}\r\ncaf\xc3\xa9', 'CHARSET UTF-8 SUBJECT {6+}\r\nF\xc3\xa4lt',
    'CHARSET UTF-8 TEXT {7+}\r\nGr\xc3\xbc\xc3\x9fe', 'HEADER Subject "=?"',
    'OR BODY inner SUBJECT plain', 'NOT BODY the',
    'KEYWORD $Junk', 'UNKEYWORD $Junk', 'CHARSET ISO-8859-2 ALL', 'CHARSET X-NOPE ALL', 'FOO', 'SINCE 32-Jan-2020',
    'BEFORE 32-Jan-2030', 'ON 31-Feb-2023', 'BEFORE 1-Jan-30', 'SINCE 01-dec-2023', 'SENTBEFORE 31-Feb-2030',
    'CHARSET ISO-8859-1 BODY {4+}\r\ncaf\xe9', 'UID 1,3,5:7 NOT 6', '(OR SEEN (FLAGGED)) UNDELETED', 'LARGER x',
    'CHARSET UTF-8 BODY {5+}\r\nCAF\xc3\x89', 'CHARSET UTF-8 TEXT {7+}\r\nGR\xc3\x9c\xc3\x9fE', 'TEXT "subject: plain"',
    'FROM "Carol \\"CC\\""', 'FROM "<alice@example.org>"', 'FROM "Alice Example <alice"', 'TO "dave@example.com"',
    'FROM "Jones <carol"', 'BCC ""', 'HEADER X-Nothing ""', 'SUBJECT "  "', 'TO ", eve"', 'CC "Frank, the Boss"',
    'HEADER Received ""', 'BODY "JVBERi0"', 'TEXT "JVBERi0"', 'BODY "%PDF"', 'HEADER Content-Type "boundary"',
    'SUBJECT "Plain text folded"', 'FROM "Alice Example"', 'FROM "Example <alice"', 'FROM "\\"Carol"', 'FROM "<carol"',
    'TO "<eve@"', 'TO "com>, <eve"', 'TO "com>, eve"', 'FROM "\\"Alice Example\\" <alice@example.org>"',
    'CC "\\"Frank, the Boss\\" <frank"', 'FROM "ALICE EXAMPLE"', 'FROM "=?"', 'FROM "Patrik F"', 'TO "Keith Moore"',
    'FROM "Doe, John"', 'FROM "(work)"', 'TO "john doe"', 'TO "routed@"', 'TO "relay1"', 'CC "undisclosed"', 'TO ":"', 'TO ";"', 'SUBJECT "text  folded"',
    'SUBJECT NIL', 'SUBJECT second', 'SUBJECT first', 'SUBJECT spaced', 'HEADER "Subject " ""', 'FROM y@example',
    'HEADER X-No-Colon-Line ""', 'HEADER X-Tab value', 'TO folded-only', 'BODY "deep html"', 'BODY "level1 tail"',
    'TEXT level2', 'CHARSET UTF-8 SUBJECT {6+}\r\nSch\xc3\xb6n', 'CHARSET UTF-8 SUBJECT {8+}\r\nund Stra',
    'CHARSET UTF-8 BODY {6+}\r\n\xc3\x84pfel', 'FROM "J\xc3\xbcrgen"', 'CHARSET UTF-8 FROM {8+}\r\nJ\xc3\xbcrgen',
    'TO undisclosed', 'CC team', 'CC "b@example.com"', 'SENTON 7-Jun-1999', 'SENTBEFORE 1-Jan-2000', 'BODY "nul here"',
    'BODY "bare cr"', 'TEXT "cr"', 'BODY xxxxxxxxxxxxxxxxxxxxxxxx', 'LARGER 20000', 'BODY "part 12"', 'HEADER X-N 11', 'NOT', '()', 'HEADER', 'SUBJECT', '5:3', '0', 'UID *', 'SEEN UNSEEN',
]


def maildir_name(i):
    return '%d.M%dP1.xident:2,%s' % (BASE_TIME + i, i, MAILDIR_FLAGS[i % len(MAILDIR_FLAGS)])


def fill_maildir(d):
    root = os.path.join(d.dir, 'mail', USER)
    for sub in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for i, path in enumerate(CORPUS):
        with open(path, 'rb') as f:
            data = f.read()
        dst = os.path.join(root, 'cur', maildir_name(i))
        with open(dst, 'wb') as f:
            f.write(data)
        when = BASE_TIME + i * 216000
        os.utime(dst, (when, when))
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            os.chown(os.path.join(dirpath, n), d.uid, d.gid)
    os.chown(root, d.uid, d.gid)


class Client:
    """Raw IMAP: responses exactly as sent (literals included)."""

    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=30)
        self.f = self.sock.makefile('rb')
        self.n = 0
        self.f.readline()

    def cmd(self, text):
        """(untagged bytes, tagged line) of one command."""
        self.n += 1
        tag = b't%d' % self.n
        data = text.encode('latin-1') if isinstance(text, str) else text
        self.sock.sendall(tag + b' ' + data + b'\r\n')
        out = b''
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError('connection closed')
            if line.startswith(tag + b' '):
                return out, line
            out += line
            while True:
                m = re.search(rb'\{(\d+)\}\r\n$', line)
                if m is None:
                    break
                lit = self.f.read(int(m.group(1)))
                line = self.f.readline()
                out += lit + line

    def close(self):
        try:
            self.cmd('LOGOUT')
        except (OSError, RuntimeError):
            pass
        self.sock.close()


def crlf(data):
    """The message as Dovecot sends BODY[]: bare LF as CRLF, NUL as 0x80."""
    return re.sub(rb'(?<!\r)\n', b'\r\n', data).replace(b'\0', b'\x80')


def driver_fetch(info, path, items, *extra):
    out = subprocess.run([DRIVER, 'fetch', str(info['seq']), str(info['uid']), str(info['flags']),
                          str(info['date']), '0', path, items] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if out.returncode != 0:
        return b'driver failed: ' + out.stderr
    return out.stdout


def driver_search(criteria, infos, messages, max_uid):
    lines = ''.join('%d %d %d %d 0 %s\n' % (i['seq'], i['uid'], i['flags'], i['date'], p)
                    for p, i in sorted(infos.items(), key=lambda x: x[1]['seq']))
    out = subprocess.run([DRIVER, 'search', str(messages), str(max_uid), criteria.encode('latin-1')],
                         input=lines.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60)
    return out.stdout.decode('utf-8', 'replace').strip(), out.returncode


def main(t):
    t.ok(len(CORPUS) >= 20, 'the corpus has %d messages' % len(CORPUS))
    d = Dovecot(passdb='passdb {\n  driver = static\n  args = password=pw\n}', name='imapmsg')
    d.write_config()
    fill_maildir(d)
    d.start()
    try:
        c = Client(d.port('imap'))
        _, ok = c.cmd('LOGIN %s pw' % USER)
        t.ok(ok.split()[1] == b'OK', 'login')
        c.cmd('EXAMINE INBOX')
        by_content = {}
        for path in CORPUS:
            with open(path, 'rb') as f:
                by_content[crlf(f.read())] = path
        infos = {}
        for seq in range(1, len(CORPUS) + 1):
            raw, _ = c.cmd('FETCH %d (UID FLAGS INTERNALDATE BODY.PEEK[])' % seq)
            m = re.match(rb'\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) INTERNALDATE "[^"]*" '
                         rb'BODY\[\] \{(\d+)\}\r\n', raw)
            body = raw[m.end():m.end() + int(m.group(3))]
            flags = sum(FLAG_BITS.get(f, 0) for f in m.group(2).decode().split())
            path = by_content.get(body)
            if path is not None:
                i = CORPUS.index(path)
                infos[path] = {'seq': seq, 'uid': int(m.group(1)), 'flags': flags,
                               'date': BASE_TIME + i * 216000}
        t.eq(len(infos), len(CORPUS), 'every message is found by its content')

        same_total = 0
        for items in FETCHES + ['UID ' + u for u in UID_FETCHES]:
            uid = items.startswith('UID ')
            what = items[4:] if uid else items
            bad = []
            for path, info in sorted(infos.items()):
                theirs, _ = c.cmd('%sFETCH %d %s' % ('UID ' if uid else '',
                                                       info['uid'] if uid else info['seq'], what))
                ours = driver_fetch(info, path, what, *(['uid'] if uid else []))
                if ours != theirs:
                    bad.append((os.path.basename(path), theirs, ours))
            same_total += len(infos) - len(bad)
            t.ok(not bad, '%sFETCH %s: all %d messages as Dovecot answers' %
                 ('UID ' if uid else '', what, len(infos)),
                 '\n'.join('%s\n  dovecot: %r\n  ours:    %r' % (n, a[:600], b[:600])
                           for n, a, b in bad[:4]) + ('\n%d differ' % len(bad)))
        t.diag('%d FETCH responses identical' % same_total)

        max_uid = max(i['uid'] for i in infos.values())
        for q in SEARCHES:
            untagged, tagged = c.cmd('SEARCH ' + q)
            status = tagged.split()[1].decode()
            ours, rc = driver_search(q, infos, len(infos), max_uid)
            if status == 'OK':
                theirs = sorted(int(x) for x in untagged.split(b'\r\n')[0].split()[2:])
                got = sorted(int(x) for x in ours.split()[1:]) if ours.startswith('SEARCH') else ours
                t.eq(got, theirs, 'SEARCH %r finds what Dovecot finds' % q)
            else:
                t.ok(ours.split()[0] == status and rc == 0,
                     'SEARCH %r refused as Dovecot refuses it (%s)' % (q, status),
                     'dovecot: %r\nours: %r' % (tagged, ours))

        # read-write: BODY[] of an unseen message sets \Seen and adds FLAGS
        c.cmd('SELECT INBOX')
        unseen = [(p, i) for p, i in sorted(infos.items()) if not i['flags'] & 1]
        # (items, sets \Seen)
        rw = [('(UID BODY[1]<0.20>)', True), ('(FLAGS BODY[1]<0.5>)', True),
              ('(BODY[HEADER.FIELDS (Subject)] BODY.PEEK[1]<0.3>)', True), ('RFC822.HEADER', False),
              ('(BODY[]<0.3> BODY.PEEK[]<0.3>)', True), ('(RFC822.SIZE RFC822)', True),
              ('(UID RFC822.TEXT)', True), ('BODY.PEEK[]<0.10>', False)]
        for (path, info), (items, seen) in zip(unseen, rw):
            raw, _ = c.cmd('FETCH %d %s' % (info['seq'], items))
            typ, flagline = c.cmd('FETCH %d FLAGS' % info['seq'])
            m = re.search(rb'FLAGS \(([^)]*)\)', typ)
            flags = sum(FLAG_BITS.get(f, 0) for f in m.group(1).decode().split()) if m else 0
            t.eq(bool(flags & 1), seen, 'FETCH %s %s \\Seen' % (items, 'sets' if seen else 'does not set'))
            after = dict(info, flags=flags)
            ours = driver_fetch(after, path, items, *(['seen'] if seen else []))
            t.eq(ours, raw, 'read-write FETCH %s of unseen %s: as Dovecot answers (FLAGS when \\Seen '
                 'was set)' % (items, os.path.basename(path)))
        c.close()
        t.eq(d.crashes() if hasattr(d, 'crashes') else [], [], 'Dovecot logged no crash')
    finally:
        t.diag('dovecot log tail:\n' + d.log_tail(5))
        d.stop()


with Tap() as t:
    t.run('FETCH/SEARCH of the corpus against Dovecot', main, t)
