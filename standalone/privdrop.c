/* Dropping root for xidentd's and xidentd-lmtp's unprivileged processes. */
#define _GNU_SOURCE
#include "xidentd.h"

#include "safe_path.h"

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

int xd_drop_privileges(unsigned uid, unsigned gid)
{
	if (setgroups(0, NULL) < 0 || setgid((gid_t)gid) < 0 || setuid((uid_t)uid) < 0) {
		xd_log(LOG_ERR, "cannot drop privileges to %u:%u: %m", uid, gid);
		return -1;
	}
	/* Verify: regaining root must fail. */
	if (uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
		xd_log(LOG_ERR, "privileges were not dropped");
		return -1;
	}
	return 0;
}

int xd_lookup_user(const char *name, unsigned *uid_r, unsigned *gid_r)
{
	struct passwd *pw = getpwnam(name);

	if (pw == NULL)
		return -1;
	*uid_r = (unsigned)pw->pw_uid;
	*gid_r = (unsigned)pw->pw_gid;
	return 0;
}

bool xd_chroot_ready(const char *root)
{
	struct stat st;
	char why[PATH_MAX + 128];

	if (stat(root, &st) < 0) {
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s", root);
		for (char *p = tmp + 1; *p != '\0'; p++)
			if (*p == '/') {
				*p = '\0';
				(void)mkdir(tmp, 0755);
				*p = '/';
			}
		(void)mkdir(tmp, 0755);
	}
	if (!xd_safe_dir_path(root, why, sizeof(why))) {
		/* Both callers run before logging is set up: stderr. */
		fprintf(stderr, "xidentd_chroot %s is refused: %s; every folder on its path must be "
			"owned by root and writable by nobody else\n", root, why);
		return false;
	}
	return true;
}
