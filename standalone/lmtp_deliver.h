/*
 * lmtp_deliver: the LMTP callbacks (lmtp.h) for xidentd: recipients resolved
 * through the core as a trusted lookup (XI_METHOD_NONE, xi_proof_trusted),
 * by alias or mail address; messages delivered into the mailbox's Maildir
 * (maildir.h: tmp -> new, uidlist updated) by a child process running as
 * the mailbox's uid/gid.
 */
#ifndef XI_LMTP_DELIVER_H
#define XI_LMTP_DELIVER_H

#include "lmtp.h"

struct xi_config;
struct xi_resolver;

struct lmtp_deliver {
	const struct xi_config *cfg;
	struct xi_resolver *resolver;
	const char *remote;   /* the MTA's address, for events */
};

extern const struct lmtp_callbacks lmtp_deliver_callbacks;

#endif
