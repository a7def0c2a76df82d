/*
 * maildir: xidentd's mail storage, a Maildir++ shared with Dovecot 2.3.
 *
 * Layout (Dovecot's defaults, LAYOUT=maildir++):
 *   ROOT/{tmp,new,cur}            INBOX
 *   ROOT/.Sent/{tmp,new,cur}      folder "Sent"  (ROOT/.Sent/maildirfolder)
 *   ROOT/.A.B/...                 folder "A.B" ('.' is the hierarchy separator)
 *   DIR/dovecot-uidlist           UIDs, UIDVALIDITY, UIDNEXT (version 3)
 *   DIR/dovecot-keywords          keyword names for the letters a..z
 * File names: <unique>,S=<size>,W=<crlf size>:2,<flags><keyword letters>
 *
 * UIDs are assigned and the uidlist rewritten under Dovecot's
 * dovecot-uidlist.lock dotlock, so a concurrent Dovecot (or a second xidentd)
 * on the same Maildir is safe.  Every file read from the Maildir is treated
 * as hostile: lines and sizes are bounded, bad lines refuse the file.
 *
 * No event loop, no globals: a struct xi_maildir and everything opened from
 * it belong to one thread.  Functions return 0 or -1 with err filled.
 */
#ifndef XI_MAILDIR_H
#define XI_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "xi_error.h"

/* System flags, stored as Maildir info letters. */
enum xi_mail_flag {
	XI_MAIL_DRAFT    = 1u << 0, /* D */
	XI_MAIL_FLAGGED  = 1u << 1, /* F */
	XI_MAIL_PASSED   = 1u << 2, /* P (forwarded; no IMAP flag) */
	XI_MAIL_ANSWERED = 1u << 3, /* R */
	XI_MAIL_SEEN     = 1u << 4, /* S */
	XI_MAIL_DELETED  = 1u << 5, /* T */
};
#define XI_MAIL_FLAGS_ALL 0x3fu

/* Keywords per folder: Maildir has 26 letters (a..z), like Dovecot. */
#define XI_MAILDIR_KEYWORDS_MAX 26
/* Bounds. */
#define XI_MAILDIR_FOLDER_NAME_MAX 200   /* bytes of a folder name ("A.B") */
#define XI_MAILDIR_KEYWORD_NAME_MAX 128  /* bytes of a keyword name */
#define XI_MAILDIR_MESSAGE_MAX ((uint64_t)1 << 31) /* bytes of one message */
#define XI_MAILDIR_MESSAGES_MAX 1000000  /* messages in one folder */

struct xi_maildir;   /* one user's Maildir++ root */
struct xi_mailbox;   /* one folder, opened and synced */
struct xi_maildir_delivery; /* a message being written into tmp/ */

struct xi_maildir_message {
	uint32_t uid;
	uint64_t size;        /* bytes on disk (S=, else stat) */
	uint64_t vsize;       /* bytes with CRLF line ends (W=, else computed) */
	unsigned flags;       /* enum xi_mail_flag */
	uint32_t keywords;    /* bit i = keyword i of xi_mailbox_keyword_name */
	bool recent;          /* found in new/ by this sync */
	bool expunged;        /* removed by xi_mailbox_expunge* since the last sync */
	const char *basename; /* file name without the ":2," info */
};

struct xi_maildir_settings {
	/* Seconds after which a dovecot-uidlist.lock is stale (Dovecot: 120). */
	unsigned lock_stale_seconds;
	/* Seconds to wait for the lock before XI_ERR_TEMP (Dovecot: 120). */
	unsigned lock_timeout_seconds;
	/* fsync files and directories on delivery (default true). */
	bool fsync;
};
/* Dovecot-compatible defaults. */
void xi_maildir_settings_default(struct xi_maildir_settings *set);

/* ---------------------------------------------------------------- root */

/* Opens (and with create, makes: root, tmp, new, cur mode 0700) the Maildir++
 * root of one user.  root must be an absolute path.  set may be NULL. */
int xi_maildir_open(const char *root, bool create,
		    const struct xi_maildir_settings *set,
		    struct xi_maildir **md_out, struct xi_error *err);
void xi_maildir_close(struct xi_maildir *md);
const char *xi_maildir_root(const struct xi_maildir *md);

/* 0 if name is a valid folder name ("INBOX" or "A", "A.B": no '/', no empty
 * component, no "..", no leading or trailing '.', no control bytes, no '*'
 * or '%', ASCII only - non-ASCII names are given in modified UTF-7 as IMAP
 * sends them ("Entw&APw-rfe"), which is also how Dovecot stores them -
 * bounded);
 * -1 with XI_ERR_INVALID saying why otherwise. */
int xi_maildir_folder_name_check(const char *name, struct xi_error *err);

/* Folder names, "INBOX" first then the others sorted; free with
 * xi_maildir_folder_list_free. */
int xi_maildir_folder_list(struct xi_maildir *md, char ***names_out,
			   size_t *count_out, struct xi_error *err);
void xi_maildir_folder_list_free(char **names, size_t count);

/* Create: XI_ERR_EXISTS if it exists.  Delete: the folder and its messages
 * (not INBOX, not a folder with children: XI_ERR_INVALID).  Rename: also
 * renames the children ("A" -> "B" moves "A.x" to "B.x"); not INBOX. */
int xi_maildir_folder_create(struct xi_maildir *md, const char *name, struct xi_error *err);
int xi_maildir_folder_delete(struct xi_maildir *md, const char *name, struct xi_error *err);
int xi_maildir_folder_rename(struct xi_maildir *md, const char *from, const char *to,
			     struct xi_error *err);

/* ---------------------------------------------------------------- POP3 session lock */

/* One POP3 session per mailbox, shared with Dovecot's pop3_lock_session:
 * ROOT/dovecot-pop3-session.lock, a dotlock holding "pid:host", overridden
 * when its process is gone or it was not touched for 300 s.  XI_ERR_TEMP
 * when another session holds it for timeout_seconds (Dovecot waits 10): the
 * POP3 answer is "-ERR [IN-USE]".  The holder calls _touch at least every
 * 150 s (Dovecot refreshes every 300 s); unlock removes it (only if still
 * ours). */
#define XI_MAILDIR_SESSION_LOCK_NAME "dovecot-pop3-session.lock"
#define XI_MAILDIR_SESSION_LOCK_STALE 300
struct xi_maildir_session_lock;
int xi_maildir_session_lock(struct xi_maildir *md, unsigned timeout_seconds,
			    struct xi_maildir_session_lock **lock_out, struct xi_error *err);
int xi_maildir_session_lock_touch(struct xi_maildir_session_lock *lock, struct xi_error *err);
void xi_maildir_session_unlock(struct xi_maildir_session_lock *lock);

/* ---------------------------------------------------------------- delivery */

/* Streaming delivery (LMTP): begin writes into DIR/tmp/, write appends, commit
 * fsyncs, moves the file into new/ (or cur/ when flags are given), assigns the
 * UID under the uidlist lock and frees the delivery; abort removes the tmp
 * file and frees.  folder NULL means INBOX.  The size limit is
 * XI_MAILDIR_MESSAGE_MAX; line ends are kept as given (W= counts CRLF). */
int xi_maildir_delivery_begin(struct xi_maildir *md, const char *folder,
			      struct xi_maildir_delivery **dlv_out, struct xi_error *err);
int xi_maildir_delivery_write(struct xi_maildir_delivery *dlv, const void *data,
			      size_t len, struct xi_error *err);
int xi_maildir_delivery_commit(struct xi_maildir_delivery *dlv, unsigned flags,
			       uint32_t *uid_out, struct xi_error *err);
/* The received date (IMAP APPEND's date-time, INTERNALDATE): kept as the
 * file's mtime, as Dovecot does.  Default: the time of delivery. */
void xi_maildir_delivery_set_received(struct xi_maildir_delivery *dlv, time_t received);
void xi_maildir_delivery_abort(struct xi_maildir_delivery *dlv);

/* One-shot delivery of a message held in memory. */
int xi_maildir_deliver(struct xi_maildir *md, const char *folder, const void *data,
		       size_t len, unsigned flags, uint32_t *uid_out, struct xi_error *err);

/* ---------------------------------------------------------------- mailbox */

/* Opens a folder (NULL or "INBOX" = INBOX) and syncs it: scans new/ and cur/,
 * reads dovecot-uidlist and dovecot-keywords, gives new files UIDs and
 * rewrites the uidlist under its lock when anything changed.  With read_only
 * nothing is written: files without a UID are left out until a writer
 * syncs, and a broken uidlist is XI_ERR_INVALID.  A writer treats a broken
 * uidlist as Dovecot does: it is set aside (dovecot-uidlist.broken) and
 * rebuilt with a new UIDVALIDITY. */
int xi_mailbox_open(struct xi_maildir *md, const char *folder, bool read_only,
		    struct xi_mailbox **mb_out, struct xi_error *err);
/* Rescan (new deliveries, changes by others).  Pointers returned by
 * xi_mailbox_message are invalid afterwards. */
int xi_mailbox_sync(struct xi_mailbox *mb, struct xi_error *err);
void xi_mailbox_close(struct xi_mailbox *mb);

uint32_t xi_mailbox_uidvalidity(const struct xi_mailbox *mb);
uint32_t xi_mailbox_uidnext(const struct xi_mailbox *mb);
/* Messages in UID order: index 0 .. count-1 (sequence number = index + 1). */
size_t xi_mailbox_count(const struct xi_mailbox *mb);
const struct xi_maildir_message *xi_mailbox_message(const struct xi_mailbox *mb, size_t index);
/* Index of uid, or -1 when absent. */
ssize_t xi_mailbox_find_uid(const struct xi_mailbox *mb, uint32_t uid);

/* Keywords of this folder (dovecot-keywords): index i is letter 'a' + i. */
size_t xi_mailbox_keyword_count(const struct xi_mailbox *mb);
const char *xi_mailbox_keyword_name(const struct xi_mailbox *mb, unsigned index);
/* Index of name; with create, adds it (rewriting dovecot-keywords) when
 * absent.  XI_ERR_NOTFOUND without create, XI_ERR_INVALID for a bad name or
 * when all 26 letters are taken. */
int xi_mailbox_keyword_lookup(struct xi_mailbox *mb, const char *name, bool create,
			      unsigned *index_out, struct xi_error *err);

/* Opens the message file read-only (O_CLOEXEC), following it if another
 * process renamed it (flag change); XI_ERR_NOTFOUND if it was expunged. */
int xi_mailbox_message_open(struct xi_mailbox *mb, size_t index, int *fd_out,
			    struct xi_error *err);
/* The received date (INTERNALDATE): the file's mtime, as Dovecot keeps it. */
int xi_mailbox_message_received(struct xi_mailbox *mb, size_t index, time_t *received_out,
				struct xi_error *err);
/* The same as a stdio stream ("r"). */
int xi_mailbox_message_stream(struct xi_mailbox *mb, size_t index, FILE **fp_out,
			      struct xi_error *err);

enum xi_flag_mode { XI_FLAGS_REPLACE, XI_FLAGS_ADD, XI_FLAGS_REMOVE };
/* Changes the flags and keywords (bit mask of keyword indexes) of a message by
 * renaming its file (new/ -> cur/ as Dovecot does). */
int xi_mailbox_set_flags(struct xi_mailbox *mb, size_t index, enum xi_flag_mode mode,
			 unsigned flags, uint32_t keywords, struct xi_error *err);

/* Takes a message out of new/ (into cur/ with its flags) for this session:
 * 1 when this call moved it, 0 when it was not in new/ or another process
 * moved it first (rename is atomic: exactly one taker wins), -1 on error.
 * IMAP's \Recent goes to the one session that wins (RFC 3501 2.3.2). */
int xi_mailbox_take_new(struct xi_mailbox *mb, size_t index, struct xi_error *err);

/* Removes one message: its file, and its uidlist record under the lock.
 * Indexes do not move: the message stays at its index with expunged set
 * until the next xi_mailbox_sync, so a POP3 QUIT loop over indexes is safe
 * even while another process expunges.  Expunging twice is not an error. */
int xi_mailbox_expunge(struct xi_mailbox *mb, size_t index, struct xi_error *err);
/* Removes every message flagged \Deleted (same rules); *count_out (may be
 * NULL) = how many. */
int xi_mailbox_expunge_deleted(struct xi_mailbox *mb, size_t *count_out,
			       struct xi_error *err);

/* ---------------------------------------------------------------- formats
 * Exposed for tests and tools; the mailbox functions use them. */

/* Info part: flags + keyword letters <-> "2,FRSab" text. */
int xi_maildir_info_parse(const char *info, unsigned *flags_out, uint32_t *keywords_out);
/* Writes "2," + flags in ASCII order + keyword letters into buf (>= 36 bytes). */
void xi_maildir_info_format(unsigned flags, uint32_t keywords, char *buf, size_t bufsize);

/* Reads ,S= and ,W= from a base name; 0 when present, -1 when absent/bad. */
int xi_maildir_basename_size(const char *basename, char key, uint64_t *value_out);

#endif
