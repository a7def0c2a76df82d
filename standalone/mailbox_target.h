/*
 * mailbox_target: where, and as whom, xidentd reads or writes a resolved
 * mailbox's mail.  One rule for the POP3 session (auth_proc.c) and LMTP
 * delivery (lmtp_deliver.c): numeric uid and gid, never 0; the Maildir taken
 * from the userdb mail location; home and Maildir absolute, without "..", and
 * under mail_root when one is configured, so a directory entry pointing a
 * mailbox at /etc never becomes a session or a delivery there.
 */
#ifndef XD_MAILBOX_TARGET_H
#define XD_MAILBOX_TARGET_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "resolver.h"

/* Fills uid, gid and the Maildir path for r; false when any is unusable. */
bool xd_mailbox_target(const struct xi_config *cfg, const struct xi_logon_result *r,
		       unsigned *uid, unsigned *gid, char *maildir, size_t size);

#endif
