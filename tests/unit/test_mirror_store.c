/*
 * The directory mirror's index and store without a server: hash
 * collisions, removal and growth of the index; case folding (ASCII,
 * non-ASCII, Kelvin sign, long s, Turkic i), replacement, deletion,
 * present-phase sweep, limits and secrets of the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attrmap.h"
#include "directory.h"
#include "mirror_index.h"
#include "mirror_store.h"
#include "tap.h"

#define BASE "dc=example,dc=com"

/* ------------------------------------------------------------ index */

struct seen {
	unsigned ids[64];
	size_t n;
};

static bool collect(void *ctx, uint32_t id)
{
	struct seen *s = ctx;

	if (s->n < 64)
		s->ids[s->n++] = id;
	return true;
}

static bool has(const struct seen *s, unsigned id)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->ids[i] == id)
			return true;
	}
	return false;
}

static void index_tests(void)
{
	struct xi_mirror_index ix;
	struct seen s;
	unsigned i, bad = 0;

	xi_mirror_index_init(&ix);
	memset(&s, 0, sizeof(s));
	xi_mirror_index_each(&ix, 42, collect, &s);
	tap_ok(s.n == 0, "empty index: no candidates");
	/* three ids under one hash: a collision the caller must sort out */
	tap_ok(xi_mirror_index_add(&ix, 42, 1) == 0 && xi_mirror_index_add(&ix, 42, 2) == 0 &&
	       xi_mirror_index_add(&ix, 42, 3) == 0 && xi_mirror_index_add(&ix, 7, 4) == 0,
	       "adds");
	memset(&s, 0, sizeof(s));
	xi_mirror_index_each(&ix, 42, collect, &s);
	tap_ok(s.n == 3 && has(&s, 1) && has(&s, 2) && has(&s, 3) && !has(&s, 4),
	       "colliding hash yields every id stored under it, and only those");
	tap_ok(xi_mirror_index_remove(&ix, 42, 2), "remove one of the colliding ids");
	tap_ok(!xi_mirror_index_remove(&ix, 42, 2), "removing it again: not there");
	tap_ok(!xi_mirror_index_remove(&ix, 43, 1), "removing under another hash: not there");
	memset(&s, 0, sizeof(s));
	xi_mirror_index_each(&ix, 42, collect, &s);
	tap_ok(s.n == 2 && has(&s, 1) && has(&s, 3), "after removal the others remain (past the tombstone)");
	tap_ok(xi_mirror_index_add(&ix, 1, 0) < 0 && xi_mirror_index_add(&ix, 1, UINT32_MAX) < 0,
	       "reserved ids refused");
	/* growth: 100,000 ids, every one found again, removal of half */
	for (i = 1; i <= 100000; i++)
		bad += xi_mirror_index_add(&ix, xi_mirror_hash(&i, sizeof(i)), i + 10) != 0;
	for (i = 1; i <= 100000; i += 2)
		bad += !xi_mirror_index_remove(&ix, xi_mirror_hash(&i, sizeof(i)), i + 10);
	for (i = 1; i <= 100000; i++) {
		memset(&s, 0, sizeof(s));
		xi_mirror_index_each(&ix, xi_mirror_hash(&i, sizeof(i)), collect, &s);
		bad += has(&s, i + 10) != (i % 2 == 0);
	}
	tap_ok(bad == 0, "100,000 ids added, half removed: each found exactly when present (%u wrong)", bad);
	tap_ok(ix.used == 50000 + 3, "live slot count %zu", ix.used);
	tap_ok(xi_mirror_index_bytes(&ix) < 50003 * 8 * 3, "index size %zu bytes for 50,003 ids",
	       xi_mirror_index_bytes(&ix));
	tap_ok(xi_mirror_hash("", 0) != 0, "hash never 0");
	xi_mirror_index_free(&ix);
}

/* ------------------------------------------------------------ store */

static void uuid_of(unsigned n, uint8_t u[16])
{
	memset(u, 0, 16);
	memcpy(u, &n, sizeof(n));
	u[15] = 0x5a;
}

static void account(struct xi_dir_entry *e, const char *domain, const char *name)
{
	memset(e, 0, sizeof(*e));
	e->kinds = XI_DIR_ACCOUNT;
	snprintf(e->dn, sizeof(e->dn), "uid=%s,ou=%s,ou=accounts," BASE, name, domain);
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->account_name, sizeof(e->account_name), "%s", name);
	snprintf(e->upn, sizeof(e->upn), "%s@example.com", name);
	snprintf(e->owner_key, sizeof(e->owner_key), "uid=%s,ou=%s,ou=accounts," BASE, name, domain);
	for (char *p = e->owner_key; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	e->nt_hash_state = XI_SECRET_PRESENT;
	memset(e->nt_hash, 0xab, 16);
	e->password_state = XI_SECRET_PRESENT;
	snprintf(e->password, sizeof(e->password), "{SSHA}secret-of-%s", name);
}

static void mailbox(struct xi_dir_entry *e, const char *alias, const char *owner_key)
{
	memset(e, 0, sizeof(*e));
	e->kinds = XI_DIR_MAILBOX;
	snprintf(e->dn, sizeof(e->dn), "cn=%s,ou=mailboxes," BASE, alias);
	snprintf(e->alias, sizeof(e->alias), "%s", alias);
	snprintf(e->primary_key, sizeof(e->primary_key), "%s", owner_key);
	snprintf(e->mail, sizeof(e->mail), "%s@example.com", alias);
	e->protocols = XI_PROTO_ALL;
	e->methods = XI_METHOD_ALL;
	snprintf(e->mail_home, sizeof(e->mail_home), "/var/mail/%s", alias);
}

static size_t count_find(struct xi_mirror_store *st, const struct xi_dir_query *q,
			 struct xi_dir_result *res)
{
	struct xi_error err;

	if (xi_mirror_store_find(st, q, res, &err) < 0)
		return (size_t)-1;
	return res->count;
}

static size_t find_n(struct xi_mirror_store *st, const struct xi_dir_query *q)
{
	struct xi_dir_result res;
	size_t n = count_find(st, q, &res);

	xi_dir_result_free(&res);
	return n;
}

static void store_tests(void)
{
	const struct xi_attrmap *map = xi_attrmap_get(XI_ATTRMAP_XIDENT);
	struct xi_mirror_store *st = xi_mirror_store_new(map, BASE, 1000, true);
	struct xi_dir_entry e, acct;
	struct xi_dir_result res;
	struct xi_error err;
	const char *doms[] = { "EXAMPLE" };
	const char *mails[2];
	uint8_t u[16];
	char delegates[2][XI_DN_MAX];

	tap_ok(st != NULL, "store created");
	account(&acct, "EXAMPLE", "jdoe");
	uuid_of(1, u);
	tap_ok(xi_mirror_store_put(st, u, &acct, false, NULL, 0, &err) == 0, "put account");
	mailbox(&e, "johnd", acct.owner_key);
	snprintf(delegates[0], sizeof(delegates[0]), "uid=hdadmin,ou=example,ou=accounts," BASE);
	snprintf(delegates[1], sizeof(delegates[1]), "uid=x,o=elsewhere");
	e.delegate_keys = delegates;
	e.delegate_count = 2;
	mails[0] = "johnd@example.com";
	mails[1] = "John.Doe@Example.COM";
	uuid_of(2, u);
	tap_ok(xi_mirror_store_put(st, u, &e, true, mails, 2, &err) == 0, "put mailbox");
	mailbox(&e, "müller", "uid=jmueller,ou=example,ou=accounts," BASE);
	uuid_of(3, u);
	tap_ok(xi_mirror_store_put(st, u, &e, true, NULL, 0, &err) == 0, "put non-ASCII mailbox");
	tap_ok(xi_mirror_store_count(st) == 3, "3 entries");

	{
		struct xi_dir_query q = { .account = "JDOE", .domains = doms, .domain_count = 1 };
		tap_ok(count_find(st, &q, &res) == 1 && res.entries[0].matched == XI_MATCH_ACCOUNT &&
		       strcmp(res.entries[0].dn, acct.dn) == 0 &&
		       strcmp(res.entries[0].owner_key, acct.owner_key) == 0,
		       "account by name, upper case: found, owner key rebuilt from the DN");
		tap_ok(res.count == 1 && res.entries[0].nt_hash_state == XI_SECRET_NOT_ASKED &&
		       res.entries[0].password[0] == '\0', "secrets not asked: not returned");
		xi_dir_result_free(&res);
	}
	{
		struct xi_dir_query q = { .account = "jdoe", .want_nt_hash = true, .want_password = true };
		tap_ok(count_find(st, &q, &res) == 1 && res.entries[0].nt_hash_state == XI_SECRET_PRESENT &&
		       res.entries[0].nt_hash[0] == 0xab &&
		       strcmp(res.entries[0].password, "{SSHA}secret-of-jdoe") == 0,
		       "secrets asked: returned as stored");
		xi_dir_result_free(&res);
	}
	{
		const char *other[] = { "BRANCH" };
		struct xi_dir_query q = { .account = "jdoe", .domains = other, .domain_count = 1 };
		tap_ok(find_n(st, &q) == 0, "account in another domain: not found");
	}
	{
		struct xi_dir_query q = { .alias = "MÜLLER" };
		tap_ok(find_n(st, &q) == 1, "alias MÜLLER finds müller");
		q.alias = "Müller";
		tap_ok(find_n(st, &q) == 1, "alias Müller finds müller");
		q.alias = "muller";
		tap_ok(find_n(st, &q) == 0, "alias muller does not");
		q.alias = "\u212Aohnd";  /* not a k in johnd: Kelvin sign stays unmatched */
		tap_ok(find_n(st, &q) == 0, "Kelvin sign where no k is: not found");
		q.alias = "JOHND";
		tap_ok(find_n(st, &q) == 1, "alias JOHND finds johnd");
	}
	{
		struct xi_dir_query q = { .mail = "JOHN.DOE@example.com" };
		tap_ok(count_find(st, &q, &res) == 1 && res.entries[0].matched == XI_MATCH_MAIL &&
		       strcmp(res.entries[0].mail, "johnd@example.com") == 0,
		       "second mail address, other case: found; first address kept as mail");
		tap_ok(res.count == 1 && res.entries[0].delegate_count == 2 &&
		       strcmp(res.entries[0].delegate_keys[0], delegates[0]) == 0 &&
		       strcmp(res.entries[0].delegate_keys[1], delegates[1]) == 0 &&
		       strcmp(res.entries[0].primary_key, acct.owner_key) == 0 &&
		       strcmp(res.entries[0].mail_home, "/var/mail/johnd") == 0 &&
		       res.entries[0].protocols == XI_PROTO_ALL,
		       "delegates (under and outside the base), primary key and fields restored");
		xi_dir_result_free(&res);
		q.mail = "john.doe@exa\u017fple.com";
		tap_ok(find_n(st, &q) == 0, "long s in an IA5 mail address: not the same address");
	}
	{
		struct xi_dir_query q = { .owner_key = acct.owner_key };
		tap_ok(count_find(st, &q, &res) == 1 && res.entries[0].matched == XI_MATCH_OWNER,
		       "mailboxes owned by jdoe");
		xi_dir_result_free(&res);
		q.owner_key = "UID=JDOE,OU=EXAMPLE,OU=ACCOUNTS,DC=EXAMPLE,DC=COM";
		tap_ok(find_n(st, &q) == 0, "owner keys compare exactly (they are normalised already)");
	}
	{
		struct xi_dir_query q = { .account = "johnd", .alias = "johnd", .upn = "johnd",
					  .mail = "johnd" };
		tap_ok(count_find(st, &q, &res) == 1 && res.entries[0].matched == XI_MATCH_ALIAS,
		       "a one-part name asking every part: the alias matches");
		xi_dir_result_free(&res);
	}
	/* read by DN, any case */
	tap_ok(xi_mirror_store_read(st, "UID=JDOE,OU=EXAMPLE,OU=ACCOUNTS,DC=EXAMPLE,DC=COM", true, false,
				    &res, &err) == 0 && res.count == 1 &&
	       res.entries[0].nt_hash_state == XI_SECRET_PRESENT &&
	       res.entries[0].password_state == XI_SECRET_NOT_ASKED, "read by DN in upper case");
	xi_dir_result_free(&res);
	tap_ok(xi_mirror_store_read(st, "uid=nobody," BASE, false, false, &res, &err) == 0 &&
	       res.count == 0, "read of an unknown DN: empty");
	xi_dir_result_free(&res);
	tap_ok(xi_mirror_store_read(st, "not a DN", false, false, &res, &err) == 0 && res.count == 0,
	       "read of a malformed DN: empty");
	xi_dir_result_free(&res);
	tap_ok(xi_mirror_store_mailboxes_visible(st), "mailboxes visible");

	/* modify: replaced in place, keeps its order; old keys gone */
	account(&acct, "EXAMPLE", "jdoe2");
	acct.disabled = true;
	uuid_of(1, u);
	tap_ok(xi_mirror_store_put(st, u, &acct, false, NULL, 0, &err) == 0 && xi_mirror_store_count(st) == 3,
	       "replace by entryUUID");
	{
		struct xi_dir_query q = { .account = "jdoe" };
		tap_ok(find_n(st, &q) == 0, "old name gone");
		q.account = "jdoe2";
		tap_ok(count_find(st, &q, &res) == 1 && res.entries[0].disabled, "new name, disabled");
		xi_dir_result_free(&res);
	}
	/* delete, sweep */
	uuid_of(3, u);
	tap_ok(xi_mirror_store_delete(st, u) && !xi_mirror_store_delete(st, u), "delete once");
	xi_mirror_store_unmark_all(st);
	uuid_of(2, u);
	tap_ok(xi_mirror_store_mark(st, u), "mark johnd present");
	uuid_of(99, u);
	tap_ok(!xi_mirror_store_mark(st, u), "marking an unknown UUID: false");
	tap_ok(xi_mirror_store_sweep(st) == 1 && xi_mirror_store_count(st) == 1,
	       "sweep removes the entry not named present");
	{
		struct xi_dir_query q = { .alias = "johnd" };
		tap_ok(find_n(st, &q) == 1, "the present entry stays findable");
	}
	xi_mirror_store_clear(st);
	tap_ok(xi_mirror_store_count(st) == 0 && !xi_mirror_store_mailboxes_visible(st),
	       "cleared: empty, no mailbox visible");
	xi_mirror_store_free(st);

	/* limits */
	st = xi_mirror_store_new(map, BASE, 2, false);
	for (unsigned i = 0; i < 2; i++) {
		char name[16];

		snprintf(name, sizeof(name), "u%u", i);
		account(&acct, "EXAMPLE", name);
		uuid_of(i + 1, u);
		(void)xi_mirror_store_put(st, u, &acct, false, NULL, 0, &err);
	}
	account(&acct, "EXAMPLE", "u3");
	uuid_of(3, u);
	tap_ok(xi_mirror_store_put(st, u, &acct, false, NULL, 0, &err) < 0 && err.status == XI_ERR_INVALID &&
	       strstr(err.message, "directory_mirror_max_entries") != NULL,
	       "over max_entries: refused, naming the key");
	uuid_of(1, u);
	tap_ok(xi_mirror_store_put(st, u, &acct, false, NULL, 0, &err) == 0,
	       "replacing an entry at the limit is fine");
	{
		struct xi_dir_query q = { .account = "u3", .want_password = true, .want_nt_hash = true };
		tap_ok(count_find(st, &q, &res) == 1 && res.entries[0].password[0] == '\0' &&
		       res.entries[0].nt_hash_state == XI_SECRET_NOT_ASKED,
		       "secrets not kept: never stored, never returned");
		xi_dir_result_free(&res);
	}
	xi_mirror_store_free(st);

	/* many entries sharing one alias: 32 returned, truncated */
	st = xi_mirror_store_new(map, BASE, 1000, false);
	for (unsigned i = 0; i < 40; i++) {
		mailbox(&e, "shared", "");
		snprintf(e.dn, sizeof(e.dn), "cn=shared%u,ou=mailboxes," BASE, i);
		uuid_of(100 + i, u);
		(void)xi_mirror_store_put(st, u, &e, true, NULL, 0, &err);
	}
	{
		struct xi_dir_query q = { .alias = "Shared" };
		tap_ok(count_find(st, &q, &res) == XI_DIR_ENTRIES_MAX && res.truncated &&
		       strcmp(res.entries[0].dn, "cn=shared0,ou=mailboxes," BASE) == 0,
		       "40 entries share an alias: 32 returned in arrival order, truncated");
		xi_dir_result_free(&res);
	}
	/* a DN holding a marker byte itself is kept as it is */
	mailbox(&e, "odd", "");
	snprintf(e.dn, sizeof(e.dn), "cn=odd\x01,ou=mailboxes," BASE);
	uuid_of(500, u);
	tap_ok(xi_mirror_store_put(st, u, &e, true, NULL, 0, &err) == 0, "odd DN stored");
	{
		struct xi_dir_query q = { .alias = "odd" };
		tap_ok(count_find(st, &q, &res) == 1 && strcmp(res.entries[0].dn, e.dn) == 0,
		       "odd DN comes back byte for byte");
		xi_dir_result_free(&res);
	}
	tap_ok(xi_mirror_store_bytes(st) > 0, "bytes counted: %zu", xi_mirror_store_bytes(st));
	xi_mirror_store_free(st);
}

int main(void)
{
	index_tests();
	store_tests();
	return tap_done();
}
