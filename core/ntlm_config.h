/*
 * ntlm_config: the NTLM server settings a host reads from xident.conf
 * (ntlm_* keys), with the defaults the documentation promises:
 *   ntlm_netbios_domain   the first of default_domains, else WORKGROUP
 *   ntlm_netbios_computer the host name's first label, upper case (15 chars)
 *   ntlm_dns_computer     the host name
 *   ntlm_dns_domain       the host name after its first dot, if any
 */
#ifndef XI_NTLM_CONFIG_H
#define XI_NTLM_CONFIG_H

#include <stdbool.h>

#include "config.h"
#include "ntlm_server.h"
#include "xi_error.h"

struct xi_ntlm_config {
	/* Points into the arrays below; valid as long as this struct. */
	struct xi_ntlm_settings settings;
	char netbios_domain[256];
	char dns_domain[256];
	char netbios_computer[256];
	char dns_computer[256];
};

/* Fills out from cfg (and gethostname for the defaults).  0 or -1. */
int xi_ntlm_config_load(const struct xi_config *cfg, struct xi_ntlm_config *out,
			struct xi_error *err);

/* Whether NTLM is allowed on protocol ("imap", "pop3") by ntlm_protocols. */
bool xi_ntlm_config_allowed(const struct xi_config *cfg, const char *protocol);

#endif
