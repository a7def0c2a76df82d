#define _GNU_SOURCE
#include "privsep.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEADER_LEN 8

void xi_msg_init(struct xi_msg *m, uint32_t type, uint32_t conn)
{
	m->type = type;
	m->conn = conn;
	m->len = HEADER_LEN;
	m->pos = HEADER_LEN;
	m->bad = false;
	memcpy(m->buf, &type, 4);
	memcpy(m->buf + 4, &conn, 4);
}

void xi_msg_put(struct xi_msg *m, const void *data, size_t len)
{
	uint16_t l = (uint16_t)len;

	if (m->bad || len > UINT16_MAX || sizeof(m->buf) - m->len < 2 + len) {
		m->bad = true;
		return;
	}
	memcpy(m->buf + m->len, &l, 2);
	if (len > 0)
		memcpy(m->buf + m->len + 2, data, len);
	m->len += 2 + len;
}

void xi_msg_put_str(struct xi_msg *m, const char *s)
{
	xi_msg_put(m, s ? s : "", s ? strlen(s) : 0);
}

void xi_msg_put_u32(struct xi_msg *m, uint32_t v)
{
	xi_msg_put(m, &v, sizeof(v));
}

bool xi_msg_bytes(struct xi_msg *m, const uint8_t **data_r, size_t *len_r, size_t max)
{
	uint16_t l;

	if (m->bad || m->len - m->pos < 2) {
		m->bad = true;
		return false;
	}
	memcpy(&l, m->buf + m->pos, 2);
	if (l > max || m->len - m->pos - 2 < l) {
		m->bad = true;
		return false;
	}
	*data_r = m->buf + m->pos + 2;
	*len_r = l;
	m->pos += 2 + (size_t)l;
	return true;
}

bool xi_msg_str(struct xi_msg *m, char *buf, size_t size)
{
	const uint8_t *d;
	size_t l;

	if (size == 0 || !xi_msg_bytes(m, &d, &l, size - 1))
		return false;
	if (memchr(d, '\0', l) != NULL) {
		m->bad = true;
		return false;
	}
	memcpy(buf, d, l);
	buf[l] = '\0';
	return true;
}

bool xi_msg_u32(struct xi_msg *m, uint32_t *v_r)
{
	const uint8_t *d;
	size_t l;

	if (!xi_msg_bytes(m, &d, &l, 4) || l != 4) {
		m->bad = true;
		return false;
	}
	memcpy(v_r, d, 4);
	return true;
}

int xi_msg_send(int sock, const struct xi_msg *m, int fd)
{
	struct iovec iov = { .iov_base = (void *)m->buf, .iov_len = m->len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (m->bad) {
		errno = EMSGSIZE;
		return -1;
	}
	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	return (size_t)n == m->len ? 0 : -1;
}

int xi_msg_recv(int sock, struct xi_msg *m, int *fd_r)
{
	struct iovec iov = { .iov_base = m->buf, .iov_len = sizeof(m->buf) };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int fd = -1;
	ssize_t n;

	if (fd_r != NULL)
		*fd_r = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	/* Take every descriptor out first so none leaks on a bad message. */
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfd; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (fd < 0 && fd_r != NULL)
					fd = f;
				else
					close(f);
			}
		}
	}
	if (n == 0) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || n < HEADER_LEN) {
		if (fd >= 0)
			close(fd);
		errno = EPROTO;
		return -1;
	}
	m->len = (size_t)n;
	m->pos = HEADER_LEN;
	m->bad = false;
	memcpy(&m->type, m->buf, 4);
	memcpy(&m->conn, m->buf + 4, 4);
	if (fd_r != NULL)
		*fd_r = fd;
	return 1;
}
