/* An LBER I/O layer that zeroes what libldap wrote (ldap_wipe.h). */
#include "ldap_wipe.h"

#include <lber.h>
#include <openssl/crypto.h>

static ber_slen_t wipe_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	return LBER_SBIOD_READ_NEXT(sbiod, buf, len);
}

static ber_slen_t wipe_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	ber_slen_t written = LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);

	/* Only what the layer below took: libldap writes the rest again
	 * from the same buffer (a non-blocking socket, a partial write). */
	if (written > 0)
		OPENSSL_cleanse(buf, (size_t)written);
	return written;
}

static int wipe_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

/* Never written: liblber's API takes the table by a non-const pointer and
 * finds a layer again by its address (LBER_SB_OPT_HAS_IO). */
static Sockbuf_IO wipe_io = {
	.sbi_ctrl = wipe_ctrl,
	.sbi_read = wipe_read,
	.sbi_write = wipe_write,
};

int xi_ldap_wipe_writes(LDAP *ld, struct xi_error *err)
{
	Sockbuf *sb = NULL;

	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL)
		return xi_error_set(err, XI_ERR_INTERNAL, "libldap gave no Sockbuf for the connection");
	if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &wipe_io) == 1)
		return 0;
	/* The application level is the top: the layer sees libldap's own
	 * buffer, before a TLS layer (transport level) encrypts it. */
	if (ber_sockbuf_add_io(sb, &wipe_io, LBER_SBIOD_LEVEL_APPLICATION, NULL) != 0)
		return xi_error_set(err, XI_ERR_NOMEM, "cannot add the wiping I/O layer to an LDAP connection");
	return 0;
}
