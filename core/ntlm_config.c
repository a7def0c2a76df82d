/*
 * ntlm_config: xident.conf's ntlm_* keys into struct xi_ntlm_settings.
 */
#include "ntlm_config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* NetBIOS names are at most 15 characters, conventionally upper case. */
#define NETBIOS_NAME_MAX 15

static void ascii_upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 32);
}

static int set(char *dst, size_t size, const char *value, const char *what, struct xi_error *err)
{
	if (strlen(value) >= size)
		return xi_error_set(err, XI_ERR_CONFIG, "%s is longer than %zu bytes", what, size - 1);
	strcpy(dst, value);
	return 0;
}

int xi_ntlm_config_load(const struct xi_config *cfg, struct xi_ntlm_config *out,
			struct xi_error *err)
{
	char host[256];
	const char *v, *dot;
	const char *const *domains;
	long long window;

	memset(out, 0, sizeof(*out));
	if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	dot = strchr(host, '.');

	v = xi_config_str(cfg, XI_CFG_NTLM_NETBIOS_DOMAIN);
	if (v == NULL || v[0] == '\0') {
		domains = xi_config_list(cfg, XI_CFG_DEFAULT_DOMAINS, NULL);
		v = domains != NULL && domains[0] != NULL ? domains[0] : "WORKGROUP";
	}
	if (set(out->netbios_domain, sizeof(out->netbios_domain), v, "ntlm_netbios_domain", err) < 0)
		return -1;
	ascii_upper(out->netbios_domain);

	v = xi_config_str(cfg, XI_CFG_NTLM_NETBIOS_COMPUTER);
	if (v != NULL && v[0] != '\0') {
		if (set(out->netbios_computer, sizeof(out->netbios_computer), v,
			"ntlm_netbios_computer", err) < 0)
			return -1;
	} else {
		size_t n = dot != NULL ? (size_t)(dot - host) : strlen(host);
		if (n > NETBIOS_NAME_MAX)
			n = NETBIOS_NAME_MAX;
		memcpy(out->netbios_computer, host, n);
		out->netbios_computer[n] = '\0';
		ascii_upper(out->netbios_computer);
	}

	v = xi_config_str(cfg, XI_CFG_NTLM_DNS_COMPUTER);
	if (set(out->dns_computer, sizeof(out->dns_computer), v != NULL && v[0] != '\0' ? v : host,
		"ntlm_dns_computer", err) < 0)
		return -1;
	v = xi_config_str(cfg, XI_CFG_NTLM_DNS_DOMAIN);
	if (set(out->dns_domain, sizeof(out->dns_domain),
		v != NULL && v[0] != '\0' ? v : dot != NULL ? dot + 1 : "", "ntlm_dns_domain", err) < 0)
		return -1;

	window = xi_config_int(cfg, XI_CFG_NTLM_TIMESTAMP_WINDOW);
	if (window < 1 || window > 7 * 24 * 3600)
		return xi_error_set(err, XI_ERR_CONFIG, "ntlm_timestamp_window %lld out of range", window);
	out->settings.allow_v1 = xi_config_bool(cfg, XI_CFG_NTLM_V1);
	out->settings.timestamp_window = (unsigned)window;
	out->settings.netbios_domain = out->netbios_domain;
	out->settings.dns_domain = out->dns_domain;
	out->settings.netbios_computer = out->netbios_computer;
	out->settings.dns_computer = out->dns_computer;
	return 0;
}

bool xi_ntlm_config_allowed(const struct xi_config *cfg, const char *protocol)
{
	return cfg != NULL && protocol != NULL &&
	       xi_config_list_has(cfg, XI_CFG_NTLM_PROTOCOLS, protocol);
}
