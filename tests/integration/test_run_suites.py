#!/usr/bin/python3
"""tests/run-suites: the closing count must be honest.  Throwaway suites (made
in a temporary directory) that crash, abort, exit non-zero, stop short of
their plan, bail out, print nothing or hang after closing their output must
each add a failure; a clean suite must not."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403

RUN_SUITES = src_path('tests', 'run-suites')

SUITES = {
    # name: (script, passed, failed)
    'clean': ('#!/bin/sh\necho "ok 1 - a"\necho "ok 2 - b # SKIP no"\necho 1..2\n', 1, 0),
    'segv': ('#!/bin/sh\necho "ok 1 - a"\nkill -SEGV $$\n', 1, 1),
    'abort': ('#!/usr/bin/python3\nimport os\nprint("ok 1", flush=True)\nos.abort()\n', 1, 1),
    'exit1': ('#!/bin/sh\necho "ok 1"\nexit 1\n', 1, 1),
    'short_plan': ('#!/bin/sh\necho 1..3\necho "ok 1"\n', 1, 1),
    'nothing': ('#!/bin/sh\nexit 0\n', 0, 1),
    'bail_out': ('#!/bin/sh\necho "ok 1"\necho "Bail out! the directory is gone"\n', 1, 1),
    'not_ok': ('#!/bin/sh\necho "ok 1"\necho "not ok 2 - broken"\nexit 1\n', 1, 1),
    'closed_then_hangs': ('#!/bin/sh\necho "ok 1"\nexec >/dev/null 2>&1\nsleep 30\n', 1, 1),
}


def write_suite(d, name, text):
    path = os.path.join(d, name)
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def last_line(out):
    lines = [x for x in out.splitlines() if x.strip()]
    return lines[-1] if lines else ''


with Tap() as t:
    d = tempdir('xident-run-suites-')
    for name, (text, want_pass, want_fail) in SUITES.items():
        path = write_suite(d, name, text)
        started = time.monotonic()
        r = run([RUN_SUITES, '--timeout', '4', path], timeout=60)
        secs = time.monotonic() - started
        line = last_line(r.stdout)
        t.ok(re.fullmatch(r'\d+ passed, \d+ failed', line) is not None,
             '%s: last line is "N passed, N failed"' % name, r.stdout)
        m = re.match(r'(\d+) passed, (\d+) failed', line)
        got = (int(m.group(1)), int(m.group(2))) if m else None
        t.eq(got, (want_pass, want_fail), '%s: counted %d passed, %d failed' %
             (name, want_pass, want_fail))
        t.eq(r.returncode, 1 if want_fail else 0, '%s: exit status' % name)
        if name == 'closed_then_hangs':
            t.ok(secs < 20, '%s: the timeout holds after the output closed (%.1f s)' %
                 (name, secs))

    # Several suites: the failures of one are not hidden by the others.
    paths = [os.path.join(d, n) for n in ('clean', 'segv', 'nothing')]
    r = run([RUN_SUITES, '--timeout', '4'] + paths, timeout=60)
    t.eq(last_line(r.stdout), '2 passed, 2 failed', 'three suites: one honest total')
    t.contains(r.stdout.splitlines()[-2] if r.stdout.count('\n') >= 2 else '', '1 skipped',
               'skipped tests reported on the line before the total')

    r = run([RUN_SUITES, '--timeout', '4'], timeout=60)
    t.eq((last_line(r.stdout), r.returncode), ('0 passed, 1 failed', 1),
         'no suite at all (XI_SUITES matching nothing) is a failure, not a pass')
