/* password_hash against stored values written by someone hostile: a {CRYPT}
 * value that names an enormous cost must be refused before crypt_r spends
 * it, and quickly; costs that crypt_gensalt writes must still be accepted. */
#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "password_hash.h"
#include "tap.h"

#define PW "Correct horse 1"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* stored = "{CRYPT}" + crypt_r(PW, setting): a real hash at that cost. */
static int make_crypt(const char *setting, char *stored, size_t size)
{
	static struct crypt_data data;
	const char *h = crypt_r(PW, setting, &data);

	if (h == NULL || h[0] == '*')
		return -1;
	return snprintf(stored, size, "{CRYPT}%s", h) < (int)size ? 0 : -1;
}

/* A setting followed by a hash-shaped tail, refused before hashing. */
static void refused(const char *body, const char *want_word, const char *what)
{
	char stored[512];
	struct xi_error err;
	double t0;
	int ret;

	snprintf(stored, sizeof(stored), "{CRYPT}%s", body);
	xi_error_clear(&err);
	t0 = now_s();
	ret = xi_password_verify(PW, stored, strlen(stored), &err);
	tap_ok(ret == -1 && err.status == XI_ERR_INVALID && strstr(err.message, want_word) != NULL,
	       "%s: refused (%s)", what, err.message);
	tap_ok(now_s() - t0 < 0.5, "%s: refused without spending the cost (%.3f s)", what,
	       now_s() - t0);
}

static void accepted(const char *prefix, unsigned long cost, const char *what)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], stored[512];
	struct xi_error err;
	int ret;

	if (crypt_gensalt_rn(prefix, cost, NULL, 0, setting, sizeof(setting)) == NULL ||
	    make_crypt(setting, stored, sizeof(stored)) < 0) {
		tap_ok(0, "%s: libxcrypt made a hash", what);
		return;
	}
	xi_error_clear(&err);
	ret = xi_password_verify(PW, stored, strlen(stored), &err);
	if (!tap_is_int(ret, 1, "%s: accepted and verified", what))
		tap_diag("  %s: %s", stored, err.message);
}

/* crypt_gensalt's setting for a cost above the limit, with a fake tail. */
static void gensalt_refused(const char *prefix, unsigned long cost, const char *want_word,
			    const char *what)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], body[256];

	if (crypt_gensalt_rn(prefix, cost, NULL, 0, setting, sizeof(setting)) == NULL) {
		tap_ok(0, "%s: libxcrypt made a setting", what);
		return;
	}
	snprintf(body, sizeof(body), "%s$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", setting);
	refused(body, want_word, what);
}

int main(void)
{
	/* SHA-crypt: rounds=N up to 999999999 would be minutes per attempt. */
	refused("$6$rounds=999999999$saltsalt$qNgM7fa4mu4pfs/aXYSUpUaEHCFCYFifWXfvL8palfg",
		"rounds", "$6$ with 999999999 rounds");
	refused("$5$rounds=1000001$saltsalt$qNgM7fa4mu4pfs/aXYSUpUaEHCFCYFifWXfvL8",
		"rounds", "$5$ with one round over the limit");
	refused("$6$rounds=99999999999999999999999999$salt$x", "rounds",
		"$6$ rounds that overflow an integer");
	accepted("$6$", 0, "$6$ at the default cost");
	{
		char stored[512];
		struct xi_error err;

		tap_ok(make_crypt("$6$rounds=20000$saltsalt$", stored, sizeof(stored)) == 0 &&
		       xi_password_verify(PW, stored, strlen(stored), &err) == 1,
		       "$6$ with rounds=20000 still verifies");
	}

	/* bcrypt: cost 31 is 2^31 rounds. */
	refused("$2b$31$lQ5kvdtVN6su6G1zLmGJ0upXgs2d20zBPghbMuSfoGV5cqWiUSupO", "cost",
		"$2b$ cost 31");
	refused("$2y$16$lQ5kvdtVN6su6G1zLmGJ0upXgs2d20zBPghbMuSfoGV5cqWiUSupO", "cost",
		"$2y$ cost 16");
	accepted("$2b$", 5, "$2b$ cost 5");

	/* yescrypt / gost-yescrypt: N and r decide memory; gensalt costs 1..9. */
	accepted("$y$", 1, "$y$ cost 1");
	accepted("$y$", 5, "$y$ default cost");
	accepted("$gy$", 1, "$gy$ cost 1");
	gensalt_refused("$y$", 10, "yescrypt", "$y$ cost 10 (512 MiB)");
	gensalt_refused("$y$", 11, "yescrypt", "$y$ cost 11 (1 GiB)");
	gensalt_refused("$gy$", 10, "yescrypt", "$gy$ cost 10");
	refused("$y$j/T$saltsaltsaltsalt$294YN5orp5.CID4sWbtJJrQFDOR2ArVpM1cmfhEraC3", "yescrypt",
		"$y$ with a hand-written N");
	refused("$y$j9zzzzz$saltsaltsaltsalt$294YN5orp5.CID4sWbtJJrQFDOR2ArVpM1cmfhEraC3",
		"yescrypt", "$y$ with a hand-written r");

	/* scrypt: gensalt costs 6..10. */
	accepted("$7$", 6, "$7$ cost 6");
	gensalt_refused("$7$", 11, "scrypt", "$7$ cost 11");
	refused("$7$zU..../....saltsalt$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "scrypt",
		"$7$ with a hand-written N");
	return tap_done();
}
