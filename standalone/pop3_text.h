/* pop3_text: what xidentd's POP3 says of its own (protocol errors); logon
 * refusals come from the core's outcome table, never from here. */
#ifndef XD_POP3_TEXT_H
#define XD_POP3_TEXT_H

#define POP3_GREETING "xidentd POP3 server ready."
#define POP3_TEXT_BAD_BASE64 "Invalid base64 data."
#define POP3_TEXT_BAD_PLAIN "Invalid PLAIN response (authorization identity differs, or malformed)."
#define POP3_TEXT_CANCELLED "Authentication cancelled."
#define POP3_TEXT_USER_SYNTAX "USER needs a name."
#define POP3_TEXT_USER_FIRST "Send USER first."
#define POP3_TEXT_UNKNOWN_MECH "Unsupported authentication mechanism (try PLAIN, LOGIN or NTLM)."
#define POP3_TEXT_NO_APOP "APOP is not supported; use USER/PASS or AUTH."
#define POP3_TEXT_LOG_ON_FIRST "Log on first."
#define POP3_TEXT_UNKNOWN_COMMAND "Unknown command."
#define POP3_TEXT_LINE_TOO_LONG "Line too long; closing the connection."
#define POP3_TEXT_NUL "NUL bytes are not allowed in commands."
#define POP3_TEXT_TOO_MANY "Too many connections; try again later."
#define POP3_TEXT_TOO_MANY_SOURCE "Too many connections from your address; try again later."
#define POP3_TEXT_IDLE "Idle for too long; closing the connection."
#define POP3_TEXT_IN_USE "The mailbox is in use by another POP3 session."

#endif
