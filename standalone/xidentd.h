/*
 * xidentd: the standalone POP3 and IMAP server.  Processes (privilege separation in
 * the spirit of OpenSMTPD and popa3d):
 *
 *   master   root; reads the config, opens listeners, forks the others,
 *            starts a session per logon from a grant the auth process sent
 *            it (never from what the network process claims) by handing it
 *            to the spawner, counts sessions, reaps children, handles
 *            SIGTERM/SIGHUP.
 *   network  unprivileged, chrooted to an empty folder, no config secrets:
 *            the event loop, TLS, limits, POP3 and IMAP before logon
 *            (IMAP: imap_login.c behind net_conn.h).
 *   auth     unprivileged: the config, the bind password and the resolver;
 *            answers the network process, sends grants to the master.
 *   spawner  root, but a fresh small program (xidentd-session, exec'ed by
 *            the master at start, spawner.h): no config, no secrets, few
 *            mappings.  Forks the mail process for each session the master
 *            hands it (grant + client descriptor), reaps it, and reports
 *            both to the master, which keeps the session count.
 *   mail     one per session at a time, as the mailbox's uid/gid: the
 *            POP3 transaction state on one mailbox (mail.c), or an IMAP
 *            session (imap_session.h).  A crash ends one session.  With
 *            mail_process_sessions > 1 it serves further sessions of the
 *            same uid/gid, one after another (spawner.h).
 */
#ifndef XIDENTD_H
#define XIDENTD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct xi_config;

#define XIDENTD_IMPLEMENTATION "xidentd"

/* Logging: stderr or syslog, chosen once before the processes fork. */
void xd_log_open(bool use_syslog);
void xd_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The core's event sink (ctx unused). */
void xd_event_sink(void *ctx, const struct xi_event *ev, const char *line);
/* Emits a connection-level event (11103, 13002, ...) with the config's levels. */
void xd_event_levels_set(const struct xi_event_levels *lv);
void xd_emit(const struct xi_event *ev);

/* Drops root: setgroups(0), setgid, setuid, verified.  0 or -1 (logged). */
int xd_drop_privileges(unsigned uid, unsigned gid);
/* uid/gid of a user name.  0 or -1. */
int xd_lookup_user(const char *name, unsigned *uid_r, unsigned *gid_r);
/* xidentd_chroot: an empty folder owned by root that nobody else may write
 * (created when missing).  Shared by xidentd and xidentd-lmtp. */
bool xd_chroot_ready(const char *root);

/* Listening sockets one xidentd holds at most. */
#define XD_LISTEN_MAX 32

/* The network process's limits, from the config at start and again on
 * SIGHUP (it cannot read the file: chrooted, and the file holds secrets). */
struct xd_limits {
	uint32_t max_line, max_conns, max_per_source, max_failures;
	uint32_t delay_ms, delay_max_ms, idle_pre_s, idle_s;
	uint32_t plaintext_mode;   /* xd_plaintext_mode() */
};
struct xi_msg;
void xd_limits_from_config(const struct xi_config *cfg, struct xd_limits *l);
void xd_limits_put(struct xi_msg *m, const struct xd_limits *l);
/* false when a field is missing or out of the config's ranges */
bool xd_limits_get(struct xi_msg *m, struct xd_limits *l);

/* Process bodies; each returns the process's exit code. */
int xd_auth_main(const struct xi_config *cfg, int net_sock, int master_sock);
/* listen_imap[i]: listener i speaks IMAP (else POP3). */
int xd_net_main(const struct xi_config *cfg, const int *listen_fds, const bool *listen_tls,
		const bool *listen_imap, size_t nlisten, int auth_sock, int master_sock);
/* What a mail process takes from the config: the master sends it with
 * every session, so the spawner and the sessions never see the config (nor
 * its secrets) and a SIGHUP applies to the next session. */
struct xd_session_settings {
	uint32_t idle_s;     /* idle_timeout */
	uint32_t max_line;   /* max_line_length */
	uint32_t sessions;   /* mail_process_sessions: sessions one mail process serves */
};
/* The mail process: serves fd (client socket, or the network process's
 * proxy end) as user on the Maildir at maildir, after sending the logon's
 * +OK.  pending/pending_len: input the client already sent. */
int xd_mail_main(const struct xd_session_settings *set, int fd, const char *user, const char *maildir,
		 const char *pending, size_t pending_len);

/* IMAP: the longest tag the network process hands to the mail process. */
#define XD_IMAP_TAG_MAX 128
/* IMAP's inactivity autologout after logon: at least 30 minutes (RFC 3501
 * 5.4), whatever idle_timeout says for POP3. */
#define XD_IMAP_AUTOLOGOUT_MS (30 * 60 * 1000)
/* The IMAP mail process (imap_session.c): serves fd as user on the Maildir
 * at maildir; first answers the logon command tagged `tag` with OK.
 * pending/pending_len: input the client already sent. */
int xd_imap_main(const struct xd_session_settings *set, int fd, const char *user, const char *maildir,
		 const char *tag, const char *pending, size_t pending_len);

#endif
