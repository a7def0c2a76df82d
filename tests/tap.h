/*
 * tap.h: the Test Anything Protocol for our C unit tests, in one header.
 *
 * Every suite (C, Python, shell) prints TAP, and tests/run-suites counts the
 * `ok` / `not ok` lines of all of them, so the closing "N passed, N failed"
 * is one honest count.  Why not cmocka or Check: they would add a dependency
 * and a second reporting format for what is ~80 lines here, and TAP is what
 * our Python integration suites print anyway.
 *
 * Use:  tap_ok(cond, "what"), tap_is_int(a, b, "what"), tap_is_str(a, b, "what"),
 *       tap_diag("..."), and end main() with `return tap_done();`.
 *       No plan is printed up front; tap_done() prints "1..N".
 */
#ifndef XI_TAP_H
#define XI_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count_;
static int tap_failed_;

__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_count_++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed_++;
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define tap_is_int(got, want, ...) \
	(tap_ok((long long)(got) == (long long)(want), __VA_ARGS__) ? 1 : \
	 (tap_diag("  got: %lld\n#   want: %lld", (long long)(got), (long long)(want)), 0))

#define tap_is_str(got, want, ...) \
	(tap_ok(tap_streq_((got), (want)), __VA_ARGS__) ? 1 : \
	 (tap_diag("  got: '%s'\n#   want: '%s'", tap_str_((got)), tap_str_((want))), 0))

#define tap_is_mem(got, want, len, ...) \
	tap_ok(memcmp((got), (want), (len)) == 0, __VA_ARGS__)

/* A function, not `x ? x : "(null)"`, so arrays are accepted without -Waddress. */
__attribute__((unused))
static const char *tap_str_(const char *s)
{
	return s != NULL ? s : "(null)";
}

__attribute__((unused))
static int tap_streq_(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

__attribute__((unused))
static int tap_done(void)
{
	printf("1..%d\n", tap_count_);
	return tap_failed_ == 0 ? 0 : 1;
}

#endif
