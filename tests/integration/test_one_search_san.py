#!/usr/bin/python3
"""test_one_search.py again with tests/resolver-loop and the xident CLI from
the sanitizer build (AddressSanitizer + UndefinedBehaviorSanitizer, leaks
checked at exit): every count, plus no sanitizer report from any run (the
postponed mailbox search keeps a copy of the account until xi_finish)."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
san = os.environ.get('XI_SAN_BUILD') or os.path.join(os.environ.get('XI_SRC', os.path.join(here, '..', '..')), 'build-san')
if not os.access(os.path.join(san, 'tests', 'resolver-loop'), os.X_OK):
    print('1..0 # SKIP no sanitizer build of tests/resolver-loop at %s' % san)
    sys.exit(0)
os.environ['XI_BUILD'] = san
os.execv(sys.executable, [sys.executable, os.path.join(here, 'test_one_search.py')])
