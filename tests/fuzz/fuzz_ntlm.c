/*
 * fuzz_ntlm: one whole server exchange per input, NEGOTIATE -> CHALLENGE ->
 * AUTHENTICATE -> verify, plus the SASL helper's base64 path.
 *
 * Input: byte 0 = mode, bytes 1-2 = NEGOTIATE length (little endian), the
 * NEGOTIATE, then the AUTHENTICATE.  Mode bits:
 *   1  allow NTLMv1
 *   2  fix up the response: recompute NTProofStr (or the v1 response), and
 *      the MIC when one is announced, for the server's random challenge and a
 *      fixed NT hash, so that inputs get past the proof into the timestamp,
 *      MIC and key-exchange code
 *   4  set the NTLMv2 blob's timestamp to now
 * Seeds in tests/fuzz/corpus/ntlm/ are real client exchanges saved by
 * tests/integration/test_ntlm_clients.py (XI_NTLM_SAVE_CORPUS).
 *
 * Besides crashes and leaks it traps when the server breaks a promise: a
 * second AUTHENTICATE is never accepted, names are valid UTF-8 text, and
 * verify never succeeds without the fix-up (the hash is never guessed).
 */
#include "xident-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ntlm_crypto.h"
#include "ntlm_message.h"
#include "ntlm_sasl.h"
#include "ntlm_server.h"
#include "unicode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fixed_hash[16] = {
	0xed, 0x50, 0xbd, 0xc9, 0xfa, 0xa3, 0x70, 0xe3, 0x1a, 0xc4, 0xee, 0x11, 0x9f, 0xd5, 0x1f, 0x48
};

static void put64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Makes the response in msg right for challenge sc, where the message's own
 * fields allow it; anything odd is left for the server to refuse. */
static void fix_mic(uint8_t *msg, size_t len, const struct xi_ntlm_authenticate *a,
		    const uint8_t ntowf[16], const uint8_t proof[16],
		    const uint8_t *neg, size_t neg_len, const uint8_t *chal, size_t chal_len)
{
	struct xi_ntlm_v2_blob blob;
	struct xi_ntlm_buf kp = { proof, 16 }, parts[3];
	uint8_t key[16], exported[16];

	if (xi_ntlm_parse_v2_blob(a->nt.data + 16, a->nt.len - 16u, &blob, NULL) < 0 ||
	    !blob.has_av_flags || !(blob.av_flags & XI_MSV_AV_FLAG_MIC_PRESENT) ||
	    len < XI_NTLM_AUTH_HEADER_MIC)
		return;
	if (xi_ntlm_hmac_md5(ntowf, 16, &kp, 1, key, NULL) < 0)
		return;
	memcpy(exported, key, 16);
	if ((a->flags & XI_NTLMSSP_NEGOTIATE_KEY_EXCH) && a->session_key.len == 16 &&
	    xi_ntlm_rc4(key, a->session_key.data, 16, exported, NULL) < 0)
		return;
	memset(msg + XI_NTLM_AUTH_MIC_OFFSET, 0, 16);
	parts[0] = (struct xi_ntlm_buf){ neg, neg_len };
	parts[1] = (struct xi_ntlm_buf){ chal, chal_len };
	parts[2] = (struct xi_ntlm_buf){ msg, len };
	xi_ntlm_hmac_md5(exported, 16, parts, 3, key, NULL);
	memcpy(msg + XI_NTLM_AUTH_MIC_OFFSET, key, 16);
}

static void fix_up(uint8_t *msg, size_t len, const uint8_t *neg, size_t neg_len,
		   const uint8_t *chal, size_t chal_len, bool now)
{
	const uint8_t *sc = chal + 24;
	struct xi_ntlm_authenticate a;
	char user[2048], domain[2048];
	uint8_t ntowf[16], proof[16];
	uint8_t *nt;
	struct xi_ntlm_buf parts[2];

	if (xi_ntlm_parse_authenticate(msg, len, &a, NULL) < 0)
		return;
	nt = msg + a.nt.offset;
	if (a.nt.len == 24) {
		xi_ntlm_desl(fixed_hash, sc, nt, NULL);
		return;
	}
	if (a.nt.len < 16 + XI_NTLM_V2_BLOB_MIN || !(a.flags & XI_NTLMSSP_NEGOTIATE_UNICODE))
		return;
	if (xi_utf16le_to_utf8(a.user.data, a.user.len, user, sizeof(user), NULL) < 0 ||
	    xi_utf16le_to_utf8(a.domain.data, a.domain.len, domain, sizeof(domain), NULL) < 0)
		return;
	if (a.user.len == 0)
		user[0] = '\0';
	if (a.domain.len == 0)
		domain[0] = '\0';
	if (xi_ntlm_ntowfv2_utf8(fixed_hash, user, domain, ntowf, NULL) < 0)
		return;
	if (now)
		put64(nt + 16 + 8, xi_ntlm_filetime_now());
	parts[0] = (struct xi_ntlm_buf){ sc, 8 };
	parts[1] = (struct xi_ntlm_buf){ nt + 16, a.nt.len - 16u };
	if (xi_ntlm_hmac_md5(ntowf, 16, parts, 2, proof, NULL) < 0)
		return;
	memcpy(nt, proof, 16);
	fix_mic(msg, len, &a, ntowf, proof, neg, neg_len, chal, chal_len);
}

static void check_text(const char *s)
{
	if (s != NULL && !xi_utf8_valid_text(s, strlen(s)))
		__builtin_trap();
}

static void exchange(uint8_t mode, const uint8_t *neg, size_t neg_len,
		     const uint8_t *auth_in, size_t auth_len)
{
	struct xi_ntlm_settings settings = {
		.allow_v1 = (mode & 1) != 0, .timestamp_window = 300,
		.netbios_domain = "XIDENT", .dns_domain = "xident.test",
		.netbios_computer = "MAILHOST", .dns_computer = "mailhost.xident.test",
	};
	struct xi_ntlm_server *srv = xi_ntlm_server_new(&settings);
	struct xi_error err;
	uint8_t *chal = NULL, *auth = NULL, key[16];
	size_t chal_len = 0;
	enum xi_ntlm_failure f;

	if (srv == NULL)
		__builtin_trap();
	if (xi_ntlm_server_challenge(srv, neg, neg_len, &chal, &chal_len, &err) != XI_NTLM_OK)
		goto out;
	auth = malloc(auth_len ? auth_len : 1);
	if (auth == NULL)
		goto out;
	if (auth_len > 0)
		memcpy(auth, auth_in, auth_len);
	if (mode & 2)
		fix_up(auth, auth_len, neg, neg_len, chal, chal_len, (mode & 4) != 0);
	f = xi_ntlm_server_authenticate(srv, auth, auth_len, &err);
	if (f == XI_NTLM_OK) {
		check_text(xi_ntlm_server_user(srv));
		check_text(xi_ntlm_server_domain(srv));
		check_text(xi_ntlm_server_workstation(srv));
		f = xi_ntlm_server_verify(srv, fixed_hash, key, &err);
		if (f == XI_NTLM_OK && !(mode & 2))
			__builtin_trap();
	}
	if (xi_ntlm_server_authenticate(srv, auth, auth_len, &err) == XI_NTLM_OK)
		__builtin_trap();
out:
	free(auth);
	free(chal);
	xi_ntlm_server_free(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xi_ntlm_settings settings = { .timestamp_window = 300 };
	struct xi_ntlm_sasl *s;
	struct xi_error err;
	char *out = NULL;
	size_t neg_len;

	if (size < 3)
		return 0;
	neg_len = (size_t)data[1] | ((size_t)data[2] << 8);
	if (neg_len > size - 3)
		neg_len = size - 3;
	exchange(data[0], data + 3, neg_len, data + 3 + neg_len, size - 3 - neg_len);

	/* the same bytes as a base64 line into the SASL helper */
	s = xi_ntlm_sasl_new(&settings, true);
	if (s == NULL)
		__builtin_trap();
	if (xi_ntlm_sasl_step(s, (const char *)data, size, &out, &err) == XI_NTLM_SASL_CONTINUE)
		free(out);
	xi_ntlm_sasl_free(s);
	return 0;
}
