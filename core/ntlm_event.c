/*
 * ntlm_event: event 13004 for each way an NTLM exchange fails, with a cause
 * an administrator can read and a remedy to act on.  Texts never carry a
 * name, a hash or a response: the host adds the login and remote address.
 */
#include "ntlm_sasl.h"

#include <string.h>

#include "event.h"

const char *xi_ntlm_failure_cause(enum xi_ntlm_failure f)
{
	switch (f) {
	case XI_NTLM_OK: return "NTLM exchange succeeded";
	case XI_NTLM_MALFORMED: return "malformed NTLM message (bad signature or type, truncated, or a field out of range)";
	case XI_NTLM_STATE: return "NTLM message out of order (or a second AUTHENTICATE for one challenge)";
	case XI_NTLM_REPLAYED: return "replayed NTLM AUTHENTICATE: the challenge was already used";
	case XI_NTLM_ANONYMOUS: return "anonymous NTLM logon refused";
	case XI_NTLM_V1_REFUSED: return "NTLMv1 or LMv2-only response refused (ntlm_v1 = no)";
	case XI_NTLM_EXPIRED: return "NTLMv2 timestamp outside ntlm_timestamp_window (replayed response or wrong clock)";
	case XI_NTLM_BAD_RESPONSE: return "NTLM response does not match the stored NT hash (wrong password, user or domain)";
	case XI_NTLM_BAD_MIC: return "NTLM message integrity code (MIC) does not match: messages altered in transit";
	case XI_NTLM_INTERNAL: return "internal error while verifying NTLM (crypto provider unavailable?)";
	}
	return "unknown NTLM failure";
}

const char *xi_ntlm_failure_remedy(enum xi_ntlm_failure f)
{
	switch (f) {
	case XI_NTLM_OK: return "";
	case XI_NTLM_MALFORMED:
	case XI_NTLM_STATE:
	case XI_NTLM_REPLAYED:
	case XI_NTLM_BAD_MIC:
		return "If this repeats, the client is broken or someone is tampering with or replaying "
		       "logons: check the remote address; otherwise no action.";
	case XI_NTLM_ANONYMOUS:
		return "Configure the client with an account name; anonymous logons are never allowed.";
	case XI_NTLM_V1_REFUSED:
		return "Configure the client for NTLMv2 (LmCompatibilityLevel 3 or higher), or set "
		       "ntlm_v1 = yes in xident.conf for old clients only.";
	case XI_NTLM_EXPIRED:
		return "Synchronise the clocks of client and server (NTP), or widen ntlm_timestamp_window.";
	case XI_NTLM_BAD_RESPONSE:
		return "Check the password, and that the account's NT hash is set (xident passwd).";
	case XI_NTLM_INTERNAL:
		return "Check that OpenSSL's default provider (and, for NTLMv1 or key exchange, its "
		       "legacy provider) is installed.";
	}
	return "";
}

void xi_ntlm_event_fill(struct xi_event *ev, enum xi_ntlm_failure f)
{
	memset(ev, 0, sizeof(*ev));
	ev->id = 13004;
	ev->category = XI_CAT_AUTHENTICATION;
	ev->level = XI_LEVEL_NONE;
	ev->severity = "failure";
	/* the name of XI_OUTCOME_NTLM_FAILED in core/outcome.c */
	ev->outcome = "ntlm_failed";
	ev->cause = xi_ntlm_failure_cause(f);
	ev->remedy = xi_ntlm_failure_remedy(f);
}
