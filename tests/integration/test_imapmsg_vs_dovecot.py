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
import random
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
    '1:5,9,20:*', '*', '45:*', '41', '39:45', '*:45', '41:39', 'UID 41:39', 'UID 100', 'UID 100:*', '40:*', '41:*', 'UID 3:7', 'UID 25:*', 'NOT 2:28',
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
    'HEADER Content-Type text', 'HEADER MIME-Version 1.0', 'TEXT "Content-Type: text/html"', 'BODY "Content-Type"',
    'HEADER Content-Transfer-Encoding base64', 'HEADER X-N 3', 'TEXT "X-N: 3"', 'TEXT "level1"', 'BODY "<p>"',
    'SUBJECT "  "', 'SUBJECT "Smart"', 'CHARSET UTF-8 SUBJECT {12+}\r\n\xe2\x80\x9cquotes\xe2\x80\x9d',
    'CHARSET UTF-8 CC {6+}\r\n\xd0\x92\xd0\xbb\xd0\xb0', 'CHARSET UTF-8 CC {6+}\r\n\xd0\xb2\xd0\xbb\xd0\xb0',
    'HEADER Date 1999', 'HEADER Message-ID "<"', 'HEADER "" ""', 'HEADER "" "no colon"', 'TEXT "To: folded-only"', 'TEXT "plain; charset"',
    'TEXT "To:  folded"', 'TEXT "This line has no colon"', 'TEXT ": This line"', 'BODY " "',
    'SUBJECT NIL', 'SUBJECT second', 'SUBJECT first', 'SUBJECT spaced', 'HEADER "Subject " ""', 'FROM y@example',
    'HEADER X-No-Colon-Line ""', 'HEADER X-Tab value', 'TO folded-only', 'BODY "deep html"', 'BODY "level1 tail"',
    'TEXT level2', 'CHARSET UTF-8 SUBJECT {6+}\r\nSch\xc3\xb6n', 'CHARSET UTF-8 SUBJECT {8+}\r\nund Stra',
    'CHARSET UTF-8 BODY {6+}\r\n\xc3\x84pfel', 'FROM "J\xc3\xbcrgen"', 'CHARSET UTF-8 FROM {8+}\r\nJ\xc3\xbcrgen',
    'TO undisclosed', 'CC team', 'CC "b@example.com"', 'SENTON 7-Jun-1999', 'SENTBEFORE 1-Jan-2000', 'BODY "nul here"',
    'BODY "bare cr"', 'TEXT "cr"', 'BODY xxxxxxxxxxxxxxxxxxxxxxxx', 'LARGER 20000', 'BODY "part 12"', 'HEADER X-N 11', 'NOT', '()', 'HEADER', 'SUBJECT', '5:3', '0', 'UID *', 'SEEN UNSEEN',
]


def random_queries(count, seed=9):
    """Random SEARCH criteria (fixed seed): keys of every kind, words of the
    corpus, nested NOT/OR/lists."""
    rnd = random.Random(seed)
    words = set()
    for path in CORPUS:
        with open(path, 'rb') as f:
            words.update(w.decode() for w in re.findall(rb'[A-Za-z][A-Za-z.@-]{2,10}', f.read()))
    words = sorted(words)
    months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

    def date():
        return '%d-%s-%d' % (rnd.randint(1, 28), rnd.choice(months), rnd.choice([1999, 2023, 2024, 2025]))

    def key(depth):
        r = rnd.random()
        if depth < 3 and r < 0.12:
            return 'NOT ' + key(depth + 1)
        if depth < 3 and r < 0.24:
            return 'OR %s %s' % (key(depth + 1), key(depth + 1))
        if depth < 3 and r < 0.30:
            return '(%s %s)' % (key(depth + 1), key(depth + 1))
        kind = rnd.choice(['flag', 'flag', 'set', 'uid', 'date', 'sent', 'size', 'addr', 'addr',
                           'subject', 'header', 'body', 'body', 'text', 'text', 'keyword'])
        if kind == 'flag':
            return rnd.choice(['SEEN', 'UNSEEN', 'FLAGGED', 'UNFLAGGED', 'ANSWERED', 'UNANSWERED',
                               'DELETED', 'UNDELETED', 'DRAFT', 'UNDRAFT', 'NEW', 'OLD', 'RECENT', 'ALL'])
        if kind == 'set':
            a = rnd.randint(1, 42)
            return rnd.choice(['%d' % a, '%d:*' % a, '%d:%d' % (a, rnd.randint(1, 42)), '*',
                               '%d,%d' % (a, rnd.randint(1, 42))])
        if kind == 'uid':
            a = rnd.randint(1, 42)
            return 'UID ' + rnd.choice(['%d' % a, '%d:*' % a, '%d:%d' % (a, rnd.randint(1, 42))])
        if kind == 'date':
            return '%s %s' % (rnd.choice(['BEFORE', 'ON', 'SINCE']), date())
        if kind == 'sent':
            return '%s %s' % (rnd.choice(['SENTBEFORE', 'SENTON', 'SENTSINCE']), date())
        if kind == 'size':
            return '%s %d' % (rnd.choice(['LARGER', 'SMALLER']), rnd.randint(0, 2000))
        if kind == 'keyword':
            return rnd.choice(['KEYWORD', 'UNKEYWORD']) + ' $Junk'
        word = rnd.choice(words)
        if rnd.random() < 0.3:
            word = word[:rnd.randint(2, len(word))].upper()
        if kind == 'addr':
            return '%s "%s"' % (rnd.choice(['FROM', 'TO', 'CC', 'BCC']), word)
        if kind == 'subject':
            return 'SUBJECT "%s"' % word
        if kind == 'header':
            return 'HEADER %s "%s"' % (rnd.choice(['Subject', 'Content-Type', 'Message-ID', 'X-N',
                                                   'Received', 'Date']), word)
        return '%s "%s"' % ('BODY' if kind == 'body' else 'TEXT', word)

    return [' '.join(key(0) for _ in range(rnd.randint(1, 3))) for _ in range(count)]


# Known differences, not failures (each is reported by a diag line; none
# comes up with the seed below, all with random_fetches(3000, seed=6)):
# - HEADER.FIELDS[.NOT] of a message/rfc822 part whose inner header runs
#   into the closing boundary without a blank line (17-rfc822-variants.eml
#   part 3): Dovecot's header filter reads the boundary line as a header
#   line; we stop at the boundary as its BODYSTRUCTURE and HEADER do;
# - HEADER.FIELDS.NOT of the empty message inside part 2 of the same file:
#   Dovecot gives it the blank line it takes from the part's MIME header;
# - a partial starting at offset 1 of a HEADER.FIELDS[.NOT] answer that is
#   the blank line alone: Dovecot sends "\r", we send "\n" (as Dovecot
#   does for BODY[] and for longer HEADER.FIELDS answers);
# - partials of a message with a bare CR (e03): Dovecot's offsets count a
#   bare CR differently.
KNOWN_FETCH = [('17-rfc822-variants.eml', re.compile(r'\[3\.HEADER\.FIELDS', re.I)),
               ('17-rfc822-variants.eml', re.compile(r'\[2\.HEADER\.FIELDS\.NOT', re.I)),
               (None, re.compile(r'HEADER\.FIELDS(\.NOT)? \([^)]*\)\]<1\.', re.I)),
               ('e03-bare-cr-nul.eml', re.compile(r'\]<[1-9]'))]


def random_fetches(count, seed=5):
    """Random FETCH item lists (fixed seed): sections of every form, with
    and without partials, mixed with the other items."""
    rnd = random.Random(seed)
    fields = ['From', 'To', 'Subject', 'Date', 'Content-Type', 'MIME-Version', 'X-N', 'Received',
              'Message-ID', 'Cc', '"subject"', 'X-Nothing']

    def section():
        path = '.'.join(str(rnd.randint(1, 4)) for _ in range(rnd.randint(0, 3)))
        text = rnd.choice(['', '', 'HEADER', 'TEXT', 'MIME', 'HEADER.FIELDS', 'HEADER.FIELDS.NOT'])
        if text == 'MIME' and not path:
            text = ''
        if text.startswith('HEADER.FIELDS'):
            text += ' (%s)' % ' '.join(rnd.sample(fields, rnd.randint(1, 3)))
        spec = path + ('.' if path and text else '') + text
        item = '%s[%s]' % (rnd.choice(['BODY.PEEK', 'BODY.PEEK', 'body.peek']), spec)
        if rnd.random() < 0.4:
            item += '<%d.%d>' % (rnd.choice([0, 1, 2, 10, 50, 100, 5000]), rnd.choice([0, 1, 3, 40, 1000]))
        return item

    out = []
    for _ in range(count):
        items = [section() if rnd.random() < 0.6 else
                 rnd.choice(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY',
                             'BODYSTRUCTURE', 'RFC822.HEADER'])
                 for _ in range(rnd.randint(1, 4))]
        out.append((rnd.randrange(1 << 30), '(%s)' % ' '.join(items)))
    return out


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

        differ = []
        paths = sorted(infos)
        fetches = random_fetches(500)
        for pick, items in fetches:
            path = paths[pick % len(paths)]
            theirs, _ = c.cmd('FETCH %d %s' % (infos[path]['seq'], items))
            ours = driver_fetch(infos[path], path, items)
            if ours != theirs:
                name = os.path.basename(path)
                line = '%s %s\n  dovecot: %r\n  ours:    %r' % (name, items, theirs[:300], ours[:300])
                if any(n in (None, name) and r.search(items) for n, r in KNOWN_FETCH):
                    t.diag('known difference: ' + line)
                else:
                    differ.append(line)
        t.ok(not differ, '%d random FETCH item lists answered as Dovecot answers' % len(fetches),
             '\n'.join(differ[:8]) + '\n%d differ' % len(differ))

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

        differ = []
        queries = random_queries(600)
        for q in queries:
            untagged, tagged = c.cmd('SEARCH ' + q)
            ours, rc = driver_search(q, infos, len(infos), max_uid)
            if tagged.split()[1] == b'OK':
                theirs = sorted(int(x) for x in untagged.split(b'\r\n')[0].split()[2:])
                got = sorted(int(x) for x in ours.split()[1:]) if ours.startswith('SEARCH') else ours
            else:
                theirs, got = tagged.split()[1].decode(), ours.split()[0]
            if got != theirs:
                differ.append('%s\n  dovecot: %s\n  ours:    %s' % (q, theirs, got))
        t.ok(not differ, '%d random SEARCH queries find what Dovecot finds' % len(queries),
             '\n'.join(differ[:10]) + '\n%d differ' % len(differ))

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
