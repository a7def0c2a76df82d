/*
 * authdb-jobs: a small pool of threads that run blocking resolver calls for
 * the passdb and userdb `xident` inside Dovecot's auth process, so that a
 * logon does not travel to an auth-worker process and back.
 *
 * A job is split in two:
 *   run   on a pool thread: only core/ calls (thread-safe, blocking) on data
 *         the job owns; never a Dovecot API, pool or auth_request;
 *   done  on the auth process's main thread, from its ioloop: translates the
 *         job's results into Dovecot's fields and calls Dovecot's callback.
 * A pool thread hands finished jobs back through an eventfd that the ioloop
 * watches.  The queue is bounded: a job that does not fit is refused and
 * the caller answers "temporary failure" at once.
 *
 * Only the main thread calls these functions.
 */
#ifndef XI_PLUGIN_AUTHDB_JOBS_H
#define XI_PLUGIN_AUTHDB_JOBS_H

#include <stdbool.h>

struct xi_job;
typedef void xi_job_run_fn(struct xi_job *job);
/* ran = FALSE: the job was never run (pool shutting down); the done
 * function must still answer Dovecot and free the job. */
typedef void xi_job_done_fn(struct xi_job *job, bool ran);

struct xi_job {
	struct xi_job *next;
	xi_job_run_fn *run;
	xi_job_done_fn *done;
};

struct xi_jobs;

/* threads: 1..256; queue_limit: jobs waiting (not running) at most.  The
 * threads are started here (with every signal blocked in them: Dovecot's
 * handlers run on the main thread only). */
int xi_jobs_create(unsigned threads, unsigned queue_limit, struct xi_jobs **jobs_r,
		   const char **error_r);
/* Queues job; false when the queue is full (the job is untouched). */
bool xi_jobs_submit(struct xi_jobs *jobs, struct xi_job *job);
/* Waits for the running jobs, answers every finished one (ran = TRUE) and
 * every queued one (ran = FALSE), joins the threads and frees the pool. */
void xi_jobs_destroy(struct xi_jobs **jobs);

unsigned xi_jobs_thread_count(const struct xi_jobs *jobs);

#endif
