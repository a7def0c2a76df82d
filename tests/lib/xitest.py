"""Helpers every Python test suite uses: TAP output and process control.

Suites print TAP through Tap, so tests/run-suites counts them with the C
suites.  Processes are started with Proc and waited for by port or socket with
a timeout; nothing sleeps to synchronise.  Everything started is stopped by
its pid, and temporary folders are removed, when the suite ends.

Environment (set by run-tests.sh; defaults suit running a suite by hand from
the source tree after a build in ./build):
  XI_SRC    the source tree        XI_BUILD  the build tree
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.path.abspath(os.environ.get('XI_SRC') or
                      os.path.join(os.path.dirname(__file__), '..', '..'))
BUILD = os.path.abspath(os.environ.get('XI_BUILD') or os.path.join(SRC, 'build'))


def build_path(*parts):
    return os.path.join(BUILD, *parts)


def src_path(*parts):
    return os.path.join(SRC, *parts)


class Tap:
    """Minimal TAP producer.  `with Tap() as t:` prints the plan at the end and
    turns an exception escaping a suite into a failed test, never a silent pass."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print('%sok %d - %s' % ('' if cond else 'not ', self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag is not None:
                self.diag(diag)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, 'got:  %r\nwant: %r' % (got, want))

    def contains(self, haystack, needle, name):
        return self.ok(haystack is not None and needle in haystack, name,
                       'missing %r in:\n%s' % (needle, haystack))

    def skip(self, name, why):
        self.n += 1
        print('ok %d - %s # SKIP %s' % (self.n, name, why), flush=True)

    def diag(self, text):
        for line in str(text).splitlines() or ['']:
            print('# ' + line)
        sys.stdout.flush()

    def run(self, name, fn, *args, **kw):
        """Runs one test function; an exception is one failed test."""
        try:
            return fn(*args, **kw)
        except Exception:  # noqa: BLE001 - reported as a failure, not swallowed
            self.ok(False, name, traceback.format_exc())
            return None

    def done(self):
        print('1..%d' % self.n, flush=True)
        return 0 if self.failed == 0 else 1

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and et is not SystemExit:
            self.ok(False, 'suite raised %s' % et.__name__, ''.join(traceback.format_exception(et, ev, tb)))
        code = self.done()
        stop_all()
        if et is None:
            sys.exit(code)
        return False


# ---------------------------------------------------------------- ports

def free_port(host='127.0.0.1'):
    """A TCP port that was free a moment ago (bind to 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, host='127.0.0.1', timeout=20.0, proc=None):
    """Waits until something accepts on host:port; raises on timeout or when
    proc (a Proc) exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError('%s exited with %s before listening on %s:%d\n%s' %
                               (proc.name, proc.poll(), host, port, proc.output_tail()))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError('nothing listens on %s:%d after %.0fs' % (host, port, timeout))
        _pause()


def wait_path(path, timeout=20.0, proc=None):
    """Waits until path (a socket or file) exists."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError('%s exited before %s appeared\n%s' % (proc.name, path, proc.output_tail()))
        if time.monotonic() > deadline:
            raise TimeoutError('%s did not appear after %.0fs' % (path, timeout))
        _pause()


def wait_until(cond, timeout=20.0, what='condition'):
    """Polls cond() until it returns true."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError('%s not met after %.0fs' % (what, timeout))
        _pause()


def _pause():
    # A short wait between polls of a condition we check each time: this is
    # polling with a deadline, not sleeping in place of synchronisation.
    time.sleep(0.02)


# ---------------------------------------------------------------- processes

_procs = []
_dirs = []


class Proc:
    """A child process whose output goes to a log file; stopped by pid."""

    def __init__(self, argv, name=None, env=None, cwd=None, logdir=None):
        self.name = name or os.path.basename(argv[0])
        logdir = logdir or tempdir('log-')
        self.log_path = os.path.join(logdir, '%s.log' % self.name)
        self._log = open(self.log_path, 'wb')
        self.p = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                  start_new_session=True)
        self.pid = self.p.pid
        _procs.append(self)

    def poll(self):
        return self.p.poll()

    def output(self):
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def output_tail(self, n=30):
        return '\n'.join(self.output().splitlines()[-n:])

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
        # Children it forked (e.g. a daemon's workers) share its session.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()
        if self in _procs:
            _procs.remove(self)


def stop_pidfile(path, timeout=10.0):
    """Stops a daemon that wrote its pid to path."""
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        _pause()
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tempdir(prefix='xident-'):
    d = tempfile.mkdtemp(prefix=prefix)
    _dirs.append(d)
    return d


def stop_all():
    for p in list(reversed(_procs)):
        p.stop()
    if not os.environ.get('XI_KEEP_TMP'):
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)
        _dirs.clear()


atexit.register(stop_all)


def run(argv, input=None, env=None, timeout=60, check=False):
    """Runs a command to completion; returns CompletedProcess with text output."""
    return subprocess.run(argv, input=input, env=env, timeout=timeout, check=check,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
