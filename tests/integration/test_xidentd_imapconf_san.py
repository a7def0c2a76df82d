#!/usr/bin/python3
"""test_xidentd_imapconf.py again with xidentd from the sanitizer build
(AddressSanitizer + UndefinedBehaviorSanitizer): every check, plus no
sanitizer report in any server log."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
san = os.environ.get('XI_SAN_BUILD') or os.path.join(os.environ.get('XI_SRC', os.path.join(here, '..', '..')), 'build-san')
binary = os.path.join(san, 'standalone', 'xidentd')
if not os.access(binary, os.X_OK):
    print('1..0 # SKIP no sanitizer build of xidentd at %s' % binary)
    sys.exit(0)
os.environ['XD_XIDENTD'] = binary
# as run-tests.sh sets them: strict string checks catch reads past a buffer
os.environ.setdefault('ASAN_OPTIONS', 'detect_leaks=1:halt_on_error=1:strict_string_checks=1')
os.execv(sys.executable, [sys.executable, os.path.join(here, 'test_xidentd_imapconf.py')])
