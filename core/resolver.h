/*
 * resolver: an Exchange-style logon, resolved against the directory.
 *
 * A logon goes through three phases so that every host (clear text in the
 * Dovecot passdb, NTLM through Dovecot's credentials path, xidentd) can run
 * the same rules:
 *
 *   1. xi_resolve()        parse the name, find account and mailbox, decide
 *                          what WOULD happen; fetch the proof material
 *                          (account DN for bind mode, userPassword hash, NT
 *                          hash).  Discloses nothing: an unknown name gets
 *                          dummy material of the same cost.
 *   2. xi_verify_password() clear text: bind as the account or compare the
 *                          hash (constant time).  NTLM: the host verifies the
 *                          response with xi_resolution_nt_hash() and reports
 *                          the result with xi_proof_ntlm().
 *   3. xi_finish()         the outcome given the proof: refusals about the
 *                          mailbox are only revealed after the password was
 *                          proven; emits the event; fills the result.  Once
 *                          the proof succeeded it may send directory
 *                          searches (the account's mailboxes when phase 1
 *                          did not settle them; whether mailboxes are
 *                          visible at all): call it where blocking is fine.
 *
 * xi_logon_plain() runs all three for a clear-text password.
 *
 * A struct xi_resolver is created once per process from a config and is
 * shared by threads (its LDAP pool is internally locked).  A struct
 * xi_resolution belongs to one request.
 */
#ifndef XI_RESOLVER_H
#define XI_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "outcome.h"
#include "xi_error.h"

struct xi_config;
struct xi_resolver;
struct xi_resolution;

enum xi_protocol { XI_PROTO_IMAP, XI_PROTO_POP3, XI_PROTO_LMTP, XI_PROTO_OTHER };
/* XI_METHOD_NONE: a lookup with no password (userdb, LMTP delivery,
 * doveadm) for a user the host already vouches for: no secret is fetched, no
 * protocol, method or NTLM rule applies; prove it with xi_proof_trusted(). */
enum xi_auth_method { XI_METHOD_PLAIN, XI_METHOD_NTLM, XI_METHOD_NONE };

const char *xi_protocol_name(enum xi_protocol p);

enum xi_home_action { XI_HOME_REFER, XI_HOME_PROXY };

struct xi_logon_request {
	const char *name;          /* as typed; for NTLM the AUTHENTICATE user field */
	const char *ntlm_domain;   /* NTLM: the AUTHENTICATE domain field, else NULL */
	enum xi_protocol protocol;
	enum xi_auth_method method;
	const char *remote;        /* remote address, for events; may be NULL */
	/* NTLM only: the host calls xi_finish before it has checked the
	 * response (Dovecot's credentials lookup, where the mechanism verifies
	 * afterwards), so everything xi_finish would search is searched in
	 * xi_resolve, where it counts as before the proof (design.md §3). */
	bool finish_before_proof;
};

/* Lengths bound what the directory may hand us; longer values are refused. */
#define XI_DN_MAX 1024
#define XI_NAME_MAX 256
#define XI_FIELD_MAX 1024
#define XI_CLIENT_TEXT_MAX 512

struct xi_logon_result {
	enum xi_outcome outcome;
	char client_text[XI_CLIENT_TEXT_MAX]; /* what the client is told ("" for ok) */
	/* What the name resolved to (empty when unknown). */
	char domain[XI_NAME_MAX];
	char account[XI_NAME_MAX];
	char account_dn[XI_DN_MAX];
	char alias[XI_NAME_MAX];
	char mailbox_dn[XI_DN_MAX];
	char canonical_user[XI_NAME_MAX];     /* canonical_user_format applied */
	/* userdb fields of the mailbox (empty when absent) */
	char home[XI_FIELD_MAX];
	char mail[XI_FIELD_MAX];
	char uid[32];
	char gid[32];
	char quota[64];
	/* XI_OUTCOME_OTHER_SERVER: where the mailbox lives, what the host does
	 * (home_server_action; always a referral for NTLM, whose password the
	 * host does not hold to log on there) and the port there
	 * (home_server_port_imap for IMAP, home_server_port_pop3 otherwise). */
	char home_server[XI_NAME_MAX];
	enum xi_home_action home_action;
	unsigned home_port;
	/* Filled for every outcome: the event that was (or would be) written. */
	unsigned event_id;
	char cause[XI_CLIENT_TEXT_MAX];
	/* Directory operations (searches + binds) this logon sent: the same for
	 * an unknown name and a wrong password of the same form. */
	unsigned ldap_ops;
};

/* The resolver's steps, for `xident resolve` (NULL in production). */
typedef void xi_trace_fn(void *ctx, const char *step);

int xi_resolver_create(const struct xi_config *cfg, xi_event_sink_fn *sink, void *sink_ctx,
		       struct xi_resolver **resolver_r, struct xi_error *err);
void xi_resolver_destroy(struct xi_resolver *resolver);

/* A resolver for a thread that must never wait for the network (a host's
 * event loop): it shares rv's configuration, sink and directory mirror
 * (destroy it before rv) and answers only from the mirror's memory.
 * Wherever rv would send an LDAP operation (the mirror not in sync, a bind,
 * a secret the mirror does not keep) or check a slow password hash, its
 * logon ends XI_OUTCOME_TEMPFAIL at once; the host then runs the same logon
 * with rv on a thread (a real temporary failure costs that second run).
 * XI_ERR_UNSUPPORTED when rv has no mirror (directory_mirror = no). */
int xi_resolver_memory_only(struct xi_resolver *rv, struct xi_resolver **view_r,
			    struct xi_error *err);
/* Whether a memory-only resolver can ever answer logons of this method
 * (false: every one would end TEMPFAIL, e.g. clear text in bind mode). */
bool xi_resolver_memory_answers(const struct xi_resolver *rv, enum xi_auth_method method);

/* The resolver's own directory (the mirror in front of the LDAP pool when
 * directory_mirror = yes), for a host's lookups beside its logons (a
 * userdb), so one process holds one mirror and one pool.  Thread-safe like
 * the resolver; valid until rv is destroyed; never destroy it. */
struct xi_directory *xi_resolver_directory(struct xi_resolver *rv);

/* Whether clear-text logons are proven by a bind (password_mode = bind). */
bool xi_resolver_binds(const struct xi_resolver *rv);

/* How many threads should run resolutions side by side for cfg: one per
 * LDAP connection a logon holds at a time.  A hash logon holds only a
 * search connection, so a thread beyond ldap_pool_size could only wait for
 * one, two more context switches per wait (measured: 4.6 voluntary context
 * switches per live hash logon in Dovecot's auth process with 8 threads on
 * 4 connections, 1.6 with 4; xidentd's auth process 3.8 -> 1.9-2.4).  A
 * bind logon also proves the password on a connection of the bind set, so
 * twice as many keep both sets busy.  Hosts cap it to their own limit. */
unsigned xi_resolver_default_threads(const struct xi_config *cfg);

/* Phase 1.  Returns 0 and a resolution (to be freed) in every case that is a
 * logon decision; -1 only when no resolution could be made at all (out of
 * memory).  Directory failures become a resolution whose outcome is
 * XI_OUTCOME_TEMPFAIL. */
int xi_resolve(struct xi_resolver *resolver, const struct xi_logon_request *req,
	       xi_trace_fn *trace, void *trace_ctx,
	       struct xi_resolution **res_r, struct xi_error *err);

/* Phase 2, clear text. */
void xi_verify_password(struct xi_resolver *resolver, struct xi_resolution *res,
			const char *password);

/* Phase 2, clear text, for a host with an event loop that must not wait:
 * the same proof, with the bind of bind mode sent without waiting.
 * start: 0 when the proof is already made (hash mode, decided outcomes, an
 * empty password); 1 when a bind is on its way: call continue whenever
 * *fd_r is readable; -1 when it cannot start without waiting (no idle open
 * LDAP bind connection) or the bind was not sent (the server had closed
 * the idle connection): call xi_verify_password elsewhere (a thread).
 * The password may be wiped once start returned.  continue: 0 while
 * waiting, 1 once the proof is made (a connection that broke after the
 * bind was sent makes it a temporary failure: the password is not sent
 * again, a directory counting failed attempts would count it twice).
 * After continue's 1 the wait keeps its connection: again sends the bind
 * of another logon on it (the same fd; returns as start, and after -1 the
 * wait must be released), release gives it back to the pool (which closes
 * it when broken: stop watching the fd first).  cancel gives the bind up
 * (e.g. after ldap_timeout): the proof becomes a temporary failure saying
 * why, the connection is closed and the wait freed. */
struct xi_bind_wait;
int xi_verify_password_start(struct xi_resolver *resolver, struct xi_resolution *res,
			     const char *password, struct xi_bind_wait **wait_r, int *fd_r);
int xi_verify_password_continue(struct xi_resolver *resolver, struct xi_resolution *res,
				struct xi_bind_wait *wait);
int xi_verify_password_again(struct xi_resolver *resolver, struct xi_resolution *res,
			     const char *password, struct xi_bind_wait *wait);
void xi_verify_password_release(struct xi_resolver *resolver, struct xi_bind_wait *wait);
void xi_verify_password_cancel(struct xi_resolver *resolver, struct xi_resolution *res,
			       struct xi_bind_wait *wait, const char *why);

/* Phase 2, NTLM: the account's NT hash (dummy for unknown names: the caller
 * verifies anyway, at the same cost).  Returns false when the directory gave
 * no NT hash for a real account (the event will say so). */
bool xi_resolution_nt_hash(const struct xi_resolution *res, uint8_t nt_hash[16]);
void xi_proof_ntlm(struct xi_resolution *res, bool verified);
/* Phase 2 for XI_METHOD_NONE: the host vouches for the user. */
void xi_proof_trusted(struct xi_resolution *res);

/* Phase 3: outcome, event, result fields. */
void xi_finish(struct xi_resolver *resolver, struct xi_resolution *res,
	       struct xi_logon_result *result);

void xi_resolution_free(struct xi_resolution *res);

/* All three phases for a clear-text password. */
void xi_logon_plain(struct xi_resolver *resolver, const struct xi_logon_request *req,
		    const char *password, struct xi_logon_result *result);

#endif
