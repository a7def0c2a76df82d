/*
 * Internals of the Maildir storage shared by maildir*.c and the unit tests:
 * the dovecot-uidlist and dovecot-keywords formats and the dotlock.
 */
#ifndef XI_MAILDIR_PRIVATE_H
#define XI_MAILDIR_PRIVATE_H

#include "maildir.h"

/* Bounds on what we read from a Maildir (every file is hostile). */
#define XI_UIDLIST_FILE_MAX (64u * 1024 * 1024)
#define XI_UIDLIST_LINE_MAX 4096
#define XI_KEYWORDS_FILE_MAX (64u * 1024)
#define XI_MAILDIR_FILENAME_MAX 255

#define XI_UIDLIST_NAME "dovecot-uidlist"
#define XI_KEYWORDS_NAME "dovecot-keywords"

struct xi_uidlist_rec {
	uint32_t uid;
	char *basename; /* file name up to the ':' of the info */
	char *ext;      /* extension fields as read ("W123 S120"), or NULL */
};

struct xi_uidlist {
	uint32_t uidvalidity;
	uint32_t nextuid;
	char guid[33];  /* 32 hex digits, or "" when the file had none */
	char *hdr_ext;  /* other header fields, kept as read, or NULL */
	struct xi_uidlist_rec *recs; /* UID order */
	size_t count, cap;
};

void xi_uidlist_init(struct xi_uidlist *ul);
void xi_uidlist_free(struct xi_uidlist *ul);
/* Parses a whole file (version 1 or 3); refuses anything malformed. */
int xi_uidlist_parse(const char *buf, size_t len, struct xi_uidlist *ul, struct xi_error *err);
/* Writes version 3 text; *out is malloc'ed. */
int xi_uidlist_format(const struct xi_uidlist *ul, char **out, size_t *len_out,
		      struct xi_error *err);
/* Appends a record (uid must be above the last); takes copies. */
int xi_uidlist_append(struct xi_uidlist *ul, uint32_t uid, const char *basename,
		      const char *ext, struct xi_error *err);
/* Value of extension field key (e.g. 'W') of a record. */
int xi_uidlist_rec_ext(const struct xi_uidlist_rec *rec, char key, uint64_t *value_out);

/* DIR/dovecot-uidlist: *exists false (and ul empty) when there is none. */
int xi_uidlist_read(const char *dir, struct xi_uidlist *ul, bool *exists, struct xi_error *err);
/* Writes DIR/dovecot-uidlist.tmp and renames it over, as Dovecot does; the
 * caller holds the lock. */
int xi_uidlist_write(const char *dir, const struct xi_uidlist *ul, bool do_fsync,
		     struct xi_error *err);

/* Dovecot's dotlock: PATH.lock created O_EXCL holding "pid:host"; a lock
 * whose process is gone (same host), or unchanged with PATH for
 * stale_seconds, is overridden.  XI_ERR_TEMP after timeout_seconds. */
struct xi_dotlock {
	char path[4096];   /* the .lock file */
	int fd;
	dev_t dev;
	ino_t ino;
};
int xi_dotlock_take(const char *path, unsigned stale_seconds, unsigned timeout_seconds,
		    struct xi_dotlock *lock, struct xi_error *err);
/* The same with the lock file named exactly lockpath (Dovecot's
 * lock_suffix ""), guarding the file protected (may equal lockpath). */
int xi_dotlock_take_file(const char *lockpath, const char *protected, unsigned stale_seconds,
			 unsigned timeout_seconds, struct xi_dotlock *lock, struct xi_error *err);
/* Removes the lock (only if it is still ours). */
void xi_dotlock_release(struct xi_dotlock *lock);
/* Replaces PATH with the lock file's content (written by the caller to
 * lock->fd): rename(PATH.lock, PATH). */
int xi_dotlock_replace(struct xi_dotlock *lock, const char *path, bool do_fsync,
		       struct xi_error *err);

/* dovecot-keywords: names[i] for letter 'a'+i, NULL when unused. */
struct xi_keywords {
	char *names[XI_MAILDIR_KEYWORDS_MAX];
};
void xi_keywords_free(struct xi_keywords *kw);
/* Lines "<index> <name>"; bad lines are skipped, as Dovecot does. */
int xi_keywords_parse(const char *buf, size_t len, struct xi_keywords *kw);
int xi_keywords_format(const struct xi_keywords *kw, char **out, size_t *len_out,
		       struct xi_error *err);
int xi_keywords_read(const char *dir, struct xi_keywords *kw, struct xi_error *err);
/* Under the uidlist lock: DIR/dovecot-keywords.lock then rename over. */
int xi_keywords_write(const char *dir, const struct xi_keywords *kw,
		      const struct xi_maildir_settings *set, struct xi_error *err);
bool xi_keyword_name_valid(const char *name);

/* Reads a whole small file with a size bound; *buf_out NUL-terminated. */
int xi_read_bounded(const char *path, size_t max, char **buf_out, size_t *len_out,
		    bool *exists, struct xi_error *err);
/* snprintf into a path buffer; XI_ERR_INVALID when too long. */
int xi_path_join(char *buf, size_t size, struct xi_error *err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
