/*
 * The one table of configuration keys.  Everything that reads xident.conf
 * (plugin, xidentd, the CLI) sees these keys and no others; the manual page
 * doc/xident.conf.5 is generated from this table (`xident config doc`).
 *
 * X(id, name, type, default, flags, constraint, documentation)
 *   type        XI_CT_STRING | XI_CT_INT | XI_CT_BOOL | XI_CT_ENUM |
 *               XI_CT_LIST | XI_CT_URI_LIST | XI_CT_PATH | XI_CT_SECRET |
 *               XI_CT_LEVEL
 *   default     text parsed as if written in the file, or NULL for none
 *   flags       XI_CF_REQUIRED, XI_CF_SECRET_FILE_ONLY, 0
 *   constraint  ENUM: "a|b|c"; INT: "min..max"; otherwise NULL
 *
 * To add a key: add one line here (keep the groups), then read it with the
 * typed getters of config.h.  Nothing else needs to change.
 */
#ifndef XI_CONFIG_KEYS_H
#define XI_CONFIG_KEYS_H

#define XI_CONFIG_KEYS(X) \
	/* --- directory ---------------------------------------------------- */ \
	X(LDAP_URIS, "ldap_uris", XI_CT_URI_LIST, NULL, XI_CF_REQUIRED, NULL, \
	  "LDAP servers, tried in order (ldap://, ldaps:// or ldapi://), separated by spaces.") \
	X(LDAP_BASE_DN, "ldap_base_dn", XI_CT_STRING, NULL, XI_CF_REQUIRED, NULL, \
	  "Subtree searched for accounts, mailboxes and custom recipients.") \
	X(LDAP_BIND_DN, "ldap_bind_dn", XI_CT_STRING, NULL, 0, NULL, \
	  "DN of the service account; empty means an anonymous bind.") \
	X(LDAP_BIND_PASSWORD, "ldap_bind_password", XI_CT_SECRET, NULL, 0, NULL, \
	  "Password of the service account. Prefer putting it in secrets_file.") \
	X(SECRETS_FILE, "secrets_file", XI_CT_PATH, NULL, 0, NULL, \
	  "File holding secret keys (ldap_bind_password) in the same syntax; refused unless only its owner can read it.") \
	X(LDAP_STARTTLS, "ldap_starttls", XI_CT_BOOL, "no", 0, NULL, \
	  "Issue StartTLS on ldap:// connections and fail if it does not succeed.") \
	X(LDAP_TLS_CA_FILE, "ldap_tls_ca_file", XI_CT_PATH, NULL, 0, NULL, \
	  "CA certificates (PEM) that the LDAP server certificate must chain to.") \
	X(LDAP_TLS_REQUIRE_CERT, "ldap_tls_require_cert", XI_CT_BOOL, "yes", 0, NULL, \
	  "Verify the LDAP server certificate and host name (never turn off in production).") \
	X(LDAP_NETWORK_TIMEOUT, "ldap_network_timeout", XI_CT_INT, "5", 0, "1..300", \
	  "Seconds allowed to connect to one LDAP server before trying the next.") \
	X(LDAP_TIMEOUT, "ldap_timeout", XI_CT_INT, "10", 0, "1..300", \
	  "Seconds allowed for one LDAP operation.") \
	X(LDAP_POOL_SIZE, "ldap_pool_size", XI_CT_INT, "4", 0, "1..256", \
	  "LDAP connections kept open per process (searches and binds overlap across them).") \
	X(DIRECTORY_MIRROR, "directory_mirror", XI_CT_BOOL, "no", 0, NULL, \
	  "Keep an in-process mirror of the directory, kept current by LDAP content synchronization (RFC 4533; slapd's syncprov overlay), and answer lookups from it: a logon then sends no LDAP search (bind mode: one bind). Until the mirror is complete, and whenever its connection is down, lookups go to LDAP.") \
	X(DIRECTORY_MIRROR_MAX_ENTRIES, "directory_mirror_max_entries", XI_CT_INT, "200000", 0, "1..10000000", \
	  "Most accounts, mailboxes and recipients the mirror holds; past that it stops answering (every lookup goes to LDAP) until a later full refresh fits.") \
	X(DIRECTORY_MIRROR_SECRETS, "directory_mirror_secrets", XI_CT_BOOL, "no", 0, NULL, \
	  "Let the mirror hold NT hashes and userPassword values (wiped from memory when replaced or freed), so that password_mode = hash and NTLM need no LDAP search either; otherwise those lookups go to LDAP.") \
	X(ADMIN_BIND_DN, "admin_bind_dn", XI_CT_STRING, NULL, 0, NULL, \
	  "DN the xident CLI binds as to change the directory (account, mailbox, recipient verbs); empty means the service account.") \
	X(ADMIN_BIND_PASSWORD, "admin_bind_password", XI_CT_SECRET, NULL, 0, NULL, \
	  "Password of admin_bind_dn. Prefer putting it in secrets_file.") \
	X(SCHEMA, "schema", XI_CT_ENUM, "xident", 0, "xident|ad|exchange55", \
	  "Attribute map: this project's schema, Active Directory / Samba 4, or an Exchange 5.5 directory.") \
	/* --- logon ---------------------------------------------------------- */ \
	X(PASSWORD_MODE, "password_mode", XI_CT_ENUM, "bind", 0, "bind|hash", \
	  "bind: check clear-text passwords by binding as the account; hash: compare with userPassword.") \
	X(PASSWORD_DUMMY_SCHEME, "password_dummy_scheme", XI_CT_ENUM, "ssha512", 0, \
	  "ssha|ssha256|ssha512|crypt-sha512|crypt-yescrypt|crypt-bcrypt|argon2", \
	  "Hash mode: scheme of the dummy hash an unknown name is checked against, so that it costs what a wrong password costs; set it to the scheme most userPassword values use.") \
	X(DEFAULT_DOMAINS, "default_domains", XI_CT_LIST, NULL, 0, NULL, \
	  "NetBIOS domains tried in order for a logon name without a domain.") \
	X(SERVER_NAME, "server_name", XI_CT_STRING, NULL, 0, NULL, \
	  "This server's name as mailboxes' home server attribute spells it; empty accepts every home server.") \
	X(PROTOCOLS, "protocols", XI_CT_LIST, "imap pop3", 0, NULL, \
	  "Protocols enabled on this server; a protocol off here wins over a mailbox's own setting.") \
	X(UPN_LOGON, "upn_logon", XI_CT_BOOL, "yes", 0, NULL, \
	  "Accept user@suffix as a user principal name.") \
	X(MAIL_ADDRESS_LOGON, "mail_address_logon", XI_CT_BOOL, "yes", 0, NULL, \
	  "Accept a mailbox's mail address as a logon name (after UPNs).") \
	X(CANONICAL_USER_FORMAT, "canonical_user_format", XI_CT_STRING, "%a", 0, NULL, \
	  "Name the host program is told after a logon: %a alias, %d domain, %u account, %m first mail address, %% a percent sign.") \
	X(HOME_SERVER_ACTION, "home_server_action", XI_CT_ENUM, "referral", 0, "referral|proxy", \
	  "Mailbox homed on another server: refuse with a referral naming it, or proxy to it (Dovecot).") \
	X(HOME_SERVER_PORT_IMAP, "home_server_port_imap", XI_CT_INT, "143", 0, "1..65535", \
	  "IMAP port of other home servers, for referrals and proxying.") \
	X(HOME_SERVER_PORT_POP3, "home_server_port_pop3", XI_CT_INT, "110", 0, "1..65535", \
	  "POP3 port of other home servers, for proxying.") \
	/* --- NTLM ----------------------------------------------------------- */ \
	X(NTLM_PROTOCOLS, "ntlm_protocols", XI_CT_LIST, "imap pop3", 0, NULL, \
	  "Protocols on which NTLM (Secure Password Authentication) is allowed; empty disables NTLM.") \
	X(NTLM_V1, "ntlm_v1", XI_CT_BOOL, "no", 0, NULL, \
	  "Also accept NTLMv1, NTLMv1 with extended session security and LMv2 alone (weak; for old clients only).") \
	X(NTLM_TIMESTAMP_WINDOW, "ntlm_timestamp_window", XI_CT_INT, "300", 0, "10..129600", \
	  "Seconds an NTLMv2 client timestamp may differ from this server's clock.") \
	X(NTLM_NETBIOS_DOMAIN, "ntlm_netbios_domain", XI_CT_STRING, NULL, 0, NULL, \
	  "NetBIOS domain announced in the NTLM challenge (default: the first default domain).") \
	X(NTLM_DNS_DOMAIN, "ntlm_dns_domain", XI_CT_STRING, NULL, 0, NULL, \
	  "DNS domain announced in the NTLM challenge.") \
	X(NTLM_NETBIOS_COMPUTER, "ntlm_netbios_computer", XI_CT_STRING, NULL, 0, NULL, \
	  "NetBIOS computer name announced in the NTLM challenge (default: host name, upper case).") \
	X(NTLM_DNS_COMPUTER, "ntlm_dns_computer", XI_CT_STRING, NULL, 0, NULL, \
	  "DNS computer name announced in the NTLM challenge (default: host name).") \
	/* --- diagnostics ------------------------------------------------------ */ \
	X(DIAG_AUTHENTICATION, "diag_authentication", XI_CT_LEVEL, "minimum", 0, NULL, \
	  "Diagnostics level of the Authentication category: none, minimum, medium, maximum (0, 1, 3, 5).") \
	X(DIAG_LOGONS, "diag_logons", XI_CT_LEVEL, "minimum", 0, NULL, \
	  "Diagnostics level of the Logons category.") \
	X(DIAG_CONNECTIONS, "diag_connections", XI_CT_LEVEL, "minimum", 0, NULL, \
	  "Diagnostics level of the Connections category.") \
	X(DIAG_CLIENT_ACTIONS, "diag_client_actions", XI_CT_LEVEL, "minimum", 0, NULL, \
	  "Diagnostics level of the Client Actions category.") \
	X(DIAG_CONFIGURATION, "diag_configuration", XI_CT_LEVEL, "minimum", 0, NULL, \
	  "Diagnostics level of the Configuration category.") \
	/* --- standalone server (xidentd) ------------------------------------ */ \
	X(POP3_LISTEN, "pop3_listen", XI_CT_LIST, NULL, 0, NULL, \
	  "xidentd: POP3 listeners (STLS offered when a certificate is set), as address:port, IPv6 as [address]:port, separated by spaces.") \
	X(LMTP_LISTEN, "lmtp_listen", XI_CT_LIST, NULL, 0, NULL, \
	  "xidentd-lmtp: LMTP listeners for the MTA, as a unix socket path or address:port (IPv6 as [address]:port), separated by spaces; keep TCP on 127.0.0.1.") \
	X(LMTP_RESOLVER_THREADS, "lmtp_resolver_threads", XI_CT_INT, "4", 0, "1..64", \
	  "xidentd-lmtp: recipient lookups the resolver process works on at once (threads sharing the LDAP pool); a slow directory answer for one recipient then holds up that delivery, not every delivery.") \
	X(POP3S_LISTEN, "pop3s_listen", XI_CT_LIST, NULL, 0, NULL, \
	  "xidentd: POP3 over implicit TLS listeners (port 995), same syntax as pop3_listen; needs tls_cert_file.") \
	X(IMAP_LISTEN, "imap_listen", XI_CT_LIST, NULL, 0, NULL, \
	  "xidentd: IMAP listeners (STARTTLS offered when a certificate is set), same syntax as pop3_listen.") \
	X(IMAPS_LISTEN, "imaps_listen", XI_CT_LIST, NULL, 0, NULL, \
	  "xidentd: IMAP over implicit TLS listeners (port 993), same syntax as pop3_listen; needs tls_cert_file.") \
	X(TLS_CERT_FILE, "tls_cert_file", XI_CT_PATH, NULL, 0, NULL, \
	  "xidentd: server certificate chain (PEM); reread on SIGHUP.") \
	X(TLS_KEY_FILE, "tls_key_file", XI_CT_PATH, NULL, 0, NULL, \
	  "xidentd: private key of tls_cert_file (PEM); reread on SIGHUP.") \
	X(TLS_CA_FILE, "tls_ca_file", XI_CT_PATH, NULL, 0, NULL, \
	  "xidentd: CA certificates (PEM) sent with the chain when tls_cert_file holds only the leaf.") \
	X(MAX_LINE_LENGTH, "max_line_length", XI_CT_INT, "4096", 0, "512..65536", \
	  "xidentd: longest command line (and SASL response) in bytes; a longer one closes the connection.") \
	X(MAX_CONNECTIONS, "max_connections", XI_CT_INT, "10000", 0, "1..1000000", \
	  "xidentd: client connections held at once; further ones are refused.") \
	X(MAX_CONNECTIONS_PER_SOURCE, "max_connections_per_source", XI_CT_INT, "20", 0, "1..1000000", \
	  "xidentd: client connections held at once from one remote address.") \
	X(MAX_NTLM_EXCHANGES_PER_SOURCE, "max_ntlm_exchanges_per_source", XI_CT_INT, "0", 0, "0..1000000", \
	  "xidentd: NTLM exchanges (NEGOTIATE sent, AUTHENTICATE not yet answered) held at once for one remote address, further ones getting a temporary failure; 0: max_connections_per_source (one per connection).") \
	X(NTLM_EXCHANGE_TIMEOUT, "ntlm_exchange_timeout", XI_CT_INT, "30", 0, "1..3600", \
	  "xidentd: seconds an NTLM exchange may wait for the client's AUTHENTICATE before it is dropped; a later AUTHENTICATE is refused as event 13004 outcome=ntlm_timeout.") \
	X(MAX_FAILED_LOGONS, "max_failed_logons", XI_CT_INT, "3", 0, "1..100", \
	  "xidentd: failed logons after which a connection is closed.") \
	X(LOGON_FAILURE_DELAY, "logon_failure_delay", XI_CT_INT, "500", 0, "0..60000", \
	  "xidentd: milliseconds before a failed logon is answered; doubled for each further recent failure from the same address.") \
	X(LOGON_FAILURE_DELAY_MAX, "logon_failure_delay_max", XI_CT_INT, "15000", 0, "0..600000", \
	  "xidentd: upper bound of that delay in milliseconds; a source's failures are forgotten after 15 minutes without one.") \
	X(PLAINTEXT_LOGONS, "plaintext_logons", XI_CT_ENUM, "secure", 0, "secure|tls|always", \
	  "xidentd: where clear-text logons (USER/PASS, AUTH PLAIN and LOGIN, IMAP LOGIN) are allowed: secure = over TLS or from a loopback address (as Dovecot's disable_plaintext_auth = yes), tls = over TLS only, always = also without TLS (the password crosses the network readable). NTLM is allowed in every case.") \
	X(MAX_USER_SESSIONS, "max_user_sessions", XI_CT_INT, "10", 0, "0..100000", \
	  "xidentd: logged-on sessions one user may hold at once from one remote address (as Dovecot's mail_max_userip_connections); further logons are refused with [IN-USE]. 0: no limit.") \
	X(MAIL_PROCESS_SESSIONS, "mail_process_sessions", XI_CT_INT, "1", 0, "1..100000", \
	  "xidentd: sessions one mail process serves, one after another, before it exits (as Dovecot's service_count for imap and pop3). Between sessions it waits, idle, for the next logon to a mailbox with the same uid and gid, and is never given one of another uid or gid; an idle process exits after 60 seconds. 1: a new process for every session.") \
	X(AUTH_THREADS, "auth_threads", XI_CT_INT, "0", 0, "0..64", \
	  "xidentd: logons the authentication process works on at once (threads sharing the LDAP pool); a slow directory answer then holds up one logon, not all. 0: one thread per connection a logon holds at a time, ldap_pool_size in password_mode = hash (a logon needs only a search connection; more threads would wait for one), twice that in password_mode = bind (the search set and the bind set), at most 64.") \
	X(AUTH_QUEUE, "auth_queue", XI_CT_INT, "1024", 0, "1..65536", \
	  "xidentd: logon requests waiting for a thread; beyond it a logon is answered as a temporary failure at once.") \
	X(IDLE_TIMEOUT_PREAUTH, "idle_timeout_preauth", XI_CT_INT, "60", 0, "5..3600", \
	  "xidentd: seconds a connection may stay silent before it has logged on.") \
	X(IDLE_TIMEOUT, "idle_timeout", XI_CT_INT, "600", 0, "60..86400", \
	  "xidentd: seconds a logged-on session may stay silent (RFC 1939 asks for at least 10 minutes).") \
	X(MAIL_ROOT, "mail_root", XI_CT_PATH, NULL, 0, NULL, \
	  "xidentd: folder every mailbox home must lie under; a home outside it is refused as a temporary failure.") \
	X(XIDENTD_USER, "xidentd_user", XI_CT_STRING, "nobody", 0, NULL, \
	  "xidentd: unprivileged user the network and authentication processes run as.") \
	X(XIDENTD_CHROOT, "xidentd_chroot", XI_CT_PATH, "/run/xidentd/empty", 0, NULL, \
	  "xidentd: empty folder the network process is chrooted to (created, owned by root, when missing).") \
	X(XIDENTD_LOG, "xidentd_log", XI_CT_ENUM, "stderr", 0, "stderr|syslog", \
	  "xidentd: where events go: standard error (systemd journal) or syslog (facility mail).")

#endif
