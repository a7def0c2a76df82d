/*
 * logon_policy: where xidentd lets a client send a clear-text password
 * (plaintext_logons), shared by the POP3 and IMAP front ends so both refuse
 * the same connections with the same outcome (XI_OUTCOME_PLAINTEXT_DISABLED):
 * POP3 hides USER and SASL PLAIN/LOGIN before STLS, IMAP announces
 * LOGINDISABLED.  NTLM never sends the password and is not affected.
 */
#ifndef XD_LOGON_POLICY_H
#define XD_LOGON_POLICY_H

#include <stdbool.h>

struct xi_config;

/* True when remote_addr (numeric, as inet_ntop writes it) is a loopback
 * address: 127.0.0.0/8, ::1, or ::ffff:127.x.y.z. */
bool xd_addr_is_loopback(const char *remote_addr);

/* May a clear-text logon be taken on a connection that is (tls) or is not
 * protected by TLS, from remote_addr?  Reads plaintext_logons. */
bool xd_plaintext_allowed(const struct xi_config *cfg, bool tls, const char *remote_addr);

/* The same in two steps, for a process that keeps the mode and not the
 * config (xidentd's network process gets it in its limits). */
int xd_plaintext_mode(const struct xi_config *cfg);
bool xd_plaintext_allowed_mode(int mode, bool tls, const char *remote_addr);

#endif
