/*
 * directory: the narrow interface resolution reads the directory through.
 *
 *   find   entries matching any of: an account by domain + name, an account
 *          by UPN, a recipient by alias, a recipient by mail address, the
 *          mailboxes whose primary account is a given account; ONE directory
 *          operation however many parts the query has.
 *   read   one entry by DN (the primary account of a mailbox found by alias).
 *   verify_bind  prove a password by binding as an account.
 *
 * Two implementations: live LDAP (directory_ldap.c) and an in-process
 * mirror kept current by syncrepl (directory_mirror.c), which falls through
 * to live LDAP whenever it is not in sync; xi_directory_create
 * (directory_mirror.h) picks one from the config.  Entries are interpreted
 * through the attribute map: the resolver never sees an LDAP attribute name.
 * Every value is bounded; one too long for its field is dropped and named in
 * entry->problem, never cut.
 */
#ifndef XI_DIRECTORY_H
#define XI_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attrmap.h"
#include "resolver.h"
#include "xi_error.h"

#define XI_DIR_ENTRIES_MAX 32      /* more matches than this: the result is truncated */
#define XI_DIR_DELEGATES_MAX 64    /* delegates kept per mailbox */
#define XI_DIR_PASSWORD_MAX 512    /* longest userPassword value accepted */
#define XI_DIR_PROBLEM_MAX 256

enum xi_dir_kind {
	XI_DIR_ACCOUNT = 1 << 0,
	XI_DIR_MAILBOX = 1 << 1,
	XI_DIR_CUSTOM = 1 << 2,    /* custom recipient: an alias and a target address */
	XI_DIR_DL = 1 << 3         /* distribution list */
};

/* Which parts of a query an entry satisfies (checked on the values returned,
 * case-insensitively, so the resolver knows why each entry came back). */
enum xi_dir_match {
	XI_MATCH_ACCOUNT = 1 << 0,
	XI_MATCH_UPN = 1 << 1,
	XI_MATCH_ALIAS = 1 << 2,
	XI_MATCH_MAIL = 1 << 3,
	XI_MATCH_OWNER = 1 << 4,
	XI_MATCH_SID = 1 << 5
};

/* What a lookup says about a secret it was asked for. */
enum xi_dir_secret {
	XI_SECRET_NOT_ASKED = 0,
	XI_SECRET_ABSENT,          /* asked for, not returned: unset, or not readable by us */
	XI_SECRET_PRESENT,
	XI_SECRET_MALFORMED        /* returned, but not in the expected shape */
};

struct xi_dir_entry {
	unsigned kinds;            /* enum xi_dir_kind bits; 0 = none we know */
	unsigned matched;          /* enum xi_dir_match bits (find only) */
	char dn[XI_DN_MAX];

	/* account */
	char domain[XI_NAME_MAX];
	char account_name[XI_NAME_MAX];
	char upn[XI_NAME_MAX];
	char owner_key[XI_DN_MAX];     /* what links to this account name: its DN, or "sid:HEX" */
	bool disabled;
	enum xi_dir_secret nt_hash_state;
	uint8_t nt_hash[16];
	enum xi_dir_secret password_state;
	char password[XI_DIR_PASSWORD_MAX];

	/* mailbox, custom recipient, distribution list */
	char alias[XI_NAME_MAX];
	char primary_key[XI_DN_MAX];   /* owner_key of the primary account, "" = none */
	size_t delegate_count;
	char (*delegate_keys)[XI_DN_MAX];
	bool delegates_truncated;
	char home_server[XI_NAME_MAX]; /* server name already extracted; "" = any */
	unsigned protocols;            /* XI_PROTO_BIT()s allowed */
	unsigned methods;              /* XI_METHOD_BIT()s allowed */
	char target_address[XI_FIELD_MAX];
	char mail[XI_NAME_MAX];        /* first mail address */
	char display_name[XI_NAME_MAX];
	char mail_home[XI_FIELD_MAX];
	char mail_location[XI_FIELD_MAX];
	char mail_uid[32];
	char mail_gid[32];
	char mail_quota[64];

	/* Values dropped (too long, NUL or control bytes, bad shape), named. */
	char problem[XI_DIR_PROBLEM_MAX];
};

struct xi_dir_query {
	/* account by name: in any of these domains (NULL/0 = any domain; maps
	 * without a domain attribute ignore them) */
	const char *account;
	const char *const *domains;
	size_t domain_count;
	const char *upn;           /* account by user principal name */
	const char *alias;         /* recipient by alias */
	const char *mail;          /* recipient by mail address */
	const char *owner_key;     /* mailboxes whose primary account has this key */
	const char *sid_key;       /* SID maps: the account whose objectSid is "sid:HEX" */
	bool want_nt_hash;
	bool want_password;
};

struct xi_dir_result {
	struct xi_dir_entry *entries;
	size_t count;
	bool truncated;            /* more than XI_DIR_ENTRIES_MAX matched */
	char searched[768];        /* what was asked, for traces: "base=... filter=..." */
};

enum xi_dir_bind { XI_DIR_BIND_OK = 0, XI_DIR_BIND_REJECTED, XI_DIR_BIND_ERROR };

struct xi_directory;

struct xi_directory_ops {
	int (*find)(struct xi_directory *dir, const struct xi_dir_query *q,
		    struct xi_dir_result *res, unsigned *ops, struct xi_error *err);
	int (*read)(struct xi_directory *dir, const char *dn, bool want_nt_hash,
		    bool want_password, struct xi_dir_result *res, unsigned *ops,
		    struct xi_error *err);
	enum xi_dir_bind (*verify_bind)(struct xi_directory *dir, const char *dn,
					const char *password, size_t password_len,
					unsigned *ops, struct xi_error *err);
	/* Whether the service account can see any mailbox at all: a name
	 * that resolves to "no mailbox" is then a missing right (Q255269),
	 * not a fact about the account. */
	int (*mailboxes_visible)(struct xi_directory *dir, bool *visible_r, unsigned *ops,
				 struct xi_error *err);
	void (*destroy)(struct xi_directory *dir);
	/* Optional (NULL: none): the LDAP pool whose bind connections
	 * verify_bind uses, for xi_dir_bind_start. */
	struct xi_ldap_pool *(*bind_pool)(struct xi_directory *dir);
};

struct xi_directory {
	const struct xi_directory_ops *ops;
	const struct xi_attrmap *map;
	const char *service_dn;    /* named in "privilege not held" causes */
};

/* Live LDAP through a pool built from cfg. */
int xi_directory_ldap_create(const struct xi_config *cfg, struct xi_directory **dir_r,
			     struct xi_error *err);

/* Thin dispatchers.  find/read: 0, or -1 with err (XI_ERR_TEMP, XI_ERR_DENIED
 * for insufficientAccess naming the DN, ...).  ops (may be NULL) is increased
 * by the directory operations sent. */
int xi_dir_find(struct xi_directory *dir, const struct xi_dir_query *q,
		struct xi_dir_result *res, unsigned *ops, struct xi_error *err);
int xi_dir_read(struct xi_directory *dir, const char *dn, bool want_nt_hash, bool want_password,
		struct xi_dir_result *res, unsigned *ops, struct xi_error *err);
enum xi_dir_bind xi_dir_verify_bind(struct xi_directory *dir, const char *dn,
				    const char *password, size_t password_len, unsigned *ops,
				    struct xi_error *err);
int xi_dir_mailboxes_visible(struct xi_directory *dir, bool *visible_r, unsigned *ops,
			     struct xi_error *err);
void xi_dir_destroy(struct xi_directory *dir);

/* verify_bind without waiting, for a host with an event loop.  start:
 * 1 when the bind is on its way (watch *fd_r for input, then call
 * xi_dir_bind_poll), 0 when answered at once (*result_r), -1 when it
 * cannot start without waiting (no idle open bind connection, or no LDAP
 * under dir) or the bind was not sent (the server had closed the idle
 * connection): bind with xi_dir_verify_bind elsewhere.  poll: 0 while
 * waiting; 1 with *result_r, XI_DIR_BIND_ERROR when the connection broke
 * after the bind was sent (the server may have seen the password: it is
 * not sent again).  After an answer the connection stays checked out, so
 * that a host with binds waiting sends the next one on it (again: as
 * start, on the same fd; -1 leaves it to be released) and keeps watching
 * the same fd; release returns it to the pool (closed when broken: stop
 * watching the fd first).  cancel gives a bind up (its connection is
 * closed, the wait freed). */
struct xi_dir_bind_wait;
int xi_dir_bind_start(struct xi_directory *dir, const char *dn, const char *password,
		      size_t password_len, struct xi_dir_bind_wait **wait_r, int *fd_r,
		      enum xi_dir_bind *result_r, unsigned *ops, struct xi_error *err);
int xi_dir_bind_poll(struct xi_dir_bind_wait *wait, enum xi_dir_bind *result_r,
		     struct xi_error *err);
int xi_dir_bind_again(struct xi_dir_bind_wait *wait, const char *dn, const char *password,
		      size_t password_len, enum xi_dir_bind *result_r, unsigned *ops,
		      struct xi_error *err);
void xi_dir_bind_release(struct xi_dir_bind_wait *wait);
void xi_dir_bind_cancel(struct xi_dir_bind_wait *wait);

void xi_dir_result_init(struct xi_dir_result *res);
/* Frees the entries (and wipes the secrets in them). */
void xi_dir_result_free(struct xi_dir_result *res);

/* Which parts of q entry e satisfies (enum xi_dir_match bits), by the
 * rules every source applies: names, UPNs, aliases and addresses compared
 * case-insensitively (Unicode simple case folding), link keys exactly.
 * mails: the entry's readable mail addresses. */
unsigned xi_dir_entry_match(const struct xi_attrmap *m, const struct xi_dir_query *q,
			    const struct xi_dir_entry *e, const char *const *mails,
			    size_t mail_count);

/* Whether entry e names account key as a delegate. */
bool xi_dir_entry_has_delegate(const struct xi_dir_entry *e, const char *key);

#endif
