"""A private slapd for a test suite, over scripts/private-slapd.sh.

    from slapd import Slapd
    with Slapd() as d:                      # the sample directory
        conf = d.write_config()             # an xident.conf for it
        d.search('(xidentAlias=johnd)', ['xidentPrimaryAccount'])
    d = Slapd(tls=True, ldif=[path, 'dn: ...\\n...'])   # ldaps + StartTLS
    d.stop(); d.start()                     # same port, same data

The script is the one the demo uses, so tests and demo run the same
configuration (schema, indexes, ACLs of ldap-schema/README.md).  slapd stays
in the suite's process group, is stopped by its pid when the suite ends
(xitest.stop_all), and its folder is removed afterwards.
"""
import base64
import os
import subprocess

import xitest

SCRIPT = xitest.src_path('scripts', 'private-slapd.sh')
SAMPLE = xitest.src_path('ldap-schema', 'sample.ldif')
GEN_SAMPLE = xitest.src_path('ldap-schema', 'gen-sample')

BASE_DN = 'dc=example,dc=com'
ROOT_DN = 'cn=root,' + BASE_DN
ROOT_PASSWORD = 'root-pw'
SERVICE_DN = 'cn=xident-service,ou=services,' + BASE_DN
SERVICE_PASSWORD = 'service-pw'
RESTRICTED_DN = 'cn=xident-restricted,ou=services,' + BASE_DN
RESTRICTED_PASSWORD = 'restricted-pw'
ADMIN_DN = 'cn=xident-admin,ou=services,' + BASE_DN
ADMIN_PASSWORD = 'admin-pw'


def account_dn(domain, name):
    """DN of a sample account (ldap-schema/README.md)."""
    return 'uid=%s,ou=%s,ou=accounts,%s' % (name, domain, BASE_DN)


def sample_ldif(root, uid='5000', gid='5000', path=None):
    """The sample directory with mailbox homes under root (and the given
    userdb uid/gid); returns the path of the LDIF written."""
    path = path or os.path.join(xitest.tempdir('sample-'), 'sample.ldif')
    subprocess.run([GEN_SAMPLE, '--root', root, '--uid', str(uid), '--gid', str(gid), path],
                   check=True)
    return path


class Slapd:
    """A running private slapd.  Attributes: uri, ldaps_uri (TLS only),
    ldapi_uri, port, ldaps_port, ca_file (TLS only), dir, pid, base_dn and
    the demo credentials rootdn/root_password, service_dn/service_password,
    restricted_dn/restricted_password, admin_dn/admin_password."""

    base_dn = BASE_DN
    rootdn = ROOT_DN
    root_password = ROOT_PASSWORD
    service_dn = SERVICE_DN
    service_password = SERVICE_PASSWORD
    restricted_dn = RESTRICTED_DN
    restricted_password = RESTRICTED_PASSWORD
    admin_dn = ADMIN_DN
    admin_password = ADMIN_PASSWORD

    def __init__(self, tls=False, ldif=None, dir=None, start=True, syncprov=True):
        """ldif: LDIF file paths or LDIF texts (a string holding a newline),
        loaded in order into a fresh database; default the sample; [] loads
        nothing (not even the suffix entry).  syncprov=False: a server
        without RFC 4533 content synchronization."""
        self.tls = tls
        self.syncprov = syncprov
        self.dir = dir or xitest.tempdir('slapd-')
        self.pid = None
        self._ldif = []
        for i, item in enumerate(ldif if ldif is not None else [SAMPLE]):
            if '\n' in item:
                p = os.path.join(self.dir, 'load-%d.ldif' % i)
                with open(p, 'w', encoding='utf-8') as f:
                    f.write(item)
                item = p
            self._ldif.append(item)
        self._started_once = False
        if start:
            self.start()

    # ---------------------------------------------------------- lifecycle

    def start(self):
        """Starts slapd; after stop(), starts it again on the same port(s)
        with the same data (for recovery tests)."""
        # --owner: slapd is stopped when this process ends, even by SIGKILL.
        argv = [SCRIPT, 'start', self.dir, '--owner', str(os.getpid())]
        if not self._started_once:
            if self.tls:
                argv.append('--tls')
            for p in self._ldif:
                argv += ['--sample', p]
            if not self._ldif:
                argv.append('--no-sample')
            if not self.syncprov:
                argv.append('--no-syncprov')
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError('private slapd did not start:\n%s%s' % (r.stdout, r.stderr))
        self._started_once = True
        self.pid = int(self._read('pid'))
        self.port = int(self._read('port'))
        self.uri = self._read('uri')
        self.ldapi_uri = self._read('ldapi_uri')
        self.ldaps_uri = self._read('ldaps_uri', None)
        self.ldaps_port = int(self._read('ldaps_port')) if self.ldaps_uri else None
        self.ca_file = self._read('ca_file', None)
        if self not in xitest._procs:
            # xitest.stop_all stops every registered process (by its stop())
            # before it removes temporary folders.
            xitest._procs.append(self)
        return self

    def stop(self):
        if self.pid is None:
            return
        subprocess.run([SCRIPT, 'stop', self.dir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        try:  # the script could not read its pid file: stop by the pid we hold
            os.kill(self.pid, 0)
            xitest.stop_pidfile(os.path.join(self.dir, 'slapd.pid'))
        except ProcessLookupError:
            pass
        self.pid = None
        if self in xitest._procs:
            xitest._procs.remove(self)

    def running(self):
        return subprocess.run([SCRIPT, 'status', self.dir], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0

    def enable_monitor(self):
        """Adds slapd's cn=Monitor database (readable by anyone) and restarts
        slapd with it, same data, same ports: op_counts() reads it."""
        self.stop()
        with open(os.path.join(self.dir, 'slapd.conf'), 'a') as f:
            f.write('\ndatabase monitor\naccess to * by * read\n')
        return self.start()

    def op_counts(self):
        """{'search': n, 'bind': n}: the operations slapd has initiated so far
        (cn=Monitor; enable_monitor() first).  The read is itself a search,
        counted in the value it returns."""
        r = subprocess.run(['ldapsearch', '-x', '-LLL', '-o', 'ldif-wrap=no', '-H', self.uri,
                            '-s', 'one', '-b', 'cn=Operations,cn=Monitor', '(objectClass=*)',
                            'monitorOpInitiated'], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        out, cn = {}, None
        for line in r.stdout.splitlines():
            if line.startswith('dn: cn='):
                cn = line[7:].split(',', 1)[0].lower()
            elif line.startswith('monitorOpInitiated: ') and cn in ('search', 'bind'):
                out[cn] = int(line.split(': ', 1)[1])
        if set(out) != {'search', 'bind'}:
            raise RuntimeError('cannot read slapd\'s operation counters: %s' % r.stderr.strip())
        return out

    def log(self):
        try:
            with open(os.path.join(self.dir, 'slapd.log'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _read(self, name, default=''):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return f.read().strip()
        except FileNotFoundError:
            if default == '':
                raise
            return default

    # ---------------------------------------------------------- xident.conf

    def write_config(self, path=None, uris=None, bind_dn=None, bind_password=None,
                     starttls=False, ldaps=False, secrets=None, **keys):
        """Writes an xident.conf for this slapd and returns its path.

        Binds as the service account unless bind_dn/bind_password say
        otherwise (bind_dn='' for anonymous).  ldaps=True uses the ldaps://
        URI, starttls=True StartTLS; both set ldap_tls_ca_file.  uris
        replaces the URI list (e.g. a dead server first, for failover).
        The bind password, and any other secret in `secrets` (a dict), go
        to a secrets file readable only by its owner.  Further keys are
        written as they are (key=value; lists as space-separated text)."""
        d = xitest.tempdir('xiconf-')
        path = path or os.path.join(d, 'xident.conf')
        secrets_path = os.path.join(os.path.dirname(path), 'xident.secrets')
        if uris is None:
            uris = [self.ldaps_uri if ldaps else self.uri]
        conf = {
            'ldap_uris': ' '.join(uris),
            'ldap_base_dn': self.base_dn,
            'ldap_bind_dn': self.service_dn if bind_dn is None else bind_dn,
            'default_domains': 'EXAMPLE BRANCH',
            'server_name': 'mail1.example.com',
        }
        if starttls:
            conf['ldap_starttls'] = 'yes'
        if (starttls or ldaps) and self.ca_file:
            conf['ldap_tls_ca_file'] = self.ca_file
        for k, v in keys.items():
            conf[k] = ' '.join(v) if isinstance(v, (list, tuple)) else str(v)
        sec = dict(secrets or {})
        if bind_dn != '':
            sec.setdefault('ldap_bind_password',
                           self.service_password if bind_password is None else bind_password)
        if sec:
            fd = os.open(secrets_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                f.write(''.join('%s = %s\n' % kv for kv in sec.items()))
            conf['secrets_file'] = secrets_path
        with open(path, 'w', encoding='utf-8') as f:
            f.write('# xident.conf for the private slapd in %s\n' % self.dir)
            f.write(''.join('%s = %s\n' % kv for kv in conf.items()))
        return path

    # ---------------------------------------------------------- LDAP tools

    def _bind_args(self, bind):
        who = {'service': (self.service_dn, self.service_password),
               'restricted': (self.restricted_dn, self.restricted_password),
               'admin': (self.admin_dn, self.admin_password),
               'root': (self.rootdn, self.root_password)}
        if bind is None or bind == 'anonymous':
            return ['-x']
        dn, pw = who[bind] if isinstance(bind, str) else bind
        return ['-x', '-D', dn, '-w', pw]

    def ldapsearch(self, filt, attrs=(), base=None, bind='service', scope='sub', uri=None):
        """Runs ldapsearch; returns the CompletedProcess (LDIF, unwrapped)."""
        argv = (['ldapsearch', '-LLL', '-o', 'ldif-wrap=no', '-H', uri or self.uri] +
                self._bind_args(bind) + ['-s', scope, '-b', base or self.base_dn, filt] +
                list(attrs))
        env = dict(os.environ)
        if self.ca_file:
            env['LDAPTLS_CACERT'] = self.ca_file
        return xitest.run(argv, env=env)

    def search(self, filt, attrs=(), base=None, bind='service', scope='sub'):
        """Searches and returns [(dn, {attr: [values]})]; raises on an LDAP
        error (the result code is in the message)."""
        r = self.ldapsearch(filt, attrs, base, bind, scope)
        if r.returncode not in (0, 32):
            raise RuntimeError('ldapsearch %s as %s: exit %d\n%s' % (filt, bind, r.returncode,
                                                                     r.stderr))
        return parse_ldif(r.stdout)

    def modify(self, ldif, bind='root'):
        """Applies LDIF change records (ldapmodify; add records need
        'changetype: add').  Returns the CompletedProcess."""
        argv = ['ldapmodify', '-H', self.uri] + self._bind_args(bind)
        return xitest.run(argv, input=ldif)


def parse_ldif(text):
    """[(dn, {attr: [values]})] from unwrapped ldapsearch -LLL output;
    base64 values are decoded as UTF-8."""
    entries = []
    dn, attrs = None, {}
    for line in text.splitlines() + ['']:
        if line.startswith('#'):
            continue
        if not line:
            if dn is not None:
                entries.append((dn, attrs))
            dn, attrs = None, {}
            continue
        name, sep, value = line.partition(':')
        if not sep:
            continue
        if value.startswith(':'):
            value = base64.b64decode(value[1:].strip()).decode('utf-8', 'replace')
        else:
            value = value.strip()
        if name.lower() == 'dn':
            dn = value
        else:
            attrs.setdefault(name, []).append(value)
    return entries
