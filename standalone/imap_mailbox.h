/*
 * imap_mailbox: the selected mailbox as one IMAP client sees it (RFC 3501
 * 2.3.1, 7.4.1).  The store (maildir.h) is the truth shared with Dovecot
 * and other sessions; the view keeps what this client was last told:
 * sequence number -> UID, the flags and keywords it knows, \Recent.  A sync
 * compares the two and reports the differences as untagged responses,
 * expunges only when the command in progress allows it (never during
 * FETCH, STORE or SEARCH): until then an expunged message keeps its
 * sequence number and is marked gone.
 */
#ifndef XD_IMAP_MAILBOX_H
#define XD_IMAP_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maildir.h"

struct imap_session;

struct imap_view_msg {
	uint32_t uid;
	unsigned flags;      /* enum xi_mail_flag, as last told */
	uint32_t keywords;   /* as last told */
	bool recent;
	bool gone;           /* expunged in the store, not yet told */
};

struct imap_view {
	struct xi_mailbox *mb;
	char name[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	bool read_only;
	uint32_t uidvalidity;
	struct imap_view_msg *msgs;   /* index = sequence number - 1 */
	size_t count, cap;
	size_t keywords_told;         /* keyword names sent in FLAGS */
	int inotify_fd;               /* -1 when unavailable */
};

/* Opens and syncs name; the view starts with every message. */
int imap_view_open(struct xi_maildir *md, const char *name, bool read_only,
		   struct imap_view **out, struct xi_error *err);
void imap_view_close(struct imap_view *v);

/* Store index of sequence number seq (1-based), or -1 when gone. */
ssize_t imap_view_index(const struct imap_view *v, size_t seq);

/* Syncs with the store and writes the untagged responses for changes. */
int imap_view_sync(struct imap_session *s, struct imap_view *v, bool allow_expunge,
		   struct xi_error *err);
/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]". */
void imap_view_send_flags(struct imap_session *s, struct imap_view *v);
/* "(\Seen kw ...)" for flags + keywords. */
void imap_view_write_flags(struct imap_session *s, struct imap_view *v, unsigned flags,
			   uint32_t keywords, bool recent);

#endif
