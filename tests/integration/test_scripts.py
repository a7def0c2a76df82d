#!/usr/bin/python3
"""scripts/: what runs as root must not write to a fixed name in /tmp (a
symbolic link planted there would redirect it).  install-deps.sh is run with
fake dpkg-query, id and apt-get first in PATH, so its install path is taken
without touching the system or the network."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from xitest import *  # noqa: E402,F401,F403

# Made by autotools in the source tree, not ours to lint.
GENERATED = {'configure', 'config.status', 'libtool'}
FIXED_TMP = re.compile(r'>>?\s*"?/tmp/[A-Za-z0-9._-]+"?(\s|$)')


def shell_files():
    out = []
    for d in ('scripts', '.'):
        base = src_path(d)
        for name in sorted(os.listdir(base)):
            path = os.path.join(base, name)
            if name in GENERATED or not os.path.isfile(path) or not os.access(path, os.X_OK):
                continue
            with open(path, 'rb') as f:
                head = f.readline()
            if head.startswith(b'#!') and b'sh' in head:
                out.append(path)
    return out


def fake_bin(d, name, text):
    path = os.path.join(d, name)
    with open(path, 'w') as f:
        f.write('#!/bin/sh\n' + text)
    os.chmod(path, 0o755)


with Tap() as t:
    files = shell_files()
    t.ok(src_path('scripts', 'install-deps.sh') in files, 'install-deps.sh is among the scripts read')
    for path in files:
        with open(path) as f:
            bad = [line.strip() for line in f if FIXED_TMP.search(line)]
        t.eq(bad, [], '%s writes to no fixed /tmp name' % os.path.relpath(path, src_path()))

    d = tempdir('xident-scripts-')
    fake_bin(d, 'dpkg-query', 'exit 1\n')              # nothing is installed
    fake_bin(d, 'id', 'echo 0\n')                      # as root
    fake_bin(d, 'apt-get', 'echo "apt-get $*"\n[ "$1" = update ] && exit 0\nexit 100\n')
    env = dict(os.environ, PATH=d + ':' + os.environ.get('PATH', ''))
    r = run([src_path('scripts', 'install-deps.sh')], env=env)
    t.eq(r.returncode, 1, 'a failed apt-get install fails install-deps')
    m = re.search(r'log: (\S+)\)', r.stderr)
    log = m.group(1) if m else ''
    t.ok(re.fullmatch(r'/tmp/xident-apt\.[A-Za-z0-9]{6}', log) is not None,
         'the apt log is a fresh mktemp file: %s' % log, r.stderr)
    t.ok(os.path.isfile(log) and not os.path.islink(log) and
         'apt-get install' in open(log).read(), 'the log holds what apt-get said')
    if re.fullmatch(r'/tmp/xident-apt\.[A-Za-z0-9]{6}', log):
        os.unlink(log)
