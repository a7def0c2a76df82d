/*
 * maildir: folders, delivery and mailbox sync of a Maildir++ shared with
 * Dovecot (see maildir.h).  The formats live in maildir_uidlist.c and
 * maildir_keywords.c; this file walks directories and keeps names safe.
 */
#define _GNU_SOURCE /* qsort_r, getrandom */
#include "maildir_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

struct xi_maildir {
	char *root;
	struct xi_maildir_settings set;
	unsigned delivery_counter; /* the Q<n> of unique names */
	char host[128];            /* hostname with '/' and ':' escaped */
};

/* A file found in new/ or cur/. */
struct scanned {
	char *name;      /* the directory entry */
	size_t base_len; /* length of the base name (up to ':') */
	bool in_new;
	bool used;
};

struct scan {
	struct scanned *files;
	size_t count, cap;
};

struct mb_msg {
	struct xi_maildir_message pub;
	char *basename;
	char *filename;
	bool in_new;
};

struct xi_mailbox {
	struct xi_maildir *md;
	char dir[PATH_MAX];
	bool read_only;
	uint32_t uidvalidity, uidnext;
	struct mb_msg *msgs;
	size_t count;
	struct xi_keywords kw;
};

struct xi_maildir_delivery {
	struct xi_maildir *md;
	char dir[PATH_MAX];
	char base[200];
	char tmppath[PATH_MAX];
	int fd;
	uint64_t size, vsize;
	bool last_cr;
	bool has_received;
	time_t received;
};

void xi_maildir_settings_default(struct xi_maildir_settings *set)
{
	set->lock_stale_seconds = 120;
	set->lock_timeout_seconds = 120;
	set->fsync = true;
}

/* ---------------------------------------------------------------- names */

int xi_maildir_folder_name_check(const char *name, struct xi_error *err)
{
	if (name == NULL || *name == '\0')
		return xi_error_set(err, XI_ERR_INVALID, "empty folder name");
	size_t len = strlen(name);
	if (len > XI_MAILDIR_FOLDER_NAME_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "folder name longer than %d bytes",
				    XI_MAILDIR_FOLDER_NAME_MAX);
	if (strcasecmp(name, "INBOX") == 0)
		return 0;
	if (name[0] == '.' || name[len - 1] == '.' || strstr(name, "..") != NULL)
		return xi_error_set(err, XI_ERR_INVALID,
				    "folder name has an empty part (leading, trailing or double '.')");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return xi_error_set(err, XI_ERR_INVALID, "folder name has a control character");
		/* Dovecot keeps names in modified UTF-7 on disk (the IMAP wire
		 * form, RFC 3501 5.1.3): 8-bit bytes would be a name it cannot
		 * show. */
		if (c >= 0x80)
			return xi_error_set(err, XI_ERR_INVALID,
					    "folder name must be ASCII (modified UTF-7 as IMAP sends it)");
		if (c == '/' || c == '*' || c == '%')
			return xi_error_set(err, XI_ERR_INVALID, "folder name contains '%c'", c);
	}
	return 0;
}

static bool is_inbox(const char *folder)
{
	return folder == NULL || strcasecmp(folder, "INBOX") == 0;
}

static int folder_dir(const struct xi_maildir *md, const char *folder, char *buf, size_t size,
		      struct xi_error *err)
{
	if (is_inbox(folder))
		return xi_path_join(buf, size, err, "%s", md->root);
	if (xi_maildir_folder_name_check(folder, err) < 0)
		return -1;
	return xi_path_join(buf, size, err, "%s/.%s", md->root, folder);
}

/* ---------------------------------------------------------------- info */

static const char flag_letters[] = "DFPRST"; /* bit i = letter i, ASCII order */

int xi_maildir_info_parse(const char *info, unsigned *flags_out, uint32_t *keywords_out)
{
	*flags_out = 0;
	*keywords_out = 0;
	if (info == NULL)
		return 0;
	if (info[0] != '2' || info[1] != ',')
		return -1;
	for (const char *p = info + 2; *p != '\0' && *p != ','; p++) {
		const char *f = strchr(flag_letters, *p);
		if (*p >= 'a' && *p <= 'z')
			*keywords_out |= 1u << (*p - 'a');
		else if (f != NULL)
			*flags_out |= 1u << (f - flag_letters);
	}
	return 0;
}

void xi_maildir_info_format(unsigned flags, uint32_t keywords, char *buf, size_t bufsize)
{
	char tmp[40];
	size_t n = 0;
	tmp[n++] = '2';
	tmp[n++] = ',';
	for (int i = 0; flag_letters[i]; i++)
		if (flags & (1u << i))
			tmp[n++] = flag_letters[i];
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
		if (keywords & (1u << i))
			tmp[n++] = (char)('a' + i);
	tmp[n] = '\0';
	snprintf(buf, bufsize, "%s", tmp);
}

int xi_maildir_basename_size(const char *basename, char key, uint64_t *value_out)
{
	char pat[4] = {',', key, '=', '\0'};
	const char *end = strchr(basename, ':');
	size_t blen = end ? (size_t)(end - basename) : strlen(basename);
	for (const char *p = basename; (p = strstr(p, pat)) != NULL && (size_t)(p - basename) < blen; p++) {
		const char *d = p + 3;
		uint64_t v = 0;
		size_t nd = 0;
		while (d[nd] >= '0' && d[nd] <= '9' && nd < 19)
			v = v * 10 + (uint64_t)(d[nd++] - '0');
		if (nd > 0 && (d[nd] == ',' || d[nd] == ':' || d[nd] == '\0')) {
			*value_out = v;
			return 0;
		}
	}
	return -1;
}

/* ---------------------------------------------------------------- root */

static int mkdir_one(const char *path, struct xi_error *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return xi_error_set(err, XI_ERR_IO, "mkdir %s: %s", path, strerror(errno));
	return 0;
}

static int make_maildir(const char *dir, struct xi_error *err)
{
	char p[PATH_MAX];
	if (mkdir_one(dir, err) < 0)
		return -1;
	static const char *const subs[] = {"tmp", "new", "cur"};
	for (int i = 0; i < 3; i++)
		if (xi_path_join(p, sizeof(p), err, "%s/%s", dir, subs[i]) < 0 || mkdir_one(p, err) < 0)
			return -1;
	return 0;
}

/* The usual case at logon: the Maildir is there already, and three stats
 * cost less than walking mkdir from / down. */
static bool maildir_complete(const char *root)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	char p[PATH_MAX];
	struct stat st;

	for (int i = 0; i < 3; i++)
		if (snprintf(p, sizeof(p), "%s/%s", root, subs[i]) >= (int)sizeof(p) || stat(p, &st) < 0 ||
		    !S_ISDIR(st.st_mode))
			return false;
	return true;
}

int xi_maildir_open(const char *root, bool create, const struct xi_maildir_settings *set,
		    struct xi_maildir **md_out, struct xi_error *err)
{
	*md_out = NULL;
	if (root == NULL || root[0] != '/' || strlen(root) > PATH_MAX - 512 || strstr(root, "/../") != NULL)
		return xi_error_set(err, XI_ERR_INVALID, "Maildir root must be an absolute path");
	if (create && !maildir_complete(root)) {
		/* Parents as Dovecot does (mail_location under a fresh home). */
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s", root);
		for (char *s = p + 1; *s; s++)
			if (*s == '/') {
				*s = '\0';
				if (mkdir_one(p, err) < 0)
					return -1;
				*s = '/';
			}
		if (make_maildir(root, err) < 0)
			return -1;
	}
	struct stat st;
	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
		return xi_error_set(err, XI_ERR_NOTFOUND, "no Maildir at %s", root);
	struct xi_maildir *md = calloc(1, sizeof(*md));
	if (md == NULL || (md->root = strdup(root)) == NULL) {
		free(md);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	size_t rl = strlen(md->root);
	while (rl > 1 && md->root[rl - 1] == '/')
		md->root[--rl] = '\0';
	if (set != NULL)
		md->set = *set;
	else
		xi_maildir_settings_default(&md->set);
	/* Unique names carry the host: Dovecot escapes '/' and ':' in it. */
	char host[64];
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	size_t o = 0;
	for (const char *h = host; *h && o + 5 < sizeof(md->host); h++) {
		if (*h == '/' || *h == ':')
			o += (size_t)snprintf(md->host + o, sizeof(md->host) - o, "\\%03o", (unsigned char)*h);
		else if ((unsigned char)*h > 0x20 && (unsigned char)*h < 0x7f && *h != ',')
			md->host[o++] = *h;
	}
	md->host[o] = '\0';
	*md_out = md;
	return 0;
}

void xi_maildir_close(struct xi_maildir *md)
{
	if (md == NULL)
		return;
	free(md->root);
	free(md);
}

const char *xi_maildir_root(const struct xi_maildir *md)
{
	return md->root;
}

/* ---------------------------------------------------------------- folders */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void xi_maildir_folder_list_free(char **names, size_t count)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

int xi_maildir_folder_list(struct xi_maildir *md, char ***names_out, size_t *count_out,
			   struct xi_error *err)
{
	*names_out = NULL;
	*count_out = 0;
	DIR *d = opendir(md->root);
	if (d == NULL)
		return xi_error_set(err, XI_ERR_IO, "opendir %s: %s", md->root, strerror(errno));
	size_t count = 1, cap = 16;
	char **names = malloc(cap * sizeof(*names));
	if (names == NULL || (names[0] = strdup("INBOX")) == NULL) {
		free(names);
		closedir(d);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		/* ".." prefixed entries are Dovecot's and our trash, not folders */
		if (de->d_name[0] != '.' || de->d_name[1] == '.' || de->d_name[1] == '\0')
			continue;
		const char *name = de->d_name + 1;
		if (xi_maildir_folder_name_check(name, NULL) < 0 || is_inbox(name))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (count >= 100000)
			break;
		if (count == cap) {
			char **n = realloc(names, cap * 2 * sizeof(*n));
			if (n == NULL)
				goto nomem;
			names = n;
			cap *= 2;
		}
		if ((names[count] = strdup(name)) == NULL)
			goto nomem;
		count++;
	}
	closedir(d);
	qsort(names + 1, count - 1, sizeof(*names), cmp_str);
	*names_out = names;
	*count_out = count;
	return 0;
nomem:
	closedir(d);
	xi_maildir_folder_list_free(names, count);
	return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
}

int xi_maildir_folder_create(struct xi_maildir *md, const char *name, struct xi_error *err)
{
	char dir[PATH_MAX], p[PATH_MAX];
	if (xi_maildir_folder_name_check(name, err) < 0)
		return -1;
	if (is_inbox(name))
		return xi_error_set(err, XI_ERR_EXISTS, "INBOX always exists");
	if (folder_dir(md, name, dir, sizeof(dir), err) < 0)
		return -1;
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return xi_error_set(err, XI_ERR_EXISTS, "folder %s exists", name);
		return xi_error_set(err, XI_ERR_IO, "mkdir %s: %s", dir, strerror(errno));
	}
	if (make_maildir(dir, err) < 0)
		return -1;
	if (xi_path_join(p, sizeof(p), err, "%s/maildirfolder", dir) < 0)
		return -1;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return xi_error_set(err, XI_ERR_IO, "create %s: %s", p, strerror(errno));
	close(fd);
	return 0;
}

/* Removes a folder's tree; depth-bounded and never following symlinks. */
static int remove_tree(int parent, const char *name, int depth)
{
	if (depth > 4)
		return -1;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return unlinkat(parent, name, 0);
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	int ret = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && remove_tree(dirfd(d), de->d_name, depth + 1) < 0)
			ret = -1;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0)
		ret = -1;
	return ret;
}

static bool folder_has_children(struct xi_maildir *md, const char *name)
{
	char **names;
	size_t n;
	bool found = false;
	if (xi_maildir_folder_list(md, &names, &n, NULL) < 0)
		return false;
	size_t len = strlen(name);
	for (size_t i = 1; i < n; i++)
		if (strncmp(names[i], name, len) == 0 && names[i][len] == '.')
			found = true;
	xi_maildir_folder_list_free(names, n);
	return found;
}

int xi_maildir_folder_delete(struct xi_maildir *md, const char *name, struct xi_error *err)
{
	char dir[PATH_MAX], trash[PATH_MAX];
	if (xi_maildir_folder_name_check(name, err) < 0)
		return -1;
	if (is_inbox(name))
		return xi_error_set(err, XI_ERR_INVALID, "INBOX cannot be deleted");
	if (folder_has_children(md, name))
		return xi_error_set(err, XI_ERR_INVALID, "folder %s has subfolders", name);
	if (folder_dir(md, name, dir, sizeof(dir), err) < 0)
		return -1;
	/* Out of sight first (readers see it gone at once), then removed. */
	struct timeval tv;
	gettimeofday(&tv, NULL);
	if (xi_path_join(trash, sizeof(trash), err, "%s/..xidentd-trash.%ld.%ld.%ld", md->root,
			 (long)getpid(), (long)tv.tv_sec, (long)tv.tv_usec) < 0)
		return -1;
	if (rename(dir, trash) < 0) {
		if (errno == ENOENT)
			return xi_error_set(err, XI_ERR_NOTFOUND, "no folder %s", name);
		return xi_error_set(err, XI_ERR_IO, "rename %s: %s", dir, strerror(errno));
	}
	if (remove_tree(AT_FDCWD, trash, 0) < 0)
		return xi_error_set(err, XI_ERR_IO, "could not remove all of %s", trash);
	return 0;
}

int xi_maildir_folder_rename(struct xi_maildir *md, const char *from, const char *to,
			     struct xi_error *err)
{
	char src[PATH_MAX], dst[PATH_MAX];
	if (xi_maildir_folder_name_check(from, err) < 0 || xi_maildir_folder_name_check(to, err) < 0)
		return -1;
	if (is_inbox(from) || is_inbox(to))
		return xi_error_set(err, XI_ERR_INVALID, "INBOX cannot be renamed or replaced");
	size_t flen = strlen(from);
	if (strncmp(to, from, flen) == 0 && to[flen] == '.')
		return xi_error_set(err, XI_ERR_INVALID, "cannot move a folder into itself");
	if (folder_dir(md, from, src, sizeof(src), err) < 0 || folder_dir(md, to, dst, sizeof(dst), err) < 0)
		return -1;
	struct stat st;
	if (lstat(dst, &st) == 0 || folder_has_children(md, to))
		return xi_error_set(err, XI_ERR_EXISTS, "folder %s exists", to);
	/* In Maildir++ "A.B" exists without "A": renaming "A" moves the children. */
	bool exists = lstat(src, &st) == 0;
	if (!exists && !folder_has_children(md, from))
		return xi_error_set(err, XI_ERR_NOTFOUND, "no folder %s", from);
	char **names;
	size_t n;
	if (xi_maildir_folder_list(md, &names, &n, err) < 0)
		return -1;
	int ret = 0;
	if (exists && rename(src, dst) < 0)
		ret = xi_error_set(err, XI_ERR_IO, "rename %s: %s", src, strerror(errno));
	for (size_t i = 1; ret == 0 && i < n; i++) {
		if (strncmp(names[i], from, flen) != 0 || names[i][flen] != '.')
			continue;
		char child_to[XI_MAILDIR_FOLDER_NAME_MAX * 2 + 2];
		snprintf(child_to, sizeof(child_to), "%s%s", to, names[i] + flen);
		if (folder_dir(md, names[i], src, sizeof(src), err) < 0 ||
		    folder_dir(md, child_to, dst, sizeof(dst), err) < 0)
			ret = -1;
		else if (rename(src, dst) < 0)
			ret = xi_error_set(err, XI_ERR_IO, "rename %s: %s", src, strerror(errno));
	}
	xi_maildir_folder_list_free(names, n);
	return ret;
}

/* ---------------------------------------------------------------- scan */

static void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->files[i].name);
	free(s->files);
	memset(s, 0, sizeof(*s));
}

static int cmp_scanned(const void *a, const void *b)
{
	const struct scanned *x = a, *y = b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->name, y->name, n);
	if (c != 0)
		return c;
	return x->base_len < y->base_len ? -1 : x->base_len > y->base_len;
}

static int scan_sub(struct scan *s, const char *dir, const char *sub, struct xi_error *err)
{
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/%s", dir, sub) < 0)
		return -1;
	DIR *d = opendir(path);
	if (d == NULL)
		return xi_error_set(err, errno == ENOENT ? XI_ERR_NOTFOUND : XI_ERR_IO,
				    "opendir %s: %s", path, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len > XI_MAILDIR_FILENAME_MAX)
			continue;
		const char *colon = strchr(de->d_name, ':');
		size_t base_len = colon ? (size_t)(colon - de->d_name) : len;
		if (base_len == 0)
			continue;
		if (s->count >= XI_MAILDIR_MESSAGES_MAX) {
			closedir(d);
			return xi_error_set(err, XI_ERR_INVALID, "more than %u messages in %s",
					    XI_MAILDIR_MESSAGES_MAX, dir);
		}
		if (s->count == s->cap) {
			size_t ncap = s->cap ? s->cap * 2 : 64;
			struct scanned *n = realloc(s->files, ncap * sizeof(*n));
			if (n == NULL) {
				closedir(d);
				return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			}
			s->files = n;
			s->cap = ncap;
		}
		struct scanned *f = &s->files[s->count];
		if ((f->name = strdup(de->d_name)) == NULL) {
			closedir(d);
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		}
		f->base_len = base_len;
		f->in_new = sub[0] == 'n';
		f->used = false;
		s->count++;
	}
	closedir(d);
	return 0;
}

/* The change stamps of new/ and cur/: a scan is trusted only if they did not
 * move while it ran (readdir may miss a file renamed meanwhile). */
static bool dirs_stamp(const char *dir, struct timespec stamp[2])
{
	static const char *const subs[] = {"new", "cur"};
	for (int i = 0; i < 2; i++) {
		char path[PATH_MAX];
		struct stat st;
		if (xi_path_join(path, sizeof(path), NULL, "%s/%s", dir, subs[i]) < 0 || stat(path, &st) < 0)
			return false;
		stamp[i] = st.st_mtim;
	}
	return true;
}

static bool same_stamp(const struct timespec a[2], const struct timespec b[2])
{
	for (int i = 0; i < 2; i++)
		if (a[i].tv_sec != b[i].tv_sec || a[i].tv_nsec != b[i].tv_nsec)
			return false;
	return true;
}

#define SCAN_ATTEMPTS 5

/* new/ before cur/: a file moving new -> cur meanwhile is still seen once. */
static int scan_folder(const char *dir, struct scan *s, struct xi_error *err)
{
	memset(s, 0, sizeof(*s));
	for (int attempt = 1;; attempt++) {
		struct timespec before[2], after[2];
		bool stamped = dirs_stamp(dir, before);
		if (scan_sub(s, dir, "new", err) < 0 || scan_sub(s, dir, "cur", err) < 0) {
			scan_free(s);
			return -1;
		}
		if (!stamped || !dirs_stamp(dir, after) || same_stamp(before, after) ||
		    attempt == SCAN_ATTEMPTS)
			break;
		scan_free(s);
	}
	if (s->count > 1)
		qsort(s->files, s->count, sizeof(*s->files), cmp_scanned);
	/* The same base name twice (seen in new/ and again in cur/): keep cur/. */
	size_t w = 0;
	for (size_t i = 0; i < s->count; i++) {
		if (w > 0 && cmp_scanned(&s->files[w - 1], &s->files[i]) == 0) {
			if (s->files[w - 1].in_new) {
				free(s->files[w - 1].name);
				s->files[w - 1] = s->files[i];
			} else {
				free(s->files[i].name);
			}
			continue;
		}
		s->files[w++] = s->files[i];
	}
	s->count = w;
	return 0;
}

static struct scanned *scan_find(struct scan *s, const char *basename)
{
	struct scanned key = {(char *)basename, strlen(basename), false, false};
	if (s->count == 0)
		return NULL;
	return bsearch(&key, s->files, s->count, sizeof(*s->files), cmp_scanned);
}

/* Dovecot's order for new files: by the time in the name, then the
 * microseconds of ".M<usecs>", then by name. */
static int cmp_new_files(const void *a, const void *b)
{
	const struct scanned *x = *(struct scanned *const *)a, *y = *(struct scanned *const *)b;
	char *ex, *ey;
	unsigned long long tx = strtoull(x->name, &ex, 10), ty = strtoull(y->name, &ey, 10);
	if (ex != x->name && ey != y->name) {
		if (tx != ty)
			return tx < ty ? -1 : 1;
		if (ex[0] == '.' && ex[1] == 'M' && ey[0] == '.' && ey[1] == 'M') {
			unsigned long long ux = strtoull(ex + 2, NULL, 10), uy = strtoull(ey + 2, NULL, 10);
			if (ux != uy)
				return ux < uy ? -1 : 1;
		}
	}
	return cmp_scanned(x, y);
}

static int random_guid(char out[33], struct xi_error *err)
{
	unsigned char raw[16];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return xi_error_set(err, XI_ERR_IO, "getrandom: %s", strerror(errno));
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static bool in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/*
 * The writing half of a sync: under the uidlist lock, re-read the uidlist,
 * re-scan the folder, drop the records of the files we expunged (drop), give
 * every file without a UID the next one (in Dovecot's order) and write the
 * uidlist.  Records of other files not found are kept, as Dovecot keeps
 * them: a scan racing a rename must never cost a message its UID.  On
 * return ul and s describe the folder as written.
 */
static int sync_locked(struct xi_maildir *md, const char *dir, struct xi_uidlist *ul,
		       struct scan *s, const char *const *drop, size_t ndrop, struct xi_error *err)
{
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/" XI_UIDLIST_NAME, dir) < 0)
		return -1;
	struct xi_dotlock lock;
	if (xi_dotlock_take(path, md->set.lock_stale_seconds, md->set.lock_timeout_seconds, &lock, err) < 0)
		return -1;
	bool exists;
	struct xi_uidlist fresh;
	xi_uidlist_init(&fresh);
	int ret = -1;
	struct scanned **newf = NULL;
	scan_free(s);
	bool broken = false;
	if (xi_uidlist_read(dir, ul, &exists, err) < 0) {
		if (err == NULL || err->status != XI_ERR_INVALID)
			goto out;
		/* As Dovecot: a broken uidlist is dropped and rebuilt.  It is kept
		 * aside for the administrator, and the mailbox gets a new
		 * UIDVALIDITY since its UIDs cannot be kept. */
		char aside[PATH_MAX];
		if (xi_path_join(aside, sizeof(aside), err, "%s/" XI_UIDLIST_NAME ".broken", dir) < 0 ||
		    rename(path, aside) < 0)
			goto out;
		xi_error_clear(err);
		exists = false;
		broken = true;
	}
	if (scan_folder(dir, s, err) < 0)
		goto out;
	if (!exists) {
		ul->uidvalidity = (uint32_t)time(NULL);
		ul->nextuid = 1;
		/* Never the same UIDVALIDITY twice in one second after a rebuild. */
		if (broken)
			ul->uidvalidity ^= 0x80000000u;
	}
	if (ul->guid[0] == '\0' && random_guid(ul->guid, err) < 0)
		goto out;
	fresh.uidvalidity = ul->uidvalidity;
	fresh.nextuid = ul->nextuid;
	memcpy(fresh.guid, ul->guid, sizeof(fresh.guid));
	fresh.hdr_ext = ul->hdr_ext;
	ul->hdr_ext = NULL;
	for (size_t i = 0; i < ul->count; i++) {
		struct scanned *f = scan_find(s, ul->recs[i].basename);
		if (f == NULL ? in_list(ul->recs[i].basename, drop, ndrop) : f->used)
			continue;
		if (f != NULL)
			f->used = true;
		if (xi_uidlist_append(&fresh, ul->recs[i].uid, ul->recs[i].basename, ul->recs[i].ext, err) < 0)
			goto out;
	}
	fresh.nextuid = ul->nextuid > fresh.nextuid ? ul->nextuid : fresh.nextuid;
	size_t nnew = 0;
	newf = malloc((s->count + 1) * sizeof(*newf));
	if (newf == NULL) {
		xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->count; i++)
		if (!s->files[i].used)
			newf[nnew++] = &s->files[i];
	qsort(newf, nnew, sizeof(*newf), cmp_new_files);
	for (size_t i = 0; i < nnew; i++) {
		char base[XI_MAILDIR_FILENAME_MAX + 1];
		memcpy(base, newf[i]->name, newf[i]->base_len);
		base[newf[i]->base_len] = '\0';
		if (fresh.nextuid == UINT32_MAX) {
			xi_error_set(err, XI_ERR_INVALID, "UIDs exhausted in %s", dir);
			goto out;
		}
		if (xi_uidlist_append(&fresh, fresh.nextuid, base, NULL, err) < 0)
			goto out;
		newf[i]->used = true;
	}
	if (xi_uidlist_write(dir, &fresh, md->set.fsync, err) < 0)
		goto out;
	xi_uidlist_free(ul);
	*ul = fresh;
	xi_uidlist_init(&fresh);
	ret = 0;
out:
	free(newf);
	xi_uidlist_free(&fresh);
	xi_dotlock_release(&lock);
	return ret;
}

/*
 * A delivery's UID, the way Dovecot's savers do it: under the lock, read the
 * uidlist and append one record "<next uid> :<basename>" without rewriting
 * the file (readers take the next UID as the larger of N and the last
 * record + 1).  1 = done, 0 = needs the full sync (no uidlist, a broken one,
 * or one not ending in a newline), -1 = error.
 */
static int uid_append_locked(struct xi_maildir *md, const char *dir, const char *basename,
			     uint32_t *uid_out, struct xi_error *err)
{
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/" XI_UIDLIST_NAME, dir) < 0)
		return -1;
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : xi_error_set(err, XI_ERR_IO, "open %s: %s", path, strerror(errno));
	/* Only the header and the last record matter: our fresh base name
	 * cannot be listed yet, and records are in UID order. */
	struct stat st;
	char head[XI_UIDLIST_LINE_MAX + 2], tail[XI_UIDLIST_LINE_MAX + 2];
	int ret = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 2 ||
	    (uint64_t)st.st_size > XI_UIDLIST_FILE_MAX)
		goto out;
	size_t hlen = (size_t)st.st_size < sizeof(head) - 1 ? (size_t)st.st_size : sizeof(head) - 1;
	size_t tlen = hlen;
	off_t toff = st.st_size - (off_t)tlen;
	if (pread(fd, head, hlen, 0) != (ssize_t)hlen || pread(fd, tail, tlen, toff) != (ssize_t)tlen ||
	    tail[tlen - 1] != '\n')
		goto out;
	char *nl = memchr(head, '\n', hlen);
	if (nl == NULL)
		goto out;
	struct xi_uidlist hdr;
	xi_uidlist_init(&hdr);
	int parsed = xi_uidlist_parse(head, (size_t)(nl - head) + 1, &hdr, NULL);
	uint32_t next = hdr.nextuid;
	xi_uidlist_free(&hdr);
	if (parsed < 0)
		goto out;
	/* The last line, unless the file is the header alone. */
	if (toff + (off_t)tlen > (off_t)((nl - head) + 1)) {
		size_t k = tlen - 1;
		while (k > 0 && tail[k - 1] != '\n')
			k--;
		if (k == 0 && toff > 0)
			goto out; /* a last line longer than we allow */
		uint64_t last = 0;
		size_t d = k;
		while (d < tlen && tail[d] >= '0' && tail[d] <= '9' && d - k < 10)
			last = last * 10 + (uint64_t)(tail[d++] - '0');
		if (d == k || tail[d] != ' ' || last == 0 || last >= UINT32_MAX)
			goto out;
		if (next <= last)
			next = (uint32_t)last + 1;
	}
	if (next == UINT32_MAX) {
		ret = xi_error_set(err, XI_ERR_INVALID, "UIDs exhausted in %s", dir);
		goto out;
	}
	char line[XI_MAILDIR_FILENAME_MAX + 32];
	int n = snprintf(line, sizeof(line), "%u :%s\n", next, basename);
	/* One write: a reader sees the whole line or none of it. */
	ssize_t w = write(fd, line, (size_t)n);
	int e = errno;
	if (w == n && md->set.fsync && fdatasync(fd) < 0) {
		w = -1;
		e = errno;
	}
	if (w != n) {
		ret = xi_error_set(err, XI_ERR_IO, "append to %s: %s", path, w < 0 ? strerror(e) : "short write");
		goto out;
	}
	*uid_out = next;
	ret = 1;
out:
	close(fd);
	return ret;
}

/* ---------------------------------------------------------------- mailbox */

static void mailbox_clear(struct xi_mailbox *mb)
{
	for (size_t i = 0; i < mb->count; i++) {
		free(mb->msgs[i].basename);
		free(mb->msgs[i].filename);
	}
	free(mb->msgs);
	mb->msgs = NULL;
	mb->count = 0;
}

/* Bytes of the file counting every bare LF as CRLF. */
static int compute_vsize(const char *path, uint64_t *vsize_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	char buf[16384];
	uint64_t v = 0;
	bool prev_cr = false;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && !prev_cr)
				v++;
			prev_cr = buf[i] == '\r';
		}
		v += (uint64_t)n;
	}
	close(fd);
	if (n < 0)
		return -1;
	*vsize_out = v;
	return 0;
}

static int build_messages(struct xi_mailbox *mb, struct xi_uidlist *ul, struct scan *s,
			  struct xi_error *err)
{
	mailbox_clear(mb);
	for (size_t i = 0; i < s->count; i++)
		s->files[i].used = false;
	mb->msgs = calloc(ul->count + 1, sizeof(*mb->msgs));
	if (mb->msgs == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < ul->count; i++) {
		const struct xi_uidlist_rec *rec = &ul->recs[i];
		struct scanned *f = scan_find(s, rec->basename);
		if (f == NULL || f->used)
			continue;
		f->used = true;
		struct mb_msg *m = &mb->msgs[mb->count];
		m->basename = strdup(rec->basename);
		m->filename = strdup(f->name);
		if (m->basename == NULL || m->filename == NULL) {
			free(m->basename);
			free(m->filename);
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		}
		m->in_new = f->in_new;
		m->pub.uid = rec->uid;
		m->pub.recent = f->in_new;
		m->pub.basename = m->basename;
		const char *colon = strchr(f->name, ':');
		xi_maildir_info_parse(colon ? colon + 1 : NULL, &m->pub.flags, &m->pub.keywords);
		char path[PATH_MAX];
		if (xi_path_join(path, sizeof(path), err, "%s/%s/%s", mb->dir, f->in_new ? "new" : "cur",
				 f->name) < 0)
			return -1;
		if (xi_maildir_basename_size(rec->basename, 'S', &m->pub.size) < 0 &&
		    xi_uidlist_rec_ext(rec, 'S', &m->pub.size) < 0) {
			struct stat st;
			m->pub.size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
		}
		if (xi_maildir_basename_size(rec->basename, 'W', &m->pub.vsize) < 0 &&
		    xi_uidlist_rec_ext(rec, 'W', &m->pub.vsize) < 0 &&
		    compute_vsize(path, &m->pub.vsize) < 0)
			m->pub.vsize = m->pub.size;
		mb->count++;
	}
	mb->uidvalidity = ul->uidvalidity;
	mb->uidnext = ul->nextuid;
	return 0;
}

static int mailbox_sync_full(struct xi_mailbox *mb, struct xi_error *err)
{
	struct xi_uidlist ul;
	struct scan s;
	bool exists;
	xi_uidlist_init(&ul);
	if (scan_folder(mb->dir, &s, err) < 0)
		return -1;
	int ret = -1;
	bool need_write = false;
	if (xi_uidlist_read(mb->dir, &ul, &exists, err) < 0) {
		/* A writer rebuilds a broken uidlist under the lock (sync_locked). */
		if (mb->read_only || err == NULL || err->status != XI_ERR_INVALID)
			goto out;
		xi_error_clear(err);
		exists = true;
		need_write = true;
	}
	need_write = need_write || !exists;
	size_t matched = 0;
	for (size_t i = 0; i < ul.count; i++) {
		struct scanned *f = scan_find(&s, ul.recs[i].basename);
		if (f != NULL && !f->used) {
			f->used = true;
			matched++;
		}
	}
	if (matched < s.count)
		need_write = true;
	if (need_write && !mb->read_only && sync_locked(mb->md, mb->dir, &ul, &s, NULL, 0, err) < 0)
		goto out;
	if (!exists && mb->read_only) {
		ul.uidvalidity = 0;
		ul.nextuid = 1;
	}
	if (build_messages(mb, &ul, &s, err) < 0 || xi_keywords_read(mb->dir, &mb->kw, err) < 0)
		goto out;
	ret = 0;
out:
	scan_free(&s);
	xi_uidlist_free(&ul);
	return ret;
}

int xi_mailbox_open(struct xi_maildir *md, const char *folder, bool read_only,
		    struct xi_mailbox **mb_out, struct xi_error *err)
{
	*mb_out = NULL;
	struct xi_mailbox *mb = calloc(1, sizeof(*mb));
	if (mb == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	mb->md = md;
	mb->read_only = read_only;
	struct stat st;
	if (folder_dir(md, folder, mb->dir, sizeof(mb->dir), err) < 0) {
		free(mb);
		return -1;
	}
	if (stat(mb->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(mb);
		return xi_error_set(err, XI_ERR_NOTFOUND, "no folder %s", folder ? folder : "INBOX");
	}
	if (mailbox_sync_full(mb, err) < 0) {
		xi_mailbox_close(mb);
		return -1;
	}
	*mb_out = mb;
	return 0;
}

int xi_mailbox_sync(struct xi_mailbox *mb, struct xi_error *err)
{
	return mailbox_sync_full(mb, err);
}

void xi_mailbox_close(struct xi_mailbox *mb)
{
	if (mb == NULL)
		return;
	mailbox_clear(mb);
	xi_keywords_free(&mb->kw);
	free(mb);
}

uint32_t xi_mailbox_uidvalidity(const struct xi_mailbox *mb) { return mb->uidvalidity; }
uint32_t xi_mailbox_uidnext(const struct xi_mailbox *mb) { return mb->uidnext; }
size_t xi_mailbox_count(const struct xi_mailbox *mb) { return mb->count; }

const struct xi_maildir_message *xi_mailbox_message(const struct xi_mailbox *mb, size_t index)
{
	return index < mb->count ? &mb->msgs[index].pub : NULL;
}

ssize_t xi_mailbox_find_uid(const struct xi_mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (mb->msgs[mid].pub.uid == uid)
			return (ssize_t)mid;
		if (mb->msgs[mid].pub.uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

size_t xi_mailbox_keyword_count(const struct xi_mailbox *mb)
{
	size_t n = 0;
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
		if (mb->kw.names[i])
			n = (size_t)i + 1;
	return n;
}

const char *xi_mailbox_keyword_name(const struct xi_mailbox *mb, unsigned index)
{
	return index < XI_MAILDIR_KEYWORDS_MAX ? mb->kw.names[index] : NULL;
}

static int keyword_find(const struct xi_keywords *kw, const char *name)
{
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
		if (kw->names[i] && strcmp(kw->names[i], name) == 0)
			return i;
	return -1;
}

int xi_mailbox_keyword_lookup(struct xi_mailbox *mb, const char *name, bool create,
			      unsigned *index_out, struct xi_error *err)
{
	if (name == NULL || !xi_keyword_name_valid(name))
		return xi_error_set(err, XI_ERR_INVALID, "invalid keyword name");
	int i = keyword_find(&mb->kw, name);
	if (i >= 0) {
		*index_out = (unsigned)i;
		return 0;
	}
	if (!create)
		return xi_error_set(err, XI_ERR_NOTFOUND, "no keyword %s", name);
	if (mb->read_only)
		return xi_error_set(err, XI_ERR_DENIED, "mailbox opened read-only");
	/* Dovecot changes dovecot-keywords only under the uidlist lock. */
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/" XI_UIDLIST_NAME, mb->dir) < 0)
		return -1;
	struct xi_dotlock lock;
	if (xi_dotlock_take(path, mb->md->set.lock_stale_seconds, mb->md->set.lock_timeout_seconds,
			    &lock, err) < 0)
		return -1;
	int ret = -1;
	if (xi_keywords_read(mb->dir, &mb->kw, err) < 0)
		goto out;
	i = keyword_find(&mb->kw, name);
	if (i < 0) {
		for (i = 0; i < XI_MAILDIR_KEYWORDS_MAX && mb->kw.names[i]; i++)
			;
		if (i == XI_MAILDIR_KEYWORDS_MAX) {
			xi_error_set(err, XI_ERR_INVALID, "all %d keyword letters are in use",
				     XI_MAILDIR_KEYWORDS_MAX);
			goto out;
		}
		if ((mb->kw.names[i] = strdup(name)) == NULL) {
			xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (xi_keywords_write(mb->dir, &mb->kw, &mb->md->set, err) < 0) {
			free(mb->kw.names[i]);
			mb->kw.names[i] = NULL;
			goto out;
		}
	}
	*index_out = (unsigned)i;
	ret = 0;
out:
	xi_dotlock_release(&lock);
	return ret;
}

/* Finds the current name of a message another process may have renamed. */
static int relocate(struct xi_mailbox *mb, struct mb_msg *m)
{
	static const char *const subs[] = {"cur", "new"};
	size_t blen = strlen(m->basename);
	for (int k = 0; k < 2; k++) {
		char path[PATH_MAX];
		if (xi_path_join(path, sizeof(path), NULL, "%s/%s", mb->dir, subs[k]) < 0)
			continue;
		DIR *d = opendir(path);
		if (d == NULL)
			continue;
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, m->basename, blen) == 0 &&
			    (de->d_name[blen] == ':' || de->d_name[blen] == '\0')) {
				char *n = strdup(de->d_name);
				closedir(d);
				if (n == NULL)
					return -1;
				free(m->filename);
				m->filename = n;
				m->in_new = k == 1;
				const char *colon = strchr(n, ':');
				xi_maildir_info_parse(colon ? colon + 1 : NULL, &m->pub.flags, &m->pub.keywords);
				return 0;
			}
		}
		closedir(d);
	}
	return -1;
}

static int msg_path(struct xi_mailbox *mb, struct mb_msg *m, char *buf, size_t size,
		    struct xi_error *err)
{
	return xi_path_join(buf, size, err, "%s/%s/%s", mb->dir, m->in_new ? "new" : "cur", m->filename);
}

int xi_mailbox_message_open(struct xi_mailbox *mb, size_t index, int *fd_out, struct xi_error *err)
{
	*fd_out = -1;
	if (index >= mb->count)
		return xi_error_set(err, XI_ERR_INVALID, "no message %zu", index + 1);
	struct mb_msg *m = &mb->msgs[index];
	for (int attempt = 0; attempt < 2 && !m->pub.expunged; attempt++) {
		char path[PATH_MAX];
		if (msg_path(mb, m, path, sizeof(path), err) < 0)
			return -1;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			*fd_out = fd;
			return 0;
		}
		if (errno != ENOENT)
			return xi_error_set(err, XI_ERR_IO, "open %s: %s", path, strerror(errno));
		if (relocate(mb, m) < 0)
			break;
	}
	return xi_error_set(err, XI_ERR_NOTFOUND, "message UID %u was expunged", m->pub.uid);
}

int xi_mailbox_message_received(struct xi_mailbox *mb, size_t index, time_t *received_out,
				struct xi_error *err)
{
	int fd;
	struct stat st;
	*received_out = 0;
	if (xi_mailbox_message_open(mb, index, &fd, err) < 0)
		return -1;
	int r = fstat(fd, &st);
	close(fd);
	if (r < 0)
		return xi_error_set(err, XI_ERR_IO, "fstat: %s", strerror(errno));
	*received_out = st.st_mtime;
	return 0;
}

int xi_mailbox_message_stream(struct xi_mailbox *mb, size_t index, FILE **fp_out,
			      struct xi_error *err)
{
	int fd;
	*fp_out = NULL;
	if (xi_mailbox_message_open(mb, index, &fd, err) < 0)
		return -1;
	FILE *fp = fdopen(fd, "r");
	if (fp == NULL) {
		close(fd);
		return xi_error_set(err, XI_ERR_NOMEM, "fdopen: %s", strerror(errno));
	}
	*fp_out = fp;
	return 0;
}

int xi_mailbox_set_flags(struct xi_mailbox *mb, size_t index, enum xi_flag_mode mode,
			 unsigned flags, uint32_t keywords, struct xi_error *err)
{
	if (index >= mb->count)
		return xi_error_set(err, XI_ERR_INVALID, "no message %zu", index + 1);
	if (mb->read_only)
		return xi_error_set(err, XI_ERR_DENIED, "mailbox opened read-only");
	if ((flags & ~XI_MAIL_FLAGS_ALL) != 0 || (keywords >> XI_MAILDIR_KEYWORDS_MAX) != 0)
		return xi_error_set(err, XI_ERR_INVALID, "unknown flag bits");
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
		if ((keywords & (1u << i)) && mb->kw.names[i] == NULL)
			return xi_error_set(err, XI_ERR_INVALID, "keyword %d is not defined", i);
	struct mb_msg *m = &mb->msgs[index];
	for (int attempt = 0; attempt < 2 && !m->pub.expunged; attempt++) {
		unsigned nf = m->pub.flags;
		uint32_t nk = m->pub.keywords;
		switch (mode) {
		case XI_FLAGS_REPLACE: nf = flags; nk = keywords; break;
		case XI_FLAGS_ADD: nf |= flags; nk |= keywords; break;
		case XI_FLAGS_REMOVE: nf &= ~flags; nk &= ~keywords; break;
		}
		char info[40], newname[XI_MAILDIR_FILENAME_MAX + 1];
		xi_maildir_info_format(nf, nk, info, sizeof(info));
		int n = snprintf(newname, sizeof(newname), "%s:%s", m->basename, info);
		if (n < 0 || (size_t)n >= sizeof(newname))
			return xi_error_set(err, XI_ERR_INVALID, "file name too long");
		char from[PATH_MAX], to[PATH_MAX];
		if (msg_path(mb, m, from, sizeof(from), err) < 0 ||
		    xi_path_join(to, sizeof(to), err, "%s/cur/%s", mb->dir, newname) < 0)
			return -1;
		if (!m->in_new && strcmp(m->filename, newname) == 0)
			return 0;
		if (rename(from, to) == 0) {
			char *dup = strdup(newname);
			if (dup == NULL)
				return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			free(m->filename);
			m->filename = dup;
			m->in_new = false;
			m->pub.flags = nf;
			m->pub.keywords = nk;
			return 0;
		}
		if (errno != ENOENT)
			return xi_error_set(err, XI_ERR_IO, "rename %s: %s", from, strerror(errno));
		if (relocate(mb, m) < 0)
			break;
	}
	return xi_error_set(err, XI_ERR_NOTFOUND, "message UID %u was expunged", m->pub.uid);
}

int xi_mailbox_take_new(struct xi_mailbox *mb, size_t index, struct xi_error *err)
{
	if (index >= mb->count)
		return xi_error_set(err, XI_ERR_INVALID, "no message %zu", index + 1);
	if (mb->read_only)
		return xi_error_set(err, XI_ERR_DENIED, "mailbox opened read-only");
	struct mb_msg *m = &mb->msgs[index];
	if (!m->in_new || m->pub.expunged)
		return 0;
	char info[40], newname[XI_MAILDIR_FILENAME_MAX + 1];
	xi_maildir_info_format(m->pub.flags, m->pub.keywords, info, sizeof(info));
	int n = snprintf(newname, sizeof(newname), "%s:%s", m->basename, info);
	if (n < 0 || (size_t)n >= sizeof(newname))
		return xi_error_set(err, XI_ERR_INVALID, "file name too long");
	char from[PATH_MAX], to[PATH_MAX];
	if (msg_path(mb, m, from, sizeof(from), err) < 0 ||
	    xi_path_join(to, sizeof(to), err, "%s/cur/%s", mb->dir, newname) < 0)
		return -1;
	if (rename(from, to) == 0) {
		char *dup = strdup(newname);
		if (dup == NULL)
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		free(m->filename);
		m->filename = dup;
		m->in_new = false;
		return 1;
	}
	if (errno != ENOENT)
		return xi_error_set(err, XI_ERR_IO, "rename %s: %s", from, strerror(errno));
	(void)relocate(mb, m); /* someone else took it (or expunged it) */
	return 0;
}

static int expunge_file(struct xi_mailbox *mb, struct mb_msg *m, struct xi_error *err)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		char path[PATH_MAX];
		if (msg_path(mb, m, path, sizeof(path), err) < 0)
			return -1;
		if (unlink(path) == 0)
			return 0;
		if (errno != ENOENT)
			return xi_error_set(err, XI_ERR_IO, "unlink %s: %s", path, strerror(errno));
		if (relocate(mb, m) < 0)
			return 0; /* already expunged by someone else */
	}
	return 0;
}

/* Drops the uidlist records of files we removed, without touching the
 * message array (indexes stay stable until the next sync). */
static int forget_records(struct xi_mailbox *mb, const char *const *names, size_t n,
			  struct xi_error *err)
{
	struct xi_uidlist ul;
	struct scan s;
	xi_uidlist_init(&ul);
	memset(&s, 0, sizeof(s));
	int ret = sync_locked(mb->md, mb->dir, &ul, &s, names, n, err);
	xi_uidlist_free(&ul);
	scan_free(&s);
	return ret;
}

int xi_mailbox_expunge(struct xi_mailbox *mb, size_t index, struct xi_error *err)
{
	if (index >= mb->count)
		return xi_error_set(err, XI_ERR_INVALID, "no message %zu", index + 1);
	if (mb->read_only)
		return xi_error_set(err, XI_ERR_DENIED, "mailbox opened read-only");
	struct mb_msg *m = &mb->msgs[index];
	if (m->pub.expunged)
		return 0;
	if (expunge_file(mb, m, err) < 0)
		return -1;
	m->pub.expunged = true;
	const char *name = m->basename;
	return forget_records(mb, &name, 1, err);
}

int xi_mailbox_expunge_deleted(struct xi_mailbox *mb, size_t *count_out, struct xi_error *err)
{
	size_t n = 0;
	if (count_out)
		*count_out = 0;
	if (mb->read_only)
		return xi_error_set(err, XI_ERR_DENIED, "mailbox opened read-only");
	const char **gone = malloc((mb->count + 1) * sizeof(*gone));
	if (gone == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	int ret = 0;
	for (size_t i = 0; i < mb->count && ret == 0; i++) {
		if (!(mb->msgs[i].pub.flags & XI_MAIL_DELETED) || mb->msgs[i].pub.expunged)
			continue;
		if (expunge_file(mb, &mb->msgs[i], err) < 0) {
			ret = -1;
		} else {
			mb->msgs[i].pub.expunged = true;
			gone[n++] = mb->msgs[i].basename;
		}
	}
	if (count_out)
		*count_out = n;
	/* Even after a failure, forget what was removed. */
	if (n > 0 && forget_records(mb, gone, n, ret < 0 ? NULL : err) < 0)
		ret = -1;
	free(gone);
	return ret;
}

/* ---------------------------------------------------------------- session lock */

struct xi_maildir_session_lock {
	struct xi_dotlock lock;
};

int xi_maildir_session_lock(struct xi_maildir *md, unsigned timeout_seconds,
			    struct xi_maildir_session_lock **lock_out, struct xi_error *err)
{
	*lock_out = NULL;
	char path[PATH_MAX];
	if (xi_path_join(path, sizeof(path), err, "%s/" XI_MAILDIR_SESSION_LOCK_NAME, md->root) < 0)
		return -1;
	struct xi_maildir_session_lock *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	if (xi_dotlock_take_file(path, path, XI_MAILDIR_SESSION_LOCK_STALE, timeout_seconds, &l->lock,
				 err) < 0) {
		free(l);
		if (err != NULL && err->status == XI_ERR_TEMP)
			xi_error_set(err, XI_ERR_TEMP, "the mailbox is in use by another POP3 session");
		return -1;
	}
	*lock_out = l;
	return 0;
}

int xi_maildir_session_lock_touch(struct xi_maildir_session_lock *l, struct xi_error *err)
{
	struct stat st;
	if (fstat(l->lock.fd, &st) < 0 || lstat(l->lock.path, &st) < 0 || st.st_dev != l->lock.dev ||
	    st.st_ino != l->lock.ino)
		return xi_error_set(err, XI_ERR_TEMP, "the POP3 session lock was taken over");
	if (futimens(l->lock.fd, NULL) < 0)
		return xi_error_set(err, XI_ERR_IO, "touch %s: %s", l->lock.path, strerror(errno));
	return 0;
}

void xi_maildir_session_unlock(struct xi_maildir_session_lock *l)
{
	if (l == NULL)
		return;
	xi_dotlock_release(&l->lock);
	free(l);
}

/* ---------------------------------------------------------------- delivery */

int xi_maildir_delivery_begin(struct xi_maildir *md, const char *folder,
			      struct xi_maildir_delivery **dlv_out, struct xi_error *err)
{
	*dlv_out = NULL;
	struct xi_maildir_delivery *dlv = calloc(1, sizeof(*dlv));
	if (dlv == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	dlv->md = md;
	dlv->fd = -1;
	if (folder_dir(md, folder, dlv->dir, sizeof(dlv->dir), err) < 0) {
		free(dlv);
		return -1;
	}
	struct timeval tv;
	gettimeofday(&tv, NULL);
	snprintf(dlv->base, sizeof(dlv->base), "%ld.M%ldP%ldQ%u.%s", (long)tv.tv_sec, (long)tv.tv_usec,
		 (long)getpid(), ++md->delivery_counter, md->host);
	if (xi_path_join(dlv->tmppath, sizeof(dlv->tmppath), err, "%s/tmp/%s", dlv->dir, dlv->base) < 0) {
		free(dlv);
		return -1;
	}
	dlv->fd = open(dlv->tmppath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (dlv->fd < 0) {
		int e = errno;
		free(dlv);
		return xi_error_set(err, e == ENOENT ? XI_ERR_NOTFOUND : XI_ERR_IO, "create %s/tmp/...: %s",
				    folder ? folder : "INBOX", strerror(e));
	}
	*dlv_out = dlv;
	return 0;
}

int xi_maildir_delivery_write(struct xi_maildir_delivery *dlv, const void *data, size_t len,
			      struct xi_error *err)
{
	if (dlv->size + len > XI_MAILDIR_MESSAGE_MAX || len > XI_MAILDIR_MESSAGE_MAX)
		return xi_error_set(err, XI_ERR_INVALID, "message larger than %llu bytes",
				    (unsigned long long)XI_MAILDIR_MESSAGE_MAX);
	const char *p = data;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && !dlv->last_cr)
			dlv->vsize++;
		dlv->last_cr = p[i] == '\r';
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(dlv->fd, p + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return xi_error_set(err, XI_ERR_IO, "write %s: %s", dlv->tmppath, strerror(errno));
		off += (size_t)w;
	}
	dlv->size += len;
	dlv->vsize += len;
	return 0;
}

void xi_maildir_delivery_set_received(struct xi_maildir_delivery *dlv, time_t received)
{
	dlv->has_received = true;
	dlv->received = received;
}

void xi_maildir_delivery_abort(struct xi_maildir_delivery *dlv)
{
	if (dlv == NULL)
		return;
	if (dlv->fd >= 0) {
		close(dlv->fd);
		unlink(dlv->tmppath);
	}
	free(dlv);
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int xi_maildir_delivery_commit(struct xi_maildir_delivery *dlv, unsigned flags, uint32_t *uid_out,
			       struct xi_error *err)
{
	struct xi_maildir *md = dlv->md;
	int ret = -1;
	char final[XI_MAILDIR_FILENAME_MAX + 1], dest[PATH_MAX], sub[PATH_MAX];
	if (uid_out)
		*uid_out = 0;
	if ((flags & ~XI_MAIL_FLAGS_ALL) != 0) {
		xi_error_set(err, XI_ERR_INVALID, "unknown flag bits");
		goto done;
	}
	if (dlv->has_received) {
		struct timespec times[2] = {{dlv->received, 0}, {dlv->received, 0}};
		if (futimens(dlv->fd, times) < 0) {
			xi_error_set(err, XI_ERR_IO, "set the received date of %s: %s", dlv->tmppath,
				     strerror(errno));
			goto done;
		}
	}
	if (md->set.fsync && fsync(dlv->fd) < 0) {
		xi_error_set(err, XI_ERR_IO, "fsync %s: %s", dlv->tmppath, strerror(errno));
		goto done;
	}
	if (close(dlv->fd) < 0) {
		dlv->fd = -1;
		unlink(dlv->tmppath);
		xi_error_set(err, XI_ERR_IO, "close %s: %s", dlv->tmppath, strerror(errno));
		goto done;
	}
	dlv->fd = -1;
	int n = snprintf(final, sizeof(final), "%s,S=%llu,W=%llu", dlv->base,
			 (unsigned long long)dlv->size, (unsigned long long)dlv->vsize);
	if (n < 0 || (size_t)n >= sizeof(final)) {
		unlink(dlv->tmppath);
		xi_error_set(err, XI_ERR_INVALID, "file name too long");
		goto done;
	}
	char info[40];
	xi_maildir_info_format(flags, 0, info, sizeof(info));
	if (xi_path_join(sub, sizeof(sub), err, "%s/%s", dlv->dir, flags ? "cur" : "new") < 0 ||
	    xi_path_join(dest, sizeof(dest), err, "%s/%s%s%s", sub, final, flags ? ":" : "",
			 flags ? info : "") < 0) {
		unlink(dlv->tmppath);
		goto done;
	}
	/* The file appears in new/ or cur/ only under the uidlist lock: a
	 * concurrent writer's sync (another session, Dovecot) would otherwise
	 * give it a UID between the link and our append, and the append below
	 * a second one. */
	char ulpath[PATH_MAX];
	struct xi_dotlock lock;
	if (xi_path_join(ulpath, sizeof(ulpath), err, "%s/" XI_UIDLIST_NAME, dlv->dir) < 0 ||
	    xi_dotlock_take(ulpath, md->set.lock_stale_seconds, md->set.lock_timeout_seconds, &lock, err) < 0) {
		unlink(dlv->tmppath);
		goto done;
	}
	/* link() never replaces an existing message, unlike rename(). */
	if (link(dlv->tmppath, dest) < 0) {
		int e = errno;
		xi_dotlock_release(&lock);
		unlink(dlv->tmppath);
		xi_error_set(err, XI_ERR_IO, "link into %s: %s", sub, strerror(e));
		goto done;
	}
	unlink(dlv->tmppath);
	if (md->set.fsync && fsync_dir(sub) < 0) {
		xi_dotlock_release(&lock);
		xi_error_set(err, XI_ERR_IO, "fsync %s: %s", sub, strerror(errno));
		goto done;
	}
	uint32_t uid = 0;
	int fast = uid_append_locked(md, dlv->dir, final, &uid, err);
	xi_dotlock_release(&lock);
	if (fast < 0)
		goto done;
	if (fast > 0) {
		if (uid_out)
			*uid_out = uid;
		ret = 0;
		goto done;
	}
	struct xi_uidlist ul;
	struct scan s;
	xi_uidlist_init(&ul);
	memset(&s, 0, sizeof(s));
	xi_error_clear(err);
	if (sync_locked(md, dlv->dir, &ul, &s, NULL, 0, err) == 0) {
		for (size_t i = 0; i < ul.count; i++)
			if (strcmp(ul.recs[i].basename, final) == 0) {
				if (uid_out)
					*uid_out = ul.recs[i].uid;
				ret = 0;
			}
		if (ret < 0)
			xi_error_set(err, XI_ERR_INTERNAL, "delivered message vanished before it got a UID");
	}
	xi_uidlist_free(&ul);
	scan_free(&s);
done:
	if (dlv->fd >= 0) {
		close(dlv->fd);
		unlink(dlv->tmppath);
	}
	free(dlv);
	return ret;
}

int xi_maildir_deliver(struct xi_maildir *md, const char *folder, const void *data, size_t len,
		       unsigned flags, uint32_t *uid_out, struct xi_error *err)
{
	struct xi_maildir_delivery *dlv;
	if (xi_maildir_delivery_begin(md, folder, &dlv, err) < 0)
		return -1;
	if (xi_maildir_delivery_write(dlv, data, len, err) < 0) {
		xi_maildir_delivery_abort(dlv);
		return -1;
	}
	return xi_maildir_delivery_commit(dlv, flags, uid_out, err);
}
