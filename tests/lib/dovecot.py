#!/usr/bin/python3
"""A private Dovecot 2.3 for tests, benchmarks and the demo.

Everything lives in one folder: its own dovecot.conf, base_dir, state_dir,
log, self-signed certificate and mail.  It listens on 127.0.0.1 only, on free
high ports chosen at run time, and never touches the host's Dovecot:

- `dovecot -F -c FILE` runs it in the foreground; it is stopped by its pid.
- Our auth modules are loaded without installing them: the auth and
  auth-worker services run a wrapper that enters a private mount namespace
  (unshare -m), bind-mounts a private copy of the module folder (the stock
  modules plus ours) over /usr/lib/dovecot/modules/auth and execs the real
  auth binary.  Dovecot has no setting for another module folder.
- Mail is stored under the folder by the system user `mail` (uid 8): a root
  test run has no dedicated vmail user, and Dovecot refuses uid 0 for mail,
  so first_valid_uid/gid are lowered to it.

Use from a test:

    d = Dovecot(passdb='passdb {\\n driver = static\\n args = password=pw\\n}')
    d.start()
    imaplib.IMAP4('127.0.0.1', d.port('imap')).login('u', 'pw')
    d.log()        # the log text
    d.stop()

As a command (the long-lived demo variant):

    tests/lib/dovecot.py demo-start DIR [--module SO]... [--passdb-file F] [--userdb-file F]
    tests/lib/dovecot.py demo-stop DIR

XI_DOVECOT_VALGRIND=1 runs the auth processes under valgrind (logs in the
instance folder; keep it with XI_KEEP_TMP=1).
"""
import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xitest import Proc, free_port, tempdir, wait_path, wait_port  # noqa: E402

STOCK_AUTH_MODULES = '/usr/lib/dovecot/modules/auth'
AUTH_BINARY = '/usr/lib/dovecot/auth'
MAIL_USER = 'mail'
PORT_NAMES = ('imap', 'imaps', 'pop3', 'pop3s')

DEFAULT_USERDB = '''userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(dir)s/home/%%u
}'''

WRAPPER = '''#!/bin/sh
# Runs Dovecot's auth binary with a private module folder bind-mounted over
# the stock one, in a mount namespace of its own: the host is not touched.
exec /usr/bin/unshare -m --propagation private /bin/sh -c \\
  'mount --bind "$0" %(stock)s && exec %(auth)s "$@"' '%(moddir)s' "$@"
'''


def _block(name, body):
    return '%s {\n%s\n}\n' % (name, body)


class Dovecot:
    """One private Dovecot instance.

    passdb, userdb   configuration text of the passdb/userdb blocks (whole
                     `passdb { ... }` blocks; several may be concatenated).
                     %(dir)s, %(uid)d and %(gid)d are replaced.
    modules          .so files to load beside the stock auth modules.
    mechanisms       auth_mechanisms.
    auth_socket      also open an auth-client listener (mode 0666) for a
                     load client; its path is .auth_socket.
    login_service_count, login_process_min_avail, mail_service_count,
    mail_process_min_avail   service settings for imap-login/pop3-login and
                     imap/pop3 (None keeps Dovecot's default); benchmarks
                     must state them.
    extra            more configuration text appended at the end.
    directory        use this folder (created) instead of a temporary one.
    """

    def __init__(self, passdb, userdb=None, modules=(), mechanisms='plain login',
                 auth_socket=False, login_service_count=None, login_process_min_avail=None,
                 mail_service_count=None, mail_process_min_avail=None, extra='',
                 directory=None, name='dovecot', ports=None, auth_verbose=True,
                 auth_debug=True):
        self.dir = os.path.abspath(directory) if directory else tempdir('dovecot-')
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.name = name
        pw = pwd.getpwnam(MAIL_USER)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        subst = {'dir': self.dir, 'uid': self.uid, 'gid': self.gid}
        self.passdb = passdb % subst if '%(' in passdb else passdb
        userdb = userdb if userdb is not None else DEFAULT_USERDB
        self.userdb = userdb % subst if '%(' in userdb else userdb
        self.modules = [os.path.abspath(m) for m in modules]
        self.mechanisms = mechanisms
        self.ports = dict(ports) if ports else {p: free_port() for p in PORT_NAMES}
        self.base_dir = os.path.join(self.dir, 'run')
        self.state_dir = os.path.join(self.dir, 'state')
        self.log_path = os.path.join(self.dir, 'dovecot.log')
        self.conf_path = os.path.join(self.dir, 'dovecot.conf')
        self.auth_socket = os.path.join(self.base_dir, 'auth-bench') if auth_socket else None
        self._ready_socket = os.path.join(self.base_dir, 'auth-ready')
        self.login_service_count = login_service_count
        self.login_process_min_avail = login_process_min_avail
        self.mail_service_count = mail_service_count
        self.mail_process_min_avail = mail_process_min_avail
        self.extra = extra
        self.auth_verbose = auth_verbose
        self.auth_debug = auth_debug
        self.instance = 'xident-%s-%d' % (name, os.getpid())
        self.proc = None
        self.pid = None

    # ------------------------------------------------------------ setup
    def port(self, name):
        return self.ports[name]

    def auth_pid(self):
        """The auth process among the master's children: not an
        auth-worker (the module wrapper execs .../auth), None if absent."""
        for e in os.listdir('/proc'):
            if not e.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % e) as f:
                    if int(f.read().rsplit(')', 1)[1].split()[1]) != self.pid:
                        continue
                with open('/proc/%s/cmdline' % e, 'rb') as f:
                    argv = f.read().split(b'\0')
            except (OSError, ValueError, IndexError):
                continue
            if argv and argv[0].split(b' ')[0].endswith(b'/auth') and b'-w' not in argv and \
                    not any(b'auth-worker' in a for a in argv):
                return int(e)
        return None

    def _certificate(self):
        self.cert = os.path.join(self.dir, 'cert.pem')
        self.key = os.path.join(self.dir, 'key.pem')
        if os.path.exists(self.cert) and os.path.exists(self.key):
            return
        r = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec',
                            '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                            '-keyout', self.key, '-out', self.cert, '-days', '30',
                            '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError('openssl req failed:\n' + r.stdout)
        os.chmod(self.key, 0o600)

    def _module_folder(self):
        """A private copy of the stock auth modules plus ours, and the wrapper
        that mounts it for the auth processes; None when there are no modules."""
        if not self.modules:
            return None
        moddir = os.path.join(self.dir, 'auth-modules')
        shutil.rmtree(moddir, ignore_errors=True)
        os.makedirs(moddir)
        for f in os.listdir(STOCK_AUTH_MODULES):
            shutil.copy2(os.path.join(STOCK_AUTH_MODULES, f), moddir)
        for m in self.modules:
            # The built .so of a libtool module lives in .libs; copy the file, not a link.
            shutil.copyfile(m, os.path.join(moddir, os.path.basename(m)))
            os.chmod(os.path.join(moddir, os.path.basename(m)), 0o644)
        os.chmod(moddir, 0o755)
        wrapper = os.path.join(self.dir, 'auth-wrapper')
        auth = AUTH_BINARY
        if os.environ.get('XI_DOVECOT_VALGRIND'):
            # Debugging aid: auth processes under valgrind, one log per pid.
            auth = 'valgrind --log-file=%s/valgrind.%%p.log %s' % (self.dir, AUTH_BINARY)
        with open(wrapper, 'w') as f:
            f.write(WRAPPER % {'stock': STOCK_AUTH_MODULES, 'auth': auth,
                               'moddir': moddir})
        os.chmod(wrapper, 0o755)
        return wrapper

    def config_text(self, wrapper):
        d = self.dir
        lines = [
            '# private Dovecot written by tests/lib/dovecot.py',
            'instance_name = %s' % self.instance,
            'base_dir = %s' % self.base_dir,
            'state_dir = %s' % self.state_dir,
            'log_path = %s' % self.log_path,
            'info_log_path = %s' % self.log_path,
            'debug_log_path = %s' % self.log_path,
            'protocols = imap pop3',
            'listen = 127.0.0.1',
            'ssl = yes',
            'ssl_cert = <%s' % self.cert,
            'ssl_key = <%s' % self.key,
            'disable_plaintext_auth = no',
            'auth_mechanisms = %s' % self.mechanisms,
            'auth_verbose = %s' % ('yes' if self.auth_verbose else 'no'),
            'auth_debug = %s' % ('yes' if self.auth_debug else 'no'),
            'auth_failure_delay = 0',
            # Logon names such as DOMAIN\\account\\alias must reach the passdb.
            'auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@\\/',
            'first_valid_uid = %d' % self.uid,
            'first_valid_gid = %d' % self.gid,
            'mail_uid = %d' % self.uid,
            'mail_gid = %d' % self.gid,
            'mail_home = %s/home/%%u' % d,
            'mail_location = maildir:%s/mail/%%u' % d,
            'log_timestamp = "%Y-%m-%d %H:%M:%S "',
            '',
            _block('service anvil', '  unix_listener anvil-auth-penalty {\n    mode = 0\n  }'),
        ]
        for proto, plain, tls in (('imap', 'imap', 'imaps'), ('pop3', 'pop3', 'pop3s')):
            body = ['  inet_listener %s {\n    port = %d\n  }' % (plain, self.ports[plain]),
                    '  inet_listener %s {\n    port = %d\n    ssl = yes\n  }' % (tls, self.ports[tls])]
            if self.login_service_count is not None:
                body.append('  service_count = %d' % self.login_service_count)
            if self.login_process_min_avail is not None:
                body.append('  process_min_avail = %d' % self.login_process_min_avail)
            lines.append(_block('service %s-login' % proto, '\n'.join(body)))
            body = []
            if self.mail_service_count is not None:
                body.append('  service_count = %d' % self.mail_service_count)
            if self.mail_process_min_avail is not None:
                body.append('  process_min_avail = %d' % self.mail_process_min_avail)
            if body:
                lines.append(_block('service %s' % proto, '\n'.join(body)))
        auth = []
        if wrapper:
            auth.append('  executable = %s' % wrapper)
        if self.auth_socket:
            auth.append('  unix_listener %s {\n    mode = 0666\n  }' % os.path.basename(self.auth_socket))
        # start() checks that the auth process comes up (modules load).
        auth.append('  unix_listener %s {\n    mode = 0600\n  }' % os.path.basename(self._ready_socket))
        lines.append(_block('service auth', '\n'.join(auth)))
        if wrapper:
            lines.append(_block('service auth-worker', '  executable = %s -w' % wrapper))
        lines.append(self.passdb)
        lines.append(self.userdb)
        lines.append(self.extra)
        return '\n'.join(lines) + '\n'

    def write_config(self):
        self._certificate()
        for sub in ('home', 'mail'):
            p = os.path.join(self.dir, sub)
            os.makedirs(p, exist_ok=True)
            os.chown(p, self.uid, self.gid)
            os.chmod(p, 0o770)
        wrapper = self._module_folder()
        with open(self.conf_path, 'w') as f:
            f.write(self.config_text(wrapper))
        return self.conf_path

    # ------------------------------------------------------------ run
    def start(self, timeout=30.0, attempts=3):
        """Starts Dovecot and returns when every port accepts connections and
        the auth process answers; raises (with the log tail) when it does not.
        A port taken by another program between choosing and binding it (the
        machine is shared) means new ports and another attempt."""
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except RuntimeError as e:
                taken = 'Address already in use' in str(e)
                if attempt + 1 == attempts or (attempt > 0 and not taken):
                    raise
                # Said, not hidden: a TAP comment with the first failure.
                print('# %s: start attempt %d failed, retrying on new ports:\n# %s' %
                      (self.name, attempt + 1, str(e).replace('\n', '\n# ')), flush=True)
                self.stop()
                self.ports = {p: free_port() for p in PORT_NAMES}
        return self

    def _start_once(self, timeout):
        self.write_config()
        if os.path.exists(self.log_path):
            os.unlink(self.log_path)
        # The master's own stderr goes beside (not into) Dovecot's log.
        self.proc = Proc(['/usr/sbin/dovecot', '-F', '-c', self.conf_path],
                         name=self.name + '-master', logdir=self.dir)
        self.pid = self.proc.pid
        try:
            for p in PORT_NAMES:
                wait_port(self.ports[p], timeout=timeout, proc=self.proc)
            if self.auth_socket:
                wait_path(self.auth_socket, timeout=timeout, proc=self.proc)
            wait_path(self._ready_socket, timeout=timeout, proc=self.proc)
            self._wait_auth(timeout)
        except Exception as e:
            raise RuntimeError('%s\n--- dovecot.log\n%s\n--- stderr\n%s' %
                               (e, self.log_tail(), self.proc.output_tail())) from None
        return self

    def _wait_auth(self, timeout):
        """Waits for the auth process's handshake: a module that does not
        load makes auth exit at startup, and every logon would hang."""
        import socket
        deadline = time.monotonic() + timeout
        while True:
            # The socket file appears at bind(), before the master listens.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self._ready_socket)
                break
            except (ConnectionRefusedError, FileNotFoundError) as e:
                s.close()
                if time.monotonic() > deadline or not self.running():
                    raise RuntimeError('the auth listener did not accept (%s)' % e) from None
                time.sleep(0.02)  # polling with a deadline
        try:
            s.settimeout(timeout)
            s.sendall(b'VERSION\t1\t2\nCPID\t%d\n' % os.getpid())
            data = b''
            while b'\nDONE\n' not in data:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError('the auth process closed the connection')
                data += chunk
        except (OSError, RuntimeError) as e:
            raise RuntimeError('the auth process did not answer (%s)' % e) from None
        finally:
            s.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def log(self):
        """The whole log text so far."""
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_tail(self, n=40):
        return '\n'.join(self.log().splitlines()[-n:])

    def log_mark(self):
        """A position in the log; log_since(mark) returns what came after."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, mark):
        try:
            with open(self.log_path, 'rb') as f:
                f.seek(mark)
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def wait_log(self, needle, mark=0, timeout=10.0):
        """Waits until needle appears in the log after mark; returns that text.
        (Dovecot's log process writes asynchronously to the client's answer.)"""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_since(mark)
            if needle in text:
                return text
            if time.monotonic() > deadline:
                return text
            time.sleep(0.02)  # polling with a deadline, not synchronisation by sleep

    def crashes(self):
        """Log lines that mean a process died or asserted."""
        return [l for l in self.log().splitlines()
                if 'Fatal' in l or 'Panic' in l or 'killed with signal' in l]

    def doveadm(self, *args, input=None):
        return subprocess.run(['doveadm', '-c', self.conf_path] + list(args), input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=60)


# ---------------------------------------------------------------- demo CLI

def _read(path):
    with open(path) as f:
        return f.read()


def demo_start(argv):
    import argparse
    ap = argparse.ArgumentParser(prog='dovecot.py demo-start')
    ap.add_argument('dir')
    ap.add_argument('--module', action='append', default=[])
    ap.add_argument('--passdb-file', help='file holding the passdb block(s)')
    ap.add_argument('--userdb-file', help='file holding the userdb block(s)')
    ap.add_argument('--mechanisms', default='plain login')
    ap.add_argument('--extra-file')
    a = ap.parse_args(argv)
    demo_stop([a.dir])
    passdb = _read(a.passdb_file) if a.passdb_file else \
        'passdb {\n  driver = static\n  args = password=demo\n}'
    userdb = _read(a.userdb_file) if a.userdb_file else None
    extra = _read(a.extra_file) if a.extra_file else ''
    d = Dovecot(passdb=passdb, userdb=userdb, modules=a.module, mechanisms=a.mechanisms,
                extra=extra, directory=a.dir, name='demo-dovecot')
    d.write_config()
    if os.path.exists(d.log_path):
        os.unlink(d.log_path)
    # Detached: the demo outlives this command; demo-stop ends it by its pid.
    with open(os.path.join(d.dir, 'stderr.log'), 'wb') as err:
        p = subprocess.Popen(['/usr/sbin/dovecot', '-F', '-c', d.conf_path],
                             stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             start_new_session=True)
    with open(os.path.join(d.dir, 'dovecot.pid'), 'w') as f:
        f.write('%d\n' % p.pid)
    try:
        for name in PORT_NAMES:
            deadline = time.monotonic() + 30
            while True:
                if p.poll() is not None:
                    raise RuntimeError('dovecot exited with %s' % p.returncode)
                try:
                    import socket
                    socket.create_connection(('127.0.0.1', d.ports[name]), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError('port %d not listening' % d.ports[name])
                    time.sleep(0.02)  # polling with a deadline
    except Exception as e:
        print('demo-start: %s\n%s' % (e, d.log_tail()), file=sys.stderr)
        demo_stop([a.dir])
        return 1
    with open(os.path.join(d.dir, 'ports'), 'w') as f:
        for name in PORT_NAMES:
            f.write('%s=%d\n' % (name, d.ports[name]))
    for name in PORT_NAMES:
        print('%s=%d' % (name, d.ports[name]))
    return 0


def demo_stop(argv):
    directory = argv[0]
    pidfile = os.path.join(directory, 'dovecot.pid')
    try:
        pid = int(_read(pidfile).strip())
    except (OSError, ValueError):
        return 0
    try:
        # Only our own master: it must be a dovecot started with our config.
        cmd = _read('/proc/%d/cmdline' % pid)
        if os.path.join(os.path.abspath(directory), 'dovecot.conf') not in cmd:
            os.unlink(pidfile)
            return 0
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while os.path.exists('/proc/%d' % pid) and time.monotonic() < deadline:
            time.sleep(0.02)  # polling with a deadline for the master to exit
        if os.path.exists('/proc/%d' % pid):
            os.killpg(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass
    try:
        os.unlink(pidfile)
    except OSError:
        pass
    return 0


if __name__ == '__main__':
    if len(sys.argv) >= 3 and sys.argv[1] == 'demo-start':
        sys.exit(demo_start(sys.argv[2:]))
    if len(sys.argv) >= 3 and sys.argv[1] == 'demo-stop':
        sys.exit(demo_stop(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
