/*
 * Folder commands of the authenticated state (RFC 3501 6.3): SELECT,
 * EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB,
 * STATUS, APPEND; with CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154)
 * attributes.
 *
 * Names are those of Dovecot's Maildir++ layout: "." separates levels,
 * non-ASCII names travel (and are stored) in modified UTF-7, INBOX is the
 * root.  Subscriptions live in ROOT/subscriptions in Dovecot's format
 * (version 2: "V\t2\n\n" then one name per line with levels separated by
 * TAB; a file without that header has plain names), written under
 * Dovecot's dotlock (subscriptions.lock, replaced by rename) so that a
 * Dovecot serving the same Maildir sees the same subscriptions.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "imap_session.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define SUBS_FILE "subscriptions"
#define SUBS_LOCK "subscriptions.lock"
#define SUBS_MAX_BYTES (1024 * 1024)
#define SUBS_LOCK_STALE_SECONDS 30
#define SUBS_LOCK_WAIT_MS 5000

/* ---------------------------------------------------------------- dates */

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static bool parse_day_month_year(const char **sp, struct tm *tm)
{
	const char *s = *sp;
	char *end;
	long day, year;
	int mon = -1;

	if (*s == ' ')
		s++;
	day = strtol(s, &end, 10);
	if (end == s || end - s > 2 || *end != '-' || day < 1 || day > 31)
		return false;
	s = end + 1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, months[i], 3) == 0)
			mon = i;
	if (mon < 0 || s[3] != '-')
		return false;
	s += 4;
	year = strtol(s, &end, 10);
	if (end - s != 4 || year < 1900 || year > 9999)
		return false;
	tm->tm_mday = (int)day;
	tm->tm_mon = mon;
	tm->tm_year = (int)year - 1900;
	*sp = end;
	return true;
}

bool imap_parse_date(const char *s, time_t *out)
{
	struct tm tm = { 0 };

	if (!parse_day_month_year(&s, &tm) || *s != '\0')
		return false;
	*out = timegm(&tm);
	return true;
}

bool imap_parse_datetime(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	int hh, mm, ss, zone, n = 0;
	char sign;

	if (!parse_day_month_year(&s, &tm))
		return false;
	if (sscanf(s, " %2d:%2d:%2d %c%4d%n", &hh, &mm, &ss, &sign, &zone, &n) != 5 ||
	    s[n] != '\0' || (sign != '+' && sign != '-') || hh > 23 || mm > 59 || ss > 60 ||
	    strlen(s) != 15)
		return false;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	long offset = (zone / 100) * 3600 + (zone % 100) * 60;
	*out = timegm(&tm) - (sign == '+' ? offset : -offset);
	return true;
}

/* ---------------------------------------------------------------- helpers */

static void folder_dir(struct xi_maildir *md, const char *name, char *buf, size_t size)
{
	if (strcmp(name, "INBOX") == 0)
		snprintf(buf, size, "%s", xi_maildir_root(md));
	else
		snprintf(buf, size, "%s/.%s", xi_maildir_root(md), name);
}

bool imap_folder_exists(struct xi_maildir *md, const char *name)
{
	char dir[4200];
	struct stat st;

	if (strcmp(name, "INBOX") == 0)
		return true;
	folder_dir(md, name, dir, sizeof(dir));
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static void answer_error(struct imap_session *s, const char *tag, const struct xi_error *err)
{
	switch (err->status) {
	case XI_ERR_NOTFOUND:
		imap_tagged(s, tag, "NO [NONEXISTENT] Mailbox doesn't exist.");
		break;
	case XI_ERR_EXISTS:
		imap_tagged(s, tag, "NO [ALREADYEXISTS] Mailbox already exists.");
		break;
	case XI_ERR_TEMP:
		imap_tagged(s, tag, "NO [INUSE] %s", err->message);
		break;
	case XI_ERR_INVALID:
		imap_tagged(s, tag, "NO %s", err->message);
		break;
	default:
		xd_log(LOG_ERR, "imap: user %s: %s", s->user, err->message);
		imap_tagged(s, tag, "NO [SERVERBUG] Internal error; the administrator has been told.");
		break;
	}
}

/* ---------------------------------------------------------------- SELECT */

void imap_cmd_select(struct imap_session *s, const struct xi_imap_command *cmd, bool read_only)
{
	char name[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	struct xi_error err = { 0 };
	struct imap_view *v;
	size_t recent = 0, unseen = 0;

	if (cmd->argc != 1) {
		imap_tagged(s, cmd->tag, "BAD %s needs one mailbox name.", cmd->name);
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, cmd->args, name, sizeof(name)))
		return;
	if (imap_view_open(s->md, name, read_only, &v, &err) < 0) {
		answer_error(s, cmd->tag, &err);
		return;
	}
	for (size_t i = 0; i < v->count; i++) {
		recent += v->msgs[i].recent;
		if (unseen == 0 && !(v->msgs[i].flags & XI_MAIL_SEEN))
			unseen = i + 1;
	}
	imap_view_send_flags(s, v);
	imap_printf(s, "* %zu EXISTS\r\n* %zu RECENT\r\n", v->count, recent);
	if (unseen > 0)
		imap_printf(s, "* OK [UNSEEN %zu] First unseen.\r\n", unseen);
	imap_printf(s, "* OK [UIDVALIDITY %u] UIDs valid.\r\n* OK [UIDNEXT %u] Predicted next UID.\r\n",
		    v->uidvalidity, xi_mailbox_uidnext(v->mb));
	s->view = v;
	imap_tagged(s, cmd->tag, "OK [%s] %s completed.", read_only ? "READ-ONLY" : "READ-WRITE",
		    read_only ? "Examine" : "Select");
}

/* ---------------------------------------------------------------- CREATE, DELETE, RENAME */

void imap_cmd_create(struct imap_session *s, const struct xi_imap_command *cmd)
{
	char name[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	struct xi_error err = { 0 };

	if (cmd->argc != 1) {
		imap_tagged(s, cmd->tag, "BAD CREATE needs one mailbox name.");
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, cmd->args, name, sizeof(name)))
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_tagged(s, cmd->tag, "NO [ALREADYEXISTS] Mailbox already exists.");
		return;
	}
	if (xi_maildir_folder_create(s->md, name, &err) < 0)
		answer_error(s, cmd->tag, &err);
	else
		imap_tagged(s, cmd->tag, "OK Create completed.");
}

static bool has_children(struct xi_maildir *md, const char *name)
{
	char **names;
	size_t n, len = strlen(name);
	bool found = false;
	struct xi_error err = { 0 };

	if (xi_maildir_folder_list(md, &names, &n, &err) < 0)
		return false;
	for (size_t i = 0; i < n && !found; i++)
		found = strncmp(names[i], name, len) == 0 && names[i][len] == IMAP_SEP;
	xi_maildir_folder_list_free(names, n);
	return found;
}

void imap_cmd_delete(struct imap_session *s, const struct xi_imap_command *cmd)
{
	char name[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	struct xi_error err = { 0 };

	if (cmd->argc != 1) {
		imap_tagged(s, cmd->tag, "BAD DELETE needs one mailbox name.");
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, cmd->args, name, sizeof(name)))
		return;
	if (strcmp(name, "INBOX") == 0) {
		imap_tagged(s, cmd->tag, "NO INBOX can't be deleted.");
		return;
	}
	if (!imap_folder_exists(s->md, name)) {
		imap_tagged(s, cmd->tag, "NO [NONEXISTENT] Mailbox doesn't exist.");
		return;
	}
	if (has_children(s->md, name)) {
		imap_tagged(s, cmd->tag, "NO Mailbox has children, delete them first.");
		return;
	}
	if (s->view != NULL && strcmp(s->view->name, name) == 0) {
		/* As Dovecot: the selected mailbox is closed first; said with
		 * RFC 7162's CLOSED so the client knows it left the state. */
		imap_view_close(s->view);
		s->view = NULL;
		imap_printf(s, "* OK [CLOSED] Selected mailbox deleted.\r\n");
	}
	if (xi_maildir_folder_delete(s->md, name, &err) < 0)
		answer_error(s, cmd->tag, &err);
	else
		imap_tagged(s, cmd->tag, "OK Delete completed.");
}

/* RENAME INBOX x: moves INBOX's messages into x; INBOX stays, empty. */
static int rename_inbox(struct imap_session *s, const char *to, struct xi_error *err)
{
	struct xi_mailbox *mb;
	uint32_t uid;

	if (xi_maildir_folder_create(s->md, to, err) < 0)
		return -1;
	if (xi_mailbox_open(s->md, NULL, false, &mb, err) < 0)
		return -1;
	for (size_t i = 0; i < xi_mailbox_count(mb); i++) {
		if (xi_mailbox_message(mb, i)->expunged)
			continue;
		if (imap_copy_message(mb, i, s->md, to, &uid, err) < 0 ||
		    xi_mailbox_expunge(mb, i, err) < 0) {
			xi_mailbox_close(mb);
			return -1;
		}
	}
	xi_mailbox_close(mb);
	return 0;
}

/* RENAME of a name that exists only through its children ("A.B" of
 * "A.B.C", shown \Noselect): each top child moves with its own children,
 * as Dovecot renames the hierarchy. */
static int rename_children(struct xi_maildir *md, const char *from, const char *to,
			   struct xi_error *err)
{
	size_t fl = strlen(from);

	for (;;) {
		char **names, child[XI_MAILDIR_FOLDER_NAME_MAX + 1] = "", dest[XI_MAILDIR_FOLDER_NAME_MAX + 1];
		size_t n;
		if (xi_maildir_folder_list(md, &names, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (strncmp(names[i], from, fl) == 0 && names[i][fl] == IMAP_SEP &&
			    (child[0] == '\0' || strlen(names[i]) < strlen(child)))
				snprintf(child, sizeof(child), "%s", names[i]);
		xi_maildir_folder_list_free(names, n);
		if (child[0] == '\0')
			return 0;
		if ((size_t)snprintf(dest, sizeof(dest), "%s%s", to, child + fl) >= sizeof(dest))
			return xi_error_set(err, XI_ERR_INVALID, "new name too long");
		if (xi_maildir_folder_rename(md, child, dest, err) < 0)
			return -1;
	}
}

void imap_cmd_rename(struct imap_session *s, const struct xi_imap_command *cmd)
{
	char from[XI_MAILDIR_FOLDER_NAME_MAX + 1], to[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	struct xi_error err = { 0 };
	int r;

	if (cmd->argc != 2) {
		imap_tagged(s, cmd->tag, "BAD RENAME needs two mailbox names.");
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, cmd->args, from, sizeof(from)) ||
	    !imap_mailbox_arg(s, cmd->tag, cmd->args->next, to, sizeof(to)))
		return;
	if (strcmp(to, "INBOX") == 0 || imap_folder_exists(s->md, to)) {
		imap_tagged(s, cmd->tag, "NO [ALREADYEXISTS] Target mailbox already exists.");
		return;
	}
	if (!imap_folder_exists(s->md, from) && !has_children(s->md, from)) {
		imap_tagged(s, cmd->tag, "NO [NONEXISTENT] Mailbox doesn't exist.");
		return;
	}
	if (strncmp(to, from, strlen(from)) == 0 && to[strlen(from)] == IMAP_SEP &&
	    strcmp(from, "INBOX") != 0) {
		imap_tagged(s, cmd->tag, "NO Can't rename a mailbox under itself.");
		return;
	}
	if (strcmp(from, "INBOX") == 0)
		r = rename_inbox(s, to, &err);
	else {
		if (s->view != NULL && strcmp(s->view->name, from) == 0) {
			imap_view_close(s->view);
			s->view = NULL;
			imap_printf(s, "* OK [CLOSED] Selected mailbox renamed.\r\n");
		}
		r = imap_folder_exists(s->md, from) ? xi_maildir_folder_rename(s->md, from, to, &err)
						    : rename_children(s->md, from, to, &err);
	}
	if (r < 0)
		answer_error(s, cmd->tag, &err);
	else
		imap_tagged(s, cmd->tag, "OK Rename completed.");
}

/* ---------------------------------------------------------------- subscriptions */

struct subs {
	char **names;
	size_t count;
	bool v2;
};

static void subs_free(struct subs *sb)
{
	for (size_t i = 0; i < sb->count; i++)
		free(sb->names[i]);
	free(sb->names);
	sb->names = NULL;
	sb->count = 0;
}

static int subs_read(struct imap_session *s, struct subs *sb)
{
	char path[4200], line[1024];
	FILE *f;
	bool first = true;

	memset(sb, 0, sizeof(*sb));
	snprintf(path, sizeof(path), "%s/" SUBS_FILE, xi_maildir_root(s->md));
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\n");
		line[len] = '\0';
		if (first && strcmp(line, "V\t2") == 0) {
			sb->v2 = true;
			first = false;
			/* the header's empty line */
			if (fgets(line, sizeof(line), f) == NULL)
				break;
			continue;
		}
		first = false;
		if (len == 0)
			continue;
		if (sb->v2)
			for (char *p = line; *p != '\0'; p++)
				if (*p == '\t')
					*p = IMAP_SEP;
		char **p = realloc(sb->names, (sb->count + 1) * sizeof(*p));
		if (p == NULL || (p[sb->count] = strdup(line)) == NULL) {
			if (p != NULL)
				sb->names = p;
			fclose(f);
			subs_free(sb);
			return -1;
		}
		sb->names = p;
		sb->count++;
	}
	fclose(f);
	return 0;
}

/* Writes the list under Dovecot's dotlock protocol: create the .lock file
 * exclusively, write the new contents into it, rename it over the file. */
static int subs_write(struct imap_session *s, const struct subs *sb)
{
	char path[4200], lock[4200];
	const char *root = xi_maildir_root(s->md);
	int fd = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/" SUBS_FILE, root);
	snprintf(lock, sizeof(lock), "%s/" SUBS_LOCK, root);
	for (int waited = 0; waited < SUBS_LOCK_WAIT_MS; waited += 50) {
		struct stat st;
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
		if (stat(lock, &st) == 0 && time(NULL) - st.st_mtime > SUBS_LOCK_STALE_SECONDS)
			(void)unlink(lock);
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(lock);
		return -1;
	}
	if (sb->v2)
		fputs("V\t2\n\n", f);
	for (size_t i = 0; i < sb->count; i++) {
		for (const char *p = sb->names[i]; *p != '\0'; p++)
			fputc(sb->v2 && *p == IMAP_SEP ? '\t' : *p, f);
		fputc('\n', f);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(lock);
		return -1;
	}
	fclose(f);
	if (rename(lock, path) < 0) {
		unlink(lock);
		return -1;
	}
	return 0;
}

void imap_cmd_subscribe(struct imap_session *s, const struct xi_imap_command *cmd, bool on)
{
	char name[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	struct subs sb;
	size_t i;

	if (cmd->argc != 1) {
		imap_tagged(s, cmd->tag, "BAD %s needs one mailbox name.", cmd->name);
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, cmd->args, name, sizeof(name)))
		return;
	if (subs_read(s, &sb) < 0) {
		imap_tagged(s, cmd->tag, "NO [SERVERBUG] Cannot read the subscriptions.");
		return;
	}
	for (i = 0; i < sb.count && strcmp(sb.names[i], name) != 0; i++)
		;
	if (on && i == sb.count) {
		if (!imap_folder_exists(s->md, name)) {
			subs_free(&sb);
			imap_tagged(s, cmd->tag, "NO [NONEXISTENT] Mailbox doesn't exist.");
			return;
		}
		char **p = realloc(sb.names, (sb.count + 1) * sizeof(*p));
		if (p != NULL) {
			sb.names = p;
			if ((p[sb.count] = strdup(name)) != NULL)
				sb.count++;
		}
	} else if (!on && i < sb.count) {
		free(sb.names[i]);
		memmove(&sb.names[i], &sb.names[i + 1], (sb.count - i - 1) * sizeof(*sb.names));
		sb.count--;
	} else {
		subs_free(&sb);
		imap_tagged(s, cmd->tag, "OK %s completed.", on ? "Subscribe" : "Unsubscribe");
		return;
	}
	if (subs_write(s, &sb) < 0)
		imap_tagged(s, cmd->tag, "NO [INUSE] Cannot update the subscriptions now.");
	else
		imap_tagged(s, cmd->tag, "OK %s completed.", on ? "Subscribe" : "Unsubscribe");
	subs_free(&sb);
}

/* ---------------------------------------------------------------- LIST, LSUB */

/* IMAP list wildcards: '*' anything, '%' anything but the separator.
 * INBOX matches case-insensitively.  Matched as a set of pattern
 * positions (no backtracking): a hostile "*a*a*a...b" costs
 * pattern x name steps, not exponential time. */
#define LIST_PATTERN_MAX 512

static void wildcard_closure(const char *pat, size_t pl, bool *st)
{
	for (size_t i = 0; i < pl; i++)
		if (st[i] && (pat[i] == '*' || pat[i] == '%'))
			st[i + 1] = true;
}

static bool match(const char *pat, const char *name)
{
	bool a[LIST_PATTERN_MAX + 1], b[LIST_PATTERN_MAX + 1], *cur = a, *next = b;
	size_t pl;

	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == IMAP_SEP) &&
	    strncasecmp(pat, "INBOX", 5) == 0) {
		pat += 5;
		name += 5;
	}
	pl = strlen(pat);
	if (pl > LIST_PATTERN_MAX)
		return false;
	memset(a, 0, (pl + 1) * sizeof(bool));
	cur[0] = true;
	wildcard_closure(pat, pl, cur);
	for (; *name != '\0'; name++) {
		bool any = false;
		memset(next, 0, (pl + 1) * sizeof(bool));
		for (size_t i = 0; i < pl; i++) {
			if (!cur[i])
				continue;
			if (pat[i] == '*' || (pat[i] == '%' && *name != IMAP_SEP))
				next[i] = any = true;
			else if (pat[i] == *name)
				next[i + 1] = any = true;
		}
		if (!any)
			return false;
		wildcard_closure(pat, pl, next);
		bool *t = cur;
		cur = next;
		next = t;
	}
	return cur[pl];
}

static const char *special_use(const char *name)
{
	static const struct { const char *name, *attr; } uses[] = {
		{ "Sent", "\\Sent" }, { "Sent Items", "\\Sent" }, { "Sent Messages", "\\Sent" },
		{ "Drafts", "\\Drafts" }, { "Trash", "\\Trash" }, { "Deleted Items", "\\Trash" },
		{ "Deleted Messages", "\\Trash" }, { "Junk", "\\Junk" }, { "Spam", "\\Junk" },
		{ "Junk E-mail", "\\Junk" }, { "Archive", "\\Archive" },
	};
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
		if (strcasecmp(uses[i].name, name) == 0)
			return uses[i].attr;
	return NULL;
}

static bool in_list(char **names, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0)
			return true;
	return false;
}

struct list_opts {
	bool lsub;
	bool sel_subscribed;   /* LIST (SUBSCRIBED) */
	bool sel_special;      /* LIST (SPECIAL-USE) */
	bool ret_subscribed;   /* RETURN (SUBSCRIBED) */
	const char *patterns[16];
	size_t npatterns;
};

static bool match_any(const struct list_opts *o, const char *name)
{
	for (size_t i = 0; i < o->npatterns; i++)
		if (match(o->patterns[i], name))
			return true;
	return false;
}

static void list_one(struct imap_session *s, const struct list_opts *o, const char *name,
		     bool noselect, bool children, bool nonexistent, bool subscribed)
{
	const char *su = o->lsub ? NULL : special_use(name);

	if (o->sel_special && su == NULL)
		return;
	if (o->lsub) {
		/* LSUB: only \Noselect, as Dovecot answers (CHILDREN is LIST's). */
		imap_printf(s, "* LSUB (%s) \"" IMAP_SEP_STR "\" ", nonexistent || noselect ? "\\Noselect" : "");
		imap_out_astring(s, name, strlen(name));
		imap_out(s, "\r\n", 2);
		return;
	}
	imap_printf(s, "* LIST (");
	if (nonexistent)
		imap_printf(s, "\\NonExistent ");
	else if (noselect)
		imap_printf(s, "\\Noselect ");
	if (subscribed)
		imap_printf(s, "\\Subscribed ");
	imap_printf(s, "%s", children ? "\\HasChildren" : "\\HasNoChildren");
	if (su != NULL)
		imap_printf(s, " %s", su);
	imap_printf(s, ") \"" IMAP_SEP_STR "\" ");
	imap_out_astring(s, name, strlen(name));
	imap_out(s, "\r\n", 2);
}

/* LIST-EXTENDED syntax (RFC 5258) is understood for what clients send
 * with SPECIAL-USE (RFC 6154): selection (SUBSCRIBED SPECIAL-USE REMOTE
 * RECURSIVEMATCH), several patterns, RETURN (SUBSCRIBED CHILDREN
 * SPECIAL-USE). */
static bool list_options(const struct xi_imap_command *cmd, struct list_opts *o,
			 const char **ref, char pats[][1024], const char **why)
{
	const struct xi_imap_arg *a = cmd->args;

	if (!o->lsub && a != NULL && a->type == XI_IMAP_ARG_LIST) {
		for (const struct xi_imap_arg *x = a->list; x != NULL; x = x->next) {
			if (x->type != XI_IMAP_ARG_ATOM)
				return false;
			if (strcasecmp(x->str, "SUBSCRIBED") == 0)
				o->sel_subscribed = true;
			else if (strcasecmp(x->str, "SPECIAL-USE") == 0)
				o->sel_special = true;
			else if (strcasecmp(x->str, "REMOTE") != 0 && strcasecmp(x->str, "RECURSIVEMATCH") != 0) {
				*why = "Unknown LIST selection option.";
				return false;
			}
		}
		a = a->next;
	}
	if ((*ref = imap_arg_string(a)) == NULL)
		return false;
	a = a->next;
	if (a == NULL)
		return false;
	const struct xi_imap_arg *p = a->type == XI_IMAP_ARG_LIST && !o->lsub ? a->list : a;
	for (; p != NULL && o->npatterns < 16; p = a->type == XI_IMAP_ARG_LIST ? p->next : NULL) {
		const char *pat = imap_arg_string(p);
		if (pat == NULL)
			return false;
		snprintf(pats[o->npatterns], 1024, "%s%s", *ref, pat);
		o->patterns[o->npatterns] = pats[o->npatterns];
		o->npatterns++;
	}
	a = a->next;
	if (a != NULL && !o->lsub && a->type == XI_IMAP_ARG_ATOM && strcasecmp(a->str, "RETURN") == 0 &&
	    a->next != NULL && a->next->type == XI_IMAP_ARG_LIST) {
		for (const struct xi_imap_arg *x = a->next->list; x != NULL; x = x->next) {
			if (x->type != XI_IMAP_ARG_ATOM)
				return false;
			if (strcasecmp(x->str, "SUBSCRIBED") == 0)
				o->ret_subscribed = true;
			else if (strcasecmp(x->str, "CHILDREN") != 0 && strcasecmp(x->str, "SPECIAL-USE") != 0) {
				*why = "Unsupported LIST return option.";
				return false;
			}
		}
		a = a->next->next;
	}
	return a == NULL && o->npatterns > 0;
}

void imap_cmd_list(struct imap_session *s, const struct xi_imap_command *cmd, bool lsub)
{
	struct list_opts o = { .lsub = lsub };
	const char *verb = lsub ? "LSUB" : "LIST", *ref = NULL, *why = NULL;
	char pats[16][1024];
	char **names = NULL;
	size_t n = 0;
	struct xi_error err = { 0 };
	struct subs sb = { 0 };
	bool want_subs;

	if (!list_options(cmd, &o, &ref, pats, &why)) {
		imap_tagged(s, cmd->tag, "BAD %s", why != NULL ? why
				     : lsub ? "LSUB needs a reference and a mailbox pattern."
					    : "LIST needs a reference and a mailbox pattern.");
		return;
	}
	/* An empty pattern asks for the hierarchy delimiter. */
	if (!lsub && o.npatterns == 1 && strcmp(o.patterns[0], ref) == 0 && !o.sel_subscribed &&
	    !o.sel_special) {
		imap_printf(s, "* LIST (\\Noselect) \"" IMAP_SEP_STR "\" \"\"\r\n");
		imap_tagged(s, cmd->tag, "OK List completed.");
		return;
	}
	if (xi_maildir_folder_list(s->md, &names, &n, &err) < 0) {
		answer_error(s, cmd->tag, &err);
		return;
	}
	want_subs = lsub || o.sel_subscribed || o.ret_subscribed;
	if (want_subs && subs_read(s, &sb) < 0) {
		xi_maildir_folder_list_free(names, n);
		imap_tagged(s, cmd->tag, "NO [SERVERBUG] Cannot read the subscriptions.");
		return;
	}
	bool from_subs = lsub || o.sel_subscribed;
	char **cands = from_subs ? sb.names : names;
	size_t ncand = from_subs ? sb.count : n;
	/* Folders, then parents that exist only through their children
	 * ("A" of "A.B") as \Noselect. */
	for (size_t i = 0; i < ncand; i++) {
		const char *name = cands[i];
		size_t len = strlen(name);
		bool children = false;
		for (size_t j = 0; j < n; j++)
			children |= strncmp(names[j], name, len) == 0 && names[j][len] == IMAP_SEP;
		if (match_any(&o, name))
			list_one(s, &o, name, false, children, from_subs && !in_list(names, n, name, len),
				 (o.sel_subscribed || o.ret_subscribed) && in_list(sb.names, sb.count, name, len));
		if (o.sel_subscribed || o.sel_special)
			continue;
		for (const char *dot = strchr(name, IMAP_SEP); dot != NULL; dot = strchr(dot + 1, IMAP_SEP)) {
			size_t pl = (size_t)(dot - name);
			char parent[XI_MAILDIR_FOLDER_NAME_MAX + 1];
			if (pl >= sizeof(parent) || in_list(cands, ncand, name, pl))
				continue;
			/* once per parent: only from its first child */
			bool earlier = false;
			for (size_t j = 0; j < i && !earlier; j++)
				earlier = strncmp(cands[j], name, pl + 1) == 0;
			if (earlier)
				continue;
			memcpy(parent, name, pl);
			parent[pl] = '\0';
			/* LSUB names an unsubscribed parent only where the pattern
			 * hides the subscribed child (RFC 3501 6.3.9). */
			if (match_any(&o, parent) && !(lsub && match_any(&o, name)))
				list_one(s, &o, parent, true, true, false, false);
		}
	}
	xi_maildir_folder_list_free(names, n);
	subs_free(&sb);
	imap_tagged(s, cmd->tag, "OK %s completed.", verb[1] == 'S' ? "Lsub" : "List");
}

/* ---------------------------------------------------------------- STATUS */

void imap_cmd_status(struct imap_session *s, const struct xi_imap_command *cmd)
{
	char name[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	const struct xi_imap_arg *items = cmd->argc == 2 ? cmd->args->next : NULL;
	struct xi_error err = { 0 };
	struct xi_mailbox *mb;
	size_t messages = 0, recent = 0, unseen = 0;
	bool first = true;

	if (items == NULL || items->type != XI_IMAP_ARG_LIST || items->count == 0) {
		imap_tagged(s, cmd->tag, "BAD STATUS needs a mailbox name and a list of items.");
		return;
	}
	for (const struct xi_imap_arg *a = items->list; a != NULL; a = a->next) {
		if (a->type != XI_IMAP_ARG_ATOM ||
		    (strcasecmp(a->str, "MESSAGES") != 0 && strcasecmp(a->str, "RECENT") != 0 &&
		     strcasecmp(a->str, "UIDNEXT") != 0 && strcasecmp(a->str, "UIDVALIDITY") != 0 &&
		     strcasecmp(a->str, "UNSEEN") != 0)) {
			imap_tagged(s, cmd->tag, "BAD Unknown STATUS item.");
			return;
		}
	}
	if (!imap_mailbox_arg(s, cmd->tag, cmd->args, name, sizeof(name)))
		return;
	if (xi_mailbox_open(s->md, strcmp(name, "INBOX") == 0 ? NULL : name, false, &mb, &err) < 0) {
		answer_error(s, cmd->tag, &err);
		return;
	}
	for (size_t i = 0; i < xi_mailbox_count(mb); i++) {
		const struct xi_maildir_message *m = xi_mailbox_message(mb, i);
		if (m->expunged)
			continue;
		messages++;
		recent += m->recent;
		unseen += !(m->flags & XI_MAIL_SEEN);
	}
	if (s->view != NULL && strcmp(s->view->name, name) == 0) {
		/* The selected mailbox: \Recent is what this session took. */
		recent = 0;
		for (size_t i = 0; i < s->view->count; i++)
			recent += s->view->msgs[i].recent && !s->view->msgs[i].gone;
	}
	imap_printf(s, "* STATUS ");
	imap_out_astring(s, name, strlen(name));
	imap_printf(s, " (");
	for (const struct xi_imap_arg *a = items->list; a != NULL; a = a->next) {
		unsigned long long v = strcasecmp(a->str, "MESSAGES") == 0 ? messages
				     : strcasecmp(a->str, "RECENT") == 0 ? recent
				     : strcasecmp(a->str, "UNSEEN") == 0 ? unseen
				     : strcasecmp(a->str, "UIDNEXT") == 0 ? xi_mailbox_uidnext(mb)
									: xi_mailbox_uidvalidity(mb);
		char upper[16];
		size_t k;
		for (k = 0; a->str[k] != '\0' && k + 1 < sizeof(upper); k++)
			upper[k] = (char)toupper((unsigned char)a->str[k]);
		upper[k] = '\0';
		imap_printf(s, "%s%s %llu", first ? "" : " ", upper, v);
		first = false;
	}
	imap_printf(s, ")\r\n");
	xi_mailbox_close(mb);
	imap_tagged(s, cmd->tag, "OK Status completed.");
}

/* ---------------------------------------------------------------- APPEND */

void imap_cmd_append(struct imap_session *s, const struct xi_imap_command *cmd)
{
	char name[XI_MAILDIR_FOLDER_NAME_MAX + 1], why[160];
	const struct xi_imap_arg *a = cmd->args ? cmd->args->next : NULL, *flags = NULL, *date = NULL;
	struct xi_maildir_delivery *dlv;
	struct xi_error err = { 0 };
	struct xi_mailbox *mb;
	unsigned fl = 0;
	uint32_t kw = 0, uid = 0;
	time_t received = 0;

	if (a != NULL && a->type == XI_IMAP_ARG_LIST) {
		flags = a;
		a = a->next;
	}
	if (a != NULL && a->next != NULL && (a->type == XI_IMAP_ARG_QUOTED || a->type == XI_IMAP_ARG_ATOM)) {
		date = a;
		a = a->next;
	}
	if (a == NULL || a->next != NULL || (a->type != XI_IMAP_ARG_LITERAL && a->type != XI_IMAP_ARG_QUOTED)) {
		imap_tagged(s, cmd->tag, "BAD APPEND needs a mailbox, optional flags and date, and a "
			    "message literal.");
		return;
	}
	if (date != NULL && !imap_parse_datetime(date->str, &received)) {
		imap_tagged(s, cmd->tag, "BAD Invalid date-time.");
		return;
	}
	if (flags != NULL && !imap_flags_parse(flags, NULL, &fl, &kw, why, sizeof(why))) {
		imap_tagged(s, cmd->tag, "BAD %s", why);
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, cmd->args, name, sizeof(name)))
		return;
	if (!imap_folder_exists(s->md, name)) {
		imap_tagged(s, cmd->tag, "NO [TRYCREATE] Mailbox doesn't exist.");
		return;
	}
	if (a->len == 0) {
		imap_tagged(s, cmd->tag, "NO Can't save an empty message.");
		return;
	}
	if (xi_maildir_delivery_begin(s->md, strcmp(name, "INBOX") == 0 ? NULL : name, &dlv, &err) < 0 ||
	    (xi_maildir_delivery_write(dlv, a->str, a->len, &err) < 0 &&
	     (xi_maildir_delivery_abort(dlv), true))) {
		answer_error(s, cmd->tag, &err);
		return;
	}
	if (received != 0)
		xi_maildir_delivery_set_received(dlv, received);
	if (xi_maildir_delivery_commit(dlv, fl, &uid, &err) < 0) {
		answer_error(s, cmd->tag, &err);
		return;
	}
	if (xi_mailbox_open(s->md, strcmp(name, "INBOX") == 0 ? NULL : name, false, &mb, &err) < 0) {
		answer_error(s, cmd->tag, &err);
		return;
	}
	if (flags != NULL) {
		/* Keywords by name in the target folder. */
		ssize_t idx = xi_mailbox_find_uid(mb, uid);
		if (imap_flags_parse(flags, mb, &fl, &kw, why, sizeof(why)) && kw != 0 && idx >= 0)
			(void)xi_mailbox_set_flags(mb, (size_t)idx, XI_FLAGS_ADD, 0, kw, &err);
	}
	imap_tagged(s, cmd->tag, "OK [APPENDUID %u %u] Append completed.", xi_mailbox_uidvalidity(mb), uid);
	xi_mailbox_close(mb);
}
