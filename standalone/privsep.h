/*
 * privsep: the messages xidentd's processes exchange over SOCK_SEQPACKET
 * socketpairs.  Seqpacket keeps message boundaries, so one sendmsg is one
 * message and a truncated read (MSG_TRUNC) is a protocol error, never a
 * partial parse.  Every message is
 *
 *     u32 type, u32 conn, then fields: u16 length + bytes, in a fixed order
 *
 * and is at most XI_MSG_MAX bytes.  A reader takes fields in order with
 * xi_msg_str()/xi_msg_bytes(), each bounded by what the caller can hold; any
 * field that is missing, too long or (for strings) holds a NUL makes the
 * whole message invalid.  The peer of the network process is treated as
 * hostile: the auth process and the master check everything it sends.
 */
#ifndef XI_PRIVSEP_H
#define XI_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XI_MSG_MAX 65536
#define XI_TOKEN_LEN 16

enum xi_msg_type {
	/* network -> auth */
	XI_MSG_AUTH_PLAIN = 1,   /* protocol, remote, name, password */
	XI_MSG_AUTH_NTLM,        /* protocol, remote, base64 blob */
	XI_MSG_AUTH_FORGET,      /* (conn only): connection gone, drop its NTLM state */
	/* auth -> network */
	XI_MSG_AUTH_REPLY,       /* status, outcome name, client text, blob, token, canonical user */
	/* auth -> master */
	XI_MSG_GRANT,            /* token, protocol, remote, canonical user, uid, gid, home, mail */
	/* network -> master, with a descriptor */
	XI_MSG_SESSION,          /* token, tls flag, input already read */
	/* master -> network */
	XI_MSG_TLS,              /* certificate chain PEM, key PEM, CA PEM (at start and on SIGHUP) */
	XI_MSG_AUTH_SOCKET,      /* with a descriptor: the new auth process's socket (SIGHUP) */
	XI_MSG_LIMITS,           /* struct xd_limits as u32 fields (at start and on SIGHUP) */
	XI_MSG_LISTENER,         /* with a descriptor: u32 index, u32 count, u32 tls, u32 imap;
				    the whole set, replacing the old once index = count - 1 */
	/* xidentd-lmtp (xidentd_lmtp.c) */
	XI_MSG_LMTP_REGISTER,    /* session -> resolver, with a descriptor: its own channel */
	XI_MSG_LMTP_RCPT,        /* protocol -> deliverer: address;
				    deliverer -> resolver: remote, address */
	XI_MSG_LMTP_RCPT_REPLY,  /* resolver -> deliverer: u32 ok, reply, uid, gid, user, maildir;
				    deliverer -> protocol: u32 ok, reply, u32 recipient id */
	XI_MSG_LMTP_DATA,        /* protocol -> deliverer, with a memfd holding the message:
				    u32 recipient id, address */
	XI_MSG_LMTP_DATA_REPLY,  /* deliverer -> protocol: the recipient's reply line */
	/* xidentd master <-> spawner (spawner.h) */
	XI_MSG_SPAWN,            /* master -> spawner, with the client descriptor: a session */
	XI_MSG_SPAWNED,          /* spawner -> master: u32 key, u32 pid (0: not started) */
	XI_MSG_ENDED,            /* spawner -> master: u32 pid of a mail process reaped */
};

enum xi_auth_status {
	XI_AUTH_OK = 1,
	XI_AUTH_CONTINUE,    /* NTLM: send the blob, wait for the client */
	XI_AUTH_FAIL,        /* permanent: -ERR [AUTH] */
	XI_AUTH_TEMPFAIL     /* -ERR [SYS/TEMP] */
};

struct xi_msg {
	uint32_t type;
	uint32_t conn;
	size_t len;          /* bytes used in buf */
	size_t pos;          /* read position */
	bool bad;            /* a put did not fit or a get failed */
	uint8_t buf[XI_MSG_MAX];
};

void xi_msg_init(struct xi_msg *m, uint32_t type, uint32_t conn);
void xi_msg_put(struct xi_msg *m, const void *data, size_t len);
void xi_msg_put_str(struct xi_msg *m, const char *s);
void xi_msg_put_u32(struct xi_msg *m, uint32_t v);

/* Field getters: false (and m->bad) when the field is absent or too long. */
bool xi_msg_bytes(struct xi_msg *m, const uint8_t **data_r, size_t *len_r, size_t max);
bool xi_msg_str(struct xi_msg *m, char *buf, size_t size);
bool xi_msg_u32(struct xi_msg *m, uint32_t *v_r);

/* Sends m (and fd unless it is -1).  0 or -1 with errno. */
int xi_msg_send(int sock, const struct xi_msg *m, int fd);
/* Receives one message (and at most one descriptor into *fd_r, -1 when none;
 * fd_r may be NULL, then any descriptor received is closed).  1 on a
 * message, 0 on EOF, -1 on error (EAGAIN included) or a malformed message
 * (errno EPROTO). */
int xi_msg_recv(int sock, struct xi_msg *m, int *fd_r);

#endif
