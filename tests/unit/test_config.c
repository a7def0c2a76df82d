/* config: the xident.conf reader, its problem reports and its generated page. */
#include "xident-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

/* The two required keys, so that a test adds exactly the problem it wants. */
#define REQ "ldap_uris = ldap://127.0.0.1\nldap_base_dn = dc=example,dc=com\n"

static char tmpdir[64];

/* Passes a buffer to tap_is_str, whose NULL check would warn about arrays. */
static const char *str(const char *s)
{
	return s;
}

static const char *tmp_path(const char *name)
{
	static char paths[8][256];
	static unsigned next;
	char *p = paths[next++ % 8];

	snprintf(p, 256, "%s/%s", tmpdir, name);
	return p;
}

static const char *write_file(const char *name, const void *data, size_t len, mode_t mode)
{
	const char *path = tmp_path(name);
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) < 0) {
		tap_diag("cannot write %s: %s", path, strerror(errno));
		exit(1);
	}
	close(fd);
	return path;
}

static const char *write_text(const char *name, const char *text, mode_t mode)
{
	return write_file(name, text, strlen(text), mode);
}

static const char *problem_text(const struct xi_config_report *r, size_t i)
{
	static char buf[1024];

	if (i >= r->count)
		return "(no such problem)";
	xi_config_problem_format(&r->problems[i], buf, sizeof(buf));
	return buf;
}

/* Loads text that must fail with exactly one problem, formatted as want. */
static void expect_one(const char *text, const char *want, const char *what)
{
	struct xi_config_report report;
	struct xi_config *cfg = (struct xi_config *)1;
	int rc = xi_config_load_string("t.conf", text, &cfg, &report);

	if (rc != -1 || cfg != NULL || report.count != 1)
		tap_diag("rc %d, cfg %p, %zu problems (first: %s)", rc, (void *)cfg, report.count,
			 problem_text(&report, 0));
	tap_is_str(report.count == 1 && rc == -1 && cfg == NULL ? problem_text(&report, 0) : "",
		   want, "%s", what);
	xi_config_report_free(&report);
}

static struct xi_config *load_ok(const char *text, const char *what)
{
	struct xi_config_report report;
	struct xi_config *cfg = NULL;
	int rc = xi_config_load_string("t.conf", text, &cfg, &report);

	if (!tap_ok(rc == 0 && cfg != NULL && report.count == 0, "loads: %s", what))
		tap_diag("first problem: %s", problem_text(&report, 0));
	xi_config_report_free(&report);
	return cfg;
}

static void test_syntax_errors(void)
{
	expect_one(REQ "bogus = 1\n", "t.conf:3: unknown key 'bogus'", "unknown key");
	expect_one(REQ "bog\001us = 1\n", "t.conf:3: unknown key 'bog\\x01us'",
		   "unknown key quoted safely (control byte as \\x01)");
	expect_one(REQ "ldap_timeout 5\n", "t.conf:3: missing '=' (a setting is written key = value)",
		   "missing '='");
	expect_one(REQ " = 5\n", "t.conf:3: missing key before '='", "missing key");
	expect_one(REQ "server_name = \"mail\n", "t.conf:3: unterminated quoted value",
		   "unterminated quote");
	expect_one(REQ "server_name = \"a\\nb\"\n",
		   "t.conf:3: unknown escape in quoted value (only \\\" and \\\\)", "unknown escape");
	expect_one(REQ "server_name = \"a\" b\n", "t.conf:3: unexpected text after the closing quote",
		   "text after closing quote");
	expect_one(REQ "ldap_timeout = 5\nldap_timeout = 6\n",
		   "t.conf:4: duplicate key 'ldap_timeout' (first set on line 3)", "duplicate key");
}

static void test_value_errors(void)
{
	expect_one(REQ "ldap_timeout = ten\n", "t.conf:3: bad integer 'ten' for 'ldap_timeout'",
		   "bad int");
	expect_one(REQ "ldap_timeout = 5s\n", "t.conf:3: bad integer '5s' for 'ldap_timeout'",
		   "int with trailing garbage");
	expect_one(REQ "ldap_timeout = 99999999999999999999\n",
		   "t.conf:3: bad integer '99999999999999999999' for 'ldap_timeout'", "int overflow");
	expect_one(REQ "ldap_timeout = 301\n", "t.conf:3: 301 is out of range for 'ldap_timeout' (1..300)",
		   "int above range");
	expect_one(REQ "ldap_timeout = -1\n", "t.conf:3: -1 is out of range for 'ldap_timeout' (1..300)",
		   "int below range");
	expect_one(REQ "ldap_starttls = maybe\n",
		   "t.conf:3: bad boolean 'maybe' for 'ldap_starttls' (yes/no, true/false, on/off or 1/0)",
		   "bad bool");
	expect_one(REQ "schema = openldap\n",
		   "t.conf:3: bad value 'openldap' for 'schema' (one of: xident, ad, exchange55)",
		   "bad enum lists the alternatives");
	expect_one(REQ "diag_logons = 2\n",
		   "t.conf:3: bad level '2' for 'diag_logons' (none, minimum, medium, maximum or 0, 1, 3, 5)",
		   "bad level");
	expect_one(REQ "ldap_tls_ca_file = ca.pem\n",
		   "t.conf:3: 'ldap_tls_ca_file' must be an absolute path, not 'ca.pem'", "relative path");
	expect_one(REQ "ldap_tls_ca_file = /ca\033[2J.pem\n",
		   "t.conf:3: 'ldap_tls_ca_file' must be an absolute path, not '/ca\\x1b[2J.pem'",
		   "path with a control character");
	expect_one("ldap_uris = http://x\nldap_base_dn = dc=x\n",
		   "t.conf:1: bad LDAP URI 'http://x' in 'ldap_uris' (must start with ldap://, ldaps:// or ldapi://)",
		   "URI with the wrong scheme");
	expect_one("ldap_uris = ldap://a ldap://h:abc\nldap_base_dn = dc=x\n",
		   "t.conf:1: bad LDAP URI 'ldap://h:abc' in 'ldap_uris' (malformed URL)",
		   "URI libldap cannot parse (second of two)");
	expect_one("ldap_uris = ldap://h:99999\nldap_base_dn = dc=x\n",
		   "t.conf:1: bad LDAP URI 'ldap://h:99999' in 'ldap_uris' (port out of range)",
		   "URI with a port out of range");
	expect_one("ldap_uris = ldap://h\nldap_base_dn =\n", "t.conf:2: 'ldap_base_dn' must not be empty",
		   "required key written empty");
	expect_one("ldap_uris = ,\nldap_base_dn = x\n", "t.conf:1: 'ldap_uris' must not be empty",
		   "required list with no words");
}

static void test_required(void)
{
	struct xi_config_report report;
	struct xi_config *cfg;

	expect_one("ldap_uris = ldap://h\n", "t.conf: missing required key 'ldap_base_dn'",
		   "missing required key, reported as file: reason");
	tap_is_int(xi_config_load_string("t.conf", "", &cfg, &report), -1, "empty file refused");
	tap_is_int(report.count, 2, "empty file: both required keys reported");
	tap_is_str(problem_text(&report, 0), "t.conf: missing required key 'ldap_uris'",
		   "first missing key in table order");
	xi_config_report_free(&report);
}

static void test_every_problem_collected(void)
{
	struct xi_config_report report;
	struct xi_config *cfg;
	char *big;
	size_t i;

	xi_config_load_string("t.conf",
			      "# several mistakes\n"
			      "ldap_uris = ftp://x\n"
			      "ldap_timeout = 0\n"
			      "nonsense\n"
			      "ntlm_v1 = perhaps\n"
			      "ntlm_v1 = no\n",
			      &cfg, &report);
	tap_is_int(report.count, 6, "every problem is reported, not just the first");
	tap_is_str(problem_text(&report, 0),
		   "t.conf:2: bad LDAP URI 'ftp://x' in 'ldap_uris' (must start with ldap://, ldaps:// or ldapi://)",
		   "problem 1 in file order");
	tap_is_str(problem_text(&report, 1), "t.conf:3: 0 is out of range for 'ldap_timeout' (1..300)",
		   "problem 2");
	tap_is_str(problem_text(&report, 2), "t.conf:4: missing '=' (a setting is written key = value)",
		   "problem 3");
	tap_is_str(problem_text(&report, 4), "t.conf:6: duplicate key 'ntlm_v1' (first set on line 5)",
		   "problem 5");
	tap_is_str(problem_text(&report, 5), "t.conf: missing required key 'ldap_base_dn'",
		   "missing required keys come last");
	xi_config_report_free(&report);

	/* A garbage file does not produce an unbounded report. */
	big = malloc(300 * 4 + 1);
	for (i = 0; i < 300; i++)
		memcpy(big + i * 4, "xyz\n", 4);
	big[300 * 4] = '\0';
	xi_config_load_string("t.conf", big, &cfg, &report);
	tap_is_int(report.count, 100, "report capped at 100 problems");
	tap_is_str(problem_text(&report, 99), "t.conf:100: too many problems; stopped listing after 99",
		   "the cap says so");
	xi_config_report_free(&report);
	free(big);

	cfg = (struct xi_config *)1;
	tap_is_int(xi_config_load_string("t.conf", "x", &cfg, NULL), -1, "report may be NULL");
	tap_ok(cfg == NULL, "failed load leaves *cfg_r NULL");
}

static void test_limits(void)
{
	char line[XI_CONFIG_LINE_MAX + 256];
	struct xi_config_report report;
	struct xi_config *cfg;
	const char *path;
	char *big;

	/* A comment of exactly XI_CONFIG_LINE_MAX bytes is fine; one more is not. */
	memset(line, 0, sizeof(line));
	memcpy(line, REQ, strlen(REQ));
	memset(line + strlen(REQ), '#', XI_CONFIG_LINE_MAX);
	cfg = load_ok(line, "a line of exactly XI_CONFIG_LINE_MAX bytes");
	xi_config_free(cfg);
	strcat(line, "#\n");
	expect_one(line, "t.conf:3: line longer than 4096 bytes", "over-long line");

	path = write_file("nul.conf", REQ "server_name = a\0b\n", strlen(REQ) + 18, 0644);
	xi_config_load(path, &cfg, &report);
	tap_is_int(report.count, 1, "NUL byte: one problem");
	snprintf(line, sizeof(line), "%s:3: NUL byte in line", path);
	tap_is_str(problem_text(&report, 0), str(line), "NUL byte named with its line");
	xi_config_report_free(&report);

	big = malloc(XI_CONFIG_FILE_MAX + 1);
	memset(big, '\n', XI_CONFIG_FILE_MAX + 1);
	path = write_file("big.conf", big, XI_CONFIG_FILE_MAX + 1, 0644);
	free(big);
	xi_config_load(path, &cfg, &report);
	snprintf(line, sizeof(line), "%s: file too large (1048577 bytes, at most 1048576)", path);
	tap_is_str(report.count == 1 ? problem_text(&report, 0) : "", str(line), "file too large");
	xi_config_report_free(&report);
	unlink(path);

	path = tmp_path("absent.conf");
	xi_config_load(path, &cfg, &report);
	snprintf(line, sizeof(line), "%s: cannot read: No such file or directory", path);
	tap_is_str(report.count == 1 ? problem_text(&report, 0) : "", str(line),
		   "unreadable file names the errno text");
	xi_config_report_free(&report);

	xi_config_load(tmpdir, &cfg, &report);
	snprintf(line, sizeof(line), "%s: not a regular file", tmpdir);
	tap_is_str(report.count == 1 ? problem_text(&report, 0) : "", str(line), "a directory is refused");
	xi_config_report_free(&report);
}

static void test_secrets(void)
{
	char text[1024], want[1024];
	struct xi_config_report report;
	struct xi_config *cfg;
	const char *secrets;

	secrets = write_text("secrets", "# only secrets\nldap_bind_password = \"pa ss#word\"  # ok\n", 0600);
	snprintf(text, sizeof(text), REQ "secrets_file = %s\n", secrets);
	cfg = load_ok(text, "secrets file with mode 0600");
	tap_is_str(xi_config_str(cfg, XI_CFG_LDAP_BIND_PASSWORD), "pa ss#word",
		   "bind password read from the secrets file");
	tap_ok(xi_config_is_set(cfg, XI_CFG_LDAP_BIND_PASSWORD), "secret counts as set");
	xi_config_free(cfg);

	chmod(secrets, 0640);
	snprintf(want, sizeof(want), "%s: secrets file has mode 0640, open to group or others; "
		 "it must be readable by its owner only: chmod 600 %s", secrets, secrets);
	expect_one(text, str(want), "group-readable secrets file refused, naming mode and chmod 600");
	chmod(secrets, 0604);
	snprintf(want, sizeof(want), "%s: secrets file has mode 0604, open to group or others; "
		 "it must be readable by its owner only: chmod 600 %s", secrets, secrets);
	expect_one(text, str(want), "world-readable secrets file refused");

	snprintf(text, sizeof(text), REQ "secrets_file = %s\n", tmpdir);
	snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
	expect_one(text, str(want), "secrets file that is a directory refused");

	secrets = write_text("secrets2", "ldap_base_dn = dc=evil\n", 0600);
	snprintf(text, sizeof(text), REQ "secrets_file = %s\n", secrets);
	snprintf(want, sizeof(want), "%s:1: 'ldap_base_dn' is not a secret and cannot be set in a secrets file",
		 secrets);
	expect_one(text, str(want), "secrets file may hold only secret keys");

	secrets = write_text("secrets3", "ldap_bind_password = x\n", 0600);
	snprintf(text, sizeof(text), REQ "ldap_bind_password = y\nsecrets_file = %s\n", secrets);
	snprintf(want, sizeof(want), "%s:1: duplicate key 'ldap_bind_password' (first set in t.conf line 3)",
		 secrets);
	expect_one(text, str(want), "a secret set in both files is a duplicate");

	secrets = write_text("secrets4", "hunter2\n", 0600);
	snprintf(text, sizeof(text), REQ "secrets_file = %s\n", secrets);
	snprintf(want, sizeof(want), "%s:1: missing '=' (a setting is written key = value)", secrets);
	expect_one(text, str(want), "a malformed secrets line is not quoted back");

	secrets = write_text("secrets5", "ldap_bind_pasword = x\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB = x\n", 0600);
	snprintf(text, sizeof(text), REQ "secrets_file = %s\n", secrets);
	xi_config_load_string("t.conf", text, &cfg, &report);
	snprintf(want, sizeof(want), "%s:1: unknown key 'ldap_bind_pasword'", secrets);
	tap_is_str(problem_text(&report, 0), str(want), "misspelt key in a secrets file is named");
	snprintf(want, sizeof(want), "%s:2: unknown key (not shown: this is a secrets file)", secrets);
	tap_is_str(problem_text(&report, 1), str(want), "text unlike a key in a secrets file is not shown");
	xi_config_report_free(&report);
}

static void test_values(void)
{
	const char *const *words;
	struct xi_config *cfg;
	size_t n;

	cfg = load_ok("  # comment\n"
		      "\tldap_uris\t=  ldap://127.0.0.1:3890 ,ldaps://dir.example.com ldapi://%2Frun%2Fslapd\r\n"
		      "ldap_base_dn = \"dc=a \\\"b\\\" \\\\c # not a comment\"\n"
		      "ldap_bind_dn = cn=svc,dc=a   # trailing comment\n"
		      "server_name = mail#1\n"
		      "default_domains = CORP, LAB  ,DEV\n"
		      "ntlm_protocols =\n"
		      "schema = AD\n"
		      "ldap_starttls = On\n"
		      "ldap_tls_require_cert = 0\n"
		      "ldap_timeout = +7\n"
		      "diag_logons = Maximum\n"
		      "diag_connections = 3\n"
		      "canonical_user_format = \"\"\n",
		      "quoting, comments, lists and every type");
	if (cfg == NULL)
		return;
	words = xi_config_list(cfg, XI_CFG_LDAP_URIS, &n);
	tap_is_int(n, 3, "three URIs, separated by blanks and commas");
	tap_is_str(words[2], "ldapi://%2Frun%2Fslapd", "ldapi URI kept; CR of CRLF ignored");
	tap_ok(words[3] == NULL, "list is NULL-terminated");
	tap_is_str(xi_config_str(cfg, XI_CFG_LDAP_BASE_DN), "dc=a \"b\" \\c # not a comment",
		   "quoted value: escapes undone, # inside quotes kept");
	tap_is_str(xi_config_str(cfg, XI_CFG_LDAP_BIND_DN), "cn=svc,dc=a", "trailing ' #' comment cut");
	tap_is_str(xi_config_str(cfg, XI_CFG_SERVER_NAME), "mail#1", "# not after a blank is kept");
	words = xi_config_list(cfg, XI_CFG_DEFAULT_DOMAINS, &n);
	tap_ok(n == 3 && strcmp(words[0], "CORP") == 0 && strcmp(words[1], "LAB") == 0 &&
	       strcmp(words[2], "DEV") == 0, "list split on spaces and commas");
	tap_ok(xi_config_list_has(cfg, XI_CFG_DEFAULT_DOMAINS, "lab"), "list membership ignores case");
	xi_config_list(cfg, XI_CFG_NTLM_PROTOCOLS, &n);
	tap_ok(n == 0 && !xi_config_list_has(cfg, XI_CFG_NTLM_PROTOCOLS, "imap") &&
	       xi_config_is_set(cfg, XI_CFG_NTLM_PROTOCOLS), "empty list written: set, and empty");
	tap_is_int(xi_config_enum(cfg, XI_CFG_SCHEMA), 1, "enum index, case-insensitive");
	tap_is_str(xi_config_str(cfg, XI_CFG_SCHEMA), "ad", "enum text is the canonical alternative");
	tap_ok(xi_config_bool(cfg, XI_CFG_LDAP_STARTTLS) && !xi_config_bool(cfg, XI_CFG_LDAP_TLS_REQUIRE_CERT),
	       "booleans On and 0");
	tap_is_int(xi_config_int(cfg, XI_CFG_LDAP_TIMEOUT), 7, "integer with a sign");
	tap_is_int(xi_config_int(cfg, XI_CFG_DIAG_LOGONS), 5, "level by name");
	tap_is_int(xi_config_int(cfg, XI_CFG_DIAG_CONNECTIONS), 3, "level by number");
	tap_is_str(xi_config_str(cfg, XI_CFG_CANONICAL_USER_FORMAT), "", "empty quoted string");

	/* Defaults. */
	tap_is_int(xi_config_int(cfg, XI_CFG_LDAP_NETWORK_TIMEOUT), 5, "int default");
	tap_ok(!xi_config_is_set(cfg, XI_CFG_LDAP_NETWORK_TIMEOUT), "a default is not 'set'");
	tap_is_int(xi_config_enum(cfg, XI_CFG_PASSWORD_MODE), 0, "enum default");
	tap_ok(xi_config_list_has(cfg, XI_CFG_PROTOCOLS, "pop3"), "list default");
	tap_is_int(xi_config_int(cfg, XI_CFG_DIAG_AUTHENTICATION), 1, "level default (minimum = 1)");
	tap_ok(xi_config_bool(cfg, XI_CFG_UPN_LOGON), "bool default");
	tap_ok(xi_config_str(cfg, XI_CFG_NTLM_DNS_DOMAIN) == NULL, "no default: NULL");
	tap_ok(xi_config_str(cfg, XI_CFG_LDAP_BIND_PASSWORD) == NULL, "no secret: NULL");

	/* Getters of the wrong type return the empty value. */
	tap_is_int(xi_config_int(cfg, XI_CFG_SERVER_NAME), 0, "int getter on a string key: 0");
	tap_ok(xi_config_str(cfg, XI_CFG_LDAP_TIMEOUT) == NULL, "str getter on an int key: NULL");
	tap_is_int(xi_config_enum(cfg, XI_CFG_LDAP_STARTTLS), -1, "enum getter on a bool key: -1");
	tap_ok(xi_config_list(cfg, XI_CFG_SERVER_NAME, &n)[0] == NULL && n == 0,
	       "list getter on a string key: empty list");
	tap_ok(!xi_config_bool(cfg, (enum xi_config_key)XI_CFG__COUNT), "key out of range: empty value");
	xi_config_free(cfg);
}

static void test_file_and_table(void)
{
	const struct xi_config_key_info *table;
	struct xi_config_report report;
	struct xi_config *cfg = NULL;
	char *page = NULL, *committed;
	size_t count, i, j, page_len = 0;
	bool unique = true;
	const char *path;
	FILE *f;
	long size;

	path = write_text("ok.conf", REQ, 0644);
	tap_is_int(xi_config_load(path, &cfg, &report), 0, "loads from a file");
	tap_is_str(xi_config_str(cfg, XI_CFG_LDAP_BASE_DN), "dc=example,dc=com", "value from the file");
	xi_config_free(cfg);
	xi_config_report_free(&report);

	table = xi_config_key_table(&count);
	tap_is_int(count, XI_CFG__COUNT, "key table has every key");
	for (i = 0; i < count; i++) {
		if (table[i].key != (enum xi_config_key)i)
			unique = false;
		for (j = 0; j < i; j++) {
			if (strcmp(table[i].name, table[j].name) == 0)
				unique = false;
		}
	}
	tap_ok(unique, "key names unique, table indexed by key");

	f = open_memstream(&page, &page_len);
	tap_is_int(xi_config_write_manpage(f), 0, "manual page written");
	fclose(f);
	f = fopen(XI_TOP_SRCDIR "/doc/xident.conf.5", "r");
	committed = NULL;
	if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0) {
		committed = calloc(1, (size_t)size + 1);
		rewind(f);
		if (fread(committed, 1, (size_t)size, f) != (size_t)size)
			committed[0] = '\0';
	}
	if (f != NULL)
		fclose(f);
	if (!tap_ok(committed != NULL && strcmp(committed, page) == 0,
		    "doc/xident.conf.5 is what `xident config doc` writes"))
		tap_diag("regenerate: build/tools/xident config doc > doc/xident.conf.5");
	free(committed);
	free(page);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/xi-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_syntax_errors();
	test_value_errors();
	test_required();
	test_every_problem_collected();
	test_limits();
	test_secrets();
	test_values();
	test_file_and_table();

	{
		static const char *const files[] = {
			"nul.conf", "secrets", "secrets2", "secrets3", "secrets4", "secrets5", "ok.conf"
		};
		size_t i;

		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			unlink(tmp_path(files[i]));
		if (rmdir(tmpdir) < 0)
			tap_diag("could not remove %s: %s", tmpdir, strerror(errno));
	}
	return tap_done();
}
