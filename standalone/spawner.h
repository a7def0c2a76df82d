/*
 * The spawner: xidentd's session starter (see xidentd.h).
 *
 * Why a process of its own: forking the mail process from the master cost
 * more than authenticating the logon.  The master maps 18 libraries
 * (OpenSSL, libldap and GnuTLS under it), holds the config, the grants and
 * a heap that grows with them, so each fork copied hundreds of mappings and
 * their page tables, the child took copy-on-write faults on whatever it
 * touched, and its exit tore all of that down again.  The spawner is
 * xidentd-session, exec'ed fresh by the master at start: libc only, no
 * config, a small heap; forking it is cheap and so is the session's exit.
 *
 * It stays root (a mail process becomes an arbitrary mailbox uid, which
 * only root can do) but holds nothing worth stealing: no config, no bind
 * password, no grant other than the one it is handling, no listener; it
 * acts only on what the master sends it over a socketpair the network
 * process never sees.
 *
 * Messages (privsep.h framing), master <-> spawner:
 *
 *   XI_MSG_SPAWN     master -> spawner, with the client descriptor:
 *                    u32 key, protocol, user, u32 uid, u32 gid, home,
 *                    maildir, tag, pending input, u32 idle_s, u32 max_line,
 *                    u32 sessions (mail_process_sessions)
 *   XI_MSG_SPAWNED   spawner -> master: u32 key, u32 pid (0: fork failed)
 *   XI_MSG_ENDED     spawner -> master: u32 pid of a mail process whose
 *                    session ended (it exited, or waits for another)
 *
 * key is the master's provisional key of the session (session_count.h);
 * SPAWNED for a session is always sent before its ENDED, and a pid has at
 * most one session at a time.
 *
 * With sessions > 1 a mail process has a socketpair to the spawner (no
 * other process's): after a session it sends XI_MSG_ENDED (no fields) and
 * waits; the spawner forwards it the next XI_MSG_SPAWN of the same uid and
 * gid as it came from the master, or closes the socket (idle 60 s, too many
 * idle, spawner exiting) and the process exits.  Anything else from it, the
 * spawner answers with SIGKILL.
 */
#ifndef XD_SPAWNER_H
#define XD_SPAWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "privsep.h"
#include "xidentd.h"

/* The program's name; the master runs it from the folder it runs from. */
#define XD_SPAWNER_PROGRAM "xidentd-session"

struct xd_spawn {
	uint32_t key;
	char protocol[16];
	char user[256];
	uint32_t uid, gid;
	char home[1024];
	char maildir[1040];
	char tag[XD_IMAP_TAG_MAX];
	const uint8_t *pending;  /* into the message it was read from */
	size_t pending_len;
	struct xd_session_settings set;
};

/* Fills m (XI_MSG_SPAWN); m->bad when it does not fit. */
void xd_spawn_put(struct xi_msg *m, const struct xd_spawn *sp);
/* false when a field is missing, too long, or uid/gid is root. */
bool xd_spawn_get(struct xi_msg *m, struct xd_spawn *sp);

#endif
