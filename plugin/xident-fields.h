/*
 * Private extra fields between the xident passdb (in an auth-worker) and
 * the NTLM mechanism (in the auth process).
 *
 * For NTLM the password is proven in the mechanism, after the passdb's
 * credentials lookup has returned.  So the passdb cannot apply what it
 * decided for a proven logon (rename to the mailbox, refuse with a reason,
 * proxy) nor log its event: it returns them under this prefix, and the
 * mechanism applies them (without the prefix) only once the response
 * verified, and drops them otherwise.  Nothing with the prefix ever reaches
 * the login process.
 */
#ifndef XI_PLUGIN_FIELDS_H
#define XI_PLUGIN_FIELDS_H

#define XI_FIELD_PROVEN_PREFIX "xident_proven_"
/* The event line for the proven case, and its severity. */
#define XI_FIELD_EVENT "xident_event"
#define XI_FIELD_EVENT_SEVERITY "xident_event_severity"
/* A refusal that holds whatever the response (NTLM off for this protocol):
 * the mechanism fails with this text and writes the event. */
#define XI_FIELD_REFUSE_REASON "xident_refuse_reason"
/* The NTLM AUTHENTICATE domain, from the mechanism to the passdb: Dovecot
 * exports extra fields to auth-workers but not the realm. */
#define XI_FIELD_NTLM_DOMAIN "xident_ntlm_domain"
/* Present when the passdb is xident (the mechanism then leaves events about
 * the account to it and logs only NTLM-level failures). */
#define XI_FIELD_PREFIX "xident_"

#endif
