#!/usr/bin/python3
"""standalone/mime.c against the real Dovecot 2.3, byte for byte.

The MIME corpus tests/data/mime/*.eml is put into a Maildir; a private
Dovecot (tests/lib/dovecot.py, static passdb/userdb) serves it over IMAP and
Python's imaplib FETCHes ENVELOPE, BODY, BODYSTRUCTURE and RFC822.SIZE of
every message.  build/tests/mime-driver prints what our module answers for
the same file; each value must be identical, literals included.

SEARCH: for a few needles (accented, in encoded words, in QP/base64 and
8-bit bodies of several charsets), Dovecot's SEARCH CHARSET UTF-8 BODY and
TEXT must find the same messages as our xi_mime_search_text().

Messages are matched to files by their content (BODY.PEEK[] equals the file
with bare LF read as CRLF), not by an assumed UID order.
"""
import glob
import imaplib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403
from dovecot import Dovecot  # noqa: E402

DRIVER = build_path('tests', 'mime-driver')
CORPUS = sorted(glob.glob(src_path('tests', 'data', 'mime', '*.eml')))
ITEMS = ('ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'RFC822.SIZE')
USER = 'mimetest'


def crlf(data):
    return re.sub(rb'(?<!\r)\n', b'\r\n', data)


def driver(path):
    """{item: bytes} as our module prints them."""
    out = subprocess.run([DRIVER, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=30)
    if out.returncode != 0:
        raise RuntimeError('mime-driver %s: %s' % (path, out.stderr.decode(errors='replace')))
    data, res = out.stdout, {}
    while data:
        nl = data.index(b'\n')
        name, size = data[:nl].split()
        size = int(size)
        res[name.decode()] = data[nl + 1:nl + 1 + size]
        data = data[nl + 2 + size:]
    return res


SEARCHES = [
    ('BODY', 'caf\u00e9'), ('BODY', 'Gr\u00fc\u00dfe'), ('BODY', 'Bl\u00e5b\u00e6rgr\u00f8d'),
    ('BODY', '\u201cquotes\u201d'), ('BODY', '\u20ac'), ('BODY', 'deepest'), ('BODY', 'FLOWED WITHOUT'),
    ('TEXT', 'F\u00e4ltstr\u00f6m'), ('TEXT', 'Ren\u00e9'), ('TEXT', '\u00d8stergaard'),
    ('TEXT', 'continued'), ('BODY', 'continued'), ('BODY', 'inner'), ('TEXT', 'Sch\u00f6ne Gr\u00fc\u00dfe'), ('TEXT', 'inner'),
]


def driver_search(where, needle, path):
    out = subprocess.run([DRIVER, '--search', where, needle, path], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=30)
    if out.returncode != 0:
        raise RuntimeError('mime-driver --search: %s' % out.stderr.decode(errors='replace'))
    return out.stdout.strip() == b'1'


def raw_fetch(imap, seq, item):
    """The value of one FETCH item exactly as sent, literals re-joined."""
    typ, data = imap.fetch(str(seq), '(%s)' % item)
    if typ != 'OK':
        raise RuntimeError('FETCH %s %s: %r' % (seq, item, data))
    raw = b''
    for part in data:
        if isinstance(part, tuple):
            raw += part[0] + b'\r\n' + part[1]
        else:
            raw += part
    m = re.match(rb'^%d \(%s (.*)\)$' % (seq, re.escape(item.encode())), raw, re.S)
    if m is None:
        raise RuntimeError('unexpected FETCH response: %r' % raw)
    return m.group(1)


def fill_maildir(d):
    root = os.path.join(d.dir, 'mail', USER)
    for sub in ('cur', 'new', 'tmp'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for i, path in enumerate(CORPUS):
        with open(path, 'rb') as f:
            data = f.read()
        name = '%d.M%dP1.xident:2,' % (1700000000 + i, i)
        with open(os.path.join(root, 'cur', name), 'wb') as f:
            f.write(data)
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            os.chown(os.path.join(dirpath, n), d.uid, d.gid)
    os.chown(root, d.uid, d.gid)


def main(t):
    t.ok(len(CORPUS) >= 10, 'the corpus has %d messages' % len(CORPUS))
    d = Dovecot(passdb='passdb {\n  driver = static\n  args = password=pw\n}', name='mimecmp')
    d.write_config()
    fill_maildir(d)
    d.start()
    try:
        imap = imaplib.IMAP4('127.0.0.1', d.port('imap'))
        imap.login(USER, 'pw')
        typ, data = imap.select('INBOX', readonly=True)
        t.eq(int(data[0]), len(CORPUS), 'Dovecot sees every corpus message')
        by_content = {}
        for path in CORPUS:
            with open(path, 'rb') as f:
                by_content[crlf(f.read())] = path
        matched = {}
        for seq in range(1, len(CORPUS) + 1):
            typ, data = imap.fetch(str(seq), '(BODY.PEEK[])')
            body = data[0][1]
            path = by_content.get(crlf(body))
            if path is not None:
                matched[path] = seq
        t.eq(len(matched), len(CORPUS), 'every message is found by its content')
        exact = 0
        for path in CORPUS:
            name = os.path.basename(path)
            if path not in matched:
                continue
            ours = driver(path)
            all_same = True
            for item in ITEMS:
                theirs = raw_fetch(imap, matched[path], item)
                same = ours.get(item) == theirs
                all_same = all_same and same
                t.ok(same, '%s %s is Dovecot\'s' % (name, item),
                     'dovecot: %r\nours:    %r' % (theirs, ours.get(item)))
            exact += all_same
        t.diag('%d of %d messages identical in all four items' % (exact, len(CORPUS)))
        for key, needle in SEARCHES:
            imap.literal = needle.encode('utf-8')
            typ, data = imap.search('UTF-8', key)
            theirs = sorted(os.path.basename(p) for p, seq in matched.items()
                            if str(seq).encode() in data[0].split())
            ours = sorted(os.path.basename(p) for p in matched
                          if driver_search(key.lower(), needle, p))
            t.eq(ours, theirs, 'SEARCH %s %r finds the same messages as Dovecot' % (key, needle))
        imap.logout()
        t.eq(d.crashes() if hasattr(d, 'crashes') else [], [], 'Dovecot logged no crash')
    finally:
        t.diag('dovecot log tail:\n' + d.log_tail(5))
        d.stop()


with Tap() as t:
    t.run('mime corpus against Dovecot', main, t)
