/* The diag_* keys of xident.conf as event levels.  Apart from event.c so
 * that programs formatting events need not link the config reader. */
#include "config.h"
#include "event.h"

void xi_event_levels_from_config(const struct xi_config *cfg, struct xi_event_levels *lv)
{
	static const enum xi_config_key keys[XI_CAT__COUNT] = {
		[XI_CAT_AUTHENTICATION] = XI_CFG_DIAG_AUTHENTICATION,
		[XI_CAT_LOGONS] = XI_CFG_DIAG_LOGONS,
		[XI_CAT_CONNECTIONS] = XI_CFG_DIAG_CONNECTIONS,
		[XI_CAT_CLIENT_ACTIONS] = XI_CFG_DIAG_CLIENT_ACTIONS,
		[XI_CAT_CONFIGURATION] = XI_CFG_DIAG_CONFIGURATION,
	};

	for (size_t i = 0; i < XI_CAT__COUNT; i++) {
		long long level = cfg != NULL ? xi_config_int(cfg, keys[i]) : XI_LEVEL_MINIMUM;

		/* The reader only accepts 0, 1, 3, 5; clamp anyway. */
		if (level < XI_LEVEL_NONE)
			level = XI_LEVEL_NONE;
		if (level > XI_LEVEL_MAXIMUM)
			level = XI_LEVEL_MAXIMUM;
		lv->level[i] = (enum xi_diag_level)level;
	}
}
