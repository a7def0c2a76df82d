/* The master -> spawner session message (spawner.h), both ends. */
#include "spawner.h"

#include <string.h>

void xd_spawn_put(struct xi_msg *m, const struct xd_spawn *sp)
{
	xi_msg_init(m, XI_MSG_SPAWN, 0);
	xi_msg_put_u32(m, sp->key);
	xi_msg_put_str(m, sp->protocol);
	xi_msg_put_str(m, sp->user);
	xi_msg_put_u32(m, sp->uid);
	xi_msg_put_u32(m, sp->gid);
	xi_msg_put_str(m, sp->home);
	xi_msg_put_str(m, sp->maildir);
	xi_msg_put_str(m, sp->tag);
	xi_msg_put(m, sp->pending, sp->pending_len);
	xi_msg_put_u32(m, sp->set.idle_s);
	xi_msg_put_u32(m, sp->set.max_line);
	xi_msg_put_u32(m, sp->set.sessions);
}

bool xd_spawn_get(struct xi_msg *m, struct xd_spawn *sp)
{
	memset(sp, 0, sizeof(*sp));
	return m->type == XI_MSG_SPAWN && xi_msg_u32(m, &sp->key) &&
	       xi_msg_str(m, sp->protocol, sizeof(sp->protocol)) &&
	       xi_msg_str(m, sp->user, sizeof(sp->user)) && xi_msg_u32(m, &sp->uid) &&
	       xi_msg_u32(m, &sp->gid) && xi_msg_str(m, sp->home, sizeof(sp->home)) &&
	       xi_msg_str(m, sp->maildir, sizeof(sp->maildir)) &&
	       xi_msg_str(m, sp->tag, sizeof(sp->tag)) &&
	       xi_msg_bytes(m, &sp->pending, &sp->pending_len, XI_MSG_MAX) &&
	       xi_msg_u32(m, &sp->set.idle_s) && xi_msg_u32(m, &sp->set.max_line) &&
	       xi_msg_u32(m, &sp->set.sessions) &&
	       sp->uid != 0 && sp->gid != 0 && sp->set.max_line > 0 && sp->set.sessions > 0;
}
