/* ntlm_config: xident.conf's ntlm_* keys and their defaults. */
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ntlm_config.h"
#include "tap.h"

#define REQ "ldap_uris = ldap://127.0.0.1:1\nldap_base_dn = dc=example,dc=org\n"

static struct xi_config *load(const char *text)
{
	struct xi_config *cfg = NULL;
	struct xi_config_report report;

	if (xi_config_load_string("t.conf", text, &cfg, &report) < 0)
		tap_diag("config refused (%zu problems)", report.count);
	xi_config_report_free(&report);
	return cfg;
}

/* tap_is_str tests its arguments for NULL; arrays never are (-Waddress). */
static const char *S(const char *s) { return s; }

int main(void)
{
	struct xi_config *cfg;
	struct xi_ntlm_config nc;
	struct xi_error err;
	char host[256], upper[16];
	size_t i;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	for (i = 0; i < 15 && host[i] != '\0' && host[i] != '.'; i++)
		upper[i] = (char)(host[i] >= 'a' && host[i] <= 'z' ? host[i] - 32 : host[i]);
	upper[i] = '\0';

	cfg = load(REQ);
	tap_ok(cfg != NULL, "minimal config loads");
	tap_is_int(xi_ntlm_config_load(cfg, &nc, &err), 0, "defaults load");
	tap_is_str(S(nc.netbios_domain), "WORKGROUP", "no default domain: WORKGROUP");
	tap_is_str(nc.settings.netbios_computer, S(upper), "NetBIOS computer: host name, upper case");
	tap_is_str(nc.settings.dns_computer, S(host), "DNS computer: host name");
	tap_ok(!nc.settings.allow_v1, "ntlm_v1 defaults to no");
	tap_is_int(nc.settings.timestamp_window, 300, "window defaults to 300 s");
	tap_ok(xi_ntlm_config_allowed(cfg, "imap") && xi_ntlm_config_allowed(cfg, "POP3"),
	       "NTLM on for imap and pop3 by default");
	tap_ok(!xi_ntlm_config_allowed(cfg, "smtp"), "and not for others");
	xi_config_free(cfg);

	cfg = load(REQ "default_domains = sales corp\nntlm_v1 = yes\nntlm_timestamp_window = 60\n"
		   "ntlm_protocols = imap\n");
	xi_ntlm_config_load(cfg, &nc, &err);
	tap_is_str(S(nc.netbios_domain), "SALES", "NetBIOS domain: first default domain, upper case");
	tap_ok(nc.settings.allow_v1, "ntlm_v1 = yes");
	tap_is_int(nc.settings.timestamp_window, 60, "ntlm_timestamp_window = 60");
	tap_ok(!xi_ntlm_config_allowed(cfg, "pop3"), "ntlm_protocols = imap turns pop3 off");
	xi_config_free(cfg);

	cfg = load(REQ "default_domains = sales\nntlm_netbios_domain = EXAMPLE\nntlm_dns_domain = example.org\n"
		   "ntlm_netbios_computer = MAIL1\nntlm_dns_computer = mail1.example.org\nntlm_protocols =\n");
	xi_ntlm_config_load(cfg, &nc, &err);
	tap_is_str(nc.settings.netbios_domain, "EXAMPLE", "ntlm_netbios_domain wins");
	tap_is_str(nc.settings.dns_domain, "example.org", "ntlm_dns_domain");
	tap_is_str(nc.settings.netbios_computer, "MAIL1", "ntlm_netbios_computer");
	tap_is_str(nc.settings.dns_computer, "mail1.example.org", "ntlm_dns_computer");
	tap_ok(!xi_ntlm_config_allowed(cfg, "imap"), "empty ntlm_protocols disables NTLM");
	{
		struct xi_ntlm_server *srv = xi_ntlm_server_new(&nc.settings);
		tap_ok(srv != NULL, "settings make a server");
		xi_ntlm_server_free(srv);
	}
	xi_config_free(cfg);
	return tap_done();
}
