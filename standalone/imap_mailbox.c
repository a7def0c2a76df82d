/*
 * The selected mailbox as the client sees it (imap_mailbox.h).
 */
#define _GNU_SOURCE
#include "imap_mailbox.h"
#include "imap_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const system_flags[] = { "\\Answered", "\\Flagged", "\\Deleted", "\\Seen",
					    "\\Draft" };
static const unsigned system_bits[] = { XI_MAIL_ANSWERED, XI_MAIL_FLAGGED, XI_MAIL_DELETED,
					XI_MAIL_SEEN, XI_MAIL_DRAFT };

static int view_grow(struct imap_view *v, size_t need)
{
	if (need <= v->cap)
		return 0;
	size_t cap = v->cap ? v->cap * 2 : 64;
	while (cap < need)
		cap *= 2;
	struct imap_view_msg *p = realloc(v->msgs, cap * sizeof(*p));
	if (p == NULL)
		return -1;
	v->msgs = p;
	v->cap = cap;
	return 0;
}

/* \Recent goes to one session (RFC 3501 2.3.2): a read-write view that
 * finds a message in new/ takes it by moving it to cur/, as Dovecot does;
 * later sessions find it in cur/, not recent.  EXAMINE takes nothing. */
static bool take_recent(struct imap_view *v, size_t idx)
{
	const struct xi_maildir_message *m = xi_mailbox_message(v->mb, idx);
	struct xi_error err = { 0 };

	if (!m->recent)
		return false;
	if (v->read_only)
		return true;
	/* Two sessions syncing at once both find the file in new/: only the
	 * one whose rename moves it gets \Recent. */
	return xi_mailbox_take_new(v->mb, idx, &err) == 1;
}

int imap_view_open(struct xi_maildir *md, const char *name, bool read_only,
		   struct imap_view **out, struct xi_error *err)
{
	struct imap_view *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		return -1;
	}
	v->inotify_fd = -1;
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->read_only = read_only;
	/* Opened writable even for EXAMINE: new files need UIDs (as Dovecot
	 * assigns them); EXAMINE only changes no flags. */
	if (xi_mailbox_open(md, strcmp(name, "INBOX") == 0 ? NULL : name, false, &v->mb, err) < 0) {
		free(v);
		return -1;
	}
	v->uidvalidity = xi_mailbox_uidvalidity(v->mb);
	size_t n = xi_mailbox_count(v->mb);
	if (view_grow(v, n) < 0) {
		imap_view_close(v);
		xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct xi_maildir_message *m = xi_mailbox_message(v->mb, i);
		if (m->expunged)
			continue;
		v->msgs[v->count++] = (struct imap_view_msg){ .uid = m->uid, .flags = m->flags,
							       .keywords = m->keywords,
							       .recent = take_recent(v, i) };
	}
	v->keywords_told = xi_mailbox_keyword_count(v->mb);
	*out = v;
	return 0;
}

void imap_view_close(struct imap_view *v)
{
	if (v == NULL)
		return;
	if (v->mb != NULL)
		xi_mailbox_close(v->mb);
	free(v->msgs);
	free(v);
}

ssize_t imap_view_index(const struct imap_view *v, size_t seq)
{
	if (seq == 0 || seq > v->count || v->msgs[seq - 1].gone)
		return -1;
	return xi_mailbox_find_uid(v->mb, v->msgs[seq - 1].uid);
}

void imap_view_write_flags(struct imap_session *s, struct imap_view *v, unsigned flags,
			   uint32_t keywords, bool recent)
{
	bool first = true;

	imap_out(s, "(", 1);
	for (size_t i = 0; i < sizeof(system_bits) / sizeof(system_bits[0]); i++) {
		if (!(flags & system_bits[i]))
			continue;
		imap_printf(s, "%s%s", first ? "" : " ", system_flags[i]);
		first = false;
	}
	if (recent) {
		imap_printf(s, "%s\\Recent", first ? "" : " ");
		first = false;
	}
	for (unsigned k = 0; k < XI_MAILDIR_KEYWORDS_MAX; k++) {
		const char *kw;
		if (!(keywords & (1u << k)) || (kw = xi_mailbox_keyword_name(v->mb, k)) == NULL)
			continue;
		imap_printf(s, "%s%s", first ? "" : " ", kw);
		first = false;
	}
	imap_out(s, ")", 1);
}

void imap_view_send_flags(struct imap_session *s, struct imap_view *v)
{
	size_t nk = xi_mailbox_keyword_count(v->mb);

	imap_printf(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (size_t k = 0; k < nk; k++)
		imap_printf(s, " %s", xi_mailbox_keyword_name(v->mb, (unsigned)k));
	imap_printf(s, ")\r\n");
	if (v->read_only) {
		imap_printf(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
	} else {
		imap_printf(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
		for (size_t k = 0; k < nk; k++)
			imap_printf(s, " %s", xi_mailbox_keyword_name(v->mb, (unsigned)k));
		imap_printf(s, "%s)] Flags permitted.\r\n", nk < XI_MAILDIR_KEYWORDS_MAX ? " \\*" : "");
	}
	v->keywords_told = nk;
}

int imap_view_sync(struct imap_session *s, struct imap_view *v, bool allow_expunge,
		   struct xi_error *err)
{
	size_t n, old_count, recent = 0;
	bool expunged_recent = false;
	uint32_t last_uid;

	if (xi_mailbox_sync(v->mb, err) < 0)
		return -1;
	if (xi_mailbox_keyword_count(v->mb) != v->keywords_told)
		imap_view_send_flags(s, v);
	/* Expunged and changed messages among those the client knows. */
	for (size_t i = 0; i < v->count; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		ssize_t idx;
		const struct xi_maildir_message *m;
		if (vm->gone)
			continue;
		idx = xi_mailbox_find_uid(v->mb, vm->uid);
		m = idx >= 0 ? xi_mailbox_message(v->mb, (size_t)idx) : NULL;
		if (m == NULL || m->expunged) {
			vm->gone = true;
			continue;
		}
		if (m->flags != vm->flags || m->keywords != vm->keywords) {
			vm->flags = m->flags;
			vm->keywords = m->keywords;
			imap_printf(s, "* %zu FETCH (FLAGS ", i + 1);
			imap_view_write_flags(s, v, vm->flags, vm->keywords, vm->recent);
			imap_printf(s, ")\r\n");
		}
	}
	if (allow_expunge) {
		/* Highest first: each EXPUNGE leaves the lower numbers as they are. */
		size_t w = 0, recent_gone = 0;
		for (size_t i = v->count; i-- > 0;)
			if (v->msgs[i].gone) {
				imap_printf(s, "* %zu EXPUNGE\r\n", i + 1);
				recent_gone += v->msgs[i].recent;
			}
		/* The number of \Recent messages changed (RFC 3501 7.3.2): said
		 * below with EXISTS when messages arrived too, else here. */
		expunged_recent = recent_gone > 0;
		for (size_t i = 0; i < v->count; i++)
			if (!v->msgs[i].gone)
				v->msgs[w++] = v->msgs[i];
		v->count = w;
	}
	/* New messages: UIDs above the last one the client knows. */
	old_count = v->count;
	last_uid = 0;
	for (size_t i = v->count; i-- > 0;) {
		last_uid = v->msgs[i].uid;
		break;
	}
	n = xi_mailbox_count(v->mb);
	for (size_t i = 0; i < n; i++) {
		const struct xi_maildir_message *m = xi_mailbox_message(v->mb, i);
		if (m->expunged || m->uid <= last_uid)
			continue;
		if (view_grow(v, v->count + 1) < 0) {
			xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			return -1;
		}
		v->msgs[v->count++] = (struct imap_view_msg){ .uid = m->uid, .flags = m->flags,
							       .keywords = m->keywords,
							       .recent = take_recent(v, i) };
	}
	if (v->count > old_count || expunged_recent) {
		for (size_t i = 0; i < v->count; i++)
			recent += v->msgs[i].recent;
		if (v->count > old_count)
			imap_printf(s, "* %zu EXISTS\r\n", v->count);
		imap_printf(s, "* %zu RECENT\r\n", recent);
	}
	return 0;
}
