/*
 * imap_session: the IMAP mail process (authenticated and selected states,
 * RFC 3501 6.3-6.4), shared by its files:
 *   imap_session.c      I/O, states, dispatch, IDLE, the notification rules
 *   imap_mailbox.c      the selected mailbox as the client sees it
 *   imap_cmd_folder.c   LIST, LSUB, CREATE, DELETE, RENAME, (UN)SUBSCRIBE,
 *                       STATUS, APPEND, SELECT/EXAMINE
 *   imap_cmd_message.c  FETCH, STORE, COPY, MOVE, EXPUNGE, SEARCH (+ UID)
 * One process per session, blocking I/O: a crash ends this session only.
 */
#ifndef XD_IMAP_SESSION_H
#define XD_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap_mailbox.h"
#include "imap_parser.h"
#include "maildir.h"

/* The hierarchy separator of Dovecot's Maildir++ layout. */
#define IMAP_SEP '.'
#define IMAP_SEP_STR "."

struct imap_session {
	int fd;
	int idle_ms;
	const char *user;
	struct xi_maildir *md;
	struct xi_imap_parser *parser;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_cap;
	bool failed;          /* the client is gone */
	bool logout;
	/* The command in progress may be followed by EXPUNGE responses
	 * (false for FETCH, STORE and SEARCH: RFC 3501 7.4.1). */
	bool allow_expunge;
	struct imap_view *view;  /* the selected mailbox, or NULL */
};

/* Output (buffered; flushed before reading and when large). */
void imap_out(struct imap_session *s, const char *data, size_t len);
void imap_printf(struct imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An IMAP string (quoted or literal) / astring-safe mailbox name. */
void imap_out_string(struct imap_session *s, const char *str, size_t len);
/* An astring: the bare atom when it is one, else quoted or a literal. */
void imap_out_astring(struct imap_session *s, const char *str, size_t len);
void imap_flush(struct imap_session *s);
/* The tagged answer ("OK ...", "NO ...", "BAD ..."), after the pending
 * changes of the selected mailbox (OK and NO only). */
void imap_tagged(struct imap_session *s, const char *tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A string argument (atom, quoted, literal): its text, or NULL. */
const char *imap_arg_string(const struct xi_imap_arg *a);
/* Mailbox argument -> storage name ("INBOX" in any case is INBOX; a
 * trailing separator removed).  false (after a tagged answer) when bad. */
bool imap_mailbox_arg(struct imap_session *s, const char *tag, const struct xi_imap_arg *a,
		      char *out, size_t size);
/* Sends "* n EXPUNGE" etc. for what changed since the client last saw the
 * selected mailbox; expunges only when allow_expunge (RFC 3501 7.4.1). */
void imap_notify(struct imap_session *s, bool allow_expunge);

/* "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 3501 date-time, day may be " d") and
 * "d-Mon-yyyy" (date).  false when malformed. */
bool imap_parse_datetime(const char *s, time_t *out);
bool imap_parse_date(const char *s, time_t *out);
/* Copies message index of src into folder dest of md, with its flags,
 * keywords (by name) and received date; *uid_out the new UID. */
int imap_copy_message(struct xi_mailbox *src, size_t index, struct xi_maildir *md,
		      const char *dest, uint32_t *uid_out, struct xi_error *err);
/* Flags of a STORE/APPEND: a list, or an atom and its following siblings.
 * Keywords are looked up (and created) in mb when mb is not NULL, else
 * only checked.  \Recent is ignored.  false (why filled) on an unknown
 * system flag, a bad keyword or no room for another keyword. */
bool imap_flags_parse(const struct xi_imap_arg *arg, struct xi_mailbox *mb, unsigned *flags,
		      uint32_t *keywords, char *why, size_t why_size);
/* Does folder name exist (INBOX always)? */
bool imap_folder_exists(struct xi_maildir *md, const char *name);

/* Command families: each answers the command, tagged. */
void imap_cmd_select(struct imap_session *s, const struct xi_imap_command *cmd, bool read_only);
void imap_cmd_create(struct imap_session *s, const struct xi_imap_command *cmd);
void imap_cmd_delete(struct imap_session *s, const struct xi_imap_command *cmd);
void imap_cmd_rename(struct imap_session *s, const struct xi_imap_command *cmd);
void imap_cmd_subscribe(struct imap_session *s, const struct xi_imap_command *cmd, bool on);
void imap_cmd_list(struct imap_session *s, const struct xi_imap_command *cmd, bool lsub);
void imap_cmd_status(struct imap_session *s, const struct xi_imap_command *cmd);
void imap_cmd_append(struct imap_session *s, const struct xi_imap_command *cmd);

void imap_cmd_fetch(struct imap_session *s, const struct xi_imap_command *cmd,
		    const struct xi_imap_arg *args, bool uid);
void imap_cmd_store(struct imap_session *s, const struct xi_imap_command *cmd,
		    const struct xi_imap_arg *args, bool uid);
void imap_cmd_copy(struct imap_session *s, const struct xi_imap_command *cmd,
		   const struct xi_imap_arg *args, bool uid, bool move);
void imap_cmd_search(struct imap_session *s, const struct xi_imap_command *cmd,
		     const struct xi_imap_arg *args, bool uid);
void imap_cmd_expunge(struct imap_session *s, const struct xi_imap_command *cmd,
		      const struct xi_imap_arg *uidset);

#endif
