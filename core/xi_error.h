/*
 * xi_error: the typed result every fallible libxident call returns.
 *
 * Functions return 0 on success or -1 on failure and fill a caller-owned
 * struct xi_error.  The status tells a host program what kind of failure it is
 * (so an adapter can map it without parsing text); the message says why, in
 * words an administrator can act on.  Messages never contain secrets.
 */
#ifndef XI_ERROR_H
#define XI_ERROR_H

#include <stddef.h>

enum xi_status {
	XI_OK = 0,
	XI_ERR_INVALID,     /* bad input: malformed name, blob, value */
	XI_ERR_NOMEM,       /* allocation failed */
	XI_ERR_IO,          /* file or system call failed */
	XI_ERR_CONFIG,      /* configuration is wrong */
	XI_ERR_TEMP,        /* temporary: directory down, timeout, try again */
	XI_ERR_DENIED,      /* the directory refused us a right we need */
	XI_ERR_NOTFOUND,    /* no such entry */
	XI_ERR_EXISTS,      /* would create a duplicate */
	XI_ERR_UNSUPPORTED, /* feature not built or not enabled */
	XI_ERR_INTERNAL     /* a bug: should never happen */
};

#define XI_ERROR_MESSAGE_MAX 512

struct xi_error {
	enum xi_status status;
	char message[XI_ERROR_MESSAGE_MAX];
};

/* Sets status and a printf-style message (truncated to fit); returns -1 so
 * callers can write `return xi_error_set(err, ...);`.  err may be NULL. */
int xi_error_set(struct xi_error *err, enum xi_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Resets to XI_OK with an empty message. err may be NULL. */
void xi_error_clear(struct xi_error *err);

/* A stable lower-case name for a status ("temp", "config", ...). */
const char *xi_status_name(enum xi_status status);

#endif
