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

static void install_watch(void)
{
	__sanitizer_install_malloc_and_free_hooks(NULL, free_hook);
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

int main(void)
{
	char main_path[] = "/tmp/xi-hostile-conf-XXXXXX";
	char secrets_path[] = "/tmp/xi-hostile-secrets-XXXXXX";
	char text[512];

	install_watch();

	/* In the main file. */
	snprintf(text, sizeof(text), REQ "ldap_bind_password = %s\n", SECRET);
	if (write_file(main_path, text, 0600) < 0)
		return tap_ok(0, "write %s", main_path), tap_done();
	tap_is_int(load_and_free(main_path, 0), 0,
		   "bind password in xident.conf: no freed block holds it");
	unlink(main_path);

	/* In the secrets file, and also when the load fails after reading it. */
	snprintf(text, sizeof(text), "ldap_bind_password = \"%s\"\n", SECRET);
	if (write_file(secrets_path, text, 0600) < 0)
		return tap_ok(0, "write %s", secrets_path), tap_done();
	strcpy(main_path, "/tmp/xi-hostile-conf-XXXXXX");
	snprintf(text, sizeof(text), REQ "secrets_file = %s\n", secrets_path);
	if (write_file(main_path, text, 0600) < 0)
		return tap_ok(0, "write %s", main_path), tap_done();
	tap_is_int(load_and_free(main_path, 0), 0,
		   "bind password in the secrets file: no freed block holds it");
	unlink(main_path);

	strcpy(main_path, "/tmp/xi-hostile-conf-XXXXXX");
	snprintf(text, sizeof(text), REQ "secrets_file = %s\nno_such_key = 1\n", secrets_path);
	if (write_file(main_path, text, 0600) < 0)
		return tap_ok(0, "write %s", main_path), tap_done();
	tap_is_int(load_and_free(main_path, -1), 0,
		   "refused configuration: no freed block holds the bind password");
	unlink(main_path);
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
