/* Live mail processes per (user, remote): see session_count.h. */
#include "session_count.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

/* One (user, remote) pair with at least one live session. */
struct pair {
	struct pair *next;
	size_t live;
	char key[];   /* user NUL remote NUL */
};

struct session {
	struct session *next;
	pid_t pid;
	struct pair *pair;
};

struct xd_sessions {
	struct pair *pairs[BUCKETS];
	struct session *by_pid[BUCKETS];
};

static unsigned hash_key(const char *user, const char *remote)
{
	uint32_t h = 2166136261u;

	for (const char *p = user; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ 0xff) * 16777619u; /* "ab"+"c" and "a"+"bc" differ */
	for (const char *p = remote; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % BUCKETS;
}

static bool pair_is(const struct pair *p, const char *user, const char *remote)
{
	size_t ul = strlen(user);

	return strcmp(p->key, user) == 0 && strcmp(p->key + ul + 1, remote) == 0;
}

struct xd_sessions *xd_sessions_new(void)
{
	return calloc(1, sizeof(struct xd_sessions));
}

void xd_sessions_free(struct xd_sessions *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (s->pairs[i] != NULL) {
			struct pair *p = s->pairs[i];
			s->pairs[i] = p->next;
			free(p);
		}
		while (s->by_pid[i] != NULL) {
			struct session *e = s->by_pid[i];
			s->by_pid[i] = e->next;
			free(e);
		}
	}
	free(s);
}

size_t xd_sessions_count(const struct xd_sessions *s, const char *user, const char *remote)
{
	for (const struct pair *p = s->pairs[hash_key(user, remote)]; p != NULL; p = p->next)
		if (pair_is(p, user, remote))
			return p->live;
	return 0;
}

bool xd_sessions_add(struct xd_sessions *s, pid_t pid, const char *user, const char *remote)
{
	unsigned h = hash_key(user, remote);
	struct pair *p;
	struct session *e = malloc(sizeof(*e));

	if (e == NULL)
		return false;
	for (p = s->pairs[h]; p != NULL; p = p->next)
		if (pair_is(p, user, remote))
			break;
	if (p == NULL) {
		size_t ul = strlen(user), rl = strlen(remote);
		p = malloc(sizeof(*p) + ul + rl + 2);
		if (p == NULL) {
			free(e);
			return false;
		}
		memcpy(p->key, user, ul + 1);
		memcpy(p->key + ul + 1, remote, rl + 1);
		p->live = 0;
		p->next = s->pairs[h];
		s->pairs[h] = p;
	}
	p->live++;
	e->pid = pid;
	e->pair = p;
	e->next = s->by_pid[(unsigned)pid % BUCKETS];
	s->by_pid[(unsigned)pid % BUCKETS] = e;
	return true;
}

bool xd_sessions_remove(struct xd_sessions *s, pid_t pid)
{
	struct session **ep = &s->by_pid[(unsigned)pid % BUCKETS];

	for (; *ep != NULL; ep = &(*ep)->next) {
		struct session *e = *ep;
		struct pair *p = e->pair;

		if (e->pid != pid)
			continue;
		*ep = e->next;
		free(e);
		if (--p->live == 0) {
			/* Forget the pair: a busy server sees many addresses. */
			struct pair **pp = &s->pairs[hash_key(p->key, p->key + strlen(p->key) + 1)];
			while (*pp != p)
				pp = &(*pp)->next;
			*pp = p->next;
			free(p);
		}
		return true;
	}
	return false;
}

bool xd_sessions_rekey(struct xd_sessions *s, pid_t from, pid_t to)
{
	struct session **ep = &s->by_pid[(unsigned)from % BUCKETS];

	for (; *ep != NULL; ep = &(*ep)->next) {
		struct session *e = *ep;

		if (e->pid != from)
			continue;
		*ep = e->next;
		e->pid = to;
		e->next = s->by_pid[(unsigned)to % BUCKETS];
		s->by_pid[(unsigned)to % BUCKETS] = e;
		return true;
	}
	return false;
}

size_t xd_sessions_remove_unstarted(struct xd_sessions *s)
{
	size_t removed = 0;

	for (size_t i = 0; i < BUCKETS; i++) {
		struct session *e = s->by_pid[i];
		while (e != NULL) {
			pid_t pid = e->pid;
			e = e->next;
			if (pid < 0 && xd_sessions_remove(s, pid))
				removed++;
		}
	}
	return removed;
}
