/* imap_text: what xidentd's IMAP says of its own in both processes
 * (greeting, capabilities); logon refusals come from the core's outcome
 * table, never from here. */
#ifndef XD_IMAP_TEXT_H
#define XD_IMAP_TEXT_H

/* Before logon: LOGIN-REFERRALS for the Exchange home-server referral. */
#define IMAP_CAPS_COMMON "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE"
#define IMAP_CAPS_PREAUTH_MECHS "AUTH=PLAIN AUTH=LOGIN AUTH=NTLM"
/* After logon. */
#define IMAP_CAPS_SESSION IMAP_CAPS_COMMON " NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE"
#define IMAP_GREETING "xidentd IMAP4rev1 server ready."
#define IMAP_TEXT_TEMPFAIL "The logon service is unavailable; try again later."
#define IMAP_TEXT_IDLE "Idle for too long; closing the connection."

#endif
