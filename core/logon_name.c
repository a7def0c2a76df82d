#include "logon_name.h"

#include <string.h>

#include "unicode.h"

/* DOMAIN\account\alias has three parts; nothing longer is a logon name. */
#define MAX_PARTS 3

struct span {
	const char *p;
	size_t len;
};

static bool is_separator(char c)
{
	return c == '\\' || c == '/';
}

static const char *find_byte(struct span s, char c)
{
	return memchr(s.p, c, s.len);
}

static size_t count_byte(struct span s, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < s.len; i++)
		n += s.p[i] == c;
	return n;
}

static int invalid(struct xi_error *err, const char *reason)
{
	return xi_error_set(err, XI_ERR_INVALID, "invalid logon name: %s", reason);
}

/* Whole-input checks shared by typed and NTLM names. */
static int check_text(const char *s, size_t len, const char *what, struct xi_error *err)
{
	if (len == 0)
		return xi_error_set(err, XI_ERR_INVALID, "invalid logon name: the %s is empty", what);
	if (len > XI_LOGON_NAME_MAX)
		return xi_error_set(err, XI_ERR_INVALID,
				    "invalid logon name: the %s is longer than %d bytes",
				    what, XI_LOGON_NAME_MAX);
	if (memchr(s, '\0', len) != NULL)
		return xi_error_set(err, XI_ERR_INVALID,
				    "invalid logon name: the %s contains a NUL byte", what);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return xi_error_set(err, XI_ERR_INVALID,
					    "invalid logon name: the %s contains a control character",
					    what);
	}
	if (!xi_utf8_valid_text(s, len))
		return xi_error_set(err, XI_ERR_INVALID,
				    "invalid logon name: the %s is not valid UTF-8 text", what);
	return 0;
}

/* Splits at `\` and `/`.  Returns the number of parts, or MAX_PARTS + 1
 * when there are more than MAX_PARTS. */
static size_t split(const char *s, size_t len, struct span parts[MAX_PARTS])
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && !is_separator(s[i]))
			continue;
		if (n == MAX_PARTS)
			return MAX_PARTS + 1;
		parts[n].p = s + start;
		parts[n].len = i - start;
		n++;
		start = i + 1;
	}
	return n;
}

static int check_part(struct span s, struct xi_error *err)
{
	if (s.len == 0)
		return invalid(err, "a part between separators is empty");
	if (s.p[0] == ' ' || s.p[s.len - 1] == ' ')
		return invalid(err, "a part begins or ends with a space");
	return 0;
}

/* local@suffix with exactly one `@` and both sides non-empty. */
static int check_address(struct span s, const char *what, struct xi_error *err)
{
	const char *at = find_byte(s, '@');

	if (count_byte(s, '@') != 1 || at == s.p || at == s.p + s.len - 1)
		return xi_error_set(err, XI_ERR_INVALID,
				    "invalid logon name: the %s must be name@suffix with one '@'",
				    what);
	return 0;
}

static void copy_part(char dest[XI_NAME_MAX], struct span s)
{
	/* Parts are shorter than the whole name, which check_text bounded. */
	memcpy(dest, s.p, s.len);
	dest[s.len] = '\0';
}

static int set_mailbox(struct xi_logon_name *out, struct span s, struct xi_error *err)
{
	if (find_byte(s, '@') != NULL) {
		if (check_address(s, "mailbox address", err) < 0)
			return -1;
		out->mailbox_is_address = true;
	}
	copy_part(out->mailbox, s);
	return 0;
}

static int set_domain_account(struct xi_logon_name *out, struct span domain,
			      struct span account, struct xi_error *err)
{
	if (find_byte(domain, '@') != NULL)
		return invalid(err, "a domain name cannot contain '@'");
	if (find_byte(account, '@') != NULL)
		return invalid(err, "an account name after a domain cannot contain '@'");
	copy_part(out->domain, domain);
	copy_part(out->account, account);
	return 0;
}

static int classify(struct span parts[], size_t n, struct xi_logon_name *out,
		    struct xi_error *err)
{
	bool first_has_at = find_byte(parts[0], '@') != NULL;

	switch (n) {
	case 1:
		if (!first_has_at) {
			out->form = XI_LOGON_BARE;
			copy_part(out->account, parts[0]);
			return 0;
		}
		if (check_address(parts[0], "name", err) < 0)
			return -1;
		out->form = XI_LOGON_AT;
		copy_part(out->upn, parts[0]);
		return 0;
	case 2:
		if (first_has_at) {
			if (check_address(parts[0], "user principal name", err) < 0 ||
			    set_mailbox(out, parts[1], err) < 0)
				return -1;
			out->form = out->mailbox_is_address ? XI_LOGON_UPN_ADDRESS
							    : XI_LOGON_UPN_ALIAS;
			copy_part(out->upn, parts[0]);
			return 0;
		}
		out->form = XI_LOGON_DOMAIN_ACCOUNT;
		return set_domain_account(out, parts[0], parts[1], err);
	case 3:
		if (first_has_at)
			return invalid(err, "a user principal name is followed by one mailbox only "
				       "(upn/alias or upn/mailbox@address)");
		if (set_domain_account(out, parts[0], parts[1], err) < 0 ||
		    set_mailbox(out, parts[2], err) < 0)
			return -1;
		out->form = out->mailbox_is_address ? XI_LOGON_DOMAIN_ACCOUNT_ADDRESS
						    : XI_LOGON_DOMAIN_ACCOUNT_ALIAS;
		return 0;
	default:
		return invalid(err, "too many separators (the longest form is DOMAIN\\account\\alias)");
	}
}

static int split_checked(const char *s, size_t len, struct span parts[MAX_PARTS],
			 size_t *n_r, struct xi_error *err)
{
	size_t n = split(s, len, parts);

	if (n > MAX_PARTS)
		return invalid(err, "too many separators (the longest form is DOMAIN\\account\\alias)");
	for (size_t i = 0; i < n; i++) {
		if (check_part(parts[i], err) < 0)
			return -1;
	}
	*n_r = n;
	return 0;
}

int xi_logon_name_parse(const char *name, size_t len, struct xi_logon_name *out,
			struct xi_error *err)
{
	struct span parts[MAX_PARTS];
	size_t n;

	memset(out, 0, sizeof(*out));
	if (name == NULL)
		len = 0;
	if (check_text(name, len, "name", err) < 0 ||
	    split_checked(name, len, parts, &n, err) < 0 ||
	    classify(parts, n, out, err) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

static int parse_ntlm_with_domain(const char *domain, const char *user,
				  struct xi_logon_name *out, struct xi_error *err)
{
	size_t dlen = strlen(domain), ulen = strlen(user);
	struct span dom = { domain, dlen }, parts[MAX_PARTS];
	size_t n;

	if (check_text(domain, dlen, "NTLM domain", err) < 0 ||
	    check_text(user, ulen, "NTLM user name", err) < 0)
		return -1;
	if (dlen + 1 + ulen > XI_LOGON_NAME_MAX)
		return xi_error_set(err, XI_ERR_INVALID,
				    "invalid logon name: NTLM domain and user together are longer than %d bytes",
				    XI_LOGON_NAME_MAX);
	for (size_t i = 0; i < dlen; i++) {
		if (is_separator(domain[i]))
			return invalid(err, "the NTLM domain contains a separator");
	}
	if (check_part(dom, err) < 0 || split_checked(user, ulen, parts, &n, err) < 0)
		return -1;
	if (n == 1 && find_byte(parts[0], '@') != NULL) {
		if (check_address(parts[0], "user principal name", err) < 0)
			return -1;
		out->form = XI_LOGON_AT;
		copy_part(out->domain, dom);
		copy_part(out->upn, parts[0]);
		return 0;
	}
	if (n == 1) {
		out->form = XI_LOGON_DOMAIN_ACCOUNT;
		return set_domain_account(out, dom, parts[0], err);
	}
	if (n == 2) {
		if (set_domain_account(out, dom, parts[0], err) < 0 ||
		    set_mailbox(out, parts[1], err) < 0)
			return -1;
		out->form = out->mailbox_is_address ? XI_LOGON_DOMAIN_ACCOUNT_ADDRESS
						    : XI_LOGON_DOMAIN_ACCOUNT_ALIAS;
		return 0;
	}
	return invalid(err, "too many separators in the NTLM user name (at most account\\alias)");
}

int xi_logon_name_parse_ntlm(const char *domain, const char *user,
			     struct xi_logon_name *out, struct xi_error *err)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (user == NULL)
		user = "";
	if (domain == NULL || domain[0] == '\0')
		ret = xi_logon_name_parse(user, strlen(user), out, err);
	else
		ret = parse_ntlm_with_domain(domain, user, out, err);
	if (ret < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->via_ntlm = true;
	return 0;
}

const char *xi_logon_form_name(enum xi_logon_form form)
{
	switch (form) {
	case XI_LOGON_BARE: return "bare";
	case XI_LOGON_AT: return "at";
	case XI_LOGON_DOMAIN_ACCOUNT: return "domain_account";
	case XI_LOGON_DOMAIN_ACCOUNT_ALIAS: return "domain_account_alias";
	case XI_LOGON_DOMAIN_ACCOUNT_ADDRESS: return "domain_account_address";
	case XI_LOGON_UPN_ALIAS: return "upn_alias";
	case XI_LOGON_UPN_ADDRESS: return "upn_address";
	}
	return "unknown";
}
