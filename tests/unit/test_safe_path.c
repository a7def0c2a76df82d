/* safe_path: a chroot folder is safe only when every folder on its path
 * belongs to root and nobody else may write it.  Needs root (chown). */
#define _GNU_SOURCE
#include "safe_path.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char why[4200];

/* Setting up a case: a failure is the test's own, reported. */
static void own(const char *path, unsigned uid)
{
	if (chown(path, uid, 0) < 0)
		tap_diag("chown %s: failed", path);
}

static bool refused_naming(const char *path, const char *component, const char *what)
{
	char want[4200];

	if (xd_safe_dir_path(path, why, sizeof(why)))
		return false;
	snprintf(want, sizeof(want), "%s %s", component, what);
	if (strstr(why, want) == NULL) {
		tap_diag("why: %s", why);
		return false;
	}
	return true;
}

int main(void)
{
	char base[] = "/tmp/xd-safe-path-XXXXXX";
	char a[64], b[128], c[192], link[192], file[192];

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (chown)\n");
		return 0;
	}
	if (mkdtemp(base) == NULL || chmod(base, 0755) < 0)
		return 1;
	snprintf(a, sizeof(a), "%s/a", base);
	snprintf(b, sizeof(b), "%s/b", a);
	snprintf(c, sizeof(c), "%s/c", b);
	snprintf(link, sizeof(link), "%s/link", base);
	snprintf(file, sizeof(file), "%s/file", base);
	if (mkdir(a, 0755) < 0 || mkdir(b, 0755) < 0 || mkdir(c, 0755) < 0 || symlink(c, link) < 0)
		return 1;
	{
		FILE *f = fopen(file, "w");
		if (f == NULL)
			return 1;
		fclose(f);
	}

	tap_ok(xd_safe_dir_path(c, why, sizeof(why)), "root-owned 0755 all the way (under sticky /tmp)");
	tap_ok(xd_safe_dir_path(link, why, sizeof(why)), "reached through a symbolic link: the real path counts");

	chmod(a, 0777);
	tap_ok(refused_naming(c, a, "is writable by group and others (mode 0777)"),
	       "a world-writable grandparent is refused, named");
	tap_ok(refused_naming(link, a, "is writable"), "also through the link");
	chmod(a, 0775);
	tap_ok(refused_naming(c, a, "is writable by its group"), "a group-writable one too");
	chmod(a, 01777);
	tap_ok(xd_safe_dir_path(c, why, sizeof(why)), "a sticky world-writable parent is accepted");
	chmod(c, 01777);
	tap_ok(refused_naming(c, c, "is writable"), "but not as the chroot itself");
	chmod(c, 0755);
	chmod(a, 0755);

	own(b, 1000);
	tap_ok(refused_naming(c, b, "is owned by uid 1000, not root"), "a parent owned by another user is refused, named");
	own(b, 0);
	own(c, 1000);
	tap_ok(refused_naming(c, c, "is owned by uid 1000, not root"), "the folder itself too");
	own(c, 0);
	chmod(c, 0757);
	tap_ok(refused_naming(c, c, "is writable by others (mode 0757)"), "the folder writable by others");
	chmod(c, 0755);

	tap_ok(refused_naming(file, file, "is not a folder"), "a file is no chroot");
	tap_ok(!xd_safe_dir_path("relative/path", why, sizeof(why)) && strstr(why, "not an absolute path"),
	       "a relative path is refused");
	tap_ok(!xd_safe_dir_path("/nonexistent-xd-dir/x", why, sizeof(why)) &&
	       strstr(why, "/nonexistent-xd-dir/x") != NULL, "a missing folder is refused, named");
	tap_ok(xd_safe_dir_path(c, why, 8) == true, "a short why buffer is no problem when safe");
	chmod(a, 0777);
	tap_ok(!xd_safe_dir_path(c, why, 8) && strlen(why) == 7, "and is cut, not overrun, when not");

	unlink(link);
	unlink(file);
	rmdir(c);
	rmdir(b);
	rmdir(a);
	rmdir(base);
	return tap_done();
}
