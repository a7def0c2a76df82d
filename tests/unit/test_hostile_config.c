/* config: the bind password must not outlive the configuration that holds
 * it.  Every block freed while the reader runs, and by xi_config_free, is
 * searched for the secret: free is interposed here (glibc's own is
 * __libc_free), or under AddressSanitizer, which owns free, a free hook. */
#define _GNU_SOURCE 1
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XI_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define XI_UNDER_ASAN 1
#endif

#define SECRET "Hostile-S3cret-Marker-4711"
#define REQ "ldap_uris = ldap://127.0.0.1\nldap_base_dn = dc=example,dc=com\n"

static int watching;
static int found;

static void inspect(const void *p, size_t n)
{
	if (p != NULL && watching && memmem(p, n, SECRET, strlen(SECRET)) != NULL)
		found++;
}

#ifdef XI_UNDER_ASAN
#include <sanitizer/allocator_interface.h>

/* Called before the block is released, while it still holds its bytes. */
static void free_hook(const volatile void *p)
{
	if (p != NULL && watching)
		inspect((const void *)p, __sanitizer_get_allocated_size((const void *)p));
}

/* The runtime installs a pair or nothing. */
static void malloc_hook(const volatile void *p, size_t n)
{
	(void)p;
	(void)n;
}

static void install_watch(void)
{
	__sanitizer_install_malloc_and_free_hooks(malloc_hook, free_hook);
}
#else
extern void __libc_free(void *p);

void free(void *p)
{
	if (p != NULL && watching)
		inspect(p, malloc_usable_size(p));
	__libc_free(p);
}

static void install_watch(void)
{
}
#endif

static int write_file(char *path, const char *text, mode_t mode)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Loads path and frees the result; returns how many freed blocks still held
 * the secret, or -1 when the file did not load as expected. */
static int load_and_free(const char *path, int want_rc)
{
	struct xi_config *cfg = NULL;
	struct xi_config_report report;
	int rc;

	found = 0;
	watching = 1;
	rc = xi_config_load(path, &cfg, &report);
	xi_config_free(cfg);
	xi_config_report_free(&report);
	watching = 0;
	return rc == want_rc ? found : -1;
}

/* Loads text from a string; returns the first problem ("" when it loaded). */
static const char *first_problem(const char *text, char *buf, size_t size)
{
	struct xi_config_report report;
	struct xi_config *cfg = NULL;

	buf[0] = '\0';
	if (xi_config_load_string("t.conf", text, &cfg, &report) < 0 && report.count > 0)
		xi_config_problem_format(&report.problems[0], buf, size);
	else if (cfg == NULL)
		snprintf(buf, size, "refused without a problem");
	xi_config_free(cfg);
	xi_config_report_free(&report);
	return buf;
}

/* Text values (names, DNs) must be UTF-8 without control characters: they
 * reach LDAP, NTLM challenges, logs and `xident config show`. */
static void test_text_values(void)
{
	char buf[1024];

	tap_is_str(first_problem(REQ "ldap_bind_dn = cn=x\033]0;owned\007,dc=x\n", buf, sizeof(buf)),
		   "t.conf:3: 'ldap_bind_dn' must be UTF-8 text without control characters, "
		   "not 'cn=x\\x1b]0;owned\\x07,dc=x'",
		   "terminal escape in a DN refused, quoted as \\xHH");
	tap_ok(strstr(first_problem(REQ "ntlm_netbios_domain = CORP\377\n", buf, sizeof(buf)),
		      "must be UTF-8 text") != NULL,
	       "ill-formed UTF-8 in an NTLM name refused: %s", buf);
	tap_ok(strstr(first_problem(REQ "server_name = a\tb\n", buf, sizeof(buf)),
		      "must be UTF-8 text") != NULL, "tab in a name refused: %s", buf);
	tap_is_str(first_problem(REQ "server_name = J\303\266rg-Server\n", buf, sizeof(buf)), "",
		   "UTF-8 name accepted");
	tap_is_str(first_problem(REQ "ldap_bind_password = \"a\tb c\"\n", buf, sizeof(buf)), "",
		   "a password may hold a tab (secrets are not names)");
	tap_ok(strstr(first_problem(REQ "default_domains = CORP EVIL\033[2J\n", buf, sizeof(buf)),
		      "'default_domains' must be UTF-8 text") != NULL,
	       "escape in a list word refused: %s", buf);
	tap_ok(strstr(first_problem("ldap_uris = ldap://a\001b\nldap_base_dn = dc=x\n", buf,
				    sizeof(buf)), "'ldap_uris' must be UTF-8 text") != NULL,
	       "control byte in a URI refused: %s", buf);
	tap_is_str(first_problem(REQ "default_domains = CORP\tBRANCH, J\303\226RG\n", buf,
				 sizeof(buf)), "", "list words split by a tab and a comma accepted");
}

/* Writes main_text to a new xident.conf, loads it, expects want_rc and that
 * no freed block held the secret. */
static void secret_gone(const char *main_text, int want_rc, const char *what)
{
	char path[] = "/tmp/xi-hostile-conf-XXXXXX";

	if (write_file(path, main_text, 0600) < 0) {
		tap_ok(0, "%s: write %s", what, path);
		return;
	}
	tap_is_int(load_and_free(path, want_rc), 0, "%s: no freed block holds the bind password",
		   what);
	unlink(path);
}

int main(void)
{
	char secrets_path[] = "/tmp/xi-hostile-secrets-XXXXXX";
	char text[512];

	test_text_values();
	install_watch();

	snprintf(text, sizeof(text), REQ "ldap_bind_password = %s\n", SECRET);
	secret_gone(text, 0, "bind password in xident.conf");

	/* In the secrets file, and also when the load fails after reading it. */
	snprintf(text, sizeof(text), "ldap_bind_password = \"%s\"\n", SECRET);
	if (write_file(secrets_path, text, 0600) < 0)
		return tap_ok(0, "write %s", secrets_path), tap_done();
	snprintf(text, sizeof(text), REQ "secrets_file = %s\n", secrets_path);
	secret_gone(text, 0, "bind password in the secrets file");
	snprintf(text, sizeof(text), REQ "secrets_file = %s\nno_such_key = 1\n", secrets_path);
	secret_gone(text, -1, "refused configuration");
	unlink(secrets_path);

	/* The check itself can fail: a block with the secret is seen. */
	{
		/* Through a volatile pointer: the compiler may not drop the pair. */
		void (*volatile release)(void *) = free;
		char *p = strdup("x " SECRET);

		found = 0;
		watching = 1;
		release(p);
		watching = 0;
		tap_is_int(found, 1, "the watch on free notices a secret it frees");
	}
	return tap_done();
}
