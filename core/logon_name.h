/*
 * logon_name: the grammar of the names users type (design.md section 2),
 * parsed without the directory.  What a part names (account or alias, UPN or
 * mail address) is often only known after a lookup; the form says which
 * lookups the resolver should make, in which order.
 *
 * Separators `\` and `/` are equivalent and may be mixed.  Matching is
 * case-insensitive, but that is the resolver's business: the parts are kept
 * as typed.
 */
#ifndef XI_LOGON_NAME_H
#define XI_LOGON_NAME_H

#include <stdbool.h>
#include <stddef.h>

#include "resolver.h"
#include "xi_error.h"

/* Longest logon name accepted, in bytes (as typed, or NTLM domain + `\` +
 * user).  Exchange allowed 64-character aliases; 255 bytes leaves room for
 * long UPNs and DNS domain names while every part still fits XI_NAME_MAX. */
#define XI_LOGON_NAME_MAX 255

enum xi_logon_form {
	XI_LOGON_BARE,                  /* name: an account, else an alias */
	XI_LOGON_AT,                    /* name@suffix: a UPN, else a mail address */
	XI_LOGON_DOMAIN_ACCOUNT,        /* DOMAIN\account */
	XI_LOGON_DOMAIN_ACCOUNT_ALIAS,  /* DOMAIN\account\alias */
	XI_LOGON_DOMAIN_ACCOUNT_ADDRESS,/* DOMAIN/account/mailbox@addr */
	XI_LOGON_UPN_ALIAS,             /* upn/alias */
	XI_LOGON_UPN_ADDRESS            /* upn/mailbox@addr */
};

struct xi_logon_name {
	enum xi_logon_form form;
	/* Each part is "" when the form has none.
	 *   BARE:     name in `account` (try as account, then as alias)
	 *   AT:       name@suffix in `upn` (try as UPN, then as mail address)
	 *   DOMAIN_*: `domain` and `account`
	 *   UPN_*:    `upn`
	 *   *_ALIAS:  the alias in `mailbox`; *_ADDRESS: the address in `mailbox`
	 * For NTLM, `domain` also holds the message's domain field with the AT
	 * form (a UPN sent with a domain). */
	char domain[XI_NAME_MAX];
	char account[XI_NAME_MAX];
	char upn[XI_NAME_MAX];
	char mailbox[XI_NAME_MAX];
	bool mailbox_is_address;        /* mailbox is mailbox@addr, not an alias */
	bool via_ntlm;                  /* parsed from an NTLM AUTHENTICATE message */
};

/* Parses a typed logon name of len bytes (it may hold NUL bytes, which are
 * refused).  Returns 0, or -1 with err set to XI_ERR_INVALID and a reason
 * that may be shown to the administrator (it quotes no part of the name). */
int xi_logon_name_parse(const char *name, size_t len, struct xi_logon_name *out,
			struct xi_error *err);

/* Parses NTLM's domain and user fields (NUL-terminated UTF-8, converted by
 * the caller from the AUTHENTICATE message).  With a domain, user may be
 * `account`, `account\alias`, `account/alias`, `account/mailbox@addr` or a
 * UPN; with an empty domain, user is parsed like a typed name. */
int xi_logon_name_parse_ntlm(const char *domain, const char *user,
			     struct xi_logon_name *out, struct xi_error *err);

/* Stable name of a form ("domain_account_alias"), for traces and events. */
const char *xi_logon_form_name(enum xi_logon_form form);

#endif
