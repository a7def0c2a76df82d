/* MS-NLMP section 4.2 test vectors (values in /work/shared/reference.md):
 * user "User", domain "Domain", password "Password", server challenge
 * 0123456789abcdef, client challenge aaaaaaaaaaaaaaaa, time 0. */
#include <stdio.h>
#include <string.h>

#include "ntlm_crypto.h"
#include "ntlm_server.h"
#include "tap.h"

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned v;

	while (hex[0] && hex[1] && sscanf(hex, "%2x", &v) == 1) {
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

static int is_hex(const uint8_t *got, size_t len, const char *want)
{
	uint8_t w[512];
	size_t n = unhex(want, w);

	if (n != len || memcmp(got, w, len) != 0) {
		char buf[1100];
		size_t i;
		for (i = 0; i < len && i < 512; i++)
			sprintf(buf + 2 * i, "%02x", got[i]);
		tap_diag("  got: %s\n#   want: %s", buf, want);
		return 0;
	}
	return 1;
}

static const uint8_t server_challenge[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
static const uint8_t client_challenge[8] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };

int main(void)
{
	struct xi_error err;
	uint8_t nt[16], lm[16], resp[24], key[16], md5[16], ntowf2[16], proof[16];
	uint8_t ti[64], temp[128];
	size_t ti_len, temp_len;

	xi_error_clear(&err);
	/* 4.2.2: NTLMv1 */
	tap_is_int(xi_nt_hash("Password", nt, &err), 0, "xi_nt_hash runs (legacy provider MD4): %s", err.message);
	tap_ok(is_hex(nt, 16, "a4f49c406510bdcab6824ee7c30fd852"), "NTOWFv1(Password)");
	tap_is_int(xi_ntlm_lmowfv1("Password", lm, &err), 0, "LMOWFv1 runs");
	tap_ok(is_hex(lm, 16, "e52cac67419a9a224a3b108f3fa6cb6d"), "LMOWFv1(Password)");
	tap_is_int(xi_ntlm_desl(nt, server_challenge, resp, &err), 0, "DESL runs (legacy provider DES)");
	tap_ok(is_hex(resp, 24, "67c43011f30298a2ad35ece64f16331c44bdbed927841f94"), "NTLMv1 NT response");
	tap_is_int(xi_ntlm_md4(nt, 16, key, &err), 0, "MD4 of the NT hash");
	tap_ok(is_hex(key, 16, "d87262b0cde4b1cb7499becccdf10784"), "NTLMv1 session base key");

	/* 4.2.3: NTLMv1 with extended session security */
	{
		struct xi_ntlm_buf parts[2] = { { server_challenge, 8 }, { client_challenge, 8 } };
		uint8_t lmresp[24], kx[16];
		struct xi_ntlm_buf kparts[2] = { { server_challenge, 8 }, { lmresp, 8 } };

		memset(lmresp, 0, sizeof(lmresp));
		memcpy(lmresp, client_challenge, 8);
		tap_ok(is_hex(lmresp, 24, "aaaaaaaaaaaaaaaa00000000000000000000000000000000"),
		       "v1-ESS LM response = client challenge + 16 zero bytes");
		xi_ntlm_md5(parts, 2, md5, &err);
		tap_is_int(xi_ntlm_desl(nt, md5, resp, &err), 0, "v1-ESS DESL runs");
		tap_ok(is_hex(resp, 24, "7537f803ae367128ca458204bde7caf81e97ed2683267232"), "v1-ESS NT response");
		tap_is_int(xi_ntlm_hmac_md5(key, 16, kparts, 2, kx, &err), 0, "v1-ESS key exchange key runs");
		tap_ok(is_hex(kx, 16, "eb93429a8bd952f8b89c55b87f475edc"), "v1-ESS key exchange key");
	}

	/* 4.2.4: NTLMv2 */
	tap_is_int(xi_ntlm_ntowfv2_utf8(nt, "User", "Domain", ntowf2, &err), 0, "NTOWFv2 runs");
	tap_ok(is_hex(ntowf2, 16, "0c868a403bfd7a93a3001ef22ef02e3f"), "NTOWFv2(User, Domain)");
	{
		struct xi_ntlm_buf parts[2] = { { server_challenge, 8 }, { client_challenge, 8 } };
		uint8_t lmv2[24];

		xi_ntlm_hmac_md5(ntowf2, 16, parts, 2, lmv2, &err);
		memcpy(lmv2 + 16, client_challenge, 8);
		tap_ok(is_hex(lmv2, 24, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"), "LMv2 response");
	}
	ti_len = unhex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000", ti);
	/* temp = 01 01 0000 00000000 time(0) client-challenge 00000000 targetinfo 00000000 */
	memset(temp, 0, sizeof(temp));
	temp[0] = 1;
	temp[1] = 1;
	memcpy(temp + 16, client_challenge, 8);
	memcpy(temp + 28, ti, ti_len);
	temp_len = 28 + ti_len + 4;
	{
		struct xi_ntlm_buf parts[2] = { { server_challenge, 8 }, { temp, temp_len } };
		struct xi_ntlm_buf kp = { proof, 16 };

		xi_ntlm_hmac_md5(ntowf2, 16, parts, 2, proof, &err);
		tap_ok(is_hex(proof, 16, "68cd0ab851e51c96aabc927bebef6a1c"), "NTProofStr");
		xi_ntlm_hmac_md5(ntowf2, 16, &kp, 1, key, &err);
		tap_ok(is_hex(key, 16, "8de40ccadbc14a82f15cb0ad0de95ca3"), "NTLMv2 session base key");
	}
	/* NTOWFv2 upper-cases the user but not the domain. */
	xi_ntlm_ntowfv2_utf8(nt, "user", "Domain", key, &err);
	tap_ok(memcmp(key, ntowf2, 16) == 0, "NTOWFv2 upper-cases the user name");
	xi_ntlm_ntowfv2_utf8(nt, "User", "DOMAIN", key, &err);
	tap_ok(memcmp(key, ntowf2, 16) != 0, "NTOWFv2 keeps the domain's case");

	/* xi_ntlm_hmac_md5 is RFC 2104 written out on MD5: RFC 2202's vectors,
	 * the data split over parts (an empty one too), and a key longer than
	 * MD5's block, which is hashed first. */
	{
		static const char data2[] = "what do ya want for nothing?";
		static const char data6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
		struct xi_ntlm_buf p2[3] = { { (const uint8_t *)data2, 10 }, { NULL, 0 },
					     { (const uint8_t *)data2 + 10, sizeof(data2) - 11 } };
		struct xi_ntlm_buf p6 = { (const uint8_t *)data6, sizeof(data6) - 1 };
		struct xi_ntlm_buf many[9];
		uint8_t long_key[80], mac[16];
		size_t i;

		tap_is_int(xi_ntlm_hmac_md5((const uint8_t *)"Jefe", 4, p2, 3, mac, &err), 0,
			   "HMAC-MD5 over three parts runs");
		tap_ok(is_hex(mac, 16, "750c783e6ab0b503eaa86e310a5db738"), "HMAC-MD5: RFC 2202 test case 2");
		memset(long_key, 0xaa, sizeof(long_key));
		tap_is_int(xi_ntlm_hmac_md5(long_key, sizeof(long_key), &p6, 1, mac, &err), 0,
			   "HMAC-MD5 with an 80-byte key runs");
		tap_ok(is_hex(mac, 16, "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"), "HMAC-MD5: RFC 2202 test case 6 (key longer than a block)");
		for (i = 0; i < 9; i++)
			many[i] = p6;
		tap_is_int(xi_ntlm_hmac_md5(long_key, 16, many, 9, mac, &err), -1,
			   "HMAC-MD5 over more parts than it takes is refused, not overrun");
	}
	return tap_done();
}
