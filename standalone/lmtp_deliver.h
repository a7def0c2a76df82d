/*
 * lmtp_deliver: the LMTP callbacks (lmtp.h) for xidentd: recipients resolved
 * through the core as a trusted lookup (XI_METHOD_NONE, xi_proof_trusted),
 * by alias or mail address; messages delivered into the mailbox's Maildir
 * (maildir.h: tmp -> new, uidlist updated) by a child process running as
 * the mailbox's uid/gid.
 */
#ifndef XI_LMTP_DELIVER_H
#define XI_LMTP_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lmtp.h"

struct xi_config;
struct xi_resolver;

struct lmtp_deliver {
	const struct xi_config *cfg;
	struct xi_resolver *resolver;
	const char *remote;   /* the MTA's address, for events */
};

/* Where one accepted recipient's mail goes. */
struct lmtp_rcpt_target {
	unsigned uid, gid;
	char user[256];       /* canonical user */
	char maildir[1040];   /* under mail_root (mailbox_target.h) */
};

/* The resolving half (needs the directory, not root): true with *t filled,
 * or false with the recipient's reply line ("550 5.1.1 <a> why"). */
bool lmtp_resolve_rcpt(const struct xi_config *cfg, struct xi_resolver *resolver,
		       const char *remote, const char *address, struct lmtp_rcpt_target *t,
		       char *reply, size_t size);

/* The delivering half (needs root, not the directory): forks a child that
 * becomes t's uid/gid and writes the message tmp -> new; reply is the
 * recipient's line after DATA. */
void lmtp_deliver_message(const struct lmtp_rcpt_target *t, const char *address,
			  const uint8_t *data, size_t len, char *reply, size_t size);

/* Both halves in one process (tests, tools). */
extern const struct lmtp_callbacks lmtp_deliver_callbacks;

#endif
