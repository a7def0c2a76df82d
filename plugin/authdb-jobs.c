/*
 * authdb-jobs: see authdb-jobs.h.
 *
 * One mutex guards two lists: the queue (jobs waiting for a thread) and the
 * finished list (jobs waiting for the main thread).  A thread that finishes
 * a job appends it and bumps the eventfd; the main thread's io callback
 * takes the whole finished list at once and answers each job outside the
 * lock, so a done function may submit the next job (the next passdb or
 * userdb in Dovecot's chain) without deadlock.
 */
#include "lib.h"
#include "ioloop.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "authdb-jobs.h"

#define THREAD_STACK_SIZE (1024 * 1024)

struct xi_job_list {
	struct xi_job *head;
	struct xi_job **tail;
};

struct xi_jobs {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct xi_job_list queue;
	unsigned queued, queue_limit;
	struct xi_job_list finished;
	bool stopping;

	int event_fd;
	struct io *io;

	pthread_t *threads;
	unsigned thread_count;
};

static void list_init(struct xi_job_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void list_append(struct xi_job_list *l, struct xi_job *job)
{
	job->next = NULL;
	*l->tail = job;
	l->tail = &job->next;
}

static struct xi_job *list_take_all(struct xi_job_list *l)
{
	struct xi_job *all = l->head;

	list_init(l);
	return all;
}

/* glibc gives each new thread a malloc arena of its own, reserving 64 MB
 * (128 MB while it aligns it) of address space per arena.  Under Dovecot's
 * vsz_limit that reservation fails, and then every malloc of those threads
 * becomes an mmap and every free a munmap, serialised on the process's
 * memory map lock with a TLB shootdown each: ten times slower than one
 * thread.  The auth process is single-threaded apart from these threads,
 * so making every thread share the main arena (its small allocations still
 * come from per-thread caches) affects no one else. */
static void limit_malloc_arenas(void)
{
	struct rlimit rl;

	if (getenv("MALLOC_ARENA_MAX") != NULL)
		return; /* the administrator decided */
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
		return;
	if (mallopt(M_ARENA_MAX, 1) != 1)
		i_warning("xident: mallopt(M_ARENA_MAX) failed");
}

static void *worker_main(void *context)
{
	struct xi_jobs *jobs = context;

	pthread_mutex_lock(&jobs->lock);
	for (;;) {
		while (!jobs->stopping && jobs->queue.head == NULL)
			pthread_cond_wait(&jobs->wake, &jobs->lock);
		if (jobs->stopping)
			break;
		struct xi_job *job = jobs->queue.head;
		jobs->queue.head = job->next;
		if (jobs->queue.head == NULL)
			jobs->queue.tail = &jobs->queue.head;
		jobs->queued--;
		pthread_mutex_unlock(&jobs->lock);

		job->run(job);

		pthread_mutex_lock(&jobs->lock);
		bool wake = jobs->finished.head == NULL;
		list_append(&jobs->finished, job);
		/* Only the first finished job wakes the main thread: it takes
		 * the whole list, so under load one wake-up answers many jobs.
		 * Written under the lock so that destroy, which closes the fd
		 * after joining, never races a late write. */
		if (wake) {
			uint64_t one = 1;
			ssize_t ret = write(jobs->event_fd, &one, sizeof(one));
			(void)ret; /* EAGAIN: the counter is already non-zero */
		}
	}
	pthread_mutex_unlock(&jobs->lock);
	return NULL;
}

static void answer_finished(struct xi_jobs *jobs)
{
	struct xi_job *job, *next;

	pthread_mutex_lock(&jobs->lock);
	job = list_take_all(&jobs->finished);
	pthread_mutex_unlock(&jobs->lock);
	for (; job != NULL; job = next) {
		next = job->next;
		job->done(job, TRUE);
	}
}

static void jobs_input(struct xi_jobs *jobs)
{
	uint64_t count;

	if (read(jobs->event_fd, &count, sizeof(count)) < 0 &&
	    errno != EAGAIN && errno != EINTR)
		i_error("xident: read(eventfd) failed: %m");
	answer_finished(jobs);
}

int xi_jobs_create(unsigned threads, unsigned queue_limit, struct xi_jobs **jobs_r,
		   const char **error_r)
{
	struct xi_jobs *jobs;
	sigset_t all, old;
	int ret;

	i_assert(threads >= 1 && threads <= 256);
	jobs = i_new(struct xi_jobs, 1);
	pthread_mutex_init(&jobs->lock, NULL);
	pthread_cond_init(&jobs->wake, NULL);
	list_init(&jobs->queue);
	list_init(&jobs->finished);
	jobs->queue_limit = queue_limit;
	jobs->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (jobs->event_fd < 0) {
		*error_r = t_strdup_printf("eventfd() failed: %m");
		pthread_cond_destroy(&jobs->wake);
		pthread_mutex_destroy(&jobs->lock);
		i_free(jobs);
		return -1;
	}
	jobs->threads = i_new(pthread_t, threads);
	limit_malloc_arenas();
	/* Dovecot limits the auth process's address space (vsz_limit, 256 MB
	 * by default): the default thread stack (RLIMIT_STACK, often 8 MB)
	 * times the threads would take much of it.  The resolver's deepest
	 * call chain, with libldap and OpenSSL below it, uses far less. */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);
	/* The threads inherit this mask: every signal stays with the main
	 * thread, whose handlers Dovecot installed. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; jobs->thread_count < threads; jobs->thread_count++) {
		ret = pthread_create(&jobs->threads[jobs->thread_count], &attr,
				     worker_main, jobs);
		if (ret != 0) {
			*error_r = t_strdup_printf("pthread_create() failed: %s", strerror(ret));
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (jobs->thread_count == 0) {
		close(jobs->event_fd);
		pthread_cond_destroy(&jobs->wake);
		pthread_mutex_destroy(&jobs->lock);
		i_free(jobs->threads);
		i_free(jobs);
		return -1;
	}
	if (jobs->thread_count < threads)
		i_warning("xident: only %u of %u threads started: %s", jobs->thread_count,
			  threads, *error_r);
	jobs->io = io_add(jobs->event_fd, IO_READ, jobs_input, jobs);
	*jobs_r = jobs;
	return 0;
}

bool xi_jobs_submit(struct xi_jobs *jobs, struct xi_job *job)
{
	bool queued = FALSE;

	pthread_mutex_lock(&jobs->lock);
	if (!jobs->stopping && jobs->queued < jobs->queue_limit) {
		list_append(&jobs->queue, job);
		jobs->queued++;
		pthread_cond_signal(&jobs->wake);
		queued = TRUE;
	}
	pthread_mutex_unlock(&jobs->lock);
	return queued;
}

unsigned xi_jobs_thread_count(const struct xi_jobs *jobs)
{
	return jobs->thread_count;
}

void xi_jobs_destroy(struct xi_jobs **_jobs)
{
	struct xi_jobs *jobs = *_jobs;
	struct xi_job *job, *next;

	*_jobs = NULL;
	if (jobs == NULL)
		return;
	pthread_mutex_lock(&jobs->lock);
	jobs->stopping = TRUE;
	pthread_cond_broadcast(&jobs->wake);
	pthread_mutex_unlock(&jobs->lock);
	/* A running job ends within the directory timeouts. */
	for (unsigned i = 0; i < jobs->thread_count; i++)
		pthread_join(jobs->threads[i], NULL);
	io_remove(&jobs->io);
	answer_finished(jobs);
	for (job = list_take_all(&jobs->queue); job != NULL; job = next) {
		next = job->next;
		job->done(job, FALSE);
	}
	close(jobs->event_fd);
	pthread_cond_destroy(&jobs->wake);
	pthread_mutex_destroy(&jobs->lock);
	i_free(jobs->threads);
	i_free(jobs);
}
