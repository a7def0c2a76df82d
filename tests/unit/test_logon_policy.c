/* logon_policy: plaintext_logons and what counts as loopback (xidentd's
 * POP3 and IMAP front ends both ask it). */
#include "logon_policy.h"
#include "tap.h"

#include "config.h"

static struct xi_config *load(const char *text)
{
	struct xi_config *cfg = NULL;

	if (xi_config_load_string("test.conf", text, &cfg, NULL) < 0)
		return NULL;
	return cfg;
}

#define BASE "ldap_uris = ldap://127.0.0.1\nldap_base_dn = dc=example,dc=com\n"

int main(void)
{
	struct xi_config *secure = load(BASE), *tls = load(BASE "plaintext_logons = tls\n"),
			 *always = load(BASE "plaintext_logons = always\n");
	struct xi_config *bad = load(BASE "plaintext_logons = sometimes\n");

	tap_ok(secure != NULL && tls != NULL && always != NULL, "the three values load");
	tap_ok(bad == NULL, "an unknown value is a config error");

	tap_ok(xd_addr_is_loopback("127.0.0.1"), "127.0.0.1 is loopback");
	tap_ok(xd_addr_is_loopback("127.200.3.4"), "all of 127/8 is loopback");
	tap_ok(xd_addr_is_loopback("::1"), "::1 is loopback");
	tap_ok(xd_addr_is_loopback("::ffff:127.0.0.1"), "v4-mapped 127.0.0.1 is loopback");
	tap_ok(!xd_addr_is_loopback("128.0.0.1"), "128.0.0.1 is not");
	tap_ok(!xd_addr_is_loopback("10.0.0.1"), "a private address is not");
	tap_ok(!xd_addr_is_loopback("::2"), "::2 is not");
	tap_ok(!xd_addr_is_loopback("::ffff:10.0.0.1"), "v4-mapped 10.0.0.1 is not");
	tap_ok(!xd_addr_is_loopback("127.0.0.1x") && !xd_addr_is_loopback("") &&
	       !xd_addr_is_loopback(NULL) && !xd_addr_is_loopback("localhost"),
	       "malformed or symbolic addresses are not loopback");

	/* Default (secure): TLS, or this machine. */
	tap_ok(!xd_plaintext_allowed(secure, false, "192.0.2.7"), "secure: remote without TLS refused");
	tap_ok(xd_plaintext_allowed(secure, true, "192.0.2.7"), "secure: remote over TLS allowed");
	tap_ok(xd_plaintext_allowed(secure, false, "127.0.0.1"), "secure: loopback without TLS allowed");
	tap_ok(xd_plaintext_allowed(secure, false, "::1"), "secure: ::1 without TLS allowed");
	/* tls: TLS only, even on loopback. */
	tap_ok(!xd_plaintext_allowed(tls, false, "127.0.0.1"), "tls: loopback without TLS refused");
	tap_ok(xd_plaintext_allowed(tls, true, "127.0.0.1"), "tls: TLS allowed");
	tap_ok(!xd_plaintext_allowed(tls, false, "192.0.2.7"), "tls: remote without TLS refused");
	/* always. */
	tap_ok(xd_plaintext_allowed(always, false, "192.0.2.7"), "always: remote without TLS allowed");

	xi_config_free(secure);
	xi_config_free(tls);
	xi_config_free(always);
	return tap_done();
}
