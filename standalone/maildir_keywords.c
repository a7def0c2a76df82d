/*
 * dovecot-keywords: "<index> <name>" lines mapping the Maildir info letters
 * a..z (index 0..25) to IMAP keywords.  Dovecot rewrites it under the
 * uidlist lock through its own dotlock (dovecot-keywords.lock, renamed over
 * the file) and skips lines it cannot use; we do the same.
 */
#define _GNU_SOURCE /* qsort_r, getrandom */
#include "maildir_private.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An IMAP atom without wildcards or '\\' (RFC 3501 flag-keyword), bounded. */
bool xi_keyword_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > XI_MAILDIR_KEYWORD_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void xi_keywords_free(struct xi_keywords *kw)
{
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++) {
		free(kw->names[i]);
		kw->names[i] = NULL;
	}
}

int xi_keywords_parse(const char *buf, size_t len, struct xi_keywords *kw)
{
	xi_keywords_free(kw);
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *lend = nl ? nl : end;
		size_t llen = (size_t)(lend - p);
		const char *sp = memchr(p, ' ', llen);
		if (sp != NULL && sp > p && (size_t)(sp - p) <= 2 && llen < 256) {
			unsigned idx = 0;
			bool digits = true;
			for (const char *d = p; d < sp; d++) {
				if (*d < '0' || *d > '9')
					digits = false;
				else
					idx = idx * 10 + (unsigned)(*d - '0');
			}
			char name[256];
			size_t nlen = (size_t)(lend - sp - 1);
			memcpy(name, sp + 1, nlen);
			name[nlen] = '\0';
			bool dup = false;
			for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
				if (kw->names[i] && strcmp(kw->names[i], name) == 0)
					dup = true;
			if (digits && idx < XI_MAILDIR_KEYWORDS_MAX && !dup && kw->names[idx] == NULL &&
			    memchr(name, '\0', nlen) == NULL && xi_keyword_name_valid(name)) {
				kw->names[idx] = strdup(name);
				if (kw->names[idx] == NULL)
					return -1;
			}
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

int xi_keywords_format(const struct xi_keywords *kw, char **out, size_t *len_out,
		       struct xi_error *err)
{
	size_t cap = 1;
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
		if (kw->names[i])
			cap += 4 + strlen(kw->names[i]);
	char *buf = malloc(cap);
	if (buf == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
		if (kw->names[i])
			len += (size_t)snprintf(buf + len, cap - len, "%d %s\n", i, kw->names[i]);
	*out = buf;
	*len_out = len;
	return 0;
}

int xi_keywords_read(const char *dir, struct xi_keywords *kw, struct xi_error *err)
{
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/" XI_KEYWORDS_NAME, dir) < 0)
		return -1;
	char *buf;
	size_t len;
	bool exists;
	xi_keywords_free(kw);
	if (xi_read_bounded(path, XI_KEYWORDS_FILE_MAX, &buf, &len, &exists, err) < 0)
		return -1;
	if (!exists)
		return 0;
	int r = xi_keywords_parse(buf, len, kw);
	free(buf);
	if (r < 0)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	return 0;
}

int xi_keywords_write(const char *dir, const struct xi_keywords *kw,
		      const struct xi_maildir_settings *set, struct xi_error *err)
{
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/" XI_KEYWORDS_NAME, dir) < 0)
		return -1;
	char *buf;
	size_t len;
	if (xi_keywords_format(kw, &buf, &len, err) < 0)
		return -1;
	struct xi_dotlock lock;
	if (xi_dotlock_take(path, set->lock_stale_seconds, set->lock_timeout_seconds, &lock, err) < 0) {
		free(buf);
		return -1;
	}
	/* The lock file holds "pid:host": start over with the new content. */
	if (ftruncate(lock.fd, 0) < 0 || lseek(lock.fd, 0, SEEK_SET) < 0) {
		int e = errno;
		free(buf);
		xi_dotlock_release(&lock);
		return xi_error_set(err, XI_ERR_IO, "truncate %s: %s", lock.path, strerror(e));
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(lock.fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;
			free(buf);
			xi_dotlock_release(&lock);
			return xi_error_set(err, XI_ERR_IO, "write %s: %s", lock.path, strerror(e));
		}
		off += (size_t)w;
	}
	free(buf);
	return xi_dotlock_replace(&lock, path, set->fsync, err);
}
