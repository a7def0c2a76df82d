/* plaintext_logons: see logon_policy.h. */
#include "logon_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "config.h"

/* Order of the constraint "secure|tls|always" in config_keys.h. */
enum plaintext_mode { PLAINTEXT_SECURE = 0, PLAINTEXT_TLS, PLAINTEXT_ALWAYS };

bool xd_addr_is_loopback(const char *remote_addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (remote_addr == NULL)
		return false;
	if (inet_pton(AF_INET, remote_addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, remote_addr, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return false;
}

int xd_plaintext_mode(const struct xi_config *cfg)
{
	return xi_config_enum(cfg, XI_CFG_PLAINTEXT_LOGONS);
}

bool xd_plaintext_allowed_mode(int mode, bool tls, const char *remote_addr)
{
	switch (mode) {
	case PLAINTEXT_ALWAYS:
		return true;
	case PLAINTEXT_TLS:
		return tls;
	default:
		/* A loopback client is on this machine: nothing crosses a
		 * network (Dovecot counts it as secured for the same reason). */
		return tls || xd_addr_is_loopback(remote_addr);
	}
}

bool xd_plaintext_allowed(const struct xi_config *cfg, bool tls, const char *remote_addr)
{
	return xd_plaintext_allowed_mode(xd_plaintext_mode(cfg), tls, remote_addr);
}
