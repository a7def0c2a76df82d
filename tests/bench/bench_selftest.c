/* xibench --selftest: the NTLM client against the MS-NLMP section 4.2
 * vectors (user "User", domain "Domain", password "Password", server
 * challenge 0123456789abcdef, client challenge aa..aa, time 0), so the
 * NTLM row measures logons that a correct server accepts.  Prints TAP. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

static int tests, failures;

static void ok(bool cond, const char *name)
{
	tests++;
	if (!cond)
		failures++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}

static size_t unhex(const char *hex, unsigned char *out)
{
	size_t n = 0;

	for (; hex[0] != '\0' && hex[1] != '\0'; hex += 2) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = (unsigned char)v;
	}
	return n;
}

static bool field_is(const unsigned char *msg, size_t msg_len, size_t field_off,
		     const unsigned char *want, size_t want_len)
{
	size_t len = msg[field_off] | (size_t)msg[field_off + 1] << 8;
	size_t off = msg[field_off + 4] | (size_t)msg[field_off + 5] << 8;

	return len >= want_len && off + want_len <= msg_len && memcmp(msg + off, want, want_len) == 0;
}

int bench_ntlm_selftest(void)
{
	static const char target_info_hex[] =
		"02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000";
	unsigned char info[64], challenge[128], msg[1024], want[64], hash[16], neg[64];
	unsigned char client_challenge[8], zero_time[8] = { 0 };
	size_t info_len = unhex(target_info_hex, info), msg_len, n;

	memset(client_challenge, 0xaa, sizeof(client_challenge));
	memset(challenge, 0, sizeof(challenge));
	memcpy(challenge, "NTLMSSP", 8);
	challenge[8] = 2;
	challenge[20] = 0x01;			/* UNICODE */
	challenge[22] = 0x80;			/* TARGET_INFO */
	unhex("0123456789abcdef", challenge + 24);
	challenge[40] = (unsigned char)info_len;
	challenge[42] = (unsigned char)info_len;
	challenge[44] = 48;
	memcpy(challenge + 48, info, info_len);

	ok(bench_nt_hash("Password", hash), "NT hash computed (MD4 from the legacy provider)");
	unhex("a4f49c406510bdcab6824ee7c30fd852", want);
	ok(memcmp(hash, want, 16) == 0, "NTOWFv1(\"Password\") matches MS-NLMP 4.2.2.1.2");

	msg_len = bench_ntlm_authenticate_fixed(challenge, 48 + info_len, "Domain", "User", hash,
						client_challenge, zero_time, msg, sizeof(msg));
	ok(msg_len > 64, "AUTHENTICATE built from the 4.2.4 CHALLENGE");
	n = unhex("68cd0ab851e51c96aabc927bebef6a1c", want);
	ok(msg_len > 64 && field_is(msg, msg_len, 20, want, n), "NTProofStr matches MS-NLMP 4.2.4.2.2");
	n = unhex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa", want);
	ok(msg_len > 64 && field_is(msg, msg_len, 12, want, n), "LMv2 response matches MS-NLMP 4.2.4.2.1");
	ok(msg_len > 64 && field_is(msg, msg_len, 36, (const unsigned char *)"U\0s\0e\0r\0", 8),
	   "user name sent as UTF-16LE");
	ok(bench_ntlm_authenticate(challenge, 20, "Domain", "User", hash, msg, sizeof(msg)) == 0,
	   "a truncated CHALLENGE is refused");
	challenge[44] = 120;
	ok(bench_ntlm_authenticate(challenge, 48 + info_len, "Domain", "User", hash, msg,
				   sizeof(msg)) == 0, "target info beyond the message is refused");
	ok(bench_ntlm_negotiate(neg, sizeof(neg)) == 32 && memcmp(neg, "NTLMSSP\0\1\0\0\0", 12) == 0,
	   "NEGOTIATE is a type 1 message");
	printf("1..%d\n", tests);
	return failures == 0 ? 0 : 1;
}

/* xibench --ntlm-client DOMAIN USER PASSWORD: the client side of one NTLM
 * exchange over stdin/stdout (base64 lines: NEGOTIATE out, CHALLENGE in,
 * AUTHENTICATE out), so a test can hold it against a real NTLM server such
 * as tests/ntlm-driver. */
int bench_ntlm_client(const char *domain, const char *user, const char *password)
{
	unsigned char raw[4096], challenge[2048], hash[16];
	char line[4096], b64[6000];
	size_t len;
	int clen;

	if (!bench_nt_hash(password, hash))
		return 1;
	len = bench_ntlm_negotiate(raw, sizeof(raw));
	if (len == 0 || bench_b64_encode(raw, len, b64, sizeof(b64)) < 0)
		return 1;
	printf("%s\n", b64);
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	line[strcspn(line, "\r\n")] = '\0';
	clen = bench_b64_decode(line, challenge, sizeof(challenge));
	if (clen <= 0)
		return 1;
	len = bench_ntlm_authenticate(challenge, (size_t)clen, domain, user, hash, raw, sizeof(raw));
	if (len == 0 || bench_b64_encode(raw, len, b64, sizeof(b64)) < 0)
		return 1;
	printf("%s\n", b64);
	fflush(stdout);
	return 0;
}
