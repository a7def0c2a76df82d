/*
 * maildir-driver: xidentd's Maildir storage from the command line, for
 * tests/integration/test_maildir_interop.py (compared with Dovecot).
 *
 *   maildir-driver dump ROOT FOLDER            JSON: uidvalidity, uidnext, messages
 *   maildir-driver deliver ROOT FOLDER [--received=EPOCH] [FLAG...] < message   prints the UID
 *   maildir-driver flags ROOT FOLDER UID =|+|- FLAG...   FLAG: \Seen ... or a keyword
 *   maildir-driver expunge ROOT FOLDER UID
 *   maildir-driver mkdir|rmdir ROOT NAME ; rename ROOT FROM TO ; list ROOT
 *   maildir-driver session-try ROOT     exit 0 if the POP3 session lock is free
 *   maildir-driver session-hold ROOT    holds it until stdin closes
 */
#define _GNU_SOURCE /* qsort_r, getrandom */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "maildir.h"

static const struct {
	const char *name;
	unsigned bit;
} imap_flags[] = {
	{"\\Draft", XI_MAIL_DRAFT},   {"\\Flagged", XI_MAIL_FLAGGED}, {"\\Answered", XI_MAIL_ANSWERED},
	{"\\Seen", XI_MAIL_SEEN},     {"\\Deleted", XI_MAIL_DELETED},
};

static int fail(const struct xi_error *err)
{
	fprintf(stderr, "maildir-driver: %s: %s\n", xi_status_name(err->status), err->message);
	return 1;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int dump(struct xi_mailbox *mb)
{
	printf("{\"uidvalidity\": %u, \"uidnext\": %u, \"messages\": [", xi_mailbox_uidvalidity(mb),
	       xi_mailbox_uidnext(mb));
	for (size_t i = 0; i < xi_mailbox_count(mb); i++) {
		const struct xi_maildir_message *m = xi_mailbox_message(mb, i);
		time_t received = 0;
		struct xi_error err;
		if (xi_mailbox_message_received(mb, i, &received, &err) < 0)
			received = -1;
		printf("%s{\"uid\": %u, \"size\": %llu, \"vsize\": %llu, \"received\": %lld, \"flags\": [",
		       i ? ", " : "", m->uid, (unsigned long long)m->size, (unsigned long long)m->vsize,
		       (long long)received);
		int n = 0;
		for (size_t f = 0; f < sizeof(imap_flags) / sizeof(imap_flags[0]); f++)
			if (m->flags & imap_flags[f].bit) {
				printf("%s", n++ ? ", " : "");
				json_str(imap_flags[f].name);
			}
		printf("], \"keywords\": [");
		n = 0;
		for (unsigned k = 0; k < XI_MAILDIR_KEYWORDS_MAX; k++)
			if (m->keywords & (1u << k)) {
				const char *name = xi_mailbox_keyword_name(mb, k);
				printf("%s", n++ ? ", " : "");
				json_str(name ? name : "?");
			}
		printf("]}");
	}
	printf("]}\n");
	return 0;
}

static int parse_flags(struct xi_mailbox *mb, int argc, char **argv, unsigned *flags,
		       uint32_t *keywords, struct xi_error *err)
{
	*flags = 0;
	*keywords = 0;
	for (int i = 0; i < argc; i++) {
		bool found = false;
		for (size_t f = 0; f < sizeof(imap_flags) / sizeof(imap_flags[0]); f++)
			if (strcasecmp(argv[i], imap_flags[f].name) == 0) {
				*flags |= imap_flags[f].bit;
				found = true;
			}
		if (found)
			continue;
		if (mb == NULL)
			return xi_error_set(err, XI_ERR_INVALID, "keywords need a mailbox");
		unsigned idx;
		if (xi_mailbox_keyword_lookup(mb, argv[i], true, &idx, err) < 0)
			return -1;
		*keywords |= 1u << idx;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct xi_error err;
	struct xi_maildir *md;
	xi_error_clear(&err);
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment in tests/maildir-driver.c\n");
		return 2;
	}
	const char *cmd = argv[1];
	if (xi_maildir_open(argv[2], strcmp(cmd, "deliver") == 0, NULL, &md, &err) < 0)
		return fail(&err);
	int rc = 0;
	struct xi_mailbox *mb = NULL;
	if (strcmp(cmd, "list") == 0) {
		char **names;
		size_t n;
		if (xi_maildir_folder_list(md, &names, &n, &err) < 0)
			rc = fail(&err);
		else {
			for (size_t i = 0; i < n; i++)
				printf("%s\n", names[i]);
			xi_maildir_folder_list_free(names, n);
		}
	} else if (argc >= 4 && strcmp(cmd, "mkdir") == 0) {
		rc = xi_maildir_folder_create(md, argv[3], &err) < 0 ? fail(&err) : 0;
	} else if (argc >= 4 && strcmp(cmd, "rmdir") == 0) {
		rc = xi_maildir_folder_delete(md, argv[3], &err) < 0 ? fail(&err) : 0;
	} else if (argc >= 5 && strcmp(cmd, "rename") == 0) {
		rc = xi_maildir_folder_rename(md, argv[3], argv[4], &err) < 0 ? fail(&err) : 0;
	} else if (argc >= 4 && strcmp(cmd, "dump") == 0) {
		if (xi_mailbox_open(md, argv[3], false, &mb, &err) < 0)
			rc = fail(&err);
		else
			rc = dump(mb);
	} else if (argc >= 4 && strcmp(cmd, "deliver") == 0) {
		size_t cap = 65536, len = 0;
		char *buf = malloc(cap);
		size_t r;
		while (buf && (r = fread(buf + len, 1, cap - len, stdin)) > 0) {
			len += r;
			if (len == cap)
				buf = realloc(buf, cap *= 2);
		}
		unsigned flags;
		uint32_t kw, uid;
		int first = 4;
		long long received = -1;
		if (argc > 4 && strncmp(argv[4], "--received=", 11) == 0) {
			received = strtoll(argv[4] + 11, NULL, 10);
			first = 5;
		}
		struct xi_maildir_delivery *dlv;
		if (buf == NULL)
			rc = 1;
		else if (parse_flags(NULL, argc - first, argv + first, &flags, &kw, &err) < 0 ||
			 xi_maildir_delivery_begin(md, argv[3], &dlv, &err) < 0)
			rc = fail(&err);
		else if (xi_maildir_delivery_write(dlv, buf, len, &err) < 0) {
			xi_maildir_delivery_abort(dlv);
			rc = fail(&err);
		} else {
			if (received >= 0)
				xi_maildir_delivery_set_received(dlv, (time_t)received);
			if (xi_maildir_delivery_commit(dlv, flags, &uid, &err) < 0)
				rc = fail(&err);
			else
				printf("%u\n", uid);
		}
		free(buf);
	} else if (argc >= 6 && strcmp(cmd, "flags") == 0) {
		unsigned flags;
		uint32_t kw;
		enum xi_flag_mode mode = argv[5][0] == '+' ? XI_FLAGS_ADD
					 : argv[5][0] == '-' ? XI_FLAGS_REMOVE : XI_FLAGS_REPLACE;
		ssize_t idx;
		if (xi_mailbox_open(md, argv[3], false, &mb, &err) < 0)
			rc = fail(&err);
		else if ((idx = xi_mailbox_find_uid(mb, (uint32_t)strtoul(argv[4], NULL, 10))) < 0)
			rc = (fprintf(stderr, "maildir-driver: no UID %s\n", argv[4]), 1);
		else if (parse_flags(mb, argc - 6, argv + 6, &flags, &kw, &err) < 0 ||
			 xi_mailbox_set_flags(mb, (size_t)idx, mode, flags, kw, &err) < 0)
			rc = fail(&err);
	} else if (argc >= 5 && strcmp(cmd, "expunge") == 0) {
		ssize_t idx;
		if (xi_mailbox_open(md, argv[3], false, &mb, &err) < 0)
			rc = fail(&err);
		else if ((idx = xi_mailbox_find_uid(mb, (uint32_t)strtoul(argv[4], NULL, 10))) < 0)
			rc = (fprintf(stderr, "maildir-driver: no UID %s\n", argv[4]), 1);
		else if (xi_mailbox_expunge(mb, (size_t)idx, &err) < 0)
			rc = fail(&err);
	} else if (strcmp(cmd, "session-try") == 0) {
		/* Exit 0 if the POP3 session lock could be taken within 1 s. */
		struct xi_maildir_session_lock *lock;
		if (xi_maildir_session_lock(md, 1, &lock, &err) < 0)
			rc = fail(&err) + 2;
		else
			xi_maildir_session_unlock(lock);
	} else if (strcmp(cmd, "session-hold") == 0) {
		/* Holds the POP3 session lock until stdin closes. */
		struct xi_maildir_session_lock *lock;
		if (xi_maildir_session_lock(md, 10, &lock, &err) < 0) {
			rc = fail(&err);
		} else {
			printf("locked\n");
			fflush(stdout);
			char c;
			while (read(0, &c, 1) > 0)
				;
			xi_maildir_session_unlock(lock);
		}
	} else {
		fprintf(stderr, "maildir-driver: bad command\n");
		rc = 2;
	}
	xi_mailbox_close(mb);
	xi_maildir_close(md);
	return rc;
}
