/*
 * dovecot-uidlist (versions 1 and 3) and Dovecot's dotlock protocol.
 *
 * Version 3, as Dovecot 2.3 writes it:
 *   3 V<uidvalidity> N<nextuid> G<32 hex guid>[ <other header fields>]
 *   <uid>[ <X><value>...] :<basename>
 * Dovecot also appends records to the file under the lock without touching
 * the header, so the next UID is the larger of N and the last UID + 1.
 */
#define _GNU_SOURCE /* qsort_r, getrandom */
#include "maildir_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int xi_path_join(char *buf, size_t size, struct xi_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return xi_error_set(err, XI_ERR_INVALID, "path too long");
	return 0;
}

int xi_read_bounded(const char *path, size_t max, char **buf_out, size_t *len_out,
		    bool *exists, struct xi_error *err)
{
	*buf_out = NULL;
	*len_out = 0;
	*exists = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return xi_error_set(err, XI_ERR_IO, "open %s: %s", path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return xi_error_set(err, XI_ERR_INVALID, "%s is not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return xi_error_set(err, XI_ERR_INVALID, "%s is larger than %zu bytes", path, max);
	}
	/* The file may grow while we read (Dovecot appends): read up to max. */
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max) {
				free(buf);
				close(fd);
				return xi_error_set(err, XI_ERR_INVALID, "%s is larger than %zu bytes",
						    path, max);
			}
			size_t ncap = cap * 2 > max + 1 ? max + 2 : cap * 2;
			char *n = realloc(buf, ncap);
			if (n == NULL) {
				free(buf);
				close(fd);
				return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			}
			buf = n;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return xi_error_set(err, XI_ERR_IO, "read %s: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > max) {
		free(buf);
		return xi_error_set(err, XI_ERR_INVALID, "%s is larger than %zu bytes", path, max);
	}
	buf[len] = '\0';
	*buf_out = buf;
	*len_out = len;
	*exists = true;
	return 0;
}

/* ---------------------------------------------------------------- records */

void xi_uidlist_init(struct xi_uidlist *ul)
{
	memset(ul, 0, sizeof(*ul));
}

void xi_uidlist_free(struct xi_uidlist *ul)
{
	for (size_t i = 0; i < ul->count; i++) {
		free(ul->recs[i].basename);
		free(ul->recs[i].ext);
	}
	free(ul->recs);
	free(ul->hdr_ext);
	memset(ul, 0, sizeof(*ul));
}

static bool printable_field(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* A base name we accept from a uidlist: what a directory entry in new/ or
 * cur/ can be, minus what would escape the folder. */
static bool basename_valid(const char *s, size_t len)
{
	if (len == 0 || len > XI_MAILDIR_FILENAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == ':')
			return false;
	}
	return true;
}

int xi_uidlist_append(struct xi_uidlist *ul, uint32_t uid, const char *basename,
		      const char *ext, struct xi_error *err)
{
	if (uid == 0 || uid == UINT32_MAX || (ul->count > 0 && ul->recs[ul->count - 1].uid >= uid))
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: UID %u out of order", uid);
	if (!basename_valid(basename, strlen(basename)))
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad file name");
	if (ul->count >= XI_MAILDIR_MESSAGES_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: more than %u records",
				    XI_MAILDIR_MESSAGES_MAX);
	if (ul->count == ul->cap) {
		size_t ncap = ul->cap ? ul->cap * 2 : 64;
		struct xi_uidlist_rec *n = realloc(ul->recs, ncap * sizeof(*n));
		if (n == NULL)
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		ul->recs = n;
		ul->cap = ncap;
	}
	struct xi_uidlist_rec *rec = &ul->recs[ul->count];
	rec->uid = uid;
	rec->basename = strdup(basename);
	rec->ext = ext != NULL && *ext != '\0' ? strdup(ext) : NULL;
	if (rec->basename == NULL || (ext != NULL && *ext != '\0' && rec->ext == NULL)) {
		free(rec->basename);
		free(rec->ext);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	ul->count++;
	if (ul->nextuid <= uid)
		ul->nextuid = uid + 1;
	return 0;
}

int xi_uidlist_rec_ext(const struct xi_uidlist_rec *rec, char key, uint64_t *value_out)
{
	for (const char *p = rec->ext; p != NULL && *p != '\0';) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (p[0] == key && len > 1 && len <= 20) {
			uint64_t v = 0;
			size_t i;
			for (i = 1; i < len && p[i] >= '0' && p[i] <= '9'; i++)
				v = v * 10 + (uint64_t)(p[i] - '0');
			if (i == len && len <= 19) {
				*value_out = v;
				return 0;
			}
			return -1;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return -1;
}

/* Decimal uint32 of exactly [s, s+len); 0 on success. */
static int parse_u32(const char *s, size_t len, uint32_t *out)
{
	if (len == 0 || len > 10)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static bool is_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static int append_text(char **dst, const char *s, size_t len)
{
	size_t old = *dst ? strlen(*dst) : 0;
	char *n = realloc(*dst, old + len + 2);
	if (n == NULL)
		return -1;
	if (old > 0)
		n[old++] = ' ';
	memcpy(n + old, s, len);
	n[old + len] = '\0';
	*dst = n;
	return 0;
}

static int parse_header(const char *line, size_t len, struct xi_uidlist *ul, int *version,
			struct xi_error *err)
{
	if (len < 2 || line[1] != ' ' || (line[0] != '1' && line[0] != '3'))
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: unsupported header");
	*version = line[0] - '0';
	const char *p = line + 2, *end = line + len;
	if (*version == 1) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		if (sp == NULL || parse_u32(p, (size_t)(sp - p), &ul->uidvalidity) < 0 ||
		    parse_u32(sp + 1, (size_t)(end - sp - 1), &ul->nextuid) < 0)
			return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad version 1 header");
	} else {
		while (p < end) {
			const char *sp = memchr(p, ' ', (size_t)(end - p));
			const char *fend = sp ? sp : end;
			size_t flen = (size_t)(fend - p);
			if (flen < 1 || !printable_field(p, flen))
				return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad header field");
			switch (p[0]) {
			case 'V':
				if (parse_u32(p + 1, flen - 1, &ul->uidvalidity) < 0)
					return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad UIDVALIDITY");
				break;
			case 'N':
				if (parse_u32(p + 1, flen - 1, &ul->nextuid) < 0)
					return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad next UID");
				break;
			case 'G':
				if (flen != 33 || !is_hex(p + 1, 32))
					return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad mailbox GUID");
				memcpy(ul->guid, p + 1, 32);
				ul->guid[32] = '\0';
				break;
			default:
				if (append_text(&ul->hdr_ext, p, flen) < 0)
					return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			}
			p = sp ? sp + 1 : end;
			while (p < end && *p == ' ')
				p++;
		}
	}
	if (ul->uidvalidity == 0 || ul->nextuid == 0)
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: header without UIDVALIDITY or next UID");
	return 0;
}

static int cmp_basename_idx(const void *a, const void *b, void *ctx)
{
	const struct xi_uidlist_rec *recs = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(recs[x].basename, recs[y].basename);
	return c != 0 ? c : (x < y ? -1 : x > y);
}

/* Dovecot keeps the later line when a base name appears twice (a file moved
 * back after an expunge): do the same. */
static int drop_duplicates(struct xi_uidlist *ul, struct xi_error *err)
{
	if (ul->count < 2)
		return 0;
	size_t *idx = malloc(ul->count * sizeof(*idx));
	bool *drop = calloc(ul->count, sizeof(*drop));
	if (idx == NULL || drop == NULL) {
		free(idx);
		free(drop);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < ul->count; i++)
		idx[i] = i;
	qsort_r(idx, ul->count, sizeof(*idx), cmp_basename_idx, ul->recs);
	bool any = false;
	for (size_t i = 1; i < ul->count; i++)
		if (strcmp(ul->recs[idx[i - 1]].basename, ul->recs[idx[i]].basename) == 0) {
			drop[idx[i - 1]] = true;
			any = true;
		}
	if (any) {
		size_t w = 0;
		for (size_t i = 0; i < ul->count; i++) {
			if (drop[i]) {
				free(ul->recs[i].basename);
				free(ul->recs[i].ext);
			} else {
				ul->recs[w++] = ul->recs[i];
			}
		}
		ul->count = w;
	}
	free(idx);
	free(drop);
	return 0;
}

static int parse_record(const char *line, size_t len, int version, struct xi_uidlist *ul,
			struct xi_error *err)
{
	const char *end = line + len, *p = line;
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	uint32_t uid;
	if (p == end || *p != ' ' || parse_u32(line, (size_t)(p - line), &uid) < 0 || uid == 0)
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad UID");
	if (uid == UINT32_MAX || (ul->count > 0 && ul->recs[ul->count - 1].uid >= uid))
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: UIDs not in increasing order");
	while (p < end && *p == ' ')
		p++;
	char *ext = NULL;
	const char *name = p;
	if (version == 3) {
		while (p < end && *p != ':') {
			const char *sp = memchr(p, ' ', (size_t)(end - p));
			const char *fend = sp ? sp : end;
			size_t flen = (size_t)(fend - p);
			if (p[0] < 'A' || p[0] > 'Z' || !printable_field(p, flen)) {
				free(ext);
				return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad extension field");
			}
			if (append_text(&ext, p, flen) < 0) {
				free(ext);
				return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			}
			p = fend;
			while (p < end && *p == ' ')
				p++;
		}
		if (p == end) {
			free(ext);
			return xi_error_set(err, XI_ERR_INVALID, "uidlist: record without a file name");
		}
		name = p + 1;
	}
	size_t nlen = (size_t)(end - name);
	if (!basename_valid(name, nlen)) {
		free(ext);
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: bad file name for UID %u", uid);
	}
	char nbuf[XI_MAILDIR_FILENAME_MAX + 1];
	memcpy(nbuf, name, nlen);
	nbuf[nlen] = '\0';
	uint32_t saved_next = ul->nextuid;
	int ret = xi_uidlist_append(ul, uid, nbuf, ext, err);
	ul->nextuid = saved_next;
	free(ext);
	return ret;
}

int xi_uidlist_parse(const char *buf, size_t len, struct xi_uidlist *ul, struct xi_error *err)
{
	xi_uidlist_free(ul);
	const char *p = buf, *end = buf + len;
	int version = 0;
	size_t lineno = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break; /* a partial last line: a writer is still appending */
		size_t llen = (size_t)(nl - p);
		lineno++;
		if (llen > XI_UIDLIST_LINE_MAX) {
			xi_uidlist_free(ul);
			return xi_error_set(err, XI_ERR_INVALID, "uidlist line %zu is too long", lineno);
		}
		if (memchr(p, '\0', llen) != NULL) {
			xi_uidlist_free(ul);
			return xi_error_set(err, XI_ERR_INVALID, "uidlist line %zu has a NUL byte", lineno);
		}
		int r = lineno == 1 ? parse_header(p, llen, ul, &version, err)
				    : parse_record(p, llen, version, ul, err);
		if (r < 0) {
			char msg[XI_ERROR_MESSAGE_MAX];
			snprintf(msg, sizeof(msg), "%s", err ? err->message : "");
			xi_uidlist_free(ul);
			return xi_error_set(err, err ? err->status : XI_ERR_INVALID, "%s (line %zu)",
					    msg, lineno);
		}
		p = nl + 1;
	}
	if (lineno == 0) {
		xi_uidlist_free(ul);
		return xi_error_set(err, XI_ERR_INVALID, "uidlist: empty file");
	}
	if (ul->count > 0 && ul->nextuid <= ul->recs[ul->count - 1].uid)
		ul->nextuid = ul->recs[ul->count - 1].uid + 1;
	if (drop_duplicates(ul, err) < 0) {
		xi_uidlist_free(ul);
		return -1;
	}
	return 0;
}

int xi_uidlist_format(const struct xi_uidlist *ul, char **out, size_t *len_out,
		      struct xi_error *err)
{
	size_t cap = 128 + (ul->hdr_ext ? strlen(ul->hdr_ext) : 0);
	for (size_t i = 0; i < ul->count; i++)
		cap += 16 + strlen(ul->recs[i].basename) + (ul->recs[i].ext ? strlen(ul->recs[i].ext) + 1 : 0);
	char *buf = malloc(cap);
	if (buf == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	/* Dovecot always writes a GUID; one we never had is left out, not empty. */
	size_t len = (size_t)snprintf(buf, cap, "3 V%u N%u%s%s%s%s\n", ul->uidvalidity, ul->nextuid,
				      ul->guid[0] ? " G" : "", ul->guid, ul->hdr_ext ? " " : "",
				      ul->hdr_ext ? ul->hdr_ext : "");
	for (size_t i = 0; i < ul->count; i++) {
		const struct xi_uidlist_rec *r = &ul->recs[i];
		len += (size_t)snprintf(buf + len, cap - len, "%u%s%s :%s\n", r->uid, r->ext ? " " : "",
					r->ext ? r->ext : "", r->basename);
	}
	*out = buf;
	*len_out = len;
	return 0;
}

int xi_uidlist_read(const char *dir, struct xi_uidlist *ul, bool *exists, struct xi_error *err)
{
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/" XI_UIDLIST_NAME, dir) < 0)
		return -1;
	char *buf;
	size_t len;
	xi_uidlist_free(ul);
	if (xi_read_bounded(path, XI_UIDLIST_FILE_MAX, &buf, &len, exists, err) < 0)
		return -1;
	if (!*exists)
		return 0;
	int r = xi_uidlist_parse(buf, len, ul, err);
	free(buf);
	return r;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int xi_uidlist_write(const char *dir, const struct xi_uidlist *ul, bool do_fsync,
		     struct xi_error *err)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	if (xi_path_join(tmp, sizeof(tmp), err, "%s/" XI_UIDLIST_NAME ".tmp", dir) < 0 ||
	    xi_path_join(path, sizeof(path), err, "%s/" XI_UIDLIST_NAME, dir) < 0)
		return -1;
	char *buf;
	size_t len;
	if (xi_uidlist_format(ul, &buf, &len, err) < 0)
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		free(buf);
		return xi_error_set(err, XI_ERR_IO, "open %s: %s", tmp, strerror(errno));
	}
	int r = write_all(fd, buf, len);
	if (r == 0 && do_fsync)
		r = fdatasync(fd);
	int e = errno;
	free(buf);
	if (close(fd) < 0 && r == 0) {
		r = -1;
		e = errno;
	}
	if (r == 0 && rename(tmp, path) < 0) {
		r = -1;
		e = errno;
	}
	if (r < 0) {
		unlink(tmp);
		return xi_error_set(err, XI_ERR_IO, "write %s: %s", path, strerror(e));
	}
	return 0;
}

/* ---------------------------------------------------------------- dotlock */

/* The pid in a lock file written by a process on this host, or -1. */
static pid_t lock_local_pid(const char *lockpath)
{
	char buf[512], host[256];
	int fd = open(lockpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	if (buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	char *colon = strchr(buf, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	if (gethostname(host, sizeof(host)) < 0)
		return -1;
	host[sizeof(host) - 1] = '\0';
	if (strcmp(colon + 1, host) != 0)
		return -1;
	uint32_t pid;
	if (parse_u32(buf, strlen(buf), &pid) < 0 || pid == 0 || pid > INT_MAX)
		return -1;
	return (pid_t)pid;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int xi_dotlock_take(const char *path, unsigned stale_seconds, unsigned timeout_seconds,
		    struct xi_dotlock *lock, struct xi_error *err)
{
	char lockpath[sizeof(lock->path)];
	lock->fd = -1;
	if (xi_path_join(lockpath, sizeof(lockpath), err, "%s.lock", path) < 0)
		return -1;
	return xi_dotlock_take_file(lockpath, path, stale_seconds, timeout_seconds, lock, err);
}

int xi_dotlock_take_file(const char *lockpath, const char *path, unsigned stale_seconds,
			 unsigned timeout_seconds, struct xi_dotlock *lock, struct xi_error *err)
{
	lock->fd = -1;
	if (xi_path_join(lock->path, sizeof(lock->path), err, "%s", lockpath) < 0)
		return -1;
	char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	time_t start = time(NULL);
	/* Stale detection as Dovecot: the lock's and the protected file's
	 * change times; if neither changed for stale_seconds, override. */
	time_t last_change = start;
	struct stat last_lock = {0}, last_file = {0};
	long backoff = 5;
	for (;;) {
		int fd = open(lock->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			char content[300];
			int n = snprintf(content, sizeof(content), "%ld:%s", (long)getpid(), host);
			if (write_all(fd, content, (size_t)n) < 0 && ftruncate(fd, 0) < 0) {
				/* an empty lock is still a lock (Dovecot does the same) */
			}
			struct stat st;
			if (fstat(fd, &st) < 0) {
				int e = errno;
				close(fd);
				unlink(lock->path);
				return xi_error_set(err, XI_ERR_IO, "fstat %s: %s", lock->path, strerror(e));
			}
			lock->fd = fd;
			lock->dev = st.st_dev;
			lock->ino = st.st_ino;
			return 0;
		}
		if (errno != EEXIST)
			return xi_error_set(err, XI_ERR_IO, "create %s: %s", lock->path, strerror(errno));
		time_t now = time(NULL);
		struct stat lst, fst;
		if (lstat(lock->path, &lst) < 0)
			continue; /* released meanwhile: try again at once */
		memset(&fst, 0, sizeof(fst));
		if (stat(path, &fst) < 0)
			memset(&fst, 0, sizeof(fst));
		if (lst.st_ino != last_lock.st_ino || lst.st_mtime != last_lock.st_mtime ||
		    lst.st_size != last_lock.st_size || fst.st_ino != last_file.st_ino ||
		    fst.st_mtime != last_file.st_mtime || fst.st_size != last_file.st_size) {
			last_lock = lst;
			last_file = fst;
			last_change = now;
		}
		pid_t holder = lst.st_mtime < now - 2 ? lock_local_pid(lock->path) : -1;
		bool dead = holder > 0 && kill(holder, 0) < 0 && errno == ESRCH;
		if (dead || (stale_seconds > 0 && now > last_change + (time_t)stale_seconds)) {
			/* Override only the lock we examined. */
			struct stat again;
			if (lstat(lock->path, &again) == 0 && again.st_ino == lst.st_ino &&
			    again.st_mtime == lst.st_mtime)
				unlink(lock->path);
			continue;
		}
		if (now - start >= (time_t)timeout_seconds)
			return xi_error_set(err, XI_ERR_TEMP, "timed out waiting for %s", lock->path);
		sleep_ms(backoff);
		if (backoff < 200)
			backoff *= 2;
	}
}

void xi_dotlock_release(struct xi_dotlock *lock)
{
	if (lock->fd < 0)
		return;
	struct stat st;
	if (lstat(lock->path, &st) == 0 && st.st_dev == lock->dev && st.st_ino == lock->ino)
		unlink(lock->path);
	close(lock->fd);
	lock->fd = -1;
}

int xi_dotlock_replace(struct xi_dotlock *lock, const char *path, bool do_fsync,
		       struct xi_error *err)
{
	struct stat st;
	if (do_fsync && fdatasync(lock->fd) < 0) {
		int e = errno;
		xi_dotlock_release(lock);
		return xi_error_set(err, XI_ERR_IO, "fdatasync %s: %s", lock->path, strerror(e));
	}
	if (lstat(lock->path, &st) < 0 || st.st_dev != lock->dev || st.st_ino != lock->ino) {
		close(lock->fd);
		lock->fd = -1;
		return xi_error_set(err, XI_ERR_TEMP, "%s was overridden by another process", lock->path);
	}
	if (rename(lock->path, path) < 0) {
		int e = errno;
		xi_dotlock_release(lock);
		return xi_error_set(err, XI_ERR_IO, "rename %s: %s", lock->path, strerror(e));
	}
	close(lock->fd);
	lock->fd = -1;
	return 0;
}
