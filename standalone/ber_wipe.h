/*
 * ber_wipe: libldap's buffers wiped when freed, in xidentd.
 *
 * With password_mode = bind the auth process hands the user's password to
 * ldap_sasl_bind_s, which encodes it into a BER buffer and frees it
 * unwiped: the last logon's password stayed readable in the heap (found by
 * tests/integration/test_xidentd_hardening.py).  lber's own allocator hook
 * (LBER_OPT_MEMORY_FNS) is consulted only for a non-NULL memory context,
 * which only slapd passes, so it cannot help.  Instead xidentd defines
 * liblber's free and realloc entry points itself (ber_wipe.c): libldap
 * and liblber call them through the PLT, and a definition in the
 * executable comes first in symbol lookup.  Each wipes a block before
 * giving it to free.  Process-wide in every xidentd process, which is
 * harmless: the others seldom use libldap.
 */
#ifndef XD_BER_WIPE_H
#define XD_BER_WIPE_H

#include <stdbool.h>

/* Whether the dynamic linker resolved liblber's free to ber_wipe.c's (the
 * link exported it); the auth process warns when not. */
bool xd_ber_wipe_active(void);

#endif
