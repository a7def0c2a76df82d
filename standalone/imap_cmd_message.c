/*
 * Message commands of the selected state (RFC 3501 6.4, UIDPLUS RFC 4315,
 * MOVE RFC 6851): FETCH, STORE, COPY, MOVE, EXPUNGE, SEARCH and their UID
 * forms.  Sequence sets are resolved against the client's view
 * (imap_mailbox.c), never expanded: a set is sorted, merged ranges and a
 * message is looked up in it by binary search.
 *
 * FETCH items and SEARCH keys are parsed and answered by the message
 * library (imap_fetch.h, imap_search.h: Dovecot's output, byte for byte);
 * this file gives it each message's view and loads the bytes only when
 * the parsed command needs them.
 */
#define _GNU_SOURCE
#include "xidentd.h"
#include "imap_session.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "imap_fetch.h"
#include "imap_search.h"
#include "mime.h"

#define SET_MAX_RANGES 65536

/* ---------------------------------------------------------------- sets */

struct set {
	struct { uint32_t lo, hi; } *r;
	size_t n;
};

static int range_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Parses and resolves a sequence set against largest (count, or the last
 * UID); false with a BAD answered. */
static bool set_parse(struct imap_session *s, const char *tag, const struct xi_imap_arg *a,
		      bool uid, uint32_t largest, struct set *set)
{
	struct xi_imap_seq_range *raw;
	int n;

	set->r = NULL;
	set->n = 0;
	if (a == NULL || a->type != XI_IMAP_ARG_ATOM) {
		imap_tagged(s, tag, "BAD Sequence set expected.");
		return false;
	}
	raw = malloc(SET_MAX_RANGES * sizeof(*raw));
	if (raw == NULL) {
		imap_tagged(s, tag, "NO [LIMIT] Out of memory.");
		return false;
	}
	n = xi_imap_seqset_parse(a->str, a->len, raw, SET_MAX_RANGES);
	if (n < 0) {
		free(raw);
		imap_tagged(s, tag, "BAD Invalid sequence set (or more than %d ranges).", SET_MAX_RANGES);
		return false;
	}
	set->r = malloc(((size_t)n + 1) * sizeof(*set->r));
	if (set->r == NULL) {
		free(raw);
		imap_tagged(s, tag, "NO [LIMIT] Out of memory.");
		return false;
	}
	for (int i = 0; i < n; i++) {
		uint32_t lo, hi;
		/* Message numbers beyond EXISTS are a client error (RFC 3501
		 * 7.4.1, as Dovecot answers); UIDs beyond UIDNEXT just match
		 * nothing. */
		if (!uid && ((raw[i].lo != XI_IMAP_SEQ_STAR && raw[i].lo > largest) ||
			     (raw[i].hi != XI_IMAP_SEQ_STAR && raw[i].hi > largest) ||
			     largest == 0)) {
			free(raw);
			free(set->r);
			set->r = NULL;
			imap_tagged(s, tag, "BAD Invalid messageset: no message %s.",
				    largest == 0 ? "in the mailbox" : "with that number");
			return false;
		}
		if (xi_imap_seq_range_resolve(&raw[i], largest, &lo, &hi)) {
			set->r[set->n].lo = lo;
			set->r[set->n].hi = hi;
			set->n++;
		}
	}
	free(raw);
	qsort(set->r, set->n, sizeof(*set->r), range_cmp);
	size_t w = 0;
	for (size_t i = 0; i < set->n; i++) {
		if (w > 0 && set->r[i].lo <= set->r[w - 1].hi + 1ull) {
			if (set->r[i].hi > set->r[w - 1].hi)
				set->r[w - 1].hi = set->r[i].hi;
		} else {
			set->r[w++] = set->r[i];
		}
	}
	set->n = w;
	return true;
}

static bool set_has(const struct set *set, uint32_t x)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (x < set->r[mid].lo)
			hi = mid;
		else if (x > set->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static uint32_t view_largest(const struct imap_view *v, bool uid)
{
	if (v->count == 0)
		return 0;
	return uid ? v->msgs[v->count - 1].uid : (uint32_t)v->count;
}

/* Sequence-set text of sorted UIDs ("1:3,7"), appended to buf. */
static void uid_set_text(const uint32_t *uids, size_t n, char **buf, size_t *len, size_t *cap)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		char part[32];
		int pl = j > i ? snprintf(part, sizeof(part), "%s%u:%u", *len ? "," : "", uids[i], uids[j])
			       : snprintf(part, sizeof(part), "%s%u", *len ? "," : "", uids[i]);
		if (*len + (size_t)pl + 1 > *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			while (nc < *len + (size_t)pl + 1)
				nc *= 2;
			char *p = realloc(*buf, nc);
			if (p == NULL)
				return;
			*buf = p;
			*cap = nc;
		}
		memcpy(*buf + *len, part, (size_t)pl + 1);
		*len += (size_t)pl;
		i = j + 1;
	}
}

/* ---------------------------------------------------------------- flags */

bool imap_flags_parse(const struct xi_imap_arg *arg, struct xi_mailbox *mb, unsigned *flags,
		      uint32_t *keywords, char *why, size_t why_size)
{
	static const struct { const char *name; unsigned bit; } sys[] = {
		{ "\\Answered", XI_MAIL_ANSWERED }, { "\\Flagged", XI_MAIL_FLAGGED },
		{ "\\Deleted", XI_MAIL_DELETED }, { "\\Seen", XI_MAIL_SEEN }, { "\\Draft", XI_MAIL_DRAFT },
	};
	const struct xi_imap_arg *a = arg != NULL && arg->type == XI_IMAP_ARG_LIST ? arg->list : arg;

	*flags = 0;
	*keywords = 0;
	for (; a != NULL; a = a->next) {
		bool found = false;
		if (a->type != XI_IMAP_ARG_ATOM) {
			snprintf(why, why_size, "Flags must be atoms.");
			return false;
		}
		if (a->str[0] == '\\') {
			if (strcasecmp(a->str, "\\Recent") == 0)
				continue;
			for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
				if (strcasecmp(a->str, sys[i].name) == 0) {
					*flags |= sys[i].bit;
					found = true;
				}
			if (!found) {
				snprintf(why, why_size, "Invalid system flag %.64s.", a->str);
				return false;
			}
			continue;
		}
		if (strpbrk(a->str, "[]") != NULL || a->len > XI_MAILDIR_KEYWORD_NAME_MAX) {
			snprintf(why, why_size, "Invalid keyword.");
			return false;
		}
		if (mb != NULL) {
			unsigned idx;
			struct xi_error err = { 0 };
			if (xi_mailbox_keyword_lookup(mb, a->str, true, &idx, &err) < 0) {
				snprintf(why, why_size, "%s", err.message);
				return false;
			}
			*keywords |= 1u << idx;
		}
	}
	return true;
}

/* ---------------------------------------------------------------- message views */

/* What FETCH and SEARCH (imap_fetch.h, imap_search.h) are told about one
 * message: index data always, the bytes when the command needs them. */
struct msgview {
	struct xi_imap_msg_view v;
	const char *kw[XI_MAILDIR_KEYWORDS_MAX];
	char *data;
	size_t cap;
};

static unsigned view_flags(unsigned flags, bool recent)
{
	return ((flags & XI_MAIL_SEEN) ? XI_IMAP_FLAG_SEEN : 0) |
	       ((flags & XI_MAIL_ANSWERED) ? XI_IMAP_FLAG_ANSWERED : 0) |
	       ((flags & XI_MAIL_FLAGGED) ? XI_IMAP_FLAG_FLAGGED : 0) |
	       ((flags & XI_MAIL_DELETED) ? XI_IMAP_FLAG_DELETED : 0) |
	       ((flags & XI_MAIL_DRAFT) ? XI_IMAP_FLAG_DRAFT : 0) |
	       (recent ? XI_IMAP_FLAG_RECENT : 0);
}

/* Reads the message file into mv->data (reusing its buffer). */
static int load_bytes(struct xi_mailbox *mb, size_t idx, struct msgview *mv, struct xi_error *err)
{
	int fd;
	size_t len = 0;

	if (xi_mailbox_message_open(mb, idx, &fd, err) < 0)
		return -1;
	for (;;) {
		if (mv->cap - len < 4096) {
			size_t cap = mv->cap ? mv->cap * 2 : 65536;
			char *p;
			if (cap > XI_MAILDIR_MESSAGE_MAX + 65536 || (p = realloc(mv->data, cap)) == NULL) {
				close(fd);
				return xi_error_set(err, XI_ERR_NOMEM, "message too large for memory");
			}
			mv->data = p;
			mv->cap = cap;
		}
		ssize_t r = read(fd, mv->data + len, mv->cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return xi_error_set(err, XI_ERR_IO, "read: %s", strerror(errno));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	mv->v.data = mv->data;
	mv->v.len = len;
	return 0;
}

/* Fills mv for sequence number seq (message idx of the store). */
static int fill_view(struct imap_view *v, size_t seq, size_t idx, unsigned needs, struct msgview *mv,
		     struct xi_error *err)
{
	const struct imap_view_msg *vm = &v->msgs[seq - 1];
	const struct xi_maildir_message *m = xi_mailbox_message(v->mb, idx);
	unsigned nk = 0;
	time_t t = 0;

	for (unsigned k = 0; k < XI_MAILDIR_KEYWORDS_MAX; k++) {
		const char *name;
		if ((vm->keywords & (1u << k)) && (name = xi_mailbox_keyword_name(v->mb, k)) != NULL)
			mv->kw[nk++] = name;
	}
	(void)xi_mailbox_message_received(v->mb, idx, &t, err);
	mv->v = (struct xi_imap_msg_view){
		.seq = (uint32_t)seq, .uid = vm->uid, .flags = view_flags(vm->flags, vm->recent),
		.keywords = mv->kw, .nkeywords = nk, .internal_date = t, .size = m->vsize,
	};
	if (needs & (XI_IMAP_NEED_HEADER | XI_IMAP_NEED_MESSAGE))
		return load_bytes(v->mb, idx, mv, err);
	return 0;
}

/* ---------------------------------------------------------------- FETCH */

#define FETCH_RESPONSE_MAX ((size_t)XI_MAILDIR_MESSAGE_MAX * 2 + 65536)

void imap_cmd_fetch(struct imap_session *s, const struct xi_imap_command *cmd,
		    const struct xi_imap_arg *args, bool uid)
{
	struct imap_view *v = s->view;
	const struct xi_imap_arg *atts = args != NULL ? args->next : NULL;
	struct xi_imap_fetch *plan;
	struct xi_imap_refusal why;
	struct msgview mv = { 0 };
	struct set set;
	bool any_gone = false, sets_seen;
	unsigned needs;

	if (atts == NULL || atts->next != NULL) {
		imap_tagged(s, cmd->tag, "BAD FETCH needs a sequence set and data items.");
		return;
	}
	if (xi_imap_fetch_parse(atts, uid, NULL, &plan, &why) < 0) {
		imap_tagged(s, cmd->tag, "%s %s", why.kind == XI_IMAP_REFUSE_BAD ? "BAD" : "NO", why.text);
		return;
	}
	needs = xi_imap_fetch_needs(plan);
	sets_seen = xi_imap_fetch_sets_seen(plan) && !v->read_only;
	if (!set_parse(s, cmd->tag, args, uid, view_largest(v, uid), &set)) {
		xi_imap_fetch_free(plan);
		return;
	}
	for (size_t i = 0; i < v->count && !s->failed; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		struct xi_error err = { 0 };
		struct xi_mime_str out;
		bool seen_now = false;
		ssize_t idx;

		if (!set_has(&set, uid ? vm->uid : (uint32_t)(i + 1)))
			continue;
		if (vm->gone || (idx = xi_mailbox_find_uid(v->mb, vm->uid)) < 0) {
			any_gone = true;
			continue;
		}
		if (sets_seen && !(vm->flags & XI_MAIL_SEEN) &&
		    xi_mailbox_set_flags(v->mb, (size_t)idx, XI_FLAGS_ADD, XI_MAIL_SEEN, 0, &err) == 0) {
			vm->flags |= XI_MAIL_SEEN;
			seen_now = true;
		}
		if (fill_view(v, i + 1, (size_t)idx, needs, &mv, &err) < 0) {
			if (err.status != XI_ERR_NOTFOUND)
				xd_log(LOG_ERR, "imap: user %s: fetch uid %u: %s", s->user, vm->uid, err.message);
			any_gone = true;
			continue;
		}
		xi_mime_str_init(&out, FETCH_RESPONSE_MAX);
		if (xi_imap_fetch_render(plan, &mv.v, seen_now, &out, &err) == 0)
			imap_out(s, out.data, out.len);
		else {
			xd_log(LOG_ERR, "imap: user %s: fetch uid %u: %s", s->user, vm->uid, err.message);
			any_gone = true;
		}
		xi_mime_str_free(&out);
	}
	free(mv.data);
	free(set.r);
	xi_imap_fetch_free(plan);
	if (any_gone)
		imap_tagged(s, cmd->tag, "NO [EXPUNGEISSUED] Some of the requested messages no longer exist.");
	else
		imap_tagged(s, cmd->tag, "OK Fetch completed.");
}

/* ---------------------------------------------------------------- STORE */

void imap_cmd_store(struct imap_session *s, const struct xi_imap_command *cmd,
		    const struct xi_imap_arg *args, bool uid)
{
	struct imap_view *v = s->view;
	const struct xi_imap_arg *item = args != NULL ? args->next : NULL;
	const struct xi_imap_arg *flags = item != NULL ? item->next : NULL;
	enum xi_flag_mode mode;
	bool silent;
	const char *name;
	unsigned fl;
	uint32_t kw;
	char why[160];
	struct set set;
	bool any_gone = false;

	if (flags == NULL || item->type != XI_IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD STORE needs a sequence set, a data item and flags.");
		return;
	}
	name = item->str;
	mode = name[0] == '+' ? XI_FLAGS_ADD : name[0] == '-' ? XI_FLAGS_REMOVE : XI_FLAGS_REPLACE;
	if (mode != XI_FLAGS_REPLACE)
		name++;
	silent = strcasecmp(name, "FLAGS.SILENT") == 0;
	if (!silent && strcasecmp(name, "FLAGS") != 0) {
		imap_tagged(s, cmd->tag, "BAD Invalid STORE data item.");
		return;
	}
	if (v->read_only) {
		imap_tagged(s, cmd->tag, "NO Mailbox is read-only.");
		return;
	}
	if (!imap_flags_parse(flags, NULL, &fl, &kw, why, sizeof(why))) {
		imap_tagged(s, cmd->tag, "BAD %s", why);
		return;
	}
	/* The set before any keyword is created: a refused STORE changes
	 * nothing, not even the mailbox's keyword list. */
	if (!set_parse(s, cmd->tag, args, uid, view_largest(v, uid), &set))
		return;
	/* Now create the keywords: only room (26 per folder) can fail. */
	if (!imap_flags_parse(flags, v->mb, &fl, &kw, why, sizeof(why))) {
		free(set.r);
		imap_tagged(s, cmd->tag, "NO [LIMIT] %s", why);
		return;
	}
	if (xi_mailbox_keyword_count(v->mb) != v->keywords_told)
		imap_view_send_flags(s, v);
	for (size_t i = 0; i < v->count && !s->failed; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		struct xi_error err = { 0 };
		ssize_t idx;

		if (!set_has(&set, uid ? vm->uid : (uint32_t)(i + 1)))
			continue;
		if (vm->gone || (idx = xi_mailbox_find_uid(v->mb, vm->uid)) < 0 ||
		    xi_mailbox_set_flags(v->mb, (size_t)idx, mode, fl, kw, &err) < 0) {
			any_gone = true;
			continue;
		}
		const struct xi_maildir_message *m = xi_mailbox_message(v->mb, (size_t)idx);
		vm->flags = m->flags;
		vm->keywords = m->keywords;
		if (!silent) {
			/* UID first, as Dovecot answers UID STORE. */
			if (uid)
				imap_printf(s, "* %zu FETCH (UID %u FLAGS ", i + 1, vm->uid);
			else
				imap_printf(s, "* %zu FETCH (FLAGS ", i + 1);
			imap_view_write_flags(s, v, vm->flags, vm->keywords, vm->recent);
			imap_out(s, ")\r\n", 3);
		}
	}
	free(set.r);
	if (any_gone)
		imap_tagged(s, cmd->tag, "NO [EXPUNGEISSUED] Some of the messages no longer exist.");
	else
		imap_tagged(s, cmd->tag, "OK Store completed.");
}

/* ---------------------------------------------------------------- COPY, MOVE */

/* Keywords travel by name: the target folder has its own letters. */
static void copy_keywords(struct xi_mailbox *src, uint32_t keywords, struct xi_maildir *md,
			  const char *dest, uint32_t uid)
{
	struct xi_mailbox *mb;
	struct xi_error err = { 0 };
	uint32_t kw = 0;
	ssize_t idx;

	if (xi_mailbox_open(md, strcmp(dest, "INBOX") == 0 ? NULL : dest, false, &mb, &err) < 0)
		return;
	for (unsigned k = 0; k < XI_MAILDIR_KEYWORDS_MAX; k++) {
		const char *name;
		unsigned to;
		if ((keywords & (1u << k)) && (name = xi_mailbox_keyword_name(src, k)) != NULL &&
		    xi_mailbox_keyword_lookup(mb, name, true, &to, &err) == 0)
			kw |= 1u << to;
	}
	if ((idx = xi_mailbox_find_uid(mb, uid)) >= 0 && kw != 0)
		(void)xi_mailbox_set_flags(mb, (size_t)idx, XI_FLAGS_ADD, 0, kw, &err);
	xi_mailbox_close(mb);
}

int imap_copy_message(struct xi_mailbox *src, size_t index, struct xi_maildir *md,
		      const char *dest, uint32_t *uid_out, struct xi_error *err)
{
	const struct xi_maildir_message *m = xi_mailbox_message(src, index);
	unsigned flags = m->flags;
	struct xi_maildir_delivery *dlv;
	time_t received = 0;
	char buf[16384];
	int fd;
	ssize_t r;

	if (xi_mailbox_message_received(src, index, &received, err) < 0 ||
	    xi_mailbox_message_open(src, index, &fd, err) < 0)
		return -1;
	if (xi_maildir_delivery_begin(md, strcmp(dest, "INBOX") == 0 ? NULL : dest, &dlv, err) < 0) {
		close(fd);
		return -1;
	}
	while ((r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || xi_maildir_delivery_write(dlv, buf, (size_t)r, err) < 0) {
			if (r < 0)
				xi_error_set(err, XI_ERR_IO, "read: %s", strerror(errno));
			close(fd);
			xi_maildir_delivery_abort(dlv);
			return -1;
		}
	}
	close(fd);
	xi_maildir_delivery_set_received(dlv, received);
	if (xi_maildir_delivery_commit(dlv, flags, uid_out, err) < 0)
		return -1;
	if (m->keywords != 0)
		copy_keywords(src, m->keywords, md, dest, *uid_out);
	return 0;
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void imap_cmd_copy(struct imap_session *s, const struct xi_imap_command *cmd,
		   const struct xi_imap_arg *args, bool uid, bool move)
{
	struct imap_view *v = s->view;
	char dest[XI_MAILDIR_FOLDER_NAME_MAX + 1];
	struct set set;
	uint32_t *src_uids = NULL, *dst_uids = NULL;
	size_t n = 0;
	struct xi_error err = { 0 };
	bool failed = false;

	if (args == NULL || args->next == NULL || args->next->next != NULL) {
		imap_tagged(s, cmd->tag, "BAD %s needs a sequence set and a mailbox.", move ? "MOVE" : "COPY");
		return;
	}
	if (move && v->read_only) {
		imap_tagged(s, cmd->tag, "NO Mailbox is read-only.");
		return;
	}
	if (!imap_mailbox_arg(s, cmd->tag, args->next, dest, sizeof(dest)))
		return;
	if (!imap_folder_exists(s->md, dest)) {
		imap_tagged(s, cmd->tag, "NO [TRYCREATE] Mailbox doesn't exist.");
		return;
	}
	if (!set_parse(s, cmd->tag, args, uid, view_largest(v, uid), &set))
		return;
	src_uids = malloc((v->count + 1) * sizeof(*src_uids));
	dst_uids = malloc((v->count + 1) * sizeof(*dst_uids));
	if (src_uids == NULL || dst_uids == NULL) {
		free(set.r);
		free(src_uids);
		free(dst_uids);
		imap_tagged(s, cmd->tag, "NO [LIMIT] Out of memory.");
		return;
	}
	for (size_t i = 0; i < v->count && !failed; i++) {
		struct imap_view_msg *vm = &v->msgs[i];
		ssize_t idx;
		if (!set_has(&set, uid ? vm->uid : (uint32_t)(i + 1)) || vm->gone ||
		    (idx = xi_mailbox_find_uid(v->mb, vm->uid)) < 0)
			continue;
		if (imap_copy_message(v->mb, (size_t)idx, s->md, dest, &dst_uids[n], &err) < 0) {
			failed = true;
			break;
		}
		src_uids[n++] = vm->uid;
	}
	free(set.r);
	if (failed) {
		/* RFC 3501 6.4.7: a failed COPY leaves the destination as it
		 * was, so the copies made so far are taken back. */
		struct xi_error undo = { 0 };
		struct xi_mailbox *mb;
		if (n > 0 && xi_mailbox_open(s->md, strcmp(dest, "INBOX") == 0 ? NULL : dest, false, &mb,
					     &undo) == 0) {
			for (size_t i = 0; i < n; i++) {
				ssize_t idx = xi_mailbox_find_uid(mb, dst_uids[i]);
				if (idx >= 0)
					(void)xi_mailbox_expunge(mb, (size_t)idx, &undo);
			}
			xi_mailbox_close(mb);
		}
		if (err.status == XI_ERR_NOTFOUND) {
			/* expunged by another session meanwhile */
			imap_tagged(s, cmd->tag, "NO [EXPUNGEISSUED] Some of the requested messages no longer exist.");
		} else {
			xd_log(LOG_ERR, "imap: user %s: copy to %s: %s", s->user, dest, err.message);
			imap_tagged(s, cmd->tag, "NO %s failed: %s", move ? "Move" : "Copy", err.message);
		}
	} else if (n == 0) {
		imap_tagged(s, cmd->tag, "OK No messages found.");
	} else {
		struct xi_mailbox *mb;
		char *a = NULL, *b = NULL;
		size_t al = 0, ac = 0, bl = 0, bc = 0;
		uint32_t validity = 0;
		if (xi_mailbox_open(s->md, strcmp(dest, "INBOX") == 0 ? NULL : dest, false, &mb, &err) == 0) {
			validity = xi_mailbox_uidvalidity(mb);
			xi_mailbox_close(mb);
		}
		/* UIDs were assigned in source order, so both lists stay paired. */
		qsort(src_uids, n, sizeof(*src_uids), uid_cmp);
		uid_set_text(src_uids, n, &a, &al, &ac);
		uid_set_text(dst_uids, n, &b, &bl, &bc);
		if (move) {
			imap_printf(s, "* OK [COPYUID %u %s %s] Moved UIDs.\r\n", validity, a ? a : "",
				    b ? b : "");
			for (size_t i = 0; i < v->count; i++) {
				ssize_t idx;
				if (!v->msgs[i].gone &&
				    bsearch(&v->msgs[i].uid, src_uids, n, sizeof(*src_uids), uid_cmp) != NULL &&
				    (idx = xi_mailbox_find_uid(v->mb, v->msgs[i].uid)) >= 0)
					(void)xi_mailbox_expunge(v->mb, (size_t)idx, &err);
			}
			imap_tagged(s, cmd->tag, "OK Move completed.");
		} else {
			imap_tagged(s, cmd->tag, "OK [COPYUID %u %s %s] Copy completed.", validity,
				    a ? a : "", b ? b : "");
		}
		free(a);
		free(b);
	}
	free(src_uids);
	free(dst_uids);
}

/* ---------------------------------------------------------------- EXPUNGE */

void imap_cmd_expunge(struct imap_session *s, const struct xi_imap_command *cmd,
		      const struct xi_imap_arg *uidset)
{
	struct imap_view *v = s->view;
	struct set set = { 0 };

	if (v->read_only) {
		imap_tagged(s, cmd->tag, "NO Mailbox is read-only.");
		return;
	}
	if (uidset != NULL && !set_parse(s, cmd->tag, uidset, true, view_largest(v, true), &set))
		return;
	for (size_t i = 0; i < v->count; i++) {
		struct xi_error err = { 0 };
		ssize_t idx;
		if (v->msgs[i].gone || (uidset != NULL && !set_has(&set, v->msgs[i].uid)) ||
		    (idx = xi_mailbox_find_uid(v->mb, v->msgs[i].uid)) < 0)
			continue;
		if (xi_mailbox_message(v->mb, (size_t)idx)->flags & XI_MAIL_DELETED)
			(void)xi_mailbox_expunge(v->mb, (size_t)idx, &err);
	}
	free(set.r);
	imap_tagged(s, cmd->tag, "OK Expunge completed.");
}

/* ---------------------------------------------------------------- SEARCH */

void imap_cmd_search(struct imap_session *s, const struct xi_imap_command *cmd,
		     const struct xi_imap_arg *args, bool uid)
{
	struct imap_view *v = s->view;
	struct xi_imap_search *tree;
	struct xi_imap_refusal why;
	struct xi_imap_search_ctx ctx = { .messages = (uint32_t)v->count,
					  .max_uid = view_largest(v, true) };
	struct msgview mv = { 0 };
	unsigned needs;

	if (args == NULL) {
		imap_tagged(s, cmd->tag, "BAD SEARCH needs search keys.");
		return;
	}
	if (xi_imap_search_parse(args, NULL, &tree, &why) < 0) {
		imap_tagged(s, cmd->tag, "%s %s", why.kind == XI_IMAP_REFUSE_BAD ? "BAD" : "NO", why.text);
		return;
	}
	needs = xi_imap_search_needs(tree);
	imap_printf(s, "* SEARCH");
	for (size_t i = 0; i < v->count && !s->failed; i++) {
		struct xi_error err = { 0 };
		ssize_t idx;
		if (v->msgs[i].gone || (idx = xi_mailbox_find_uid(v->mb, v->msgs[i].uid)) < 0 ||
		    fill_view(v, i + 1, (size_t)idx, needs, &mv, &err) < 0)
			continue;
		if (xi_imap_search_match(tree, &ctx, &mv.v, &err) == 1)
			imap_printf(s, " %u", uid ? v->msgs[i].uid : (unsigned)(i + 1));
	}
	imap_out(s, "\r\n", 2);
	free(mv.data);
	xi_imap_search_free(tree);
	imap_tagged(s, cmd->tag, "OK Search completed.");
}
