/*
 * ldap_wipe: libldap's encoded requests wiped as soon as they are written.
 *
 * A simple bind encodes the user's password into a BER buffer that libldap
 * keeps until the response and then frees without wiping it: the password
 * stayed readable in the heap.  liblber's allocator hook
 * (LBER_OPT_MEMORY_FNS) cannot help a client: liblber consults it only for
 * a non-NULL memory context, and every client call passes NULL (only slapd
 * passes one); xidentd's other answer, defining liblber's free in the
 * executable (standalone/ber_wipe.c), is for a process we own, and inside
 * Dovecot's auth process it would take over the allocator of every libldap
 * user there, Dovecot's own ldap driver included, and only when the load
 * order lets it.
 *
 * Instead each of our connections gets an I/O layer of its own on top of
 * its Sockbuf (public liblber API, this handle only): what libldap writes
 * passes through it to the transport (TLS or TCP, below it) and is zeroed
 * in libldap's buffer once the layer below took it.  Nothing reads a
 * request's bytes after they are sent as long as the handle does not chase
 * referrals (ldap_conn.c turns them off).  OpenSSL's record buffers hold
 * ciphertext only.
 */
#ifndef XI_LDAP_WIPE_H
#define XI_LDAP_WIPE_H

#include <ldap.h>

#include "xi_error.h"

/* Puts the layer on ld's Sockbuf unless it is there already (a cheap
 * check: call it before every request that carries a secret, in case
 * libldap made the connection anew).  -1 with err when it cannot. */
int xi_ldap_wipe_writes(LDAP *ld, struct xi_error *err);

#endif
