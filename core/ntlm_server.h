/*
 * ntlm_server: the server side of one NTLMSSP exchange (MS-NLMP), with no
 * I/O: the host moves base64 blobs, this object parses and builds messages.
 *
 *   srv = xi_ntlm_server_new(&settings)
 *   xi_ntlm_server_challenge(srv, NEGOTIATE, &CHALLENGE)      -> send it
 *   xi_ntlm_server_authenticate(srv, AUTHENTICATE)            -> user, domain
 *   (host looks up the account's NT hash, e.g. through the resolver)
 *   xi_ntlm_server_verify(srv, nt_hash, session_key)          -> proven or not
 *
 * NTLMv2 by default; v1 and LMv2 alone only when settings.allow_v1.  A server object
 * accepts one AUTHENTICATE for its one challenge.  Failures are typed so the
 * host logs event 13004 with the right cause.
 */
#ifndef XI_NTLM_SERVER_H
#define XI_NTLM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xi_error.h"

enum xi_ntlm_failure {
	XI_NTLM_OK = 0,
	XI_NTLM_MALFORMED,     /* bad signature/type, truncated, offsets out of range */
	XI_NTLM_STATE,         /* message out of order, or second AUTHENTICATE */
	XI_NTLM_REPLAYED,      /* this response was already used */
	XI_NTLM_ANONYMOUS,     /* anonymous / null session refused */
	XI_NTLM_V1_REFUSED,    /* NTLMv1 (or LM only) while ntlm_v1 = no */
	XI_NTLM_EXPIRED,       /* NTLMv2 timestamp outside the window */
	XI_NTLM_BAD_RESPONSE,  /* wrong password (or wrong user/domain) */
	XI_NTLM_BAD_MIC,       /* MIC present and wrong */
	XI_NTLM_INTERNAL
};

const char *xi_ntlm_failure_name(enum xi_ntlm_failure f);

struct xi_ntlm_settings {
	bool allow_v1;
	unsigned timestamp_window;     /* seconds */
	const char *netbios_domain;    /* announced in CHALLENGE target info */
	const char *dns_domain;
	const char *netbios_computer;
	const char *dns_computer;
};

/* Max size of any NTLM message we accept (bounds every allocation). */
#define XI_NTLM_MESSAGE_MAX 4096

struct xi_ntlm_server;

struct xi_ntlm_server *xi_ntlm_server_new(const struct xi_ntlm_settings *settings);
void xi_ntlm_server_free(struct xi_ntlm_server *srv);

/* NEGOTIATE in, CHALLENGE out (malloc'd, caller frees). */
enum xi_ntlm_failure xi_ntlm_server_challenge(struct xi_ntlm_server *srv,
					      const uint8_t *negotiate, size_t len,
					      uint8_t **challenge_r, size_t *challenge_len_r,
					      struct xi_error *err);

/* AUTHENTICATE in: parsed and kept; user/domain/workstation available after. */
enum xi_ntlm_failure xi_ntlm_server_authenticate(struct xi_ntlm_server *srv,
						 const uint8_t *authenticate, size_t len,
						 struct xi_error *err);
/* UTF-8, from Unicode or OEM fields; valid until free.  NULL until an
 * AUTHENTICATE's names have been decoded; set also when it is then refused
 * by policy (anonymous, v1 refused), so the event can name the user.
 * WARNING: a non-NULL user does NOT mean authenticated.  Only
 * xi_ntlm_server_verify() returning XI_NTLM_OK proves who the user is. */
const char *xi_ntlm_server_user(const struct xi_ntlm_server *srv);
const char *xi_ntlm_server_domain(const struct xi_ntlm_server *srv);
const char *xi_ntlm_server_workstation(const struct xi_ntlm_server *srv);

/* Checks the response against the stored NT hash; on success fills the
 * session base key, unless session_base_key is NULL (a host that neither
 * signs nor seals; the key is then derived only when a MIC needs it, one
 * HMAC-MD5 less per logon).  Constant-time comparisons.  nt_hash may be NULL: the
 * same work is done and the result is XI_NTLM_BAD_RESPONSE, so the time
 * taken does not tell an unknown account from a wrong password.
 * WARNING for hosts: that BAD_RESPONSE is only the core's equal-work answer.
 * Report an unknown account as bad credentials, but an existing account
 * whose NT hash is missing or unreadable (the service account may not read
 * xidentNTHash) as TEMPFAIL naming the cause, never as bad credentials:
 * the user's password is not what is wrong.  The resolver's NT hash path
 * already does this. */
enum xi_ntlm_failure xi_ntlm_server_verify(struct xi_ntlm_server *srv,
					   const uint8_t nt_hash[16],
					   uint8_t session_base_key[16],
					   struct xi_error *err);

/* NT hash (MD4 of UTF-16LE password) = NTOWFv1.  Used by the CLI's passwd. */
int xi_nt_hash(const char *password_utf8, uint8_t out[16], struct xi_error *err);

#endif
