#!/usr/bin/python3
"""test_xidentd_hardening.py again with xidentd from the sanitizer build
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
os.execv(sys.executable, [sys.executable, os.path.join(here, 'test_xidentd_hardening.py')])
