#include "mailbox_target.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_id(const char *s, unsigned *v)
{
	char *end;
	unsigned long l;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	l = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || l == 0 || l > 0x7fffffffUL)
		return false; /* uid 0 never: no session or delivery runs as root */
	*v = (unsigned)l;
	return true;
}

static bool path_allowed(const struct xi_config *cfg, const char *path)
{
	const char *root = xi_config_str(cfg, XI_CFG_MAIL_ROOT);
	size_t n = strlen(path);

	if (path[0] != '/' || strstr(path, "/../") != NULL ||
	    (n >= 3 && strcmp(path + n - 3, "/..") == 0))
		return false;
	if (root == NULL)
		return true;
	n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* mail = "maildir:~/Maildir" (the sample), a path, or empty (Maildir in
 * home); Dovecot's ":INDEX=..." options are not ours to follow. */
static void maildir_path(const struct xi_logon_result *r, char *out, size_t size)
{
	const char *loc = r->mail;
	char *colon;

	if (strncmp(loc, "maildir:", 8) == 0)
		loc += 8;
	if (loc[0] == '\0')
		snprintf(out, size, "%s", r->home);
	else if (strncmp(loc, "~/", 2) == 0)
		snprintf(out, size, "%s/%s", r->home, loc + 2);
	else
		snprintf(out, size, "%s", loc);
	colon = strchr(out, ':');
	if (colon != NULL)
		*colon = '\0';
}

bool xd_mailbox_target(const struct xi_config *cfg, const struct xi_logon_result *r,
		       unsigned *uid, unsigned *gid, char *maildir, size_t size)
{
	maildir_path(r, maildir, size);
	return parse_id(r->uid, uid) && parse_id(r->gid, gid) &&
	       path_allowed(cfg, r->home) && path_allowed(cfg, maildir);
}
