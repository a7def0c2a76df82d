/*
 * ldap_settings: what an LDAP connection needs, read from xident.conf.  Kept
 * apart from ldap_conn.c so that connection code links without the config
 * reader (unit tests build settings by hand).
 */
#include "ldap_conn.h"

#include <string.h>

#include "config.h"

int xi_ldap_settings_from_config(const struct xi_config *cfg, struct xi_ldap_settings *s,
				 struct xi_error *err)
{
	memset(s, 0, sizeof(*s));
	s->uris = xi_config_list(cfg, XI_CFG_LDAP_URIS, &s->uri_count);
	if (s->uris == NULL || s->uri_count == 0)
		return xi_error_set(err, XI_ERR_CONFIG, "ldap_uris: no LDAP server configured");
	s->bind_dn = xi_config_str(cfg, XI_CFG_LDAP_BIND_DN);
	s->bind_password = xi_config_str(cfg, XI_CFG_LDAP_BIND_PASSWORD);
	s->starttls = xi_config_bool(cfg, XI_CFG_LDAP_STARTTLS);
	s->ca_file = xi_config_str(cfg, XI_CFG_LDAP_TLS_CA_FILE);
	s->require_cert = xi_config_bool(cfg, XI_CFG_LDAP_TLS_REQUIRE_CERT);
	s->network_timeout = (int)xi_config_int(cfg, XI_CFG_LDAP_NETWORK_TIMEOUT);
	s->op_timeout = (int)xi_config_int(cfg, XI_CFG_LDAP_TIMEOUT);
	if (s->network_timeout <= 0)
		s->network_timeout = 5;
	if (s->op_timeout <= 0)
		s->op_timeout = 10;
	return 0;
}
