/*
 * xi_dir_dn_key: the key DNs are linked by.  Its shortcut for DNs already
 * in normal form must give exactly what libldap's ldap_dn_normalize (LDAPv3
 * form, ASCII lower case) gives, for every DN: checked on hand-picked
 * shapes and on many random strings over an alphabet of DN syntax.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "dir_entry_ldap.h"
#include "tap.h"

static void reference(const char *dn, char *out, size_t size)
{
	char *norm = NULL;
	size_t i, len;

	out[0] = '\0';
	if (dn[0] == '\0' ||
	    ldap_dn_normalize(dn, LDAP_DN_FORMAT_LDAP, &norm, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    norm == NULL)
		return;
	len = strlen(norm);
	if (len < size) {
		for (i = 0; i <= len; i++)
			out[i] = (norm[i] >= 'A' && norm[i] <= 'Z') ? (char)(norm[i] - 'A' + 'a') : norm[i];
	}
	ldap_memfree(norm);
}

static int same(const char *dn)
{
	char a[XI_DN_MAX], b[XI_DN_MAX];

	xi_dir_dn_key(dn, a, sizeof(a));
	reference(dn, b, sizeof(b));
	if (strcmp(a, b) != 0) {
		tap_diag("dn \"%s\": key \"%s\", libldap \"%s\"", dn, a, b);
		return 0;
	}
	return 1;
}

int main(void)
{
	static const char *const dns[] = {
		"uid=jdoe,ou=EXAMPLE,ou=accounts,dc=example,dc=com",
		"UID=JDoe,OU=Example,DC=Example,DC=Com",
		"cn=john doe,dc=example,dc=com",
		"cn=john  doe ,dc=example,dc=com",
		"uid=jdoe, ou=EXAMPLE,dc=example,dc=com",
		"uid = jdoe,dc=example",
		"cn=a+sn=b,dc=example",
		"cn=a\\,b,dc=example",
		"cn=#616263,dc=example",
		"cn=-x_y.z,dc=example",
		"0.9.2342.19200300.100.1.25=com",
		"oid.2.5.4.3=x,dc=example",
		"cn=,dc=example",
		"=x,dc=example",
		"cn=x,,dc=example",
		"cn=x,dc=example,",
		"cn=x;dc=example",
		"cn=\"quoted\",dc=example",
		"cn=m\xc3\xbcller,dc=example",
		"c_n=x,dc=example",
		"cn=x",
		"not a dn",
	};
	char key[16];
	size_t i;
	unsigned seed = 12345, bad = 0, runs = 20000;

	for (i = 0; i < sizeof(dns) / sizeof(dns[0]); i++)
		tap_ok(same(dns[i]), "key of \"%s\" is libldap's", dns[i]);

	/* Random strings over DN syntax: the shortcut never disagrees. */
	for (i = 0; i < runs; i++) {
		static const char alphabet[] = "abcXYZ019=,,,==.-_ +\\#\";";
		char dn[24];
		size_t len = 1 + (seed = seed * 1103515245u + 12345u) % 20, j;

		for (j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			dn[j] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		dn[len] = '\0';
		if (!same(dn) && ++bad > 5)
			break;
	}
	tap_ok(bad == 0, "%u random DN-like strings: the key is libldap's every time", runs);

	xi_dir_dn_key("uid=jdoe,dc=example,dc=com", key, sizeof(key));
	tap_is_str(key, "", "a key that does not fit is \"\" (links nowhere), never cut");
	return tap_done();
}
