/*
 * ntlm-driver: the server side of one NTLM exchange over stdin/stdout, for
 * driving core/ntlm_sasl with real clients (tests/integration/
 * test_ntlm_clients.py).
 *
 *   ntlm-driver [--allow-v1] [--window SECONDS] [--disabled] [--replay]
 *               [--netbios-domain NAME] NTHASH_HEX|-
 *
 *   stdin line 1: base64 NEGOTIATE     stdout: CHALLENGE <base64>
 *   stdin line 2: base64 AUTHENTICATE  stdout: USER <u> / DOMAIN <d> /
 *                                              WORKSTATION <w>, then
 *                                              OK <session base key hex>
 *   with --replay, line 2 is fed a second time: REPLAY <failure name>
 * Any refusal prints FAIL <failure name> <message> and exits 1.
 * "-" as the hash stands for an account without one (unknown user).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntlm_sasl.h"

static int usage(void)
{
	fprintf(stderr, "usage: ntlm-driver [--allow-v1] [--window S] [--disabled] [--replay] "
			"[--netbios-domain NAME] NTHASH_HEX|-\n");
	return 2;
}

static int parse_hash(const char *hex, uint8_t out[16])
{
	unsigned v;
	int i;

	if (strlen(hex) != 32)
		return -1;
	for (i = 0; i < 16; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int fail(const struct xi_ntlm_sasl *s, const struct xi_error *err)
{
	printf("FAIL %s %s\n", xi_ntlm_failure_name(xi_ntlm_sasl_failure(s)), err->message);
	return 1;
}

int main(int argc, char **argv)
{
	struct xi_ntlm_settings settings = {
		.allow_v1 = false, .timestamp_window = 300,
		.netbios_domain = "XIDENT", .dns_domain = "xident.test",
		.netbios_computer = "MAILHOST", .dns_computer = "mailhost.xident.test",
	};
	struct xi_ntlm_sasl *s;
	struct xi_error err;
	uint8_t hash[16];
	const uint8_t *hash_p = hash;
	bool enabled = true, replay = false;
	char line[16384], authenticate[16384], *out = NULL;
	enum xi_ntlm_sasl_status st;
	int i, rc = 1;

	for (i = 1; i < argc - 1; i++) {
		if (strcmp(argv[i], "--allow-v1") == 0)
			settings.allow_v1 = true;
		else if (strcmp(argv[i], "--disabled") == 0)
			enabled = false;
		else if (strcmp(argv[i], "--replay") == 0)
			replay = true;
		else if (strcmp(argv[i], "--window") == 0 && i + 2 < argc)
			settings.timestamp_window = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--netbios-domain") == 0 && i + 2 < argc)
			settings.netbios_domain = argv[++i];
		else
			return usage();
	}
	if (i != argc - 1)
		return usage();
	if (strcmp(argv[i], "-") == 0)
		hash_p = NULL;
	else if (parse_hash(argv[i], hash) < 0)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	xi_error_clear(&err);

	s = xi_ntlm_sasl_new(&settings, enabled);
	if (s == NULL) {
		fprintf(stderr, "ntlm-driver: invalid settings\n");
		return 2;
	}
	if (fgets(line, sizeof(line), stdin) == NULL)
		goto out;
	st = xi_ntlm_sasl_step(s, line, strlen(line), &out, &err);
	if (st != XI_NTLM_SASL_CONTINUE) {
		rc = fail(s, &err);
		goto out;
	}
	printf("CHALLENGE %s\n", out);
	free(out);
	out = NULL;
	if (fgets(authenticate, sizeof(authenticate), stdin) == NULL)
		goto out;
	st = xi_ntlm_sasl_step(s, authenticate, strlen(authenticate), &out, &err);
	if (st != XI_NTLM_SASL_NEED_HASH) {
		rc = fail(s, &err);
		goto out;
	}
	printf("USER %s\nDOMAIN %s\nWORKSTATION %s\n", xi_ntlm_sasl_user(s),
	       xi_ntlm_sasl_domain(s), xi_ntlm_sasl_workstation(s));
	st = xi_ntlm_sasl_finish(s, hash_p, &err);
	if (st != XI_NTLM_SASL_DONE) {
		rc = fail(s, &err);
		goto out;
	}
	printf("OK ");
	for (i = 0; i < 16; i++)
		printf("%02x", xi_ntlm_sasl_session_key(s)[i]);
	printf("\n");
	rc = 0;
	if (replay) {
		st = xi_ntlm_sasl_step(s, authenticate, strlen(authenticate), &out, &err);
		printf("REPLAY %s\n", st == XI_NTLM_SASL_FAILURE ?
		       xi_ntlm_failure_name(xi_ntlm_sasl_failure(s)) : "accepted");
	}
out:
	free(out);
	xi_ntlm_sasl_free(s);
	return rc;
}
