/*
 * lmtp: an RFC 2033 LMTP session as a state machine, with no sockets.
 *
 * The host feeds received bytes with lmtp_session_input() and sends what
 * lmtp_session_output() holds.  Every complete command line in the input is
 * answered in order, so a pipelining client (RFC 2920) is served by one
 * input call.  Recipients are resolved and messages delivered through the
 * host's callbacks; after DATA each accepted recipient gets its own reply
 * (RFC 2033 section 4.2).
 *
 * Bounds: a command line longer than line_max is answered 500 and skipped;
 * a message larger than size_max is read to its end and refused 552 for
 * every recipient; at most rcpt_max recipients per transaction.  Message
 * lines of any length are accepted (the total is bounded).  The message
 * is handed to deliver() with line ends as LF and dot-stuffing removed.
 */
#ifndef XI_LMTP_H
#define XI_LMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMTP_REPLY_MAX 600      /* one reply line, without CRLF */
#define LMTP_ADDRESS_MAX 320    /* bytes inside <...> (RFC 5321: 256 path + slack) */

struct lmtp_settings {
	const char *hostname;   /* in the greeting and the LHLO reply */
	size_t line_max;        /* command line bound (>= 512, RFC 5321 4.5.3.1.4) */
	size_t size_max;        /* message bound, announced as SIZE */
	unsigned rcpt_max;      /* recipients per transaction */
};

struct lmtp_callbacks {
	/* A RCPT TO address.  Return true to accept it (*rcpt_ctx is then kept
	 * for deliver and rcpt_free); false to refuse it, with reply set to the
	 * full reply line ("550 5.1.1 ...") without CRLF. */
	bool (*rcpt)(void *ctx, const char *address, void **rcpt_ctx,
		     char *reply, size_t reply_size);
	/* Delivers the message to one accepted recipient; sets reply to the
	 * recipient's reply line ("250 2.0.0 ...", "451 4.3.0 ...", ...). */
	void (*deliver)(void *ctx, void *rcpt_ctx, const char *address, const char *sender,
			const uint8_t *data, size_t len, char *reply, size_t reply_size);
	void (*rcpt_free)(void *ctx, void *rcpt_ctx);
};

struct lmtp_session;

/* NULL when out of memory.  The greeting is queued as output at once. */
struct lmtp_session *lmtp_session_new(const struct lmtp_settings *set,
				      const struct lmtp_callbacks *cb, void *ctx);
void lmtp_session_free(struct lmtp_session *s);

/* Processes bytes from the client.  Returns 0, or -1 when out of memory
 * (the host closes the connection). */
int lmtp_session_input(struct lmtp_session *s, const void *data, size_t len);
/* Bytes waiting to be sent, and how many were sent. */
const char *lmtp_session_output(const struct lmtp_session *s, size_t *len_r);
void lmtp_session_output_consume(struct lmtp_session *s, size_t n);
/* True after QUIT was answered: send the output, then close. */
bool lmtp_session_finished(const struct lmtp_session *s);

#endif
