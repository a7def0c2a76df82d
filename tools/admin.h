/*
 * admin: what the directory-administration verbs (account, mailbox,
 * recipient) share: the connection made from
 * xident.conf with the administrator's bind, exit codes from typed errors,
 * and the lookups every verb needs (an account by DOMAIN\name, a mailbox or
 * any recipient by alias).
 *
 * The administrator's DN comes from --bind-dn / --bind-password-file, else
 * from admin_bind_dn / admin_bind_password in xident.conf, else the service
 * account is used (enough to read; writes then fail with the directory's
 * "insufficient access", reported as such).
 */
#ifndef XI_ADMIN_H
#define XI_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "admin_args.h"
#include "admin_entry.h"
#include "ldap_conn.h"
#include "xi_error.h"

#define XI_ADMIN_NAME_MAX 256     /* account names and aliases, bytes */
#define XI_ADMIN_DN_MAX 4096

struct xi_config;

struct xi_admin {
	struct xi_config *cfg;
	struct xi_ldap_settings settings;  /* must outlive conn */
	struct xi_ldap_conn *conn;
	const char *base_dn;       /* from cfg */
	const char *prog;          /* "xident account add", for messages */
	bool dry_run;
	char *bind_password;       /* owned; wiped when freed */
};

/* Loads the configuration and connects with the administrator's bind.
 * Configuration problems are printed (file:line: reason). */
int xi_admin_open(struct xi_admin *a, const char *prog, const struct xi_admin_options *o,
		  struct xi_error *err);
void xi_admin_close(struct xi_admin *a);

/* Prints "prog: message" on stderr and returns the exit code for err's
 * status (commands.h). */
int xi_admin_fail(const struct xi_admin *a, const char *prog, const struct xi_error *err);

/* Exit code for a status: TEMP 75, NOTFOUND 3, EXISTS 4, otherwise 1. */
int xi_admin_exit_code(enum xi_status status);

/* Checks a name typed on the command line: valid UTF-8 text, no control
 * characters, 1..XI_ADMIN_NAME_MAX bytes.  what names it in the message. */
int xi_admin_check_name(const char *what, const char *name, struct xi_error *err);

/* Splits "DOMAIN\name" or "DOMAIN/name" at the first separator.  When
 * domain_opt is set the whole text is the name.  Without a separator the
 * domain is NULL (any domain).  Writes into the caller's buffers. */
int xi_admin_split_account(const char *text, const char *domain_opt, char *domain,
			   size_t domain_size, char *name, size_t name_size, bool *has_domain_r,
			   struct xi_error *err);

/* Escapes for filters (RFC 4515) and DN values (RFC 4514) into fixed
 * buffers; a value too long is an error, never truncated. */
int xi_admin_filter_value(const char *in, char *out, size_t size, struct xi_error *err);
int xi_admin_dn_value(const char *in, char *out, size_t size, struct xi_error *err);

/* snprintf that fails (XI_ERR_INVALID, "what is too long") instead of
 * truncating: DNs and filters are never cut short. */
int xi_admin_fmt(char *out, size_t size, struct xi_error *err, const char *what,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A glob where only * is special, as a substring filter value. */
int xi_admin_glob_value(const char *glob, char *out, size_t size, struct xi_error *err);

/* Searches the subtree under the base DN (or base, scope base when base is
 * set); results are owned copies. */
int xi_admin_search(struct xi_admin *a, const char *base, const char *filter,
		    const char *const *attrs, struct xi_entries *out, struct xi_error *err);

/* The account DOMAIN\name (domain NULL: any domain; two matches is an
 * error naming both).  XI_ERR_NOTFOUND when there is none. */
int xi_admin_find_account(struct xi_admin *a, const char *domain, const char *name,
			  struct xi_entry *out, struct xi_error *err);

/* The account typed as "DOMAIN\name", "DOMAIN/name" or "name". */
int xi_admin_find_account_text(struct xi_admin *a, const char *text, struct xi_entry *out,
			       struct xi_error *err);

/* The entry of object class cls with this alias; kind ("mailbox") names it
 * in messages.  dn, when set, picks one of several entries sharing a
 * (duplicate) alias.  XI_ERR_NOTFOUND when there is none. */
int xi_admin_find_alias(struct xi_admin *a, const char *cls, const char *kind,
			const char *alias, const char *dn, struct xi_entry *out,
			struct xi_error *err);
/* xi_admin_find_alias for class xidentMailbox. */
int xi_admin_find_mailbox(struct xi_admin *a, const char *alias, const char *dn,
			  struct xi_entry *out, struct xi_error *err);

/* Fails with XI_ERR_EXISTS when any entry (mailbox, custom recipient,
 * distribution list) already has this alias. */
int xi_admin_alias_free(struct xi_admin *a, const char *alias, struct xi_error *err);

/* "DOMAIN\name" of the account at dn, or dn itself when it is not an
 * account we can read. */
void xi_admin_account_label(struct xi_admin *a, const char *dn, char *out, size_t size);

/* Adds organizationalUnit entries for "ou=X,...,base" containers that do
 * not exist yet (dry run: prints them). */
int xi_admin_ensure_ou(struct xi_admin *a, const char *dn, const char *ou,
		       struct xi_error *err);

/* Applies a change, or prints it as LDIF in a dry run. */
int xi_admin_commit(struct xi_admin *a, const struct xi_change *ch, struct xi_error *err);

/* xi_admin_fail, then xi_admin_close: the end of a verb that failed. */
int xi_admin_fail_close(struct xi_admin *a, const char *prog, const struct xi_error *err);

/* The end of a verb that changes one entry: commits ch (a modification
 * without mods is nothing to do), frees ch and e (when not NULL), prints
 * the done line (not in a dry run) and closes a.  Returns the exit code. */
int xi_admin_commit_close(struct xi_admin *a, const char *prog, struct xi_change *ch,
			  struct xi_entry *e, const char *done_fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The whole of a "delete ALIAS [--dn DN]" verb for entries of class cls
 * (kind names them: "custom recipient"); dn_opt is the index of --dn in
 * the group's option table defs. */
int xi_admin_delete_alias(const char *prog, int argc, char **argv,
			  const struct xi_admin_opt *defs, size_t ndefs, int dn_opt,
			  const char *usage, const char *cls, const char *kind);

#endif
