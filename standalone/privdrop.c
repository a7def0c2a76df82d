/* Dropping root for xidentd's and xidentd-lmtp's unprivileged processes. */
#define _GNU_SOURCE
#include "xidentd.h"

#include <grp.h>
#include <pwd.h>
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
