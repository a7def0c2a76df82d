/* Is a folder safe to chroot into (safe_path.h)? */
#define _GNU_SOURCE
#include "safe_path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One component (a prefix of the resolved path); last: the folder itself. */
static bool component_safe(const char *dir, bool last, char *why, size_t why_size)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		snprintf(why, why_size, "%s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, why_size, "%s is not a folder", dir);
		return false;
	}
	if (st.st_uid != 0) {
		snprintf(why, why_size, "%s is owned by uid %u, not root", dir, (unsigned)st.st_uid);
		return false;
	}
	if ((st.st_mode & 0022) != 0 && (last || (st.st_mode & S_ISVTX) == 0)) {
		snprintf(why, why_size, "%s is writable by %s (mode %04o)", dir,
			 (st.st_mode & 0022) == 0022 ? "group and others"
			 : (st.st_mode & 0020) ? "its group" : "others",
			 (unsigned)(st.st_mode & 07777));
		return false;
	}
	return true;
}

bool xd_safe_dir_path(const char *path, char *why, size_t why_size)
{
	char real[PATH_MAX];
	size_t len;

	if (path == NULL || path[0] != '/') {
		snprintf(why, why_size, "%s is not an absolute path", path != NULL ? path : "(none)");
		return false;
	}
	/* Resolved first: a symbolic link on the way would otherwise hide the
	 * folders that really lead there. */
	if (realpath(path, real) == NULL) {
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return false;
	}
	len = strlen(real);
	if (!component_safe("/", len == 1, why, why_size))
		return false;
	for (size_t i = 1; i <= len; i++) {
		if (real[i] != '/' && real[i] != '\0')
			continue;
		real[i] = '\0';
		bool ok = component_safe(real, i == len, why, why_size);
		if (i < len)
			real[i] = '/';
		if (!ok)
			return false;
	}
	return true;
}
