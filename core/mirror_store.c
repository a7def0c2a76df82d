/*
 * mirror_store: compact, indexed entries of the directory mirror
 * (see mirror_store.h).
 */
#include "mirror_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dir_entry_ldap.h"
#include "mirror_index.h"
#include "unicode.h"

/* The strings of an entry, in the order they are packed.  Only non-empty
 * ones are stored (a bit per field says which). */
enum field {
	F_DN, F_DOMAIN, F_ACCOUNT, F_UPN, F_OWNER, F_PASSWORD, F_ALIAS, F_PRIMARY,
	F_HOME_SERVER, F_TARGET, F_MAIL, F_DISPLAY, F_HOME, F_LOCATION, F_UID, F_GID, F_QUOTA,
	F_PROBLEM,
	F_MAILS,      /* mail_count strings back to back */
	F_DELEGATES,  /* delegate_count strings back to back */
	F_COUNT
};

#define FLAG_DISABLED 0x01
#define FLAG_DELEGATES_TRUNCATED 0x02
#define FLAG_MAILBOX_CLASS 0x04
#define FLAG_PRESENT 0x08
#define FLAG_OWNER_IS_DN 0x10      /* owner_key is the DN's key: not stored */
#define FLAG_MAIL_IS_FIRST 0x20    /* mail is the first of mails: not stored */
#define FLAG_HAS_NT 0x40           /* 16 bytes of NT hash after the strings */
#define FLAG_RAW_DNS 0x80          /* DNs stored without suffix compression */

/* DNs under the base end in a one-byte marker instead of the base. */
#define MARK_BASE '\x01'
#define MARK_BASE_LOWER '\x02'

#define ENTRY_TEXT_MAX (1u << 20)

struct mirror_entry {
	uint8_t uuid[XI_MIRROR_UUID_LEN];
	uint32_t seq;              /* arrival order: the order a search would list them in */
	uint32_t size;             /* bytes allocated, wiped on free */
	uint32_t present;          /* bit per enum field */
	uint8_t kinds, flags, nt_state, pw_state;
	uint8_t protocols, methods, mail_count, delegate_count;
	char text[];
};

enum index_id { IX_UUID, IX_DN, IX_ACCOUNT, IX_UPN, IX_ALIAS, IX_MAIL, IX_OWNER, IX_SID, IX_COUNT };

struct xi_mirror_store {
	const struct xi_attrmap *map;
	size_t max_entries;
	bool keep_secrets;
	char suffix[2][XI_DN_MAX + 2];  /* ",BASE" as configured and in lower case */
	size_t suffix_len[2];
	struct mirror_entry **slots;   /* id - 1 -> entry; NULL = free */
	size_t slot_cap, count, mailbox_class_count;
	uint32_t *free_ids;
	size_t free_count;
	uint32_t next_seq;
	size_t entry_bytes;
	struct xi_mirror_index ix[IX_COUNT];
};

/* ------------------------------------------------------------ keys */

/* Case folding for hashing: upper then lower case, so that two strings
 * xi_utf8_caseeq calls equal (by either direction) hash alike.  Ill-formed
 * text hashes as it is (it equals nothing but itself). */
static uint32_t fold_hash(const char *s)
{
	char up[4 * XI_DN_MAX + 4], low[4 * XI_DN_MAX + 4];

	if (strlen(s) < XI_DN_MAX && xi_utf8_upper(s, up, sizeof(up), NULL) >= 0 &&
	    xi_utf8_lower(up, low, sizeof(low), NULL) >= 0)
		return xi_mirror_hash(low, strlen(low));
	return xi_mirror_hash(s, strlen(s));
}

static uint32_t exact_hash(const char *s)
{
	return xi_mirror_hash(s, strlen(s));
}

static size_t list_len(const struct mirror_entry *me, enum field f)
{
	return f == F_MAILS ? me->mail_count : f == F_DELEGATES ? me->delegate_count : 1;
}

/* The stored (possibly compressed) string of field f, "" when absent; for
 * list fields the first of them. */
static const char *raw(const struct mirror_entry *me, enum field f)
{
	const char *p = me->text;
	size_t g, i;

	if (!(me->present & (1u << f)))
		return "";
	for (g = 0; g < (size_t)f; g++) {
		if (!(me->present & (1u << g)))
			continue;
		for (i = 0; i < list_len(me, (enum field)g); i++)
			p += strlen(p) + 1;
	}
	return p;
}

static const char *list_next(const char *s)
{
	return s + strlen(s) + 1;
}

static bool is_dn_field(enum field f)
{
	return f == F_DN || f == F_OWNER || f == F_PRIMARY || f == F_DELEGATES;
}

/* A stored DN with its base restored, into out. */
/* A bounded copy, truncated as snprintf("%s") would: every lookup unpacks
 * a dozen fields per candidate, and the printf machinery was a tenth of
 * the auth process's CPU per logon in bind mode (perf). */
static size_t put_text(char *out, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	return n;
}

static void expand(const struct xi_mirror_store *st, const char *s, char *out, size_t size)
{
	size_t n = strlen(s);

	if (n > 0 && (s[n - 1] == MARK_BASE || s[n - 1] == MARK_BASE_LOWER)) {
		int k = s[n - 1] == MARK_BASE ? 0 : 1;
		size_t head = put_text(out, size, s, n - 1);

		put_text(out + head, size - head, st->suffix[k], st->suffix_len[k]);
		return;
	}
	put_text(out, size, s, n);
}

/* The text of field f ready to use (DNs expanded) into out. */
static void get(const struct xi_mirror_store *st, const struct mirror_entry *me, enum field f,
		char *out, size_t size)
{
	const char *s = raw(me, f);

	if (is_dn_field(f) && !(me->flags & FLAG_RAW_DNS))
		expand(st, s, out, size);
	else
		put_text(out, size, s, strlen(s));
}

/* The index keys of an entry: calls fn for each (index, hash). */
typedef int key_fn(struct xi_mirror_store *st, enum index_id ix, uint32_t hash, uint32_t id);

static int each_key(struct xi_mirror_store *st, const struct mirror_entry *me, uint32_t id,
		    key_fn *fn)
{
	bool recipient = (me->kinds & (XI_DIR_MAILBOX | XI_DIR_CUSTOM | XI_DIR_DL)) != 0;
	char buf[XI_DN_MAX], key[XI_DN_MAX];
	const char *s;
	size_t i;
	int rc = 0;

	rc |= fn(st, IX_UUID, xi_mirror_hash(me->uuid, sizeof(me->uuid)), id);
	get(st, me, F_DN, buf, sizeof(buf));
	xi_dir_dn_key(buf, key, sizeof(key));
	if (key[0] != '\0')
		rc |= fn(st, IX_DN, fold_hash(key), id);
	if (me->kinds & XI_DIR_ACCOUNT) {
		rc |= fn(st, IX_ACCOUNT, fold_hash(raw(me, F_ACCOUNT)), id);
		if (raw(me, F_UPN)[0] != '\0')
			rc |= fn(st, IX_UPN, fold_hash(raw(me, F_UPN)), id);
		/* Only SID maps ask for an account by its link key. */
		if (st->map->link_kind == XI_LINK_SID && raw(me, F_OWNER)[0] != '\0')
			rc |= fn(st, IX_SID, exact_hash(raw(me, F_OWNER)), id);
	}
	if (recipient) {
		rc |= fn(st, IX_ALIAS, fold_hash(raw(me, F_ALIAS)), id);
		for (i = 0, s = raw(me, F_MAILS); i < me->mail_count; i++, s = list_next(s))
			rc |= fn(st, IX_MAIL, fold_hash(s), id);
	}
	if ((me->kinds & XI_DIR_MAILBOX) && raw(me, F_PRIMARY)[0] != '\0') {
		get(st, me, F_PRIMARY, buf, sizeof(buf));
		rc |= fn(st, IX_OWNER, exact_hash(buf), id);
	}
	return rc;
}

static int key_add(struct xi_mirror_store *st, enum index_id ix, uint32_t hash, uint32_t id)
{
	return xi_mirror_index_add(&st->ix[ix], hash, id);
}

static int key_remove(struct xi_mirror_store *st, enum index_id ix, uint32_t hash, uint32_t id)
{
	(void)xi_mirror_index_remove(&st->ix[ix], hash, id);
	return 0;
}

/* ------------------------------------------------------------ packing */

struct packer {
	const struct xi_mirror_store *st;
	char *text;                /* NULL: only measure */
	size_t len;
	bool raw_dns;
};

static void pack_str(struct packer *p, const char *s, bool dn)
{
	size_t n = strlen(s), k;

	if (dn && !p->raw_dns) {
		for (k = 0; k < 2; k++) {
			size_t sl = p->st->suffix_len[k];

			if (sl > 1 && n >= sl && memcmp(s + n - sl, p->st->suffix[k], sl) == 0) {
				if (p->text != NULL) {
					memcpy(p->text + p->len, s, n - sl);
					p->text[p->len + n - sl] = k == 0 ? MARK_BASE : MARK_BASE_LOWER;
					p->text[p->len + n - sl + 1] = '\0';
				}
				p->len += n - sl + 2;
				return;
			}
		}
	}
	if (p->text != NULL)
		memcpy(p->text + p->len, s, n + 1);
	p->len += n + 1;
}

/* Lays out the strings; with p->text NULL only counts their size. */
static void pack_fields(struct packer *p, struct mirror_entry *me, const char *const plain[F_MAILS],
			const struct xi_dir_entry *e, const char *const *mails, size_t mail_count)
{
	size_t f, i;

	for (f = 0; f < F_MAILS; f++) {
		if (plain[f][0] == '\0')
			continue;
		if (me != NULL)
			me->present |= 1u << f;
		pack_str(p, plain[f], is_dn_field((enum field)f));
	}
	if (mail_count > 0 && me != NULL)
		me->present |= 1u << F_MAILS;
	for (i = 0; i < mail_count; i++)
		pack_str(p, mails[i], false);
	if (e->delegate_count > 0 && me != NULL)
		me->present |= 1u << F_DELEGATES;
	for (i = 0; i < e->delegate_count; i++)
		pack_str(p, e->delegate_keys[i], true);
}

static bool holds_marker(const char *s)
{
	return strchr(s, MARK_BASE) != NULL || strchr(s, MARK_BASE_LOWER) != NULL;
}

static struct mirror_entry *pack(const struct xi_mirror_store *st, const struct xi_dir_entry *e,
				 bool mailbox_class, const char *const *mails, size_t mail_count,
				 struct xi_error *err)
{
	struct packer measure = { .st = st }, p = { .st = st };
	char dn_key[XI_DN_MAX];
	struct mirror_entry *me;
	bool owner_is_dn, mail_is_first, has_nt, raw_dns = false;
	size_t size, i;

	if (mail_count > UINT8_MAX || e->delegate_count > UINT8_MAX) {
		xi_error_set(err, XI_ERR_INVALID, "%s: too many values to mirror", e->dn);
		return NULL;
	}
	xi_dir_dn_key(e->dn, dn_key, sizeof(dn_key));
	owner_is_dn = e->owner_key[0] != '\0' && strcmp(e->owner_key, dn_key) == 0;
	mail_is_first = e->mail[0] != '\0' && mail_count > 0 && strcmp(e->mail, mails[0]) == 0;
	has_nt = st->keep_secrets && e->nt_hash_state == XI_SECRET_PRESENT;
	/* A DN that holds a marker byte itself is stored as it is. */
	raw_dns = holds_marker(e->dn) || holds_marker(e->owner_key) || holds_marker(e->primary_key);
	for (i = 0; i < e->delegate_count; i++)
		raw_dns = raw_dns || holds_marker(e->delegate_keys[i]);
	{
		const char *plain[F_MAILS] = {
			[F_DN] = e->dn, [F_DOMAIN] = e->domain, [F_ACCOUNT] = e->account_name,
			[F_UPN] = e->upn, [F_OWNER] = owner_is_dn ? "" : e->owner_key,
			[F_PASSWORD] = st->keep_secrets && e->password_state == XI_SECRET_PRESENT ?
				e->password : "",
			[F_ALIAS] = e->alias, [F_PRIMARY] = e->primary_key,
			[F_HOME_SERVER] = e->home_server, [F_TARGET] = e->target_address,
			[F_MAIL] = mail_is_first ? "" : e->mail, [F_DISPLAY] = e->display_name,
			[F_HOME] = e->mail_home, [F_LOCATION] = e->mail_location, [F_UID] = e->mail_uid,
			[F_GID] = e->mail_gid, [F_QUOTA] = e->mail_quota, [F_PROBLEM] = e->problem,
		};

		measure.raw_dns = p.raw_dns = raw_dns;
		pack_fields(&measure, NULL, plain, e, mails, mail_count);
		if (measure.len > ENTRY_TEXT_MAX) {
			xi_error_set(err, XI_ERR_INVALID,
				     "%s: %zu bytes of values, more than the mirror holds per entry",
				     e->dn, measure.len);
			return NULL;
		}
		size = sizeof(*me) + measure.len + (has_nt ? 16 : 0);
		me = calloc(1, size);
		if (me == NULL) {
			xi_error_set(err, XI_ERR_NOMEM, "out of memory");
			return NULL;
		}
		me->size = (uint32_t)size;
		p.text = me->text;
		pack_fields(&p, me, plain, e, mails, mail_count);
	}
	me->kinds = (uint8_t)e->kinds;
	me->flags = (e->disabled ? FLAG_DISABLED : 0) |
		(e->delegates_truncated ? FLAG_DELEGATES_TRUNCATED : 0) |
		(mailbox_class ? FLAG_MAILBOX_CLASS : 0) | FLAG_PRESENT |
		(owner_is_dn ? FLAG_OWNER_IS_DN : 0) | (mail_is_first ? FLAG_MAIL_IS_FIRST : 0) |
		(has_nt ? FLAG_HAS_NT : 0) | (raw_dns ? FLAG_RAW_DNS : 0);
	me->protocols = (uint8_t)e->protocols;
	me->methods = (uint8_t)e->methods;
	me->mail_count = (uint8_t)mail_count;
	me->delegate_count = (uint8_t)e->delegate_count;
	if (st->keep_secrets) {
		me->nt_state = (uint8_t)e->nt_hash_state;
		me->pw_state = (uint8_t)e->password_state;
		if (has_nt)
			memcpy(me->text + measure.len, e->nt_hash, 16);
	}
	return me;
}

static void entry_free(struct mirror_entry *me)
{
	if (me != NULL) {
		OPENSSL_cleanse(me, me->size);
		free(me);
	}
}

/* Fills e from me (e zeroed by the caller); delegates (want_delegates)
 * allocated like live results (xi_dir_result_free frees them).  -1 when
 * out of memory. */
static int unpack(const struct xi_mirror_store *st, const struct mirror_entry *me, bool want_nt,
		  bool want_pw, bool want_delegates, struct xi_dir_entry *e)
{
	static const struct { enum field f; size_t off, size; } copy[] = {
#define C(f, m) { f, offsetof(struct xi_dir_entry, m), sizeof(((struct xi_dir_entry *)0)->m) }
		C(F_DN, dn), C(F_DOMAIN, domain), C(F_ACCOUNT, account_name), C(F_UPN, upn),
		C(F_OWNER, owner_key), C(F_ALIAS, alias), C(F_PRIMARY, primary_key),
		C(F_HOME_SERVER, home_server), C(F_TARGET, target_address), C(F_MAIL, mail),
		C(F_DISPLAY, display_name), C(F_HOME, mail_home), C(F_LOCATION, mail_location),
		C(F_UID, mail_uid), C(F_GID, mail_gid), C(F_QUOTA, mail_quota), C(F_PROBLEM, problem),
#undef C
	};
	const char *s;
	size_t i;

	for (i = 0; i < sizeof(copy) / sizeof(copy[0]); i++)
		get(st, me, copy[i].f, (char *)e + copy[i].off, copy[i].size);
	if (me->flags & FLAG_OWNER_IS_DN)
		xi_dir_dn_key(e->dn, e->owner_key, sizeof(e->owner_key));
	if (me->flags & FLAG_MAIL_IS_FIRST)
		put_text(e->mail, sizeof(e->mail), raw(me, F_MAILS), strlen(raw(me, F_MAILS)));
	e->kinds = me->kinds;
	e->disabled = (me->flags & FLAG_DISABLED) != 0;
	e->delegates_truncated = (me->flags & FLAG_DELEGATES_TRUNCATED) != 0;
	e->protocols = me->protocols;
	e->methods = me->methods;
	if (want_nt) {
		e->nt_hash_state = (enum xi_dir_secret)me->nt_state;
		if (me->flags & FLAG_HAS_NT)
			memcpy(e->nt_hash, (const char *)me + me->size - 16, sizeof(e->nt_hash));
	}
	if (want_pw) {
		e->password_state = (enum xi_dir_secret)me->pw_state;
		put_text(e->password, sizeof(e->password), raw(me, F_PASSWORD),
			 strlen(raw(me, F_PASSWORD)));
	}
	if (want_delegates && me->delegate_count > 0) {
		e->delegate_keys = calloc(me->delegate_count, sizeof(*e->delegate_keys));
		if (e->delegate_keys == NULL)
			return -1;
		for (i = 0, s = raw(me, F_DELEGATES); i < me->delegate_count; i++, s = list_next(s)) {
			if (me->flags & FLAG_RAW_DNS)
				put_text(e->delegate_keys[i], sizeof(e->delegate_keys[i]), s, strlen(s));
			else
				expand(st, s, e->delegate_keys[i], sizeof(e->delegate_keys[i]));
		}
		e->delegate_count = me->delegate_count;
	}
	return 0;
}

/* ------------------------------------------------------------ the store */

struct xi_mirror_store *xi_mirror_store_new(const struct xi_attrmap *map, const char *base_dn,
					    size_t max_entries, bool keep_secrets)
{
	struct xi_mirror_store *st = calloc(1, sizeof(*st));
	size_t i, n;

	if (st == NULL)
		return NULL;
	st->map = map;
	n = base_dn != NULL ? strlen(base_dn) : 0;
	if (n > 0 && n < XI_DN_MAX) {
		snprintf(st->suffix[0], sizeof(st->suffix[0]), ",%s", base_dn);
		for (i = 0; i <= n + 1; i++) {
			char c = st->suffix[0][i];

			st->suffix[1][i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
		}
		st->suffix_len[0] = st->suffix_len[1] = n + 1;
	}
	st->max_entries = max_entries < UINT32_MAX - 1 ? max_entries : UINT32_MAX - 2;
	st->keep_secrets = keep_secrets;
	for (i = 0; i < IX_COUNT; i++)
		xi_mirror_index_init(&st->ix[i]);
	return st;
}

void xi_mirror_store_clear(struct xi_mirror_store *st)
{
	size_t i;

	for (i = 0; i < st->slot_cap; i++) {
		entry_free(st->slots[i]);
		st->slots[i] = NULL;
	}
	for (i = 0; i < IX_COUNT; i++)
		xi_mirror_index_free(&st->ix[i]);
	free(st->slots);
	free(st->free_ids);
	st->slots = NULL;
	st->free_ids = NULL;
	st->slot_cap = st->count = st->free_count = st->mailbox_class_count = 0;
	st->entry_bytes = 0;
}

void xi_mirror_store_free(struct xi_mirror_store *st)
{
	if (st == NULL)
		return;
	xi_mirror_store_clear(st);
	free(st);
}

struct uuid_find {
	const struct xi_mirror_store *st;
	const uint8_t *uuid;
	uint32_t id;
};

static bool uuid_check(void *ctx, uint32_t id)
{
	struct uuid_find *f = ctx;
	const struct mirror_entry *me = f->st->slots[id - 1];

	if (memcmp(me->uuid, f->uuid, XI_MIRROR_UUID_LEN) == 0) {
		f->id = id;
		return false;
	}
	return true;
}

static uint32_t find_uuid(const struct xi_mirror_store *st, const uint8_t *uuid)
{
	struct uuid_find f = { st, uuid, 0 };

	xi_mirror_index_each(&st->ix[IX_UUID], xi_mirror_hash(uuid, XI_MIRROR_UUID_LEN),
			     uuid_check, &f);
	return f.id;
}

static void unlink_entry(struct xi_mirror_store *st, uint32_t id)
{
	struct mirror_entry *me = st->slots[id - 1];

	(void)each_key(st, me, id, key_remove);
	st->slots[id - 1] = NULL;
	st->count--;
	if (me->flags & FLAG_MAILBOX_CLASS)
		st->mailbox_class_count--;
	st->entry_bytes -= me->size;
	st->free_ids[st->free_count++] = id;
	entry_free(me);
}

/* A free id, growing the slot table when none is left. */
static uint32_t take_id(struct xi_mirror_store *st)
{
	struct mirror_entry **slots;
	uint32_t *free_ids;
	size_t cap, i;

	if (st->free_count == 0) {
		cap = st->slot_cap == 0 ? 64 : st->slot_cap * 2;
		if (cap > UINT32_MAX - 2)
			return 0;
		slots = realloc(st->slots, cap * sizeof(*slots));
		if (slots == NULL)
			return 0;
		st->slots = slots;
		free_ids = realloc(st->free_ids, cap * sizeof(*free_ids));
		if (free_ids == NULL)
			return 0;
		st->free_ids = free_ids;
		/* Lowest ids last, so they are handed out first. */
		for (i = cap; i > st->slot_cap; i--) {
			st->slots[i - 1] = NULL;
			st->free_ids[st->free_count++] = (uint32_t)i;
		}
		st->slot_cap = cap;
	}
	return st->free_ids[--st->free_count];
}

int xi_mirror_store_put(struct xi_mirror_store *st, const uint8_t uuid[XI_MIRROR_UUID_LEN],
			const struct xi_dir_entry *e, bool mailbox_class,
			const char *const *mails, size_t mail_count, struct xi_error *err)
{
	struct mirror_entry *me;
	uint32_t old = find_uuid(st, uuid), id, seq;

	if (old == 0 && st->count >= st->max_entries)
		return xi_error_set(err, XI_ERR_INVALID,
				    "more than directory_mirror_max_entries (%zu) entries", st->max_entries);
	me = pack(st, e, mailbox_class, mails, mail_count, err);
	if (me == NULL)
		return -1;
	memcpy(me->uuid, uuid, XI_MIRROR_UUID_LEN);
	seq = old != 0 ? st->slots[old - 1]->seq : ++st->next_seq;
	me->seq = seq;
	if (old != 0)
		unlink_entry(st, old);
	id = take_id(st);
	if (id == 0) {
		entry_free(me);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	if (each_key(st, me, id, key_add) != 0) {
		(void)each_key(st, me, id, key_remove);
		st->free_ids[st->free_count++] = id;
		entry_free(me);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	st->slots[id - 1] = me;
	st->count++;
	st->entry_bytes += me->size;
	if (mailbox_class)
		st->mailbox_class_count++;
	return 0;
}

bool xi_mirror_store_delete(struct xi_mirror_store *st, const uint8_t uuid[XI_MIRROR_UUID_LEN])
{
	uint32_t id = find_uuid(st, uuid);

	if (id == 0)
		return false;
	unlink_entry(st, id);
	return true;
}

void xi_mirror_store_unmark_all(struct xi_mirror_store *st)
{
	size_t i;

	for (i = 0; i < st->slot_cap; i++) {
		if (st->slots[i] != NULL)
			st->slots[i]->flags &= (uint8_t)~FLAG_PRESENT;
	}
}

bool xi_mirror_store_mark(struct xi_mirror_store *st, const uint8_t uuid[XI_MIRROR_UUID_LEN])
{
	uint32_t id = find_uuid(st, uuid);

	if (id == 0)
		return false;
	st->slots[id - 1]->flags |= FLAG_PRESENT;
	return true;
}

size_t xi_mirror_store_sweep(struct xi_mirror_store *st)
{
	size_t i, n = 0;

	for (i = 0; i < st->slot_cap; i++) {
		if (st->slots[i] != NULL && !(st->slots[i]->flags & FLAG_PRESENT)) {
			unlink_entry(st, (uint32_t)(i + 1));
			n++;
		}
	}
	return n;
}

/* ------------------------------------------------------------ lookups */

struct hit {
	uint32_t id, seq;
	unsigned matched;
};

struct lookup {
	const struct xi_mirror_store *st;
	const struct xi_dir_query *q;
	struct hit hits[XI_DIR_ENTRIES_MAX + 1];
	size_t count;
	bool truncated, nomem;
	struct xi_dir_entry scratch;
};

static bool seen(const struct lookup *lk, uint32_t id)
{
	size_t i;

	for (i = 0; i < lk->count; i++) {
		if (lk->hits[i].id == id)
			return true;
	}
	return false;
}

/* One candidate: kept when the query's rules say it matches. */
static bool consider(void *ctx, uint32_t id)
{
	struct lookup *lk = ctx;
	const struct mirror_entry *me = lk->st->slots[id - 1];
	const char *mails[XI_DIR_MULTI_MAX];
	const char *s;
	unsigned matched;
	size_t i;

	if (seen(lk, id))
		return true;
	/* Not zeroed again for each candidate (11 KB, a lookup may see
	 * several): unpack writes every field the match reads, and leaves
	 * the secrets and delegates, which the match does not need, out. */
	if (unpack(lk->st, me, false, false, false, &lk->scratch) < 0) {
		lk->nomem = true;
		return false;
	}
	for (i = 0, s = raw(me, F_MAILS); i < me->mail_count && i < XI_DIR_MULTI_MAX;
	     i++, s = list_next(s))
		mails[i] = s;
	matched = xi_dir_entry_match(lk->st->map, lk->q, &lk->scratch, mails, i);
	if (matched == 0)
		return true;
	if (lk->count == XI_DIR_ENTRIES_MAX + 1) {
		lk->truncated = true;
		return false;
	}
	lk->hits[lk->count].id = id;
	lk->hits[lk->count].seq = me->seq;
	lk->hits[lk->count].matched = matched;
	lk->count++;
	return true;
}

static int by_seq(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int fill_result(const struct xi_mirror_store *st, struct hit *hits, size_t n,
		       bool want_nt, bool want_pw, struct xi_dir_result *res, struct xi_error *err)
{
	size_t i;

	res->entries = calloc(n > 0 ? n : 1, sizeof(*res->entries));
	if (res->entries == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		struct xi_dir_entry *e = &res->entries[res->count++];

		if (unpack(st, st->slots[hits[i].id - 1], want_nt && st->keep_secrets,
			   want_pw && st->keep_secrets, true, e) < 0) {
			xi_dir_result_free(res);
			return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
		}
		e->matched = hits[i].matched;
	}
	return 0;
}

int xi_mirror_store_find(const struct xi_mirror_store *st, const struct xi_dir_query *q,
			 struct xi_dir_result *res, struct xi_error *err)
{
	struct lookup *lk;
	struct { enum index_id ix; const char *key; bool fold; } parts[] = {
		{ IX_ACCOUNT, q->account, true }, { IX_UPN, q->upn, true },
		{ IX_ALIAS, q->alias, true }, { IX_MAIL, q->mail, true },
		{ IX_OWNER, q->owner_key, false }, { IX_SID, q->sid_key, false },
	};
	size_t i, n;
	int rc;

	xi_dir_result_init(res);
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	lk->st = st;
	lk->q = q;
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]) && !lk->truncated && !lk->nomem; i++) {
		if (parts[i].key == NULL)
			continue;
		xi_mirror_index_each(&st->ix[parts[i].ix],
				     parts[i].fold ? fold_hash(parts[i].key) : exact_hash(parts[i].key),
				     consider, lk);
	}
	if (lk->nomem) {
		free(lk);
		return xi_error_set(err, XI_ERR_NOMEM, "out of memory");
	}
	qsort(lk->hits, lk->count, sizeof(lk->hits[0]), by_seq);
	n = lk->count;
	res->truncated = lk->truncated || n > XI_DIR_ENTRIES_MAX;
	if (n > XI_DIR_ENTRIES_MAX)
		n = XI_DIR_ENTRIES_MAX;
	rc = fill_result(st, lk->hits, n, q->want_nt_hash, q->want_password, res, err);
	free(lk);
	return rc;
}

struct dn_find {
	const struct xi_mirror_store *st;
	const char *key;
	uint32_t id, seq;
};

static bool dn_check(void *ctx, uint32_t id)
{
	struct dn_find *f = ctx;
	const struct mirror_entry *me = f->st->slots[id - 1];

	char dn[XI_DN_MAX], key[XI_DN_MAX];

	get(f->st, me, F_DN, dn, sizeof(dn));
	xi_dir_dn_key(dn, key, sizeof(key));
	if (xi_utf8_caseeq(key, f->key) && (f->id == 0 || me->seq < f->seq)) {
		f->id = id;
		f->seq = me->seq;
	}
	return true;
}

int xi_mirror_store_read(const struct xi_mirror_store *st, const char *dn, bool want_nt_hash,
			 bool want_password, struct xi_dir_result *res, struct xi_error *err)
{
	char key[XI_DN_MAX];
	struct dn_find f = { st, key, 0, 0 };
	struct hit hit;

	xi_dir_result_init(res);
	xi_dir_dn_key(dn, key, sizeof(key));
	if (key[0] == '\0')
		return 0;
	xi_mirror_index_each(&st->ix[IX_DN], fold_hash(key), dn_check, &f);
	if (f.id == 0)
		return 0;
	hit.id = f.id;
	hit.seq = f.seq;
	hit.matched = 0;
	return fill_result(st, &hit, 1, want_nt_hash, want_password, res, err);
}

bool xi_mirror_store_mailboxes_visible(const struct xi_mirror_store *st)
{
	return st->map->mailbox_class == NULL || st->mailbox_class_count > 0;
}

size_t xi_mirror_store_count(const struct xi_mirror_store *st)
{
	return st->count;
}

size_t xi_mirror_store_bytes(const struct xi_mirror_store *st)
{
	size_t n = sizeof(*st) + st->entry_bytes +
		st->slot_cap * (sizeof(*st->slots) + sizeof(*st->free_ids));
	size_t i;

	for (i = 0; i < IX_COUNT; i++)
		n += xi_mirror_index_bytes(&st->ix[i]);
	return n;
}
