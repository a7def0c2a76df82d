/* The network process's limits as a message (xidentd.h, struct xd_limits). */
#include "xidentd.h"
#include "logon_policy.h"
#include "privsep.h"

#include "config.h"

void xd_limits_from_config(const struct xi_config *cfg, struct xd_limits *l)
{
	l->max_line = (uint32_t)xi_config_int(cfg, XI_CFG_MAX_LINE_LENGTH);
	l->max_conns = (uint32_t)xi_config_int(cfg, XI_CFG_MAX_CONNECTIONS);
	l->max_per_source = (uint32_t)xi_config_int(cfg, XI_CFG_MAX_CONNECTIONS_PER_SOURCE);
	l->max_failures = (uint32_t)xi_config_int(cfg, XI_CFG_MAX_FAILED_LOGONS);
	l->delay_ms = (uint32_t)xi_config_int(cfg, XI_CFG_LOGON_FAILURE_DELAY);
	l->delay_max_ms = (uint32_t)xi_config_int(cfg, XI_CFG_LOGON_FAILURE_DELAY_MAX);
	l->idle_pre_s = (uint32_t)xi_config_int(cfg, XI_CFG_IDLE_TIMEOUT_PREAUTH);
	l->idle_s = (uint32_t)xi_config_int(cfg, XI_CFG_IDLE_TIMEOUT);
	l->plaintext_mode = (uint32_t)xd_plaintext_mode(cfg);
	if (l->delay_max_ms < l->delay_ms)
		l->delay_max_ms = l->delay_ms;
}

void xd_limits_put(struct xi_msg *m, const struct xd_limits *l)
{
	xi_msg_put_u32(m, l->max_line);
	xi_msg_put_u32(m, l->max_conns);
	xi_msg_put_u32(m, l->max_per_source);
	xi_msg_put_u32(m, l->max_failures);
	xi_msg_put_u32(m, l->delay_ms);
	xi_msg_put_u32(m, l->delay_max_ms);
	xi_msg_put_u32(m, l->idle_pre_s);
	xi_msg_put_u32(m, l->idle_s);
	xi_msg_put_u32(m, l->plaintext_mode);
}

bool xd_limits_get(struct xi_msg *m, struct xd_limits *l)
{
	if (!xi_msg_u32(m, &l->max_line) || !xi_msg_u32(m, &l->max_conns) ||
	    !xi_msg_u32(m, &l->max_per_source) || !xi_msg_u32(m, &l->max_failures) ||
	    !xi_msg_u32(m, &l->delay_ms) || !xi_msg_u32(m, &l->delay_max_ms) ||
	    !xi_msg_u32(m, &l->idle_pre_s) || !xi_msg_u32(m, &l->idle_s) ||
	    !xi_msg_u32(m, &l->plaintext_mode))
		return false;
	/* The ranges of config_keys.h: the master checked them, but the
	 * network process trusts no message blindly. */
	return l->max_line >= 512 && l->max_line <= 65536 && l->max_conns >= 1 &&
	       l->max_conns <= 1000000 && l->max_per_source >= 1 && l->max_failures >= 1 &&
	       l->delay_max_ms >= l->delay_ms && l->idle_pre_s >= 1 && l->idle_s >= 1 &&
	       l->plaintext_mode <= 2;
}
