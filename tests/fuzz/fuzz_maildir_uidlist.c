/* libFuzzer target: what xidentd reads from a Maildir another program wrote
 * (dovecot-uidlist, dovecot-keywords, a file name's info and sizes).
 * Besides "no crash, no leak": an accepted uidlist has increasing UIDs below
 * the next UID and safe file names, and writing it back then reading it
 * gives the same records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maildir_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_uidlist(const struct xi_uidlist *ul)
{
	for (size_t i = 0; i < ul->count; i++) {
		const char *b = ul->recs[i].basename;
		if (ul->recs[i].uid == 0 || ul->recs[i].uid >= ul->nextuid ||
		    (i > 0 && ul->recs[i - 1].uid >= ul->recs[i].uid) ||
		    b[0] == '\0' || b[0] == '.' || strpbrk(b, "/:") != NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xi_uidlist ul, again;
	struct xi_error err;
	xi_uidlist_init(&ul);
	xi_uidlist_init(&again);
	if (xi_uidlist_parse((const char *)data, size, &ul, &err) == 0) {
		check_uidlist(&ul);
		char *text;
		size_t len;
		if (ul.guid[0] == '\0')
			memcpy(ul.guid, "00000000000000000000000000000000", 33);
		if (xi_uidlist_format(&ul, &text, &len, &err) == 0) {
			if (xi_uidlist_parse(text, len, &again, &err) < 0 || again.count != ul.count ||
			    again.nextuid != ul.nextuid)
				abort();
			for (size_t i = 0; i < ul.count; i++)
				if (again.recs[i].uid != ul.recs[i].uid ||
				    strcmp(again.recs[i].basename, ul.recs[i].basename) != 0)
					abort();
			free(text);
		}
	}
	xi_uidlist_free(&ul);
	xi_uidlist_free(&again);

	struct xi_keywords kw = {{0}};
	xi_keywords_parse((const char *)data, size, &kw);
	for (int i = 0; i < XI_MAILDIR_KEYWORDS_MAX; i++)
		if (kw.names[i] && !xi_keyword_name_valid(kw.names[i]))
			abort();
	xi_keywords_free(&kw);

	char name[300];
	size_t n = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, n);
	name[n] = '\0';
	unsigned flags;
	uint32_t keywords;
	uint64_t v;
	const char *colon = strchr(name, ':');
	if (xi_maildir_info_parse(colon ? colon + 1 : NULL, &flags, &keywords) == 0 &&
	    ((flags & ~XI_MAIL_FLAGS_ALL) != 0 || (keywords >> XI_MAILDIR_KEYWORDS_MAX) != 0))
		abort();
	(void)xi_maildir_basename_size(name, 'S', &v);
	(void)xi_maildir_basename_size(name, 'W', &v);
	return 0;
}
