#!/usr/bin/python3
"""xidentd's IMAP4rev1 server against the private slapd with the sample
directory and a temporary mail root: logons (LOGIN, AUTHENTICATE
PLAIN/LOGIN/NTLM, SASL-IR, refusals with RFC 5530 codes and the same texts
and events as POP3, [REFERRAL imap://...]), STARTTLS, the authenticated and
selected states through Python's imaplib and curl, two sessions on one
mailbox (EXPUNGE/EXISTS/FETCH notifications, IDLE), LMTP delivery seen in
IDLE, the Maildir shared with the real Dovecot, hostile input, and scripted
Thunderbird-like and Outlook-like sessions."""
import base64
import imaplib
import os
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: F401,F403
from slapd import Slapd, sample_ldif
from mailclients import LineConn, NtlmAuthClient, RawLine, curl_ntlm, imap_authenticate, imap_login, impacket_ntlm
import xdserver
from xdserver import BAD, VMAIL_UID, check_logs, drop_messages, throwaway_cert

MESSAGE = (b'From: Alice <a@example.com>\nTo: johnd@example.com\nSubject: hello\n'
           b'Date: Tue, 1 Jul 2025 10:52:37 +0200\nMessage-ID: <m1@example.com>\n\n'
           b'line one\nline two\n')
imaplib._MAXLINE = 10 * 1024 * 1024


def make_root():
    root = xdserver.make_root()
    drop_messages(root, 'johnd', [MESSAGE.replace(b'hello', b'hello %d' % i) for i in range(3)])
    return root


def Server(d, root, **keys):
    """xidentd with an IMAP listener (imap_listen=None: POP3 only)."""
    return xdserver.Server(d, root, protocols=('imap',), **keys)


def connect(srv, user='EXAMPLE\\jdoe', password='jdoe-pw'):
    m = imaplib.IMAP4('127.0.0.1', srv.port, timeout=20)
    m.login(imap_quote(user), password)
    return m


class Raw:
    """A raw IMAP connection for exact server lines."""

    def __init__(self, port):
        self.c = LineConn(port)
        self.greeting = self.c.readline()
        self.n = 0

    def cmd(self, text, tag=None):
        """Sends 'tag text'; returns (untagged+continuation lines, tagged line)."""
        self.n += 1
        tag = tag or 'x%d' % self.n
        self.c.send('%s %s' % (tag, text))
        return self.until(tag)

    def until(self, tag):
        lines = []
        while True:
            ln = self.c.readline()
            if ln.startswith(tag + ' '):
                return lines, ln
            lines.append(ln)

    def close(self):
        try:
            self.c.f.close()
        except OSError:
            pass
        self.c.close()


def test_slice(t, srv):
    r = Raw(srv.port)
    t.ok(r.greeting.startswith('* OK [CAPABILITY IMAP4rev1') and 'AUTH=NTLM' in r.greeting
         and 'LOGIN-REFERRALS' in r.greeting, 'greeting with CAPABILITY', r.greeting)
    u, tagged = r.cmd('LOGIN "EXAMPLE\\\\jdoe" jdoe-pw')
    t.ok(tagged.startswith('x1 OK [CAPABILITY IMAP4rev1') and 'UIDPLUS' in tagged,
         'LOGIN: tagged OK with post-logon CAPABILITY', tagged)
    u, tagged = r.cmd('SELECT INBOX')
    t.ok(tagged == 'x2 OK [READ-WRITE] Select completed.', 'SELECT INBOX: READ-WRITE', tagged)
    t.ok('* 3 EXISTS' in u and '* 3 RECENT' in u, 'SELECT: EXISTS and RECENT', u)
    t.ok(any(x.startswith('* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft') for x in u),
         'SELECT: FLAGS', u)
    t.ok(any(x.startswith('* OK [PERMANENTFLAGS (') and '\\*' in x for x in u), 'SELECT: PERMANENTFLAGS', u)
    t.ok(any(re.match(r'\* OK \[UIDVALIDITY \d+\]', x) for x in u), 'SELECT: UIDVALIDITY', u)
    t.ok(any(x.startswith('* OK [UIDNEXT 4]') for x in u), 'SELECT: UIDNEXT 4', u)
    t.ok(any(x.startswith('* OK [UNSEEN 1]') for x in u), 'SELECT: UNSEEN 1', u)
    u, tagged = r.cmd('FETCH 1:* (UID FLAGS)')
    t.eq(u, ['* 1 FETCH (UID 1 FLAGS (\\Recent))', '* 2 FETCH (UID 2 FLAGS (\\Recent))',
             '* 3 FETCH (UID 3 FLAGS (\\Recent))'], 'FETCH 1:* (UID FLAGS)')
    t.ok(tagged.startswith('x3 OK'), 'FETCH: OK', tagged)
    u, tagged = r.cmd('ENABLE CONDSTORE')
    t.ok(u == ['* ENABLED'] and tagged.startswith('x4 OK'), 'ENABLE: nothing enabled (RFC 5161)', (u, tagged))
    u, tagged = r.cmd('CAPABILITY')
    t.ok(len(u) == 1 and 'IDLE' in u[0] and 'MOVE' in u[0] and 'AUTH=' not in u[0], 'CAPABILITY after logon', u)
    u, tagged = r.cmd('ID NIL')
    t.ok(u and u[0].startswith('* ID ("name" "xidentd")'), 'ID after logon', u)
    u, tagged = r.cmd('LOGIN a b')
    t.ok(tagged.startswith('x7 BAD'), 'LOGIN after logon: BAD', tagged)
    u, tagged = r.cmd('LOGOUT', tag='x4')
    t.ok(u == ['* BYE Logging out.'] and tagged.startswith('x4 OK'), 'LOGOUT: BYE then OK', (u, tagged))
    r.close()
    r = Raw(srv.port)
    r.cmd('LOGIN "EXAMPLE\\\\jdoe" jdoe-pw')
    u, tagged = r.cmd('EXAMINE INBOX')
    t.ok('* 3 EXISTS' in u and '* 0 RECENT' in u and tagged.startswith('x2 OK [READ-ONLY]'),
         '\\Recent went to the first session only (RFC 3501 2.3.2)', u)
    r.cmd('LOGOUT')
    r.close()


LOGONS = [
    ('EXAMPLE\\jdoe', 'jdoe-pw', 'johnd'),
    ('EXAMPLE/jdoe', 'jdoe-pw', 'johnd'),
    ('EXAMPLE\\jdoe\\johnd', 'jdoe-pw', 'johnd'),
    ('jdoe', 'jdoe-pw', 'johnd'),
    ('johnd', 'jdoe-pw', 'johnd'),
    ('jdoe@example.com', 'jdoe-pw', 'johnd'),
    ('jdoe@example.com/helpdesk', 'jdoe-pw', 'helpdesk'),
    ('EXAMPLE\\bjones\\bjones-projects', 'bjones-pw', 'bjones-projects'),
    ('EXAMPLE\\mmiller\\mike', 'mmiller-pw', 'mike'),
    ('BRANCH\\cwhite\\helpdesk', 'cwhite-pw', 'helpdesk'),
    ('EXAMPLE\\jmueller', 'müller-pw', 'müller'),
    ('imaponly', 'imaponly-pw', 'imaponly'),
]

# name, password, response code, client text, event
REFUSALS = [
    ('EXAMPLE\\jdoe', 'wrong', 'AUTHENTICATIONFAILED', BAD, 13003),
    ('nosuchuser', 'whatever', 'AUTHENTICATIONFAILED', BAD, 13003),
    ('EXAMPLE\\olduser', 'olduser-pw', 'AUTHENTICATIONFAILED', 'account currently disabled', 13003),
    ('EXAMPLE\\asmith\\helpdesk', 'asmith-pw', 'AUTHORIZATIONFAILED',
     'Access to mailbox helpdesk is denied for EXAMPLE\\asmith', 1023),
    ('EXAMPLE\\jdoe\\partner', 'jdoe-pw', 'CONTACTADMIN',
     'The requested mailbox is not available on this server. partner is a custom recipient', 13005),
    ('EXAMPLE\\mmiller', 'mmiller-pw', 'CONTACTADMIN', 'Ambiguous Alias: ', 13003),
    ('EXAMPLE\\rjames', 'rjames-pw', 'REFERRAL imap://EXAMPLE%5Crjames;AUTH=*@mail2.example.com/',
     'mail2.example.com', 13005),
    ('ntlmonly', 'ntlmonly-pw', 'CONTACTADMIN', 'logons are disabled for this mailbox', 13003),
]


def imap_quote(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')


def test_logons(t, srv):
    for name, pw, alias in LOGONS:
        line, tr = imap_login(srv.port, name, pw)
        t.ok(line.startswith('a1 OK [CAPABILITY IMAP4rev1') and 'Logged in' in line,
             'LOGIN %s opens mailbox %s' % (name, alias), tr)
    log = srv.log()
    t.ok('event=11202' in log and 'protocol=imap' in log, 'success audit 11202 logged for protocol imap')
    # the same logon as a literal (password with a quote and a space travels as {n})
    c = LineConn(srv.port)
    c.readline()
    c.send('a1 LOGIN {12}')
    t.ok(c.readline().startswith('+ '), 'synchronising literal in LOGIN: continuation')
    c.send('EXAMPLE\\jdoe jdoe-pw')
    line = c.readline()
    t.ok(line.startswith('a1 OK'), 'LOGIN with the name as a literal', line)
    c.close()
    m = imaplib.IMAP4('127.0.0.1', srv.port, timeout=20)
    t.eq(m.login('EXAMPLE\\jdoe\\johnd', 'jdoe-pw')[0], 'OK',
         'LOGIN DOMAIN\\account\\alias unquoted (imaplib, Exchange KB style; Dovecot takes it too)')
    m.logout()
    c = LineConn(srv.port)
    c.readline()
    c.send(b'a1 LOGIN {12+}\r\nEXAMPLE\\jdoe {7+}\r\njdoe-pw')
    line = c.readline()
    t.ok(line.startswith('a1 OK'), 'LOGIN with LITERAL+ name and password', line)
    c.close()


def test_refusals(t, srv):
    for name, pw, code, text, event in REFUSALS:
        before = len(srv.log())
        line, tr = imap_login(srv.port, name, pw)
        t.ok(line.startswith('a1 NO [%s] ' % code) and text in line,
             'refusal %s/%s: NO [%s] ...%s' % (name, pw, code, text), tr)
        try:
            wait_until(lambda: 'event=%d ' % event in srv.log()[before:], timeout=10, what='event')
        except Exception:  # noqa: BLE001 - reported below
            pass
        t.ok('event=%d ' % event in srv.log()[before:] and 'protocol=imap' in srv.log()[before:],
             'refusal %s/%s: event %d logged for imap' % (name, pw, event))
    a = imap_login(srv.port, 'nosuchuser', 'x')[0]
    b = imap_login(srv.port, 'EXAMPLE\\jdoe', 'x')[0]
    t.eq(a, b, 'unknown name and wrong password: the same answer')
    # three failures close the connection (max_failed_logons = 3)
    c = LineConn(srv.port)
    c.readline()
    lines = []
    try:
        for i in range(3):
            c.send('a%d LOGIN x y' % i)
            lines.append(c.readline())
        while True:
            lines.append(c.readline())
    except (EOFError, OSError):
        lines.append('EOF')
    c.close()
    t.ok(lines[-1] == 'EOF' and any(x.startswith('* BYE') for x in lines),
         'third failed logon: BYE and the connection closes', lines)


def sasl_plain(authz, authc, pw):
    return base64.b64encode(('%s\0%s\0%s' % (authz, authc, pw)).encode()).decode()


def test_sasl(t, srv):
    r = Raw(srv.port)
    u, tagged = r.cmd('CAPABILITY')
    t.ok(len(u) == 1 and 'AUTH=PLAIN AUTH=LOGIN AUTH=NTLM' in u[0] and 'SASL-IR' in u[0]
         and 'STARTTLS' not in u[0] and 'LOGINDISABLED' not in u[0],
         'CAPABILITY before logon: mechanisms, SASL-IR, no STARTTLS without a certificate', u)
    u, tagged = r.cmd('NOOP')
    t.ok(tagged.startswith('x2 OK'), 'NOOP before logon', tagged)
    u, tagged = r.cmd('ID ("name" "test")')
    t.ok(u and u[0].startswith('* ID (') and tagged.startswith('x3 OK'), 'ID before logon', (u, tagged))
    u, tagged = r.cmd('SELECT INBOX')
    t.ok(tagged.startswith('x4 BAD'), 'SELECT before logon: BAD', tagged)
    u, tagged = r.cmd('AUTHENTICATE PLAIN ' + sasl_plain('', 'EXAMPLE\\jdoe', 'jdoe-pw'))
    t.ok(tagged.startswith('x5 OK [CAPABILITY'), 'AUTHENTICATE PLAIN with SASL-IR', tagged)
    r.close()
    line, tr = imap_authenticate(srv.port, 'PLAIN',
                                 lambda ch: base64.b64decode(sasl_plain('', 'jdoe@example.com', 'jdoe-pw')))
    t.ok(line.startswith('a1 OK'), 'AUTHENTICATE PLAIN after "+ " (UPN)', tr)
    line, tr = imap_authenticate(srv.port, 'PLAIN',
                                 lambda ch: base64.b64decode(sasl_plain('someone', 'jdoe', 'jdoe-pw')))
    t.ok(line.startswith('a1 NO [AUTHENTICATIONFAILED]'), 'PLAIN with another authorization identity refused', line)
    answers = iter([b'EXAMPLE\\mmiller\\mike', b'mmiller-pw'])
    line, tr = imap_authenticate(srv.port, 'LOGIN', lambda ch: next(answers))
    t.ok(line.startswith('a1 OK'), 'AUTHENTICATE LOGIN (three-part name)', tr)
    line, tr = imap_authenticate(srv.port, 'PLAIN', lambda ch: RawLine('*'))
    t.ok(line.startswith('a1 BAD') and 'cancel' in line.lower(), 'AUTHENTICATE cancelled with *', line)
    line, tr = imap_authenticate(srv.port, 'PLAIN', lambda ch: RawLine('!!!notbase64'))
    t.ok(line.startswith('a1 BAD'), 'malformed base64: BAD', line)
    line, tr = imap_authenticate(srv.port, 'CRAM-MD5', lambda ch: b'')
    t.ok(line.startswith('a1 NO'), 'unknown mechanism: NO', line)
    line, tr = imap_authenticate(srv.port, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'AUTHENTICATE NTLM (impacket NTLMv2)', tr)
    t.ok(tr[2] == 'S: + ' or tr[2] == 'S: +', 'NTLM: empty "+ " first (MS-OXIMAP4)', tr)
    line, tr = imap_authenticate(srv.port, 'NTLM', impacket_ntlm('jdoe\\helpdesk', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'AUTHENTICATE NTLM naming a delegate mailbox', tr)
    client = NtlmAuthClient('asmith', 'asmith-pw', 'EXAMPLE')
    try:
        line, tr = imap_authenticate(srv.port, 'NTLM', client)
    finally:
        client.close()
    t.ok(line.startswith('a1 OK'), 'AUTHENTICATE NTLM (Samba ntlm_auth NTLMv2)', tr)
    line, tr = imap_authenticate(srv.port, 'NTLM', impacket_ntlm('jdoe', 'wrong', 'EXAMPLE'))
    t.ok(line.startswith('a1 NO [AUTHENTICATIONFAILED] ' + BAD), 'AUTHENTICATE NTLM wrong password', line)
    line, tr = imap_authenticate(srv.port, 'NTLM', lambda ch: b'NTLMSSP\0garbage')
    t.ok(line.startswith('a1 NO'), 'malformed NTLM blob refused', line)
    # curl: clear text and NTLM
    r = subprocess.run(['curl', '-sS', '--max-time', '20', '-u', 'EXAMPLE\\jdoe:jdoe-pw',
                        'imap://127.0.0.1:%d/' % srv.port], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    t.ok(r.returncode == 0 and 'INBOX' in r.stdout, 'curl imap:// lists INBOX', r.stdout + r.stderr)
    r = curl_ntlm('imap://127.0.0.1:%d/INBOX;UID=1' % srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
    t.ok(r.returncode == 0 and 'Subject: hello' in r.stdout, 'curl imap:// AUTH=NTLM fetches UID 1', r.stderr[-800:])


def test_folders(t, srv):
    m = connect(srv, 'EXAMPLE\\asmith', 'asmith-pw')
    typ, data = m.list()
    t.ok(typ == 'OK' and data == [b'(\\HasNoChildren) "." INBOX'], 'LIST on a fresh Maildir: INBOX only', data)
    typ, data = m.list('""', '""')
    t.eq(data, [b'(\\Noselect) "." ""'], 'LIST "" "": the hierarchy delimiter')
    for name in ('Sent', 'Projects', 'Projects.2025', 'Projects.2025.Q1', 'Entw&APw-rfe'):
        typ, data = m.create(name)
        t.eq(typ, 'OK', 'CREATE %s' % name)
    typ, data = m.create('Sent')
    t.ok(typ == 'NO' and b'ALREADYEXISTS' in data[0], 'CREATE an existing folder: NO [ALREADYEXISTS]', data)
    typ, data = m.create('INBOX')
    t.eq(typ, 'NO', 'CREATE INBOX: NO')
    t.eq(m.create('inbox.Child')[0], 'OK', 'CREATE inbox.Child')
    typ, data = m.list('""', 'INBOX.*')
    t.eq(data, [b'(\\HasNoChildren) "." INBOX.Child'], 'a child of INBOX is named with INBOX in capitals')
    t.eq(m.delete('INBOX.child')[0], 'NO', 'names below INBOX keep the case of the rest')
    t.eq(m.delete('Inbox.Child')[0], 'OK', 'DELETE Inbox.Child')
    typ, data = m.create('Bad&Jjo')
    t.eq(typ, 'NO', 'CREATE with broken modified UTF-7: NO')
    typ, data = m.rename('Projects', 'Projects.Inner')
    t.eq(typ, 'NO', 'RENAME a folder under itself: NO')
    typ, data = m.list()
    t.eq(sorted(data), sorted([b'(\\HasNoChildren) "." INBOX', b'(\\HasNoChildren) "." Entw&APw-rfe',
                              b'(\\HasChildren) "." Projects', b'(\\HasChildren) "." Projects.2025',
                              b'(\\HasNoChildren) "." Projects.2025.Q1', b'(\\HasNoChildren \\Sent) "." Sent']),
         'LIST "" "*": every folder, CHILDREN and SPECIAL-USE attributes')
    typ, data = m.list('""', '%')
    t.eq(sorted(data), sorted([b'(\\HasNoChildren) "." INBOX', b'(\\HasNoChildren) "." Entw&APw-rfe',
                              b'(\\HasChildren) "." Projects', b'(\\HasNoChildren \\Sent) "." Sent']),
         'LIST "" "%": the top level only')
    t0 = time.monotonic()
    typ, data = m.list('""', '"' + '*a' * 200 + 'b"')
    t.ok(typ == 'OK' and data == [None] and time.monotonic() - t0 < 10,
         'LIST with a pattern of 200 wildcards answers at once (%.3f s)' % (time.monotonic() - t0), data)
    typ, data = m.list('""', '*.2025%')
    t.eq(data, [b'(\\HasChildren) "." Projects.2025'], 'LIST "*.2025%"')
    typ, data = m.list('Projects.', '%')
    t.eq(data, [b'(\\HasChildren) "." Projects.2025'], 'LIST with a reference')
    typ, data = m.list('""', 'inbox')
    t.eq(data, [b'(\\HasNoChildren) "." INBOX'], 'LIST matches inbox case-insensitively')
    typ, data = m.rename('Projects', 'Work')
    t.eq(typ, 'OK', 'RENAME Projects Work')
    typ, data = m.list('""', 'Work*')
    t.eq(sorted(data), sorted([b'(\\HasChildren) "." Work', b'(\\HasChildren) "." Work.2025',
                              b'(\\HasNoChildren) "." Work.2025.Q1']), 'RENAME moved the children')
    m.create('Virt.Leaf.Deep')
    typ, data = m.rename('Virt.Leaf', 'Real')
    typ2, data2 = m.list('""', 'Real*')
    t.ok(typ == 'OK' and sorted(data2) == sorted([b'(\\Noselect \\HasChildren) "." Real', b'(\\HasNoChildren) "." Real.Deep']),
         'RENAME of a name that exists only through its children moves them (as Dovecot)', (data, data2))
    typ, data = m.rename('Nope', 'Other')
    t.ok(typ == 'NO' and b'NONEXISTENT' in data[0], 'RENAME of a missing folder: NO [NONEXISTENT]', data)
    typ, data = m.delete('Work')
    t.eq(typ, 'NO', 'DELETE of a folder with children: NO')
    typ, data = m.delete('Work.2025.Q1')
    t.eq(typ, 'OK', 'DELETE a leaf')
    typ, data = m.delete('INBOX')
    t.eq(typ, 'NO', 'DELETE INBOX: NO')
    # subscriptions in Dovecot's file
    t.eq(m.subscribe('Sent')[0], 'OK', 'SUBSCRIBE Sent')
    t.eq(m.subscribe('Work.2025')[0], 'OK', 'SUBSCRIBE Work.2025')
    t.eq(m.subscribe('INBOX')[0], 'OK', 'SUBSCRIBE INBOX')
    t.eq(m.subscribe('Missing')[0], 'NO', 'SUBSCRIBE a missing folder: NO')
    typ, data = m.lsub('""', '*')
    t.eq(sorted(data), sorted([b'() "." Sent', b'() "." Work.2025', b'() "." INBOX']),
         'LSUB "" "*" (attributes as Dovecot: none for existing folders)')
    typ, data = m.lsub('""', '%')
    t.ok(b'(\\Noselect) "." Work' in data and b'() "." Sent' in data,
         'LSUB "%": an unsubscribed parent of a subscribed child is \\Noselect', data)
    typ, data = m._simple_command('LIST', '(SPECIAL-USE)', '""', '*')
    data = m.untagged_responses.pop('LIST', [])
    t.eq(data, [b'(\\HasNoChildren \\Sent) "." Sent'], 'LIST (SPECIAL-USE) "" "*" (RFC 6154)')
    typ, data = m._simple_command('LIST', '(SUBSCRIBED)', '""', '*', 'RETURN', '(CHILDREN)')
    data = m.untagged_responses.pop('LIST', [])
    t.eq(sorted(data), sorted([b'(\\Subscribed \\HasNoChildren \\Sent) "." Sent',
                              b'(\\Subscribed \\HasNoChildren) "." Work.2025',
                              b'(\\Subscribed \\HasNoChildren) "." INBOX']),
         'LIST (SUBSCRIBED) ... RETURN (CHILDREN) (RFC 5258 syntax)')
    typ, data = m._simple_command('LIST', '""', '(INBOX Sent)', 'RETURN', '(SUBSCRIBED)')
    data = m.untagged_responses.pop('LIST', [])
    t.eq(sorted(data), sorted([b'(\\Subscribed \\HasNoChildren \\Sent) "." Sent',
                              b'(\\Subscribed \\HasNoChildren) "." INBOX']),
         'LIST with two patterns and RETURN (SUBSCRIBED)')
    t.eq(m.unsubscribe('Sent')[0], 'OK', 'UNSUBSCRIBE Sent')
    with open(os.path.join(srv.root, 'vmail', 'asmith', 'Maildir', 'subscriptions')) as f:
        subs = f.read()
    t.eq(sorted(subs.split()), ['INBOX', 'Work.2025'], 'subscriptions file: one name per line (Dovecot format)')
    typ, data = m.status('INBOX', '(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)')
    t.ok(typ == 'OK' and re.match(rb'INBOX \(MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY \d+ UNSEEN 0\)', data[0]),
         'STATUS INBOX', data)
    typ, data = m.status('Missing', '(MESSAGES)')
    t.eq(typ, 'NO', 'STATUS of a missing folder: NO')
    typ, data = m.namespace()
    t.eq(data, [b'(("" ".")) NIL NIL'], 'NAMESPACE')
    m.logout()


def test_append_store(t, srv):
    m = connect(srv, 'EXAMPLE\\bjones', 'bjones-pw')
    msg = b'From: b@example.com\r\nSubject: appended\r\n\r\nbody text here\r\n'
    typ, data = m.append('INBOX', '(\\Seen $Important)', imaplib.Time2Internaldate(1700000000), msg)
    t.ok(typ == 'OK' and re.search(rb'\[APPENDUID \d+ 1\]', data[0]), 'APPEND with flags and date: APPENDUID', data)
    typ, data = m.append('Nope', None, None, msg)
    t.ok(typ == 'NO' and b'TRYCREATE' in data[0], 'APPEND to a missing folder: NO [TRYCREATE]', data)
    m.append('INBOX', None, None, msg.replace(b'appended', b'second'))
    m.append('INBOX', '(\\Flagged)', None, msg.replace(b'appended', b'third'))
    typ, data = m.select('INBOX')
    t.eq(data, [b'3'], 'SELECT after APPEND: 3 messages')
    typ, data = m.fetch('1', '(FLAGS INTERNALDATE RFC822.SIZE)')
    t.ok(b'\\Seen' in data[0] and b'$Important' in data[0] and b'"14-Nov-2023 22:13:20 +0000"' in data[0]
         and b'RFC822.SIZE %d' % len(msg) in data[0], 'FETCH FLAGS/INTERNALDATE/RFC822.SIZE of the appended', data)
    typ, data = m.fetch('1', '(BODY.PEEK[])')
    t.eq(data[0][1], msg, 'BODY.PEEK[] is the message as appended')
    typ, data = m.fetch('2', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
    t.eq(data[0][1], b'Subject: second\r\n\r\n', 'BODY.PEEK[HEADER.FIELDS (SUBJECT)]')
    typ, data = m.fetch('2', '(BODY.PEEK[TEXT]<5.4>)')
    t.ok(data[0][0].endswith(b'BODY[TEXT]<5> {4}') and data[0][1] == b'text', 'partial BODY.PEEK[TEXT]<5.4>', data)
    typ, data = m.fetch('2', '(FLAGS)')
    t.ok(b'\\Seen' not in data[0], 'PEEK did not set \\Seen', data)
    typ, data = m.fetch('2', '(BODY[TEXT])')
    t.ok(b'\\Seen' in b''.join(x if isinstance(x, bytes) else b''.join(x) for x in data),
         'BODY[TEXT] sets \\Seen and reports FLAGS', data)
    typ, data = m.fetch('3', '(ENVELOPE BODYSTRUCTURE)')
    t.ok(b'ENVELOPE (NIL "third"' in data[0] and b'BODYSTRUCTURE ("text" "plain"' in data[0],
         'ENVELOPE and BODYSTRUCTURE', data)
    typ, data = m.store('1:3', '+FLAGS', '(\\Deleted)')
    t.eq(len(data), 3, 'STORE +FLAGS answers FETCH FLAGS for each message')
    typ, data = m.store('2', '-FLAGS.SILENT', '(\\Deleted)')
    t.eq(data, [None], 'STORE -FLAGS.SILENT answers nothing')
    typ, data = m.uid('STORE', '3', 'FLAGS', '(\\Answered $Label1)')
    t.ok(b'UID 3' in data[0] and b'$Label1' in data[0] and b'\\Deleted' not in data[0], 'UID STORE FLAGS replaces', data)
    typ, data = m.store('1', '+FLAGS', '(%s)' % ' '.join('k%d' % i for i in range(30)))
    t.ok(typ == 'NO' and b'LIMIT' in data[0], 'STORE of more keywords than Maildir has letters: NO [LIMIT]', data)
    try:
        typ, data = m.store('1', '+FLAGS', '(\\Bogus)')
    except imaplib.IMAP4.error as e:
        typ, data = 'BAD', str(e)
    t.ok(typ == 'BAD' and 'Bogus' in str(data), 'STORE of an unknown system flag: BAD', data)
    typ, data = m.search(None, 'DELETED')
    t.eq(data, [b'1'], 'SEARCH DELETED')
    typ, data = m.search(None, 'OR', 'FLAGGED', 'KEYWORD', '$Label1')
    t.eq(data, [b'3'], 'SEARCH OR FLAGGED KEYWORD')
    typ, data = m.uid('SEARCH', 'SUBJECT', 'second')
    t.eq(data, [b'2'], 'UID SEARCH SUBJECT')
    typ, data = m.search(None, 'BODY', '"TEXT HERE"', 'NOT', 'SEEN')
    t.eq(data, [b'3'], 'SEARCH BODY (case-insensitive) NOT SEEN')
    typ, data = m.search('UTF-8', 'LARGER', '10', 'UID', '2:*')
    t.eq(data, [b'2 3'], 'SEARCH CHARSET UTF-8 LARGER UID 2:*')
    typ, data = m.search('X-NO-SUCH-CHARSET', 'ALL')
    t.eq(typ, 'NO', 'SEARCH with an unknown charset: NO [BADCHARSET]')
    typ, data = m.expunge()
    t.eq(data, [b'1'], 'EXPUNGE: * 1 EXPUNGE')
    typ, data = m.search(None, 'ALL')
    t.eq(data, [b'1 2'], 'two left after EXPUNGE')
    m.store('2', '+FLAGS', '\\Deleted')
    m.store('1', '+FLAGS', '\\Deleted')
    m.response('EXPUNGE')
    typ, data = m.uid('EXPUNGE', '3')
    t.eq(m.response('EXPUNGE')[1], [b'2'], 'UID EXPUNGE 3 expunges only UID 3')
    typ, data = m.close()
    t.eq(typ, 'OK', 'CLOSE (expunges \\Deleted silently)')
    typ, data = m.status('INBOX', '(MESSAGES)')
    t.ok(b'MESSAGES 0' in data[0], 'CLOSE expunged the last \\Deleted message', data)
    m.state = 'SELECTED'  # imaplib would refuse by itself
    try:
        typ, data = m.fetch('1', 'FLAGS')
    except imaplib.IMAP4.error as e:
        typ, data = 'BAD', str(e)
    t.ok(typ == 'BAD' and 'No mailbox selected' in str(data), 'FETCH after CLOSE: BAD (no mailbox selected)', data)
    m.state = 'AUTH'
    m.logout()


def test_copy_move(t, srv):
    m = connect(srv, 'EXAMPLE\\mmiller\\mike', 'mmiller-pw')
    for i in range(4):
        m.append('INBOX', None, None, b'Subject: m%d\r\n\r\nx\r\n' % i)
    m.create('Archive')
    m.select('INBOX')
    m.store('1', '+FLAGS', '($Project \\Flagged)')
    typ, data = m.copy('1:2', 'Archive')
    t.ok(typ == 'OK' and re.search(rb'\[COPYUID \d+ 1:2 1:2\]', data[0]), 'COPY: COPYUID', data)
    typ, data = m.uid('COPY', '3', 'Nope')
    t.ok(typ == 'NO' and b'TRYCREATE' in data[0], 'COPY to a missing folder: NO [TRYCREATE]', data)
    typ, data = m._simple_command('MOVE', '3:4', 'Archive')
    resp = m.untagged_responses
    t.ok(typ == 'OK' and any(b'COPYUID' in x for x in resp.get('OK', [])), 'MOVE: untagged COPYUID', (typ, data, resp))
    t.eq(resp.get('EXPUNGE'), [b'4', b'3'], 'MOVE: EXPUNGE responses')
    typ, data = m.select('Archive', readonly=True)
    t.eq(data, [b'4'], 'EXAMINE Archive: 4 messages')
    typ, data = m.store('1', '+FLAGS', '\\Seen')
    t.eq(typ, 'NO', 'STORE in an EXAMINEd mailbox: NO')
    typ, data = m.fetch('1:*', '(BODY[HEADER.FIELDS (SUBJECT)])')
    subjects = [x[1].strip() for x in data if isinstance(x, tuple)]
    t.eq(subjects, [b'Subject: m0', b'Subject: m1', b'Subject: m2', b'Subject: m3'], 'copied and moved messages in order')
    typ, data = m.fetch('1', 'FLAGS')
    t.ok(b'\\Seen' not in data[0], 'BODY[] in EXAMINE does not set \\Seen', data)
    t.ok(b'$Project' in data[0] and b'\\Flagged' in data[0], 'COPY kept the flags and the keyword', data)
    m._simple_command('UNSELECT')
    b = connect(srv, 'EXAMPLE\\mmiller\\mike', 'mmiller-pw')
    b.create('Doomed')
    b.select('Doomed')
    m.delete('Doomed')
    try:
        b.noop()
        bye = b.untagged_responses.get('BYE', [])
    except imaplib.IMAP4.abort as e:
        bye = [str(e).encode()]
    t.ok(any(b'deleted' in x for x in bye), 'selected mailbox deleted by another session: BYE', bye)
    try:
        b.logout()
    except Exception:  # noqa: BLE001 - the server already closed
        pass
    typ, data = m.rename('INBOX', 'Old')
    t.eq(typ, 'OK', 'RENAME INBOX Old')
    typ, data = m.status('INBOX', '(MESSAGES)')
    t.ok(b'MESSAGES 0' in data[0], 'RENAME INBOX left INBOX empty', data)
    typ, data = m.status('Old', '(MESSAGES)')
    t.ok(b'MESSAGES 2' in data[0], 'RENAME INBOX moved its messages', data)
    m.logout()


def untagged_until(r, pred, timeout=10):
    """Reads lines (no command) until pred(line); returns the lines read."""
    r.c.s.settimeout(timeout)
    lines = []
    try:
        while True:
            ln = r.c.readline()
            lines.append(ln)
            if pred(ln):
                return lines
    finally:
        r.c.s.settimeout(20)


def test_notify(t, srv):
    who = ('EXAMPLE\\bjones\\bjones-projects', 'bjones-pw')
    a = Raw(srv.port)
    a.cmd('LOGIN %s %s' % (imap_quote(who[0]), who[1]))
    u, tagged = a.cmd('SELECT INBOX')
    base = int([x for x in u if x.endswith(' EXISTS')][0].split()[1])
    b = connect(srv, *who)
    for i in range(3):
        b.append('INBOX', None, None, b'Subject: n%d\r\n\r\nx\r\n' % i)
    u, tagged = a.cmd('NOOP')
    t.ok('* %d EXISTS' % (base + 3) in u and tagged.endswith('OK NOOP completed.'),
         'NOOP reports EXISTS of messages appended by another session', u)
    b.select('INBOX')
    b.store(str(base + 1), '+FLAGS', '(\\Flagged)')
    u, tagged = a.cmd('NOOP')
    t.ok(any(x.startswith('* %d FETCH (FLAGS (\\Flagged' % (base + 1)) for x in u),
         'NOOP reports FETCH FLAGS changed by another session', u)
    b.store(str(base + 2), '+FLAGS', '(\\Deleted)')
    b.expunge()
    u, tagged = a.cmd('FETCH 1:* (FLAGS)')
    t.ok(not any('EXPUNGE' in x for x in u) and len([x for x in u if ' FETCH ' in x]) >= base + 2,
         'no EXPUNGE during FETCH; the expunged message keeps its number', u)
    u, tagged = a.cmd('STORE %d +FLAGS.SILENT (\\Seen)' % (base + 1))
    t.ok(not any('EXPUNGE' in x for x in u), 'no EXPUNGE during STORE', u)
    u, tagged = a.cmd('SEARCH ALL')
    t.ok(not any('EXPUNGE' in x for x in u), 'no EXPUNGE during SEARCH', u)
    u, tagged = a.cmd('UID SEARCH ALL')
    t.ok('* %d EXPUNGE' % (base + 2) in u, 'EXPUNGE sent after a UID command (RFC 3501 7.4.1)', u)
    # IDLE: changes arrive without a command
    a.c.send('i1 IDLE')
    t.eq(a.c.readline(), '+ idling', 'IDLE: continuation')
    b.append('INBOX', None, None, b'Subject: while idle\r\n\r\nx\r\n')
    t0 = time.monotonic()
    lines = untagged_until(a, lambda x: x.endswith(' EXISTS'))
    t.ok(lines[-1] == '* %d EXISTS' % (base + 3), 'IDLE: EXISTS for an APPEND by another session', lines)
    t.diag('IDLE saw the APPEND after %.3f s' % (time.monotonic() - t0))
    b.store('1', '+FLAGS', '(\\Deleted)')
    b.expunge()
    lines = untagged_until(a, lambda x: x.endswith(' EXPUNGE'))
    t.ok(lines[-1] == '* 1 EXPUNGE', 'IDLE: EXPUNGE by another session', lines)
    a.c.send('DONE')
    u, tagged = a.until('i1')
    t.eq(tagged, 'i1 OK Idle completed.', 'DONE ends IDLE')
    u, tagged = a.cmd('UID FETCH 1:* (FLAGS)')
    typ, data = b.uid('FETCH', '1:*', '(FLAGS)')
    t.eq([re.search(r'UID (\d+)', x).group(1) for x in u],
         [re.search(rb'UID (\d+)', x).group(1).decode() for x in data],
         'both sessions see the same UIDs (a delivery during a sync gets one UID)')
    b.logout()
    a.cmd('LOGOUT')
    a.close()


def test_lmtp_idle(t, d, srv, root):
    sock = os.path.join(tempdir('lmtpsock-'), 'lmtp')
    conf = d.write_config(mail_root=root, lmtp_listen=[sock])
    lm = Proc([build_path('standalone', 'xidentd-lmtp'), '-c', conf], name='xidentd-lmtp')
    try:
        wait_path(sock, proc=lm)
        a = Raw(srv.port)
        a.cmd('LOGIN %s jdoe-pw' % imap_quote('EXAMPLE\\jdoe'))
        u, tagged = a.cmd('SELECT INBOX')
        n = int([x for x in u if x.endswith(' EXISTS')][0].split()[1])
        a.c.send('i1 IDLE')
        a.c.readline()
        import smtplib
        c = smtplib.LMTP(sock)
        t0 = time.monotonic()
        refused = c.sendmail('sender@elsewhere.example', ['johnd@example.com'],
                             b'Subject: by lmtp\r\n\r\nhello\r\n')
        c.quit()
        t.eq(refused, {}, 'LMTP delivery to johnd@example.com')
        lines = untagged_until(a, lambda x: x.endswith(' EXISTS'))
        took = time.monotonic() - t0
        t.ok(lines[-1] == '* %d EXISTS' % (n + 1), 'IDLE session sees the LMTP delivery', lines)
        t.diag('LMTP delivery -> EXISTS in IDLE: %.3f s (2-core shared machine, noisy)' % took)
        a.c.send('DONE')
        a.until('i1')
        u, tagged = a.cmd('FETCH %d BODY.PEEK[HEADER.FIELDS (SUBJECT)]' % (n + 1))
        t.ok(any('by lmtp' in x for x in u), 'the delivered message is fetched', u)
        a.cmd('LOGOUT')
        a.close()
    finally:
        lm.stop()


class TlsLines:
    """Line reader over an ssl socket."""

    def __init__(self, sock):
        self.s = sock
        self.f = sock.makefile('rb')

    def send(self, text):
        self.s.sendall(text.encode() + b'\r\n')

    def readline(self):
        return self.f.readline().decode().rstrip('\r\n')


def test_tls(t, d, root):
    cert, key = throwaway_cert()
    port_s = free_port()
    # plaintext_logons = tls: clear text only over TLS, even from loopback
    srv = Server(d, root, name='xidentd-tls', tls_cert_file=cert, tls_key_file=key,
                 imaps_listen='127.0.0.1:%d' % port_s, plaintext_logons='tls')
    wait_port(port_s, proc=srv.proc)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    r = Raw(srv.port)
    t.ok('STARTTLS' in r.greeting and 'LOGINDISABLED' in r.greeting and 'AUTH=PLAIN' not in r.greeting
         and 'AUTH=NTLM' in r.greeting,
         'greeting before TLS: STARTTLS, LOGINDISABLED, only AUTH=NTLM', r.greeting)
    u, tagged = r.cmd('LOGIN %s jdoe-pw' % imap_quote('EXAMPLE\\jdoe'))
    t.ok(tagged.startswith('x1 NO [PRIVACYREQUIRED]'), 'LOGIN before TLS: NO [PRIVACYREQUIRED]', tagged)
    u, tagged = r.cmd('AUTHENTICATE PLAIN ' + sasl_plain('', 'EXAMPLE\\jdoe', 'jdoe-pw'))
    t.ok(tagged.startswith('x2 NO [PRIVACYREQUIRED]'), 'AUTHENTICATE PLAIN before TLS: NO [PRIVACYREQUIRED]', tagged)
    r.close()
    t.ok('event=13003' in srv.log() and 'plaintext' in srv.log().lower(), 'clear-text refusal logged')
    line, tr = imap_authenticate(srv.port, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'NTLM allowed without TLS', tr)
    m = imaplib.IMAP4('127.0.0.1', srv.port, timeout=20)
    m.starttls(ctx)
    caps = m.capability()[1][0]
    t.ok(b'STARTTLS' not in caps and b'LOGINDISABLED' not in caps and b'AUTH=PLAIN' in caps,
         'after STARTTLS: no STARTTLS, no LOGINDISABLED, AUTH=PLAIN', caps)
    m.login(imap_quote('EXAMPLE\\jdoe'), 'jdoe-pw')
    typ, data = m.select('INBOX')
    t.eq(typ, 'OK', 'SELECT over STARTTLS (relayed to the mail process)')
    typ, data = m.fetch('1', '(BODY.PEEK[])')
    t.ok(typ == 'OK' and b'Subject: hello' in data[0][1], 'FETCH BODY[] over STARTTLS', data)
    m.logout()
    m = imaplib.IMAP4_SSL('127.0.0.1', port_s, ssl_context=ctx, timeout=20)
    t.ok(m.welcome.startswith(b'* OK [CAPABILITY') and b'LOGINDISABLED' not in m.welcome,
         'imaps greeting over implicit TLS', m.welcome)
    m.login(imap_quote('EXAMPLE\\asmith'), 'asmith-pw')
    t.eq(m.select('INBOX')[0], 'OK', 'logon and SELECT over imaps')
    m.logout()
    # STARTTLS injection: a command pipelined behind STARTTLS is dropped
    c = LineConn(srv.port)
    c.readline()
    c.send('s1 STARTTLS\r\ns2 CAPABILITY')
    t.eq(c.readline(), 's1 OK Begin TLS negotiation now.', 'STARTTLS answer')
    s = ctx.wrap_socket(c.s, server_hostname='localhost')
    tl = TlsLines(s)
    tl.send('s3 NOOP')
    t.eq(tl.readline(), 's3 OK NOOP completed.', 'pipelined clear-text command after STARTTLS was dropped')
    s.close()
    srv.proc.stop()


def test_hostile(t, srv):
    r = Raw(srv.port)
    r.cmd('LOGIN %s jdoe-pw' % imap_quote('EXAMPLE\\jdoe'))
    u, tagged = r.cmd('SELECT INBOX')
    r.c.send('h1 APPEND INBOX {1073741824}')
    ln = r.c.readline()
    t.ok(ln.startswith('h1 BAD') or ln.startswith('h1 NO'), '1 GB literal announced: refused at once', ln)
    u, tagged = r.cmd('NOOP')
    t.ok(tagged.endswith('OK NOOP completed.'), 'the session goes on after the refused literal', tagged)
    deep = '(' * 200 + ')' * 200
    u, tagged = r.cmd('SEARCH ' + deep)
    t.ok(tagged.split()[1] == 'BAD', '200 nested parentheses: BAD', tagged)
    items = ','.join(str(i) for i in range(1, 20001, 2))
    t0 = time.monotonic()
    u, tagged = r.cmd('FETCH %s (FLAGS)' % items)
    t.ok(tagged.split()[1] in ('OK', 'BAD'), '10,000-item sequence set answered (%s)' % tagged.split()[1], tagged)
    t.diag('10,000-item sequence set: %.3f s' % (time.monotonic() - t0))
    u, tagged = r.cmd('UID FETCH %s (FLAGS)' % items)
    t.ok(tagged.split()[1] in ('OK', 'BAD'), '10,000-item UID set answered', tagged)
    u, tagged = r.cmd('FETCH 999 (FLAGS)')
    t.ok(tagged.split()[1] == 'BAD' and not u, 'message number beyond EXISTS: BAD', (u, tagged))
    u, tagged = r.cmd('UID FETCH 999 (FLAGS)')
    t.ok(tagged.split()[1] == 'OK' and not u, 'UID beyond UIDNEXT: OK, nothing', (u, tagged))
    u, tagged = r.cmd('FETCH 1 (FLAGS')
    t.ok(tagged.split()[1] == 'BAD', 'unbalanced parenthesis: BAD', tagged)
    u, tagged = r.cmd('FETCH 0:4294967296 FLAGS')
    t.ok(tagged.split()[1] == 'BAD', 'sequence number out of range: BAD', tagged)
    u, tagged = r.cmd('FETCH 1 BODY[HEADER.FIELDS (')
    t.ok(tagged.split()[1] == 'BAD', 'broken section: BAD', tagged)
    u, tagged = r.cmd('NOSUCHCOMMAND')
    t.ok(tagged.endswith('BAD Unknown command.'), 'unknown command: BAD', tagged)
    r.c.send(b'\x00\xff garbage')
    ln = r.c.readline()
    t.ok(' BAD ' in ln, 'NUL and 8-bit bytes in a command: BAD', ln)
    u, tagged = r.cmd('NOOP')
    t.ok(tagged.endswith('OK NOOP completed.'), 'the session survived every refusal', tagged)
    # an unterminated literal: the session waits for the bytes, the server goes on
    r.c.send('u1 APPEND INBOX {100}')
    ln = r.c.readline()
    t.ok(ln.startswith('+ '), 'synchronising literal accepted', ln)
    r.c.s.sendall(b'only part of it')
    r.close()
    # before logon: a big literal and a long line
    c = LineConn(srv.port)
    c.readline()
    c.send('a1 LOGIN {100000}')
    ln = c.readline()
    t.ok(ln.startswith('a1 BAD') or ln.startswith('* BYE'), 'big literal before logon refused', ln)
    c.close()
    c = LineConn(srv.port)
    c.readline()
    try:
        c.send('a1 NOOP ' + 'x' * 200000)
        ln = c.readline()
    except (OSError, EOFError) as e:
        ln = repr(e)
    t.ok('BAD' in ln or 'BYE' in ln or 'Error' in ln or 'reset' in ln.lower(), 'over-long line before logon refused', ln)
    c.close()
    t.ok(imap_login(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')[0].startswith('a1 OK'), 'server still serves logons')


def dovecot_imap(home, user, base):
    """The real Dovecot imap binary, preauthenticated over a pipe, as the vmail user."""
    import shlex
    conf = os.path.join(base, 'dovecot.conf')
    with open(conf, 'w') as f:
        f.write('mail_location = maildir:~/Maildir\nssl = no\nbase_dir = %s/run\nfirst_valid_uid = 1\n'
                'mail_uid = %d\nmail_gid = %d\nprotocols = imap\n' % (base, VMAIL_UID, VMAIL_UID))
    log = os.path.join(base, 'dovecot.log')
    argv = ['setpriv', '--reuid=%d' % VMAIL_UID, '--regid=%d' % VMAIL_UID, '--clear-groups',
            'env', '-i', 'USER=' + user, 'HOME=' + home, '/usr/lib/dovecot/imap', '-c', conf]
    return imaplib.IMAP4_stream('exec %s 2>>%s' % (' '.join(shlex.quote(a) for a in argv), shlex.quote(log))), log


def snapshot(m, folder):
    """(uidvalidity, uidnext, [uid flags...]) of a folder, through IMAP."""
    typ, data = m.status(folder, '(UIDVALIDITY UIDNEXT MESSAGES)')
    st = data[0].decode()
    m.select(folder, readonly=True)
    typ, data = m.uid('FETCH', '1:*', '(FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)')
    msgs = []
    for item in data:
        if item is None:
            continue
        line = item.decode() if isinstance(item, bytes) else item[0].decode()
        uid = re.search(r'UID (\d+)', line).group(1)
        flags = sorted(f for f in re.search(r'FLAGS \(([^)]*)\)', line).group(1).split() if f != '\\Recent')
        rest = re.sub(r'FLAGS \([^)]*\) ?', '', line)
        msgs.append((int(uid), flags, rest[rest.index('('):]))
    m.close()
    return (re.search(r'UIDVALIDITY (\d+)', st).group(1), re.search(r'UIDNEXT (\d+)', st).group(1),
            sorted(msgs))


def test_dovecot(t, srv, root):
    if not os.access('/usr/lib/dovecot/imap', os.X_OK):
        t.skip('Maildir shared with Dovecot', 'no /usr/lib/dovecot/imap')
        return
    home = os.path.join(root, 'vmail', 'helpdesk')
    m = connect(srv, 'EXAMPLE\\hdadmin\\helpdesk', 'hdadmin-pw')
    m.create('Shared')
    m.create('Shared.Sub')
    m.subscribe('Shared.Sub')
    for i in range(4):
        m.append('INBOX', '(\\Seen $Work)' if i % 2 else None, imaplib.Time2Internaldate(1700000000 + i),
                 b'From: "Ann" <ann@example.com>\r\nTo: desk@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?= %d\r\n'
                 b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n'
                 b'--b\r\nContent-Type: text/plain\r\n\r\nplain %d\r\n--b\r\nContent-Type: text/html\r\n\r\n'
                 b'<p>%d</p>\r\n--b--\r\n' % (i, i, i))
    m.append('Shared.Sub', None, None, b'Subject: sub\r\n\r\nx\r\n')
    m.select('INBOX')
    m.store('3', '+FLAGS', '(\\Flagged Other)')
    m.store('2', '+FLAGS', '(\\Deleted)')
    m.expunge()
    ours = snapshot(m, 'INBOX')
    ours_sub = snapshot(m, 'Shared.Sub')
    m.logout()
    base = tempdir('xddovecot-')
    os.chown(base, VMAIL_UID, VMAIL_UID)
    dc, log = dovecot_imap(home, 'helpdesk', base)
    theirs = snapshot(dc, 'INBOX')
    t.eq(len(ours[2]), 3, 'three messages left after the expunge')
    t.eq(theirs[:2], ours[:2], 'Dovecot opens the folder with the same UIDVALIDITY and UIDNEXT')
    t.eq([(u, f) for u, f, _ in theirs[2]], [(u, f) for u, f, _ in ours[2]],
         'Dovecot sees the same UIDs, flags and keywords')
    t.eq([x for _, _, x in theirs[2]], [x for _, _, x in ours[2]],
         'FETCH RFC822.SIZE ENVELOPE BODYSTRUCTURE identical to Dovecot')
    t.eq(snapshot(dc, 'Shared.Sub'), ours_sub, 'a subfolder made by xidentd: the same in Dovecot')
    typ, data = dc.lsub('""', '*')
    t.ok(b'Shared.Sub' in b' '.join(data), 'Dovecot reads the subscriptions xidentd wrote', data)
    typ, data = dc.list('""', '*')
    t.ok(any(b'Shared.Sub' in x for x in data) and any(x.endswith(b'"." Shared') for x in data),
         'Dovecot lists the folders with "." as separator', data)
    # and back: Dovecot changes, xidentd sees them
    dc.select('INBOX')
    dc.append('INBOX', '(\\Answered)', None, b'Subject: from dovecot\r\n\r\nx\r\n')
    dc.store('1', '+FLAGS', '(\\Draft)')
    dc.subscribe('Shared')
    dc.logout()
    m = connect(srv, 'EXAMPLE\\hdadmin\\helpdesk', 'hdadmin-pw')
    dc, log = dovecot_imap(home, 'helpdesk', base)
    t.eq(snapshot(m, 'INBOX'), snapshot(dc, 'INBOX'), 'after Dovecot changed the folder: the same on both sides')
    typ, data = m.lsub('""', '*')
    t.ok(b'"." Shared' in b' '.join(data) and b'Shared.Sub' in b' '.join(data),
         'xidentd reads the subscriptions Dovecot wrote', data)
    dc.logout()
    m.logout()
    with open(log) as f:
        dlog = f.read()
    t.ok('Error' not in dlog and 'Panic' not in dlog, 'Dovecot logged no error', dlog[-2000:])


def ok(t, r, text, name):
    u, tagged = r.cmd(text)
    good = tagged.split()[1] == 'OK'
    t.ok(good, name, (u[-5:], tagged))
    return u, tagged


def test_thunderbird(t, srv):
    """Thunderbird 115's documented first-sync sequence (lower-case UID
    fetch, the header-field list of its message list, IDLE, MOVE to Trash)."""
    r = Raw(srv.port)
    ok(t, r, 'capability', 'TB: capability')
    ok(t, r, 'authenticate PLAIN ' + sasl_plain('', 'EXAMPLE\\bjones', 'bjones-pw'), 'TB: AUTHENTICATE PLAIN (SASL-IR)')
    ok(t, r, 'ID ("name" "Thunderbird" "version" "115.4.1")', 'TB: ID')
    ok(t, r, 'namespace', 'TB: namespace')
    ok(t, r, 'list "" ""', 'TB: list "" ""')
    ok(t, r, 'list (special-use) "" "*"', 'TB: list (special-use)')
    ok(t, r, 'create "Trash"', 'TB: create Trash')
    ok(t, r, 'create "Sent"', 'TB: create Sent')
    u, _ = ok(t, r, 'lsub "" "*"', 'TB: lsub')
    u, _ = ok(t, r, 'list "" "*"', 'TB: list')
    t.ok(any('\\Trash' in x for x in u) and any('\\Sent' in x for x in u), 'TB: SPECIAL-USE Trash and Sent', u)
    r.c.send('a1 APPEND "Sent" (\\Seen) {40}')
    t.ok(r.c.readline().startswith('+ '), 'TB: APPEND continuation')
    r.c.s.sendall(b'Subject: sent by tb\r\n\r\nhello there....\r\n\r\n')
    u, tagged = r.until('a1')
    t.ok(tagged.startswith('a1 OK [APPENDUID'), 'TB: APPEND to Sent', tagged)
    r.c.send('a2 APPEND INBOX {52+}')
    r.c.s.sendall(b'From: x@example.com\r\nSubject: new mail\r\n\r\nsome text\r\n\r\n')
    u, tagged = r.until('a2')
    u, _ = ok(t, r, 'select "INBOX"', 'TB: select INBOX')
    exists = int([x for x in u if x.endswith(' EXISTS')][0].split()[1])
    u, _ = ok(t, r, 'UID fetch 1:* (FLAGS)', 'TB: UID fetch 1:* (FLAGS)')
    t.eq(len([x for x in u if ' FETCH ' in x]), exists, 'TB: flags of every message')
    u, _ = ok(t, r, 'UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject '
                    'Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type '
                    'Reply-To)])', 'TB: header fetch of the message list')
    t.ok(any('BODY[HEADER.FIELDS (' in x for x in u), 'TB: header fields answered', u[:2])
    if exists:
        uid = re.search(r'UID (\d+)', [x for x in u if ' FETCH ' in x][0]).group(1)
        u, _ = ok(t, r, 'UID fetch %s (UID RFC822.SIZE BODY.PEEK[])' % uid, 'TB: fetch the message body')
        ok(t, r, 'UID store %s +Flags (\\Seen)' % uid, 'TB: mark read')
        ok(t, r, 'UID move %s "Trash"' % uid, 'TB: UID MOVE to Trash')
    ok(t, r, 'STATUS "Sent" (UIDNEXT MESSAGES UNSEEN RECENT)', 'TB: STATUS of another folder')
    r.c.send('i1 IDLE')
    t.eq(r.c.readline(), '+ idling', 'TB: IDLE')
    r.c.send('DONE')
    u, tagged = r.until('i1')
    t.ok(tagged.startswith('i1 OK'), 'TB: DONE', tagged)
    ok(t, r, 'noop', 'TB: noop')
    ok(t, r, 'logout', 'TB: logout')
    r.close()


def test_outlook(t, srv):
    """Outlook's documented IMAP sequence: CAPABILITY, AUTHENTICATE NTLM
    (Secure Password Authentication), LIST/LSUB, SELECT, UID SEARCH/FETCH
    of headers and bodies, \\Deleted + EXPUNGE, APPEND to Drafts, CHECK."""
    port = srv.port
    line, tr = imap_authenticate(port, 'NTLM', impacket_ntlm('mmiller\\mike', 'mmiller-pw', 'EXAMPLE'))
    t.ok(line.startswith('a1 OK'), 'Outlook: AUTHENTICATE NTLM with account\\alias', tr)
    r = Raw(port)
    ok(t, r, 'CAPABILITY', 'Outlook: CAPABILITY')
    ok(t, r, 'LOGIN %s mmiller-pw' % imap_quote('EXAMPLE\\mmiller\\mike'), 'Outlook: LOGIN three-part name')
    ok(t, r, 'LIST "" "*"', 'Outlook: LIST')
    ok(t, r, 'LSUB "" "*"', 'Outlook: LSUB')
    ok(t, r, 'CREATE "Drafts"', 'Outlook: CREATE Drafts')
    r.c.send('d1 APPEND "Drafts" (\\Draft \\Seen) "25-Nov-2026 10:00:00 +0100" {27+}')
    r.c.s.sendall(b'Subject: draft\r\n\r\nunsent\r\n\r\n\r\n')
    u, tagged = r.until('d1')
    t.ok(tagged.startswith('d1 OK [APPENDUID'), 'Outlook: APPEND with date and LITERAL+', tagged)
    u, _ = ok(t, r, 'SELECT "INBOX"', 'Outlook: SELECT')
    u, _ = ok(t, r, 'UID SEARCH UNDELETED', 'Outlook: UID SEARCH UNDELETED')
    uids = u[0].split()[2:] if u and u[0].startswith('* SEARCH') else []
    u, _ = ok(t, r, 'UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER])', 'Outlook: header fetch')
    if uids:
        ok(t, r, 'UID FETCH %s (BODY.PEEK[] UID)' % uids[0], 'Outlook: body fetch')
        ok(t, r, 'UID STORE %s +FLAGS.SILENT (\\Deleted \\Seen)' % uids[0], 'Outlook: delete (silent)')
        u, _ = ok(t, r, 'EXPUNGE', 'Outlook: EXPUNGE')
        t.ok(any(x.endswith(' EXPUNGE') for x in u), 'Outlook: EXPUNGE response', u)
    ok(t, r, 'CHECK', 'Outlook: CHECK')
    ok(t, r, 'STATUS "Drafts" (MESSAGES UNSEEN)', 'Outlook: STATUS Drafts')
    ok(t, r, 'CLOSE', 'Outlook: CLOSE')
    ok(t, r, 'LOGOUT', 'Outlook: LOGOUT')
    r.close()


def test_kill_session(t, srv):
    a = connect(srv, 'EXAMPLE\\asmith', 'asmith-pw')
    a.select('INBOX')
    before = set(srv.children('xidentd-mail'))
    b = connect(srv, 'EXAMPLE\\jdoe', 'jdoe-pw')
    wait_until(lambda: set(srv.children('xidentd-mail')) - before, timeout=10, what='second session')
    victim = (set(srv.children('xidentd-mail')) - before).pop()
    os.kill(victim, 9)
    try:
        b.noop()
        dead = False
    except (imaplib.IMAP4.abort, OSError, EOFError):
        dead = True
    t.ok(dead, 'kill -9 of one session ends it')
    t.eq(a.noop()[0], 'OK', 'the other session goes on')
    t.ok(imap_login(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')[0].startswith('a1 OK'), 'new logons still served')
    a.logout()


def pss_kib(pid):
    with open('/proc/%d/smaps_rollup' % pid) as f:
        text = f.read()
    return int(re.search(r'^Pss:\s+(\d+) kB', text, re.M).group(1))


def test_memory(t, d, root, n=int(os.environ.get('XD_MEM_CONNS', '1000'))):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 500), hard))
    if hard < n + 200:
        t.skip('memory at %d connections' % n, 'open file limit %d' % hard)
        return
    srv = Server(d, root, name='xidentd-mem', max_connections_per_source=n + 10)
    net = srv.children('xidentd-net')[0]
    imap_login(srv.port, 'x', 'y')
    pss0 = pss_kib(net)
    conns = []
    for _ in range(n):
        c = LineConn(srv.port)
        c.readline()
        conns.append(c)
    pss1 = pss_kib(net)
    for c in conns:  # after a command: the parser is allocated
        c.send('c1 CAPABILITY')
    for c in conns:
        c.readline()
        c.readline()
    pss2 = pss_kib(net)
    greeted = (pss1 - pss0) * 1024.0 / n
    used = (pss2 - pss0) * 1024.0 / n
    t.diag('network process at %d idle IMAP connections: PSS %d -> %d KiB after the greeting '
           '(%.0f bytes each), %d KiB after a CAPABILITY (%.0f bytes each); kernel socket buffers '
           'not included' % (n, pss0, pss1, greeted, pss2, used))
    if os.environ.get('XD_XIDENTD'):
        t.skip('idle IMAP connection under 8 KiB', 'sanitizer build: ASan pads every allocation')
    else:
        t.ok(used <= 8192, 'idle IMAP connection costs <= 8 KiB PSS (%.0f bytes)' % used)
    for c in conns:
        try:
            c.f.close()
        except OSError:
            pass
        c.close()
    srv.proc.stop()


def test_ntlm_disabled(t, d, root):
    srv = Server(d, root, name='xidentd-nontlm', ntlm_protocols='pop3')
    before = len(srv.log())
    line, tr = imap_authenticate(srv.port, 'NTLM', impacket_ntlm('jdoe', 'jdoe-pw', 'EXAMPLE'))
    t.eq(line, 'a1 NO [CONTACTADMIN] The NTLM Authentication package has been disabled for this protocol.',
         'NTLM disabled for IMAP: Exchange\'s text')
    wait_until(lambda: 'event=13004' in srv.log()[before:], timeout=10, what='event 13004')
    t.ok('protocol=imap' in srv.log()[before:], 'NTLM disabled: event 13004 for imap')
    srv.proc.stop()


def test_tempfail(t, d, srv):
    d.stop()
    try:
        line, tr = imap_login(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')
        t.ok(line.startswith('a1 NO [UNAVAILABLE]'), 'directory down: NO [UNAVAILABLE], never bad password', tr)
    finally:
        d.start()
    wait_until(lambda: imap_login(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')[0].startswith('a1 OK'),
               timeout=30, what='logons after the directory is back')
    t.ok(True, 'logons work again once the directory is back')


def test_concurrent(t, srv, root):
    """Four sessions append, flag, expunge and IDLE on one folder at once
    (an imaptest-like load): afterwards every session, after NOOP, sees the
    same UIDs and flags, and the uidlist gives each file one UID."""
    import random
    import threading
    who = ('EXAMPLE\\hdadmin\\helpdesk', 'hdadmin-pw')
    m = connect(srv, *who)
    m.create('Load')
    m.logout()
    errors = []

    def worker(k):
        rnd = random.Random(k)
        try:
            c = connect(srv, *who)
            c.select('Load')
            for i in range(40):
                op = rnd.random()
                if op < 0.4:
                    c.append('Load', None, None, b'Subject: load %d %d\r\n\r\nx\r\n' % (k, i))
                elif op < 0.7:
                    typ, data = c.search(None, 'ALL')
                    nums = data[0].split()
                    if nums:
                        c.store(rnd.choice(nums).decode(), '+FLAGS', rnd.choice(['\\Seen', '\\Flagged', 'Kw%d' % k]))
                elif op < 0.85:
                    typ, data = c.search(None, 'ALL')
                    nums = data[0].split()
                    if nums:
                        c.store(rnd.choice(nums).decode(), '+FLAGS', '\\Deleted')
                        c.expunge()
                else:
                    c.noop()
                    c.uid('FETCH', '1:*', '(FLAGS)')
            c.logout()
        except Exception as e:  # noqa: BLE001 - collected and reported
            errors.append('%d: %r' % (k, e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    t.eq(errors, [], 'four concurrent sessions: no command failed')
    views = []
    for _ in range(2):
        c = connect(srv, *who)
        c.select('Load')
        typ, data = c.uid('FETCH', '1:*', '(FLAGS)')
        views.append(sorted((re.search(rb'UID (\d+)', x).group(1), sorted(re.search(rb'FLAGS \(([^)]*)\)', x).group(1).replace(b'\\Recent', b'').split()))
                            for x in data if x))
        c.logout()
    t.ok(views[0] == views[1] and len(views[0]) > 0, 'two new sessions see the same UIDs and flags (%d messages)' % len(views[0]))
    ul = os.path.join(root, 'vmail', 'helpdesk', 'Maildir', '.Load', 'dovecot-uidlist')
    with open(ul) as f:
        lines = f.read().splitlines()[1:]
    names = [ln.split(':', 1)[1] for ln in lines if ':' in ln]
    uids = [ln.split()[0] for ln in lines]
    t.ok(len(names) == len(set(names)) and len(uids) == len(set(uids)), 'uidlist: every file has one UID, every UID one file')
    cur = os.listdir(os.path.join(root, 'vmail', 'helpdesk', 'Maildir', '.Load', 'cur')) + \
        os.listdir(os.path.join(root, 'vmail', 'helpdesk', 'Maildir', '.Load', 'new'))
    t.eq(len(cur), len(views[0]), 'as many files as messages')


def test_reload(t, d, root):
    """SIGHUP: an IMAP listener added to a POP3-only server, then moved;
    an established IMAP session goes on."""
    import signal
    pop = free_port()
    srv = Server(d, root, name='xidentd-imap-reload', imap_listen=None, pop3_listen='127.0.0.1:%d' % pop)
    imap_port = free_port()

    def hup(**keys):
        keys.setdefault('logon_failure_delay', 50)
        d.write_config(path=srv.conf, xidentd_chroot=srv.chroot, mail_root=srv.root, **keys)
        mark = len(srv.log())
        os.kill(srv.proc.pid, signal.SIGHUP)
        wait_until(lambda: 'listeners after reload' in srv.log()[mark:], timeout=20, what='reload')

    hup(pop3_listen='127.0.0.1:%d' % pop, imap_listen='127.0.0.1:%d' % imap_port)
    line, tr = imap_login(imap_port, 'EXAMPLE\\jdoe', 'jdoe-pw')
    t.ok(line.startswith('a1 OK'), 'SIGHUP added an IMAP listener: logons served', tr)
    m = imaplib.IMAP4('127.0.0.1', imap_port, timeout=20)
    m.login(imap_quote('EXAMPLE\\jdoe'), 'jdoe-pw')
    m.select('INBOX')
    new_port = free_port()
    hup(pop3_listen='127.0.0.1:%d' % pop, imap_listen='127.0.0.1:%d' % new_port)
    t.ok(imap_login(new_port, 'EXAMPLE\\jdoe', 'jdoe-pw')[0].startswith('a1 OK'), 'IMAP listener moved by SIGHUP')
    t.eq(m.noop()[0], 'OK', 'the established IMAP session goes on across the reloads')
    m.logout()
    r = Raw(pop)
    t.ok(r.greeting.startswith('+OK'), 'the POP3 listener still speaks POP3', r.greeting)
    r.close()
    srv.proc.stop()


WORDS = ['FETCH', 'UID', 'STORE', 'SEARCH', 'COPY', 'MOVE', 'EXPUNGE', 'SELECT', 'EXAMINE', 'LIST', 'LSUB',
         'STATUS', 'APPEND', 'CREATE', 'DELETE', 'RENAME', 'SUBSCRIBE', 'CLOSE', 'UNSELECT', 'NOOP', 'CHECK',
         'INBOX', 'R', 'R.S', '"R"', '""', '*', '%', '1', '2:*', '1,3', '*:1', '0', '4294967295', '(', ')',
         '(FLAGS)', 'FLAGS', '+FLAGS', '-FLAGS.SILENT', '\\Seen', '\\Deleted', '$kw', 'BODY[]', 'BODY.PEEK[1]',
         'BODY[HEADER.FIELDS (FROM)]<0.5>', 'ENVELOPE', 'BODYSTRUCTURE', 'RFC822.SIZE', 'ALL', 'NOT', 'OR',
         'SUBJECT', 'TEXT', 'x', 'CHARSET', 'UTF-8', '(MESSAGES UNSEEN)', 'RETURN', '(SUBSCRIBED)', 'NIL',
         '{3+}\r\nabc', '"a\\"b"', 'SINCE', '1-Jan-2020', 'LARGER', '10', 'HEADER', 'X-Y', 'KEYWORD']


def test_random(t, srv):
    """Random commands from IMAP's vocabulary: every one is answered
    (tagged), the session survives, the server logs no crash."""
    import random
    rnd = random.Random(int(os.environ.get("XD_SEED", "9")))
    r = Raw(srv.port)
    r.cmd('LOGIN %s mmiller-pw' % imap_quote('EXAMPLE\\mmiller\\mike'))
    r.cmd('CREATE R')
    answered = 0
    for i in range(int(os.environ.get("XD_RANDOM_N", "400"))):
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(0, 6))]
        if rnd.random() < 0.3:
            words.insert(0, 'UID')
        try:
            u, tagged = r.cmd(' '.join(words) if words else 'NOOP', tag='r%d' % i)
        except (OSError, EOFError) as e:
            t.ok(False, 'random command %d answered' % i, '%r after %r' % (e, words))
            break
        answered += tagged.split()[1] in ('OK', 'NO', 'BAD')
    t.eq(answered, int(os.environ.get('XD_RANDOM_N', '400')), 'all random commands answered OK/NO/BAD')
    u, tagged = r.cmd('NOOP')
    t.ok(tagged.endswith('OK NOOP completed.'), 'the session survived the random commands', tagged)
    r.cmd('LOGOUT')
    r.close()


PREAUTH_WORDS = ['CAPABILITY', 'NOOP', 'ID', 'NIL', '("a" "b")', 'STARTTLS', 'AUTHENTICATE', 'PLAIN', 'LOGIN',
                 'NTLM', 'CRAM-MD5', '=', 'dGVzdA==', 'x', '"y"', '{2+}\r\nab', '(', ')', 'SELECT', 'ENABLE',
                 'A\\B\\C', '*', '""', 'TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==']


def test_random_preauth(t, srv):
    """Random commands before logon, where the network process (every
    client's) answers: it must answer each or close that connection only,
    and keep serving logons."""
    import random
    rnd = random.Random(int(os.environ.get('XD_SEED', '9')))
    n = int(os.environ.get('XD_RANDOM_N', '400'))
    net = srv.children('xidentd-net')
    r, answered, closed = None, 0, 0
    for i in range(n):
        if r is None:
            r = Raw(srv.port)
        words = [rnd.choice(PREAUTH_WORDS) for _ in range(rnd.randint(0, 4))]
        try:
            r.c.send('p%d %s' % (i, ' '.join(words)))
            while True:
                ln = r.c.readline()
                if ln.startswith('+'):
                    r.c.send('*')  # cancel whatever SASL exchange began
                    continue
                if ln.startswith('p%d ' % i) or ln.startswith('* BYE'):
                    break
            answered += 1
            if ln.startswith('* BYE') or ' STARTTLS' in ' '.join(words) and ln.endswith('negotiation now.'):
                r.close()
                r = None
        except (OSError, EOFError):
            closed += 1
            answered += 1
            r.close()
            r = None
    if r is not None:
        r.close()
    t.eq(answered, n, 'every random command before logon answered (or its connection closed: %d)' % closed)
    t.eq(srv.children('xidentd-net'), net, 'the network process is the same one (no crash)')
    t.ok(imap_login(srv.port, 'EXAMPLE\\jdoe', 'jdoe-pw')[0].startswith('a1 OK'), 'logons still served')


with Tap() as t:
    root = make_root()
    with Slapd(ldif=[sample_ldif(root, uid=VMAIL_UID, gid=VMAIL_UID)]) as d:
        srv = Server(d, root)
        srv.root = root
        only = os.environ.get('XD_ONLY')
        tests = [('slice', test_slice, (t, srv)), ('logons', test_logons, (t, srv)),
                 ('refusals', test_refusals, (t, srv)), ('sasl', test_sasl, (t, srv)),
                 ('folders', test_folders, (t, srv)), ('append_store', test_append_store, (t, srv)),
                 ('copy_move', test_copy_move, (t, srv)), ('notify', test_notify, (t, srv)),
                 ('lmtp_idle', test_lmtp_idle, (t, d, srv, root)), ('tls', test_tls, (t, d, root)),
                 ('hostile', test_hostile, (t, srv)), ('dovecot', test_dovecot, (t, srv, root)),
                 ('thunderbird', test_thunderbird, (t, srv)), ('outlook', test_outlook, (t, srv)),
                 ('kill', test_kill_session, (t, srv)), ('memory', test_memory, (t, d, root)),
                 ('ntlm_disabled', test_ntlm_disabled, (t, d, root)), ('concurrent', test_concurrent, (t, srv, root)), ('reload', test_reload, (t, d, root)),
                 ('random', test_random, (t, srv)), ('random_preauth', test_random_preauth, (t, srv)),
                 ('tempfail', test_tempfail, (t, d, srv))]
        for name, fn, args in tests:
            if only and name not in only.split(','):
                continue
            t.run(name, fn, *args)
        check_logs(t)
