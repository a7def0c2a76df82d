/* The diag_* keys of xident.conf become the event level filter. */
#include <string.h>

#include "config.h"
#include "event.h"
#include "tap.h"

static int load(const char *text, struct xi_event_levels *lv)
{
	struct xi_config *cfg;

	if (xi_config_load_string("test.conf", text, &cfg, NULL) < 0)
		return -1;
	xi_event_levels_from_config(cfg, lv);
	xi_config_free(cfg);
	return 0;
}

#define BASE "ldap_uris = ldap://127.0.0.1:389\nldap_base_dn = dc=corp,dc=example\n"

int main(void)
{
	struct xi_event_levels lv;
	struct xi_event ev = { .id = 1, .level = XI_LEVEL_MEDIUM, .severity = "x" };

	tap_is_int(load(BASE, &lv), 0, "minimal config loads");
	for (int c = 0; c < XI_CAT__COUNT; c++)
		tap_is_int(lv.level[c], XI_LEVEL_MINIMUM, "default level of %s is minimum",
			   xi_category_name((enum xi_event_category)c));

	tap_is_int(load(BASE "diag_authentication = none\ndiag_logons = minimum\n"
			"diag_connections = medium\ndiag_client_actions = maximum\n"
			"diag_configuration = 5\n", &lv), 0, "every diag key set");
	tap_is_int(lv.level[XI_CAT_AUTHENTICATION], XI_LEVEL_NONE, "diag_authentication = none");
	tap_is_int(lv.level[XI_CAT_LOGONS], XI_LEVEL_MINIMUM, "diag_logons = minimum");
	tap_is_int(lv.level[XI_CAT_CONNECTIONS], XI_LEVEL_MEDIUM, "diag_connections = medium");
	tap_is_int(lv.level[XI_CAT_CLIENT_ACTIONS], XI_LEVEL_MAXIMUM, "diag_client_actions = maximum");
	tap_is_int(lv.level[XI_CAT_CONFIGURATION], XI_LEVEL_MAXIMUM, "diag_configuration = 5");

	ev.category = XI_CAT_CONNECTIONS;
	tap_ok(xi_event_wanted(&lv, &ev), "medium event written in a medium category");
	ev.category = XI_CAT_LOGONS;
	tap_ok(!xi_event_wanted(&lv, &ev), "medium event dropped in a minimum category");

	xi_event_levels_from_config(NULL, &lv);
	tap_is_int(lv.level[XI_CAT_AUTHENTICATION], XI_LEVEL_MINIMUM, "no config: minimum");
	return tap_done();
}
