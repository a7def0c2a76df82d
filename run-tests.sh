#!/bin/bash
# Installs what is missing, builds, and runs every test suite of xident:
#   1. build/       the normal build (with the Dovecot plugin)
#   2. build-san/   clang with AddressSanitizer + UndefinedBehaviorSanitizer
#                   (and the libFuzzer targets), without the plugin
#   3. unit tests of both builds, integration suites (real slapd, Dovecot and
#      clients), fuzzers for a short time, the quick benchmark
# The last line is "N passed, N failed" over all of them; the exit status is
# non-zero when anything failed.
#
# XI_SUITES="pattern" runs only suites whose path contains pattern.
set -u
cd "$(dirname "$0")"
src=$(pwd)
started=$(date +%s)

fail_early() {
	echo "run-tests: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
}

scripts/install-deps.sh || fail_early "could not install the Debian packages the tests need"
echo "== build (gcc, -Werror, plugin)"
scripts/build.sh build || fail_early "build failed (see build/make.out)"
echo "== build-san (clang, ASan+UBSan, fuzzers)"
scripts/build.sh build-san CC=clang --enable-sanitizers --enable-fuzzers --without-dovecot ||
	fail_early "sanitizer build failed (see build-san/make.out)"

export XI_SRC=$src XI_BUILD=$src/build XI_SAN_BUILD=$src/build-san
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=
export PYTHONDONTWRITEBYTECODE=1

suites=()
add() { # adds executable files, keeping only those matching XI_SUITES
	local f
	for f in "$@"; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		case "$f" in *.o|*.c|*.h|*.log|*.trs) continue ;; esac
		if [ -n "${XI_SUITES:-}" ] && [[ "$f" != *"$XI_SUITES"* ]]; then continue; fi
		suites+=("$f")
	done
}
add build/tests/unit/test_*
add tests/integration/*
add build-san/tests/unit/test_*
add tests/fuzz/run-fuzzers
add tests/bench/quick

echo "== ${#suites[@]} suites"
# run-suites prints the closing "N passed, N failed" as the last line.
exec tests/run-suites --started "$started" --log "$src/build/test-logs" "${suites[@]}"
