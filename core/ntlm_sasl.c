/*
 * ntlm_sasl: base64 framing and step order around one xi_ntlm_server, so
 * every host runs the same exchange and reports the same failures.
 */
#include "ntlm_sasl.h"

#include "base64.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

enum sasl_state { SS_NEGOTIATE, SS_AUTHENTICATE, SS_NEED_HASH, SS_DONE, SS_FAILED };

struct xi_ntlm_sasl {
	struct xi_ntlm_server *srv;
	bool enabled;
	bool disabled_refusal;
	enum sasl_state state;
	enum xi_ntlm_failure failure;
	uint8_t session_key[16];
};

struct xi_ntlm_sasl *xi_ntlm_sasl_new(const struct xi_ntlm_settings *settings, bool enabled)
{
	struct xi_ntlm_sasl *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->srv = xi_ntlm_server_new(settings);
	if (s->srv == NULL) {
		free(s);
		return NULL;
	}
	s->enabled = enabled;
	return s;
}

void xi_ntlm_sasl_free(struct xi_ntlm_sasl *s)
{
	if (s == NULL)
		return;
	xi_ntlm_server_free(s->srv);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static enum xi_ntlm_sasl_status failed(struct xi_ntlm_sasl *s, enum xi_ntlm_failure f)
{
	s->state = SS_FAILED;
	s->failure = f;
	return XI_NTLM_SASL_FAILURE;
}

/* A decoded AUTHENTICATE holds the NTProofStr and blob: with the challenge
 * that is an offline-crackable record, so it is wiped before it is freed. */
static void wipe_message(uint8_t *buf)
{
	OPENSSL_clear_free(buf, XI_NTLM_MESSAGE_MAX);
}

/* Decodes a base64 client message into buf, trimming blanks around it. */
static int decode(const char *in, size_t len, uint8_t *buf, size_t size, struct xi_error *err)
{
	int n;

	while (len > 0 && (in[0] == ' ' || in[0] == '\t')) {
		in++;
		len--;
	}
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t' || in[len - 1] == '\r' ||
			   in[len - 1] == '\n'))
		len--;
	if (len > (XI_NTLM_MESSAGE_MAX + 2) / 3 * 4)
		return xi_error_set(err, XI_ERR_INVALID, "NTLM message longer than %d bytes",
				    XI_NTLM_MESSAGE_MAX);
	n = xi_base64_decode(in, len, buf, size);
	if (n <= 0)
		return xi_error_set(err, XI_ERR_INVALID, "NTLM message is not valid base64");
	return n;
}

enum xi_ntlm_sasl_status xi_ntlm_sasl_step(struct xi_ntlm_sasl *s, const char *in, size_t len,
					   char **out_r, struct xi_error *err)
{
	uint8_t *buf, *challenge = NULL;
	size_t challenge_len = 0;
	enum xi_ntlm_failure f;
	int n;

	*out_r = NULL;
	if (!s->enabled) {
		s->disabled_refusal = true;
		xi_error_set(err, XI_ERR_UNSUPPORTED, "%s", XI_NTLM_SASL_REFUSAL_TEXT);
		return failed(s, XI_NTLM_STATE);
	}
	if (s->state != SS_NEGOTIATE && s->state != SS_AUTHENTICATE) {
		xi_error_set(err, XI_ERR_INVALID, "NTLM message after the exchange ended");
		return failed(s, s->state == SS_NEED_HASH || s->state == SS_DONE ?
				 XI_NTLM_REPLAYED : XI_NTLM_STATE);
	}
	if (in == NULL)
		len = 0;
	buf = OPENSSL_malloc(XI_NTLM_MESSAGE_MAX);
	if (buf == NULL) {
		xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		return failed(s, XI_NTLM_INTERNAL);
	}
	n = decode(in, len, buf, XI_NTLM_MESSAGE_MAX, err);
	if (n < 0) {
		wipe_message(buf);
		return failed(s, XI_NTLM_MALFORMED);
	}
	if (s->state == SS_NEGOTIATE) {
		f = xi_ntlm_server_challenge(s->srv, buf, (size_t)n, &challenge, &challenge_len, err);
		wipe_message(buf);
		if (f != XI_NTLM_OK)
			return failed(s, f);
		*out_r = xi_ntlm_base64_encode(challenge, challenge_len);
		OPENSSL_cleanse(challenge, challenge_len);
		free(challenge);
		if (*out_r == NULL) {
			xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			return failed(s, XI_NTLM_INTERNAL);
		}
		s->state = SS_AUTHENTICATE;
		return XI_NTLM_SASL_CONTINUE;
	}
	f = xi_ntlm_server_authenticate(s->srv, buf, (size_t)n, err);
	wipe_message(buf);
	if (f != XI_NTLM_OK)
		return failed(s, f);
	s->state = SS_NEED_HASH;
	return XI_NTLM_SASL_NEED_HASH;
}

enum xi_ntlm_sasl_status xi_ntlm_sasl_finish(struct xi_ntlm_sasl *s, const uint8_t nt_hash[16],
					     struct xi_error *err)
{
	enum xi_ntlm_failure f;

	if (s->state != SS_NEED_HASH) {
		xi_error_set(err, XI_ERR_INVALID, "NTLM finish out of order");
		return failed(s, s->state == SS_DONE ? XI_NTLM_REPLAYED : XI_NTLM_STATE);
	}
	f = xi_ntlm_server_verify(s->srv, nt_hash, s->session_key, err);
	if (f != XI_NTLM_OK)
		return failed(s, f);
	s->state = SS_DONE;
	return XI_NTLM_SASL_DONE;
}

const char *xi_ntlm_sasl_user(const struct xi_ntlm_sasl *s)
{
	return xi_ntlm_server_user(s->srv);
}

const char *xi_ntlm_sasl_domain(const struct xi_ntlm_sasl *s)
{
	return xi_ntlm_server_domain(s->srv);
}

const char *xi_ntlm_sasl_workstation(const struct xi_ntlm_sasl *s)
{
	return xi_ntlm_server_workstation(s->srv);
}

const uint8_t *xi_ntlm_sasl_session_key(const struct xi_ntlm_sasl *s)
{
	return s->state == SS_DONE ? s->session_key : NULL;
}

enum xi_ntlm_failure xi_ntlm_sasl_failure(const struct xi_ntlm_sasl *s)
{
	return s->failure;
}

bool xi_ntlm_sasl_disabled(const struct xi_ntlm_sasl *s)
{
	return s->disabled_refusal;
}
