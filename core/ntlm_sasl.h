/*
 * ntlm_sasl: the SASL NTLM mechanism as a host sees it (xidentd's POP3
 * `AUTH NTLM` and IMAP `AUTHENTICATE NTLM`, the Dovecot mechanism): base64
 * in, base64 out, with the NT hash lookup left to the host so that it may be
 * asynchronous.
 *
 *   s = xi_ntlm_sasl_new(&settings, enabled_for_this_protocol)
 *   step(s, "<b64 NEGOTIATE>")     -> CONTINUE, out = "<b64 CHALLENGE>"
 *   step(s, "<b64 AUTHENTICATE>")  -> NEED_HASH: host reads user/domain,
 *                                     looks up the account's NT hash
 *   finish(s, hash or NULL)        -> DONE or FAILURE
 *
 * When NTLM is off for the protocol the first step fails with
 * XI_NTLM_SASL_REFUSAL_TEXT, the text Exchange gave.  Every failure keeps its
 * enum xi_ntlm_failure for the event (xi_ntlm_event_fill).
 */
#ifndef XI_NTLM_SASL_H
#define XI_NTLM_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ntlm_server.h"
#include "xi_error.h"

#define XI_NTLM_SASL_REFUSAL_TEXT "The NTLM Authentication package has been disabled for this protocol."

enum xi_ntlm_sasl_status {
	XI_NTLM_SASL_CONTINUE,   /* send *out_r to the client, wait for its reply */
	XI_NTLM_SASL_NEED_HASH,  /* look up the NT hash of user/domain, then finish */
	XI_NTLM_SASL_DONE,       /* proven */
	XI_NTLM_SASL_FAILURE     /* refused: see xi_ntlm_sasl_failure() */
};

struct xi_ntlm_sasl;

/* enabled: whether NTLM is allowed on this protocol (ntlm_protocols). NULL
 * only when out of memory or the settings are invalid. */
struct xi_ntlm_sasl *xi_ntlm_sasl_new(const struct xi_ntlm_settings *settings, bool enabled);
void xi_ntlm_sasl_free(struct xi_ntlm_sasl *s);

/* One client message (base64, len bytes, no CRLF; surrounding blanks are
 * ignored).  On CONTINUE *out_r is a malloc'd NUL-terminated base64 string. */
enum xi_ntlm_sasl_status xi_ntlm_sasl_step(struct xi_ntlm_sasl *s, const char *in, size_t len,
					   char **out_r, struct xi_error *err);

/* After NEED_HASH: nt_hash of the account, or NULL when it has none or does
 * not exist (costs the same and fails as a bad response). */
enum xi_ntlm_sasl_status xi_ntlm_sasl_finish(struct xi_ntlm_sasl *s, const uint8_t nt_hash[16],
					     struct xi_error *err);

/* After NEED_HASH or DONE: the names from the AUTHENTICATE (UTF-8). */
const char *xi_ntlm_sasl_user(const struct xi_ntlm_sasl *s);
const char *xi_ntlm_sasl_domain(const struct xi_ntlm_sasl *s);
const char *xi_ntlm_sasl_workstation(const struct xi_ntlm_sasl *s);
/* After DONE. */
const uint8_t *xi_ntlm_sasl_session_key(const struct xi_ntlm_sasl *s);

/* After FAILURE: what went wrong, and whether it was the protocol switch. */
enum xi_ntlm_failure xi_ntlm_sasl_failure(const struct xi_ntlm_sasl *s);
bool xi_ntlm_sasl_disabled(const struct xi_ntlm_sasl *s);

/* Base64 (RFC 4648, padded, no line breaks) for hosts and tests.  decode
 * returns the byte count or -1 on anything that is not strict base64 or does
 * not fit. */
int xi_ntlm_base64_decode(const char *in, size_t len, uint8_t *out, size_t size);
char *xi_ntlm_base64_encode(const uint8_t *in, size_t len);

struct xi_event;
/* Fills ev for event 13004 (category Authentication, always written) with
 * the cause and remedy of failure f.  Other fields (protocol, remote, login)
 * are left for the host. */
void xi_ntlm_event_fill(struct xi_event *ev, enum xi_ntlm_failure f);
/* The cause and remedy texts alone. */
const char *xi_ntlm_failure_cause(enum xi_ntlm_failure f);
const char *xi_ntlm_failure_remedy(enum xi_ntlm_failure f);

#endif
