/* libFuzzer target: the logon-name grammar, typed and through NTLM.
 * Besides "no crash, no leak", a parsed name must keep the grammar's
 * promises: no part holds a separator, every part fits, the form matches
 * which parts are set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logon_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_part(const char *part, size_t cap)
{
	size_t len = strnlen(part, cap);

	if (len == cap || strpbrk(part, "\\/") != NULL)
		abort();
}

static void check(const struct xi_logon_name *n)
{
	check_part(n->domain, sizeof(n->domain));
	check_part(n->account, sizeof(n->account));
	check_part(n->upn, sizeof(n->upn));
	check_part(n->mailbox, sizeof(n->mailbox));
	switch (n->form) {
	case XI_LOGON_BARE:
		if (n->account[0] == '\0' || strchr(n->account, '@') != NULL)
			abort();
		break;
	case XI_LOGON_AT:
	case XI_LOGON_UPN_ALIAS:
	case XI_LOGON_UPN_ADDRESS:
		if (strchr(n->upn, '@') == NULL)
			abort();
		break;
	case XI_LOGON_DOMAIN_ACCOUNT:
	case XI_LOGON_DOMAIN_ACCOUNT_ALIAS:
	case XI_LOGON_DOMAIN_ACCOUNT_ADDRESS:
		if (n->domain[0] == '\0' || n->account[0] == '\0')
			abort();
		break;
	}
	if ((n->form == XI_LOGON_UPN_ADDRESS || n->form == XI_LOGON_DOMAIN_ACCOUNT_ADDRESS) !=
	    n->mailbox_is_address)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xi_logon_name n;
	struct xi_error err;
	const uint8_t *nul;
	char *copy;

	if (xi_logon_name_parse((const char *)data, size, &n, &err) == 0)
		check(&n);

	/* NTLM: domain up to the first NUL, user after it. */
	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	nul = memchr(data, '\0', size);
	if (nul != NULL &&
	    xi_logon_name_parse_ntlm(copy, copy + (nul - data) + 1, &n, &err) == 0)
		check(&n);
	free(copy);
	return 0;
}
