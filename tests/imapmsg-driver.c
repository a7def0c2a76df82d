/*
 * imapmsg-driver: what standalone/imap_fetch.c and imap_search.c answer, for
 * tests/integration/test_imapmsg_vs_dovecot.py (compared with Dovecot).
 *
 *   imapmsg-driver fetch SEQ UID FLAGS DATE TZ PATH ITEMS [uid] [seen]
 *       prints the "* SEQ FETCH (...)\r\n" response for the message in PATH
 *       (FLAGS: enum xi_imap_flag bits; DATE: INTERNALDATE as a Unix time;
 *       TZ: its zone in minutes; ITEMS: the text after "FETCH 1 ";
 *       "uid": as UID FETCH; "seen": \Seen was set by this FETCH), or
 *       "BAD <text>" / "NO <text>".
 *   imapmsg-driver search MESSAGES MAXUID CRITERIA
 *       reads "SEQ UID FLAGS DATE TZ PATH" lines on stdin and prints the
 *       matching sequence numbers ("SEARCH 1 4 7"), or "BAD/NO <text>".
 * CRITERIA is the text after "SEARCH " (LITERAL+ literals allowed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_fetch.h"
#include "imap_parser.h"
#include "imap_search.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 1 << 16, n = 0, r;
	char *buf = malloc(cap);
	while (buf != NULL && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			char *p = realloc(buf, cap * 2);
			if (p == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

static uint64_t crlf_size(const char *p, size_t n)
{
	uint64_t v = n;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			v++;
	return v;
}

/* Parses "x <verb> <text>\r\n"; the parser keeps the command. */
static const struct xi_imap_command *parse_command(struct xi_imap_parser *p, const char *verb,
						   const char *text)
{
	size_t n = strlen(verb) + strlen(text) + 8;
	char *line = malloc(n);
	if (line == NULL)
		return NULL;
	snprintf(line, n, "x %s %s\r\n", verb, text);
	size_t off = 0, len = strlen(line);
	const struct xi_imap_command *cmd = NULL;
	while (off < len) {
		size_t used;
		enum xi_imap_feed r = xi_imap_parser_feed(p, line + off, len - off, &used);
		off += used;
		if (r == XI_IMAP_COMMAND) {
			cmd = xi_imap_parser_command(p);
			break;
		}
		if (r == XI_IMAP_ERROR) {
			printf("BAD %s\n", xi_imap_parser_error(p)->text);
			break;
		}
	}
	free(line);
	return cmd;
}

static void refused(const struct xi_imap_refusal *why)
{
	printf("%s %s\n", why->kind == XI_IMAP_REFUSE_BAD ? "BAD" : "NO", why->text);
}

static int do_fetch(int argc, char **argv)
{
	struct xi_imap_msg_view v;
	memset(&v, 0, sizeof(v));
	v.seq = (uint32_t)strtoul(argv[2], NULL, 10);
	v.uid = (uint32_t)strtoul(argv[3], NULL, 10);
	v.flags = (unsigned)strtoul(argv[4], NULL, 10);
	v.internal_date = (time_t)strtoll(argv[5], NULL, 10);
	v.internal_tz_minutes = atoi(argv[6]);
	bool uid = false, seen = false;
	for (int i = 9; i < argc; i++) {
		uid |= strcmp(argv[i], "uid") == 0;
		seen |= strcmp(argv[i], "seen") == 0;
	}
	size_t len;
	char *msg = slurp(argv[7], &len);
	if (msg == NULL) {
		perror(argv[7]);
		return 1;
	}
	v.size = crlf_size(msg, len);
	struct xi_imap_parser *p = xi_imap_parser_new(NULL);
	const struct xi_imap_command *cmd = p != NULL ? parse_command(p, "FETCH 1", argv[8]) : NULL;
	int rc = 0;
	if (cmd != NULL) {
		if (cmd->argc != 2) {
			printf("BAD wrong number of arguments\n");
		} else {
			struct xi_imap_fetch *f;
			struct xi_imap_refusal why;
			if (xi_imap_fetch_parse(cmd->args->next, uid, NULL, &f, &why) < 0) {
				refused(&why);
			} else {
				if (xi_imap_fetch_needs(f) != XI_IMAP_NEED_NOTHING) {
					v.data = msg;
					v.len = len;
				}
				struct xi_mime_str out;
				struct xi_error err;
				xi_mime_str_init(&out, 256u << 20);
				if (xi_imap_fetch_render(f, &v, seen, &out, &err) == 0) {
					fwrite(out.data, 1, out.len, stdout);
				} else {
					printf("NO %s\n", err.message);
					rc = 1;
				}
				xi_mime_str_free(&out);
				xi_imap_fetch_free(f);
			}
		}
	}
	xi_imap_parser_free(p);
	free(msg);
	return rc;
}

static int do_search(char **argv)
{
	struct xi_imap_search_ctx ctx = {(uint32_t)strtoul(argv[2], NULL, 10),
					 (uint32_t)strtoul(argv[3], NULL, 10)};
	struct xi_imap_parser *p = xi_imap_parser_new(NULL);
	const struct xi_imap_command *cmd = p != NULL ? parse_command(p, "SEARCH", argv[4]) : NULL;
	int rc = 0;
	struct xi_imap_search *s = NULL;
	struct xi_imap_refusal why;
	if (cmd == NULL) {
		xi_imap_parser_free(p);
		return 0;
	}
	if (xi_imap_search_parse(cmd->args, NULL, &s, &why) < 0) {
		refused(&why);
		xi_imap_parser_free(p);
		return 0;
	}
	printf("SEARCH");
	char line[4096];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		struct xi_imap_msg_view v;
		memset(&v, 0, sizeof(v));
		unsigned seq, uid, flags;
		long long date;
		int tz;
		char path[3000];
		if (sscanf(line, "%u %u %u %lld %d %2999s", &seq, &uid, &flags, &date, &tz, path) != 6)
			continue;
		v.seq = seq;
		v.uid = uid;
		v.flags = flags;
		v.internal_date = (time_t)date;
		v.internal_tz_minutes = tz;
		size_t len;
		char *msg = slurp(path, &len);
		if (msg == NULL) {
			perror(path);
			rc = 1;
			continue;
		}
		v.size = crlf_size(msg, len);
		if (xi_imap_search_needs(s) != XI_IMAP_NEED_NOTHING) {
			v.data = msg;
			v.len = len;
		}
		struct xi_error err;
		int r = xi_imap_search_match(s, &ctx, &v, &err);
		if (r < 0) {
			fprintf(stderr, "search: %s\n", err.message);
			rc = 1;
		} else if (r > 0) {
			printf(" %u", seq);
		}
		free(msg);
	}
	printf("\n");
	xi_imap_search_free(s);
	xi_imap_parser_free(p);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 9 && strcmp(argv[1], "fetch") == 0)
		return do_fetch(argc, argv);
	if (argc == 5 && strcmp(argv[1], "search") == 0)
		return do_search(argv);
	fprintf(stderr, "usage: imapmsg-driver fetch SEQ UID FLAGS DATE TZ PATH ITEMS [uid] [seen]\n"
			"       imapmsg-driver search MESSAGES MAXUID CRITERIA < list\n");
	return 2;
}
