/*
 * mirror-compare: asks the directory mirror and live LDAP the same
 * questions and says whether every answer is the same, field by field.
 *
 *   mirror-compare CONFIG [--threads N] < lines
 *
 * Lines (fields separated by tabs):
 *   wait MS                     wait up to MS for the mirror to be in sync;
 *                               prints "in_sync=0|1 entries=N bytes=B
 *                               refresh_seconds=S state=..."
 *   stats                       the same line, without waiting
 *   find KEY=VALUE...           keys: account domains(comma list) upn alias
 *                               mail owner sid nt(=1) pw(=1)
 *   read DN [nt] [pw]
 *   visible
 * Each question prints "same count=N mirror_ops=M" or "DIFF <what>".
 *
 * With --threads N, each question is also asked by N threads at once, 200
 * times each, and every answer must equal the first (readers running while
 * the sync thread writes; a ThreadSanitizer build checks the locking).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "directory.h"
#include "directory_mirror.h"

#define FIELD(name) { #name, offsetof(struct xi_dir_entry, name), sizeof(((struct xi_dir_entry *)0)->name) }

static const struct { const char *name; size_t off, size; } text_fields[] = {
	FIELD(dn), FIELD(domain), FIELD(account_name), FIELD(upn), FIELD(owner_key), FIELD(alias),
	FIELD(primary_key), FIELD(home_server), FIELD(target_address), FIELD(mail),
	FIELD(display_name), FIELD(mail_home), FIELD(mail_location), FIELD(mail_uid),
	FIELD(mail_gid), FIELD(mail_quota), FIELD(problem), FIELD(password),
};

static int diff_entry(const struct xi_dir_entry *a, const struct xi_dir_entry *b, size_t i,
		      char *out, size_t size)
{
	size_t f, d;

	for (f = 0; f < sizeof(text_fields) / sizeof(text_fields[0]); f++) {
		const char *x = (const char *)a + text_fields[f].off;
		const char *y = (const char *)b + text_fields[f].off;

		if (strcmp(x, y) != 0) {
			snprintf(out, size, "entry %zu %s: live \"%.200s\" mirror \"%.200s\"", i,
				 text_fields[f].name, x, y);
			return 1;
		}
	}
#define NUM(n) if (a->n != b->n) { snprintf(out, size, "entry %zu %s: live %u mirror %u", i, #n, (unsigned)a->n, (unsigned)b->n); return 1; }
	NUM(kinds) NUM(matched) NUM(disabled) NUM(nt_hash_state) NUM(password_state)
	NUM(delegate_count) NUM(delegates_truncated) NUM(protocols) NUM(methods)
#undef NUM
	if (memcmp(a->nt_hash, b->nt_hash, sizeof(a->nt_hash)) != 0) {
		snprintf(out, size, "entry %zu nt_hash differs", i);
		return 1;
	}
	for (d = 0; d < a->delegate_count; d++) {
		if (strcmp(a->delegate_keys[d], b->delegate_keys[d]) != 0) {
			snprintf(out, size, "entry %zu delegate %zu differs", i, d);
			return 1;
		}
	}
	return 0;
}

static int diff_result(const struct xi_dir_result *a, const struct xi_dir_result *b, char *out,
		       size_t size)
{
	size_t i;

	if (a->count != b->count || a->truncated != b->truncated) {
		snprintf(out, size, "count: live %zu%s mirror %zu%s", a->count,
			 a->truncated ? "+" : "", b->count, b->truncated ? "+" : "");
		return 1;
	}
	for (i = 0; i < a->count; i++) {
		if (diff_entry(&a->entries[i], &b->entries[i], i, out, size))
			return 1;
	}
	return 0;
}

struct question {
	char kind;                 /* 'f' find, 'r' read */
	struct xi_dir_query q;
	const char *domains[8];
	char buf[8][1100];
	char dn[1100];
	bool nt, pw;
};

static int parse(char *line, struct question *qu)
{
	char *tok, *save = NULL;
	size_t nb = 0;

	memset(qu, 0, sizeof(*qu));
	tok = strtok_r(line, "\t", &save);
	if (strcmp(tok, "read") == 0) {
		qu->kind = 'r';
		tok = strtok_r(NULL, "\t", &save);
		if (tok == NULL)
			return -1;
		snprintf(qu->dn, sizeof(qu->dn), "%s", tok);
		while ((tok = strtok_r(NULL, "\t", &save)) != NULL) {
			qu->nt |= strcmp(tok, "nt") == 0;
			qu->pw |= strcmp(tok, "pw") == 0;
		}
		return 0;
	}
	qu->kind = 'f';
	while ((tok = strtok_r(NULL, "\t", &save)) != NULL && nb < 8) {
		char *eq = strchr(tok, '=');
		char *v;

		if (eq == NULL)
			return -1;
		*eq = '\0';
		v = qu->buf[nb++];
		snprintf(v, sizeof(qu->buf[0]), "%s", eq + 1);
		if (strcmp(tok, "account") == 0)
			qu->q.account = v;
		else if (strcmp(tok, "upn") == 0)
			qu->q.upn = v;
		else if (strcmp(tok, "alias") == 0)
			qu->q.alias = v;
		else if (strcmp(tok, "mail") == 0)
			qu->q.mail = v;
		else if (strcmp(tok, "owner") == 0)
			qu->q.owner_key = v;
		else if (strcmp(tok, "sid") == 0)
			qu->q.sid_key = v;
		else if (strcmp(tok, "nt") == 0)
			qu->q.want_nt_hash = true;
		else if (strcmp(tok, "pw") == 0)
			qu->q.want_password = true;
		else if (strcmp(tok, "domains") == 0) {
			char *d, *s2 = NULL;

			for (d = strtok_r(v, ",", &s2); d != NULL && qu->q.domain_count < 8;
			     d = strtok_r(NULL, ",", &s2))
				qu->domains[qu->q.domain_count++] = d;
			qu->q.domains = qu->domains;
		} else
			return -1;
	}
	return 0;
}

/* Entries a server returns under its own matching rules but that satisfy
 * no part of the query by ours (xi_dir_entry_match) are ignored by the
 * resolver; the mirror never returns them.  Drop them before comparing. */
static void drop_unmatched(struct xi_dir_result *res)
{
	size_t i, n = 0;

	for (i = 0; i < res->count; i++) {
		if (res->entries[i].matched != 0)
			res->entries[n++] = res->entries[i];
		else
			free(res->entries[i].delegate_keys);
	}
	res->count = n;
}

static int ask(struct xi_directory *dir, const struct question *qu, struct xi_dir_result *res,
	       unsigned *ops, struct xi_error *err)
{
	int rc;

	if (qu->kind == 'r')
		return xi_dir_read(dir, qu->dn, qu->nt, qu->pw, res, ops, err);
	rc = xi_dir_find(dir, &qu->q, res, ops, err);
	if (rc == 0)
		drop_unmatched(res);
	return rc;
}

struct race {
	struct xi_directory *mirror;
	const struct question *qu;
	const struct xi_dir_result *want;
	unsigned bad;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	char why[600];
	int i;

	for (i = 0; i < 200; i++) {
		struct xi_dir_result res;
		struct xi_error err;

		if (ask(r->mirror, r->qu, &res, NULL, &err) < 0 || diff_result(r->want, &res, why, sizeof(why)))
			r->bad++;
		xi_dir_result_free(&res);
	}
	return NULL;
}

static void print_stats(struct xi_directory *mirror, bool in_sync)
{
	struct xi_mirror_stats st;

	xi_directory_mirror_stats(mirror, &st);
	printf("in_sync=%d entries=%zu bytes=%zu refresh_seconds=%.3f refreshes=%lu changes=%lu state=%s\n",
	       in_sync, st.entries, st.bytes, st.last_refresh_seconds, st.refreshes, st.changes,
	       st.state);
}

int main(int argc, char **argv)
{
	struct xi_config *cfg;
	struct xi_directory *live, *mirror;
	struct xi_error err;
	char line[4096], why[600];
	unsigned threads = 0;

	if (argc == 4 && strcmp(argv[2], "--threads") == 0)
		threads = (unsigned)atoi(argv[3]);
	else if (argc != 2) {
		fprintf(stderr, "usage: mirror-compare CONFIG [--threads N]\n");
		return 2;
	}
	if (threads > 32)
		threads = 32;
	if (xi_config_load(argv[1], &cfg, NULL) < 0) {
		fprintf(stderr, "mirror-compare: %s: bad config\n", argv[1]);
		return 2;
	}
	if (xi_directory_ldap_create(cfg, &live, &err) < 0 ||
	    xi_directory_mirror_create(cfg, &mirror, &err) < 0) {
		fprintf(stderr, "mirror-compare: %s\n", err.message);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		struct question qu;
		struct xi_dir_result a, b;
		unsigned ops_live = 0, ops_mirror = 0;
		int ra, rb;

		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "wait\t", 5) == 0) {
			print_stats(mirror, xi_directory_mirror_wait(mirror, atoi(line + 5)));
			continue;
		}
		if (strcmp(line, "stats") == 0) {
			print_stats(mirror, xi_directory_mirror_wait(mirror, 0));
			continue;
		}
		if (strcmp(line, "visible") == 0) {
			bool va = false, vb = false;

			ra = xi_dir_mailboxes_visible(live, &va, &ops_live, &err);
			rb = xi_dir_mailboxes_visible(mirror, &vb, &ops_mirror, &err);
			if (ra == rb && va == vb)
				printf("same visible=%d mirror_ops=%u\n", va, ops_mirror);
			else
				printf("DIFF visible live %d/%d mirror %d/%d\n", ra, va, rb, vb);
			continue;
		}
		if (line[0] == '\0' || parse(line, &qu) < 0) {
			printf("DIFF bad line\n");
			continue;
		}
		ra = ask(live, &qu, &a, &ops_live, &err);
		rb = ask(mirror, &qu, &b, &ops_mirror, &err);
		if (ra < 0 || rb < 0)
			printf("DIFF error live %d mirror %d: %s\n", ra, rb, err.message);
		else if (diff_result(&a, &b, why, sizeof(why)))
			printf("DIFF %s\n", why);
		else if (threads > 0) {
			struct race r[32];
			pthread_t tid[32];
			unsigned i, bad = 0;

			for (i = 0; i < threads; i++) {
				r[i] = (struct race){ .mirror = mirror, .qu = &qu, .want = &a };
				pthread_create(&tid[i], NULL, racer, &r[i]);
			}
			for (i = 0; i < threads; i++) {
				pthread_join(tid[i], NULL);
				bad += r[i].bad;
			}
			printf(bad == 0 ? "same count=%zu mirror_ops=%u\n" : "DIFF under threads count=%zu ops=%u\n",
			       a.count, ops_mirror);
		} else
			printf("same count=%zu mirror_ops=%u\n", a.count, ops_mirror);
		if (ra == 0)
			xi_dir_result_free(&a);
		if (rb == 0)
			xi_dir_result_free(&b);
	}
	xi_dir_destroy(mirror);
	xi_dir_destroy(live);
	xi_config_free(cfg);
	return 0;
}
