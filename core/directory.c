/*
 * directory: dispatch to the source in use, and the result helpers every
 * source shares.
 */
#include "directory.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ldap_pool.h"
#include "unicode.h"

int xi_dir_find(struct xi_directory *dir, const struct xi_dir_query *q,
		struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	return dir->ops->find(dir, q, res, ops, err);
}

int xi_dir_read(struct xi_directory *dir, const char *dn, bool want_nt_hash, bool want_password,
		struct xi_dir_result *res, unsigned *ops, struct xi_error *err)
{
	return dir->ops->read(dir, dn, want_nt_hash, want_password, res, ops, err);
}

enum xi_dir_bind xi_dir_verify_bind(struct xi_directory *dir, const char *dn,
				    const char *password, size_t password_len, unsigned *ops,
				    struct xi_error *err)
{
	return dir->ops->verify_bind(dir, dn, password, password_len, ops, err);
}

struct xi_dir_bind_wait {
	struct xi_ldap_pool *pool;
	struct xi_ldap_conn *conn;
	int msgid;
};

static enum xi_dir_bind dir_bind(enum xi_ldap_bind_result r)
{
	return r == XI_LDAP_BIND_OK ? XI_DIR_BIND_OK :
		r == XI_LDAP_BIND_REJECTED ? XI_DIR_BIND_REJECTED : XI_DIR_BIND_ERROR;
}

int xi_dir_bind_start(struct xi_directory *dir, const char *dn, const char *password,
		      size_t password_len, struct xi_dir_bind_wait **wait_r, int *fd_r,
		      enum xi_dir_bind *result_r, unsigned *ops, struct xi_error *err)
{
	struct xi_ldap_pool *pool;
	struct xi_dir_bind_wait *w;
	enum xi_ldap_bind_result r;
	int rc;

	*wait_r = NULL;
	*fd_r = -1;
	pool = dir->ops->bind_pool != NULL ? dir->ops->bind_pool(dir) : NULL;
	if (pool == NULL)
		return -1;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -1;
	w->pool = pool;
	if (xi_ldap_pool_try_get(pool, XI_POOL_BIND, &w->conn) == 0 ||
	    (*fd_r = xi_ldap_conn_fd(w->conn)) < 0) {
		xi_ldap_pool_put(pool, w->conn);
		free(w);
		return -1;
	}
	rc = xi_ldap_conn_user_bind_send(w->conn, dn, password, password_len, &w->msgid, &r, err);
	if (rc <= 0) {
		/* Not sent: answered at once, or the idle connection was
		 * closed by the server or its write failed (the pool closes
		 * it; a thread may retry on a fresh one: nothing reached the
		 * server). */
		xi_ldap_pool_put(pool, w->conn);
		free(w);
		*fd_r = -1;
		if (rc < 0)
			return -1;
		*result_r = dir_bind(r);
		return 0;
	}
	if (ops != NULL)
		(*ops)++;
	*wait_r = w;
	return 1;
}

int xi_dir_bind_poll(struct xi_dir_bind_wait *w, enum xi_dir_bind *result_r, struct xi_error *err)
{
	enum xi_ldap_bind_result r;

	if (xi_ldap_conn_user_bind_poll(w->conn, w->msgid, &r, err) == 0)
		return 0;
	/* A connection that broke after the bind was sent is an answer too
	 * (an error): the server may have seen the password, so it is not
	 * sent again elsewhere.  The connection stays checked out until
	 * xi_dir_bind_again or xi_dir_bind_release. */
	*result_r = dir_bind(r);
	return 1;
}

int xi_dir_bind_again(struct xi_dir_bind_wait *w, const char *dn, const char *password,
		      size_t password_len, enum xi_dir_bind *result_r, unsigned *ops,
		      struct xi_error *err)
{
	enum xi_ldap_bind_result r;
	int rc;

	rc = xi_ldap_conn_user_bind_send(w->conn, dn, password, password_len, &w->msgid, &r, err);
	if (rc == 0)
		*result_r = dir_bind(r);
	else if (rc > 0 && ops != NULL)
		(*ops)++;
	return rc;
}

void xi_dir_bind_release(struct xi_dir_bind_wait *w)
{
	if (w == NULL)
		return;
	xi_ldap_pool_put(w->pool, w->conn);
	free(w);
}

void xi_dir_bind_cancel(struct xi_dir_bind_wait *w)
{
	if (w == NULL)
		return;
	xi_ldap_conn_abandon(w->conn, w->msgid);
	xi_ldap_pool_put(w->pool, w->conn);
	free(w);
}

int xi_dir_mailboxes_visible(struct xi_directory *dir, bool *visible_r, unsigned *ops,
			     struct xi_error *err)
{
	return dir->ops->mailboxes_visible(dir, visible_r, ops, err);
}

void xi_dir_destroy(struct xi_directory *dir)
{
	if (dir != NULL)
		dir->ops->destroy(dir);
}

void xi_dir_result_init(struct xi_dir_result *res)
{
	memset(res, 0, sizeof(*res));
}

void xi_dir_result_free(struct xi_dir_result *res)
{
	size_t i;

	for (i = 0; i < res->count; i++) {
		struct xi_dir_entry *e = &res->entries[i];

		OPENSSL_cleanse(e->nt_hash, sizeof(e->nt_hash));
		OPENSSL_cleanse(e->password, sizeof(e->password));
		free(e->delegate_keys);
	}
	free(res->entries);
	res->entries = NULL;
	res->count = 0;
}

bool xi_dir_entry_has_delegate(const struct xi_dir_entry *e, const char *key)
{
	size_t i;

	if (key == NULL || key[0] == '\0')
		return false;
	for (i = 0; i < e->delegate_count; i++) {
		if (strcmp(e->delegate_keys[i], key) == 0)
			return true;
	}
	return false;
}

static bool ldap_caseeq(const char *a, const char *b);

static bool domain_listed(const struct xi_dir_query *q, const char *domain)
{
	size_t i;

	if (q->domain_count == 0)
		return true;
	for (i = 0; i < q->domain_count; i++) {
		if (ldap_caseeq(q->domains[i], domain))
			return true;
	}
	return false;
}

/* Code point at *p (well-formed UTF-8, as xi_utf8_caseeq has checked). */
static unsigned long next_cp(const unsigned char **p)
{
	const unsigned char *s = *p;
	unsigned long c = s[0];
	size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4, i;

	if (n > 1)
		c &= 0x3fu >> (n - 1);
	for (i = 1; i < n && s[i] != '\0'; i++)
		c = (c << 6) | (s[i] & 0x3fu);
	*p = s + i;
	return c;
}

/* Equality as the directory server's caseIgnoreMatch sees it, for values
 * xi_utf8_caseeq already calls equal: Unicode case folding keeps the
 * Turkic dotted capital I (U+0130) and dotless small i (U+0131) apart from
 * i and I, where simple upper/lower mapping joins them. */
static bool ldap_caseeq(const char *a, const char *b)
{
	const unsigned char *pa = (const unsigned char *)a, *pb = (const unsigned char *)b;

	if (!xi_utf8_caseeq(a, b))
		return false;
	while (*pa != '\0' && *pb != '\0') {
		unsigned long ca = next_cp(&pa), cb = next_cp(&pb);

		if (ca != cb && (ca == 0x130 || ca == 0x131 || cb == 0x130 || cb == 0x131))
			return false;
	}
	return true;
}

static bool ascii_only(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

/* Locale-independent, unlike strcasecmp. */
static bool ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
		char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;

		if (x != y)
			return false;
	}
	return *a == *b;
}

/* Mail addresses are IA5 strings in LDAP (caseIgnoreIA5Match): an ASCII
 * address equals only an ASCII spelling of it, case aside ("ſ" is not "s"). */
static bool mail_caseeq(const char *value, const char *asked)
{
	if (ascii_only(value))
		return ascii_only(asked) && ascii_caseeq(value, asked);
	return ldap_caseeq(value, asked);
}

unsigned xi_dir_entry_match(const struct xi_attrmap *m, const struct xi_dir_query *q,
			    const struct xi_dir_entry *e, const char *const *mails,
			    size_t mail_count)
{
	unsigned bits = 0;
	bool recipient = (e->kinds & (XI_DIR_MAILBOX | XI_DIR_CUSTOM | XI_DIR_DL)) != 0;
	size_t i;

	if (q == NULL)
		return 0;
	if ((e->kinds & XI_DIR_ACCOUNT) && q->account != NULL &&
	    ldap_caseeq(e->account_name, q->account) &&
	    (m->domain == NULL || domain_listed(q, e->domain)))
		bits |= XI_MATCH_ACCOUNT;
	if ((e->kinds & XI_DIR_ACCOUNT) && q->upn != NULL && e->upn[0] != '\0' &&
	    ldap_caseeq(e->upn, q->upn))
		bits |= XI_MATCH_UPN;
	if (recipient && q->alias != NULL && ldap_caseeq(e->alias, q->alias))
		bits |= XI_MATCH_ALIAS;
	for (i = 0; recipient && q->mail != NULL && i < mail_count; i++) {
		if (mail_caseeq(mails[i], q->mail)) {
			bits |= XI_MATCH_MAIL;
			break;
		}
	}
	if ((e->kinds & XI_DIR_MAILBOX) && q->owner_key != NULL && e->primary_key[0] != '\0' &&
	    strcmp(e->primary_key, q->owner_key) == 0)
		bits |= XI_MATCH_OWNER;
	if ((e->kinds & XI_DIR_ACCOUNT) && q->sid_key != NULL && e->owner_key[0] != '\0' &&
	    strcmp(e->owner_key, q->sid_key) == 0)
		bits |= XI_MATCH_SID;
	return bits;
}
