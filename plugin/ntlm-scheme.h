/*
 * ntlm-scheme: the password scheme NTLM (the NT hash, MD4 of the UTF-16LE
 * password, 16 bytes, hex by default) that Dovecot 2.3.13 removed.  The NTLM
 * mechanism asks the passdb for credentials in this scheme; passdbs that
 * hold clear-text or {NTLM} passwords (passwd-file) then answer it too.
 *
 * Both modules carry it because either may be the first loaded in a process
 * (the mechanism in the auth process, the passdb in auth-workers); whichever
 * registers it unregisters it.
 */
#ifndef XI_PLUGIN_NTLM_SCHEME_H
#define XI_PLUGIN_NTLM_SCHEME_H

/* Registers the NTLM scheme unless the process already has one.  Returns
 * whether this call registered it (and so must unregister it). */
bool xi_ntlm_scheme_register(void);
void xi_ntlm_scheme_unregister(void);

#endif
