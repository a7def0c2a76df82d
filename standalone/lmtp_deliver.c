/*
 * lmtp_deliver: resolve LMTP recipients through the core, deliver into
 * Maildir as the mailbox's owner (lmtp_deliver.h).
 */
#include "lmtp_deliver.h"
#include "mailbox_target.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "maildir.h"
#include "outcome.h"
#include "resolver.h"

/* Exit codes of the delivery child. */
#define CHILD_OK 0
#define CHILD_TEMP 75   /* EX_TEMPFAIL */
#define CHILD_PERM 73   /* EX_CANTCREAT */

bool lmtp_resolve_rcpt(const struct xi_config *cfg, struct xi_resolver *resolver,
		       const char *remote, const char *address, struct lmtp_rcpt_target *t,
		       char *reply, size_t size)
{
	struct xi_logon_request req = { .name = address, .protocol = XI_PROTO_LMTP,
					.method = XI_METHOD_NONE, .remote = remote };
	struct xi_resolution *res = NULL;
	struct xi_logon_result r;
	struct xi_error err;

	memset(t, 0, sizeof(*t));
	xi_error_clear(&err);
	if (xi_resolve(resolver, &req, NULL, NULL, &res, &err) < 0) {
		snprintf(reply, size, "451 4.3.0 <%s> Temporary failure: %s", address, err.message);
		return false;
	}
	xi_proof_trusted(res);
	xi_finish(resolver, res, &r);
	xi_resolution_free(res);

	switch (r.outcome) {
	case XI_OUTCOME_OK:
		break;
	case XI_OUTCOME_BAD_CREDENTIALS:
	case XI_OUTCOME_INVALID_NAME:
	case XI_OUTCOME_NO_MAILBOX:
		/* The core tells a lookup why (unknown name, custom recipient,
		 * distribution list) in the client text. */
		snprintf(reply, size, "550 5.1.1 <%s> %s", address, r.client_text);
		return false;
	case XI_OUTCOME_AMBIGUOUS:
		snprintf(reply, size, "550 5.1.4 <%s> %s", address, r.client_text);
		return false;
	case XI_OUTCOME_OTHER_SERVER:
		snprintf(reply, size, "550 5.1.6 <%s> %s", address, r.client_text);
		return false;
	default:
		if (xi_outcome_info(r.outcome)->temporary)
			snprintf(reply, size, "451 4.3.0 <%s> %s", address,
				 r.client_text[0] ? r.client_text : "Temporary failure; try again later.");
		else
			snprintf(reply, size, "550 5.7.1 <%s> %s", address, r.client_text);
		return false;
	}

	snprintf(t->user, sizeof(t->user), "%s", r.canonical_user);
	if (!xd_mailbox_target(cfg, &r, &t->uid, &t->gid, t->maildir, sizeof(t->maildir))) {
		fprintf(stderr, "event=13005 category=Authentication severity=error protocol=lmtp "
			"resolved=%s cause=\"mailbox has no usable uid, gid or home (uid=%s gid=%s "
			"home=%s), or the home lies outside mail_root\" remedy=\"set the mailbox's "
			"uid, gid and home in the directory\"\n", r.canonical_user, r.uid, r.gid, r.home);
		snprintf(reply, size, "451 4.3.5 <%s> The mailbox is not available now; "
			 "the administrator has been told.", address);
		return false;
	}
	return true;
}

/* In the child: become the mailbox's owner, then write tmp -> new. */
static int child_deliver(const struct lmtp_rcpt_target *t, const uint8_t *data, size_t len,
			 int report_fd)
{
	struct xi_maildir *md = NULL;
	struct xi_error err;
	uint32_t uid = 0;
	int rc;

	if (geteuid() == 0) {
		if (setgroups(0, NULL) < 0 || setgid(t->gid) < 0 || setuid(t->uid) < 0 ||
		    setuid(0) == 0)
			return CHILD_TEMP;
	}
	xi_error_clear(&err);
	if (xi_maildir_open(t->maildir, true, NULL, &md, &err) < 0 ||
	    xi_maildir_deliver(md, NULL, data, len, 0, &uid, &err) < 0) {
		rc = err.status == XI_ERR_TEMP || err.status == XI_ERR_IO ? CHILD_TEMP : CHILD_PERM;
		dprintf(report_fd, "%s", err.message);
		if (md != NULL)
			xi_maildir_close(md);
		return rc;
	}
	xi_maildir_close(md);
	dprintf(report_fd, "%u", uid);
	return CHILD_OK;
}

void lmtp_deliver_message(const struct lmtp_rcpt_target *t, const char *address,
			  const uint8_t *data, size_t len, char *reply, size_t size)
{
	char said[256];
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	if (pipe(fds) < 0) {
		snprintf(reply, size, "451 4.3.0 <%s> Cannot start delivery", address);
		return;
	}
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		snprintf(reply, size, "451 4.3.0 <%s> Cannot start delivery", address);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		_exit(child_deliver(t, data, len, fds[1]));
	}
	close(fds[1]);
	n = read(fds[0], said, sizeof(said) - 1);
	close(fds[0]);
	said[n > 0 ? n : 0] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_OK) {
		snprintf(reply, size, "250 2.0.0 <%s> Saved for %s as UID %s", address, t->user, said);
		return;
	}
	fprintf(stderr, "xidentd-lmtp: delivery to %s (%s) failed: %s\n", t->user, t->maildir,
		said[0] ? said : "delivery process died");
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_PERM)
		snprintf(reply, size, "550 5.2.0 <%s> Mailbox cannot be written", address);
	else
		snprintf(reply, size, "451 4.2.0 <%s> Mailbox temporarily unavailable", address);
}

static bool deliver_rcpt(void *ctx, const char *address, void **rcpt_ctx,
			 char *reply, size_t size)
{
	struct lmtp_deliver *d = ctx;
	struct lmtp_rcpt_target *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		snprintf(reply, size, "451 4.3.0 <%s> Out of memory", address);
		return false;
	}
	if (!lmtp_resolve_rcpt(d->cfg, d->resolver, d->remote, address, t, reply, size)) {
		free(t);
		return false;
	}
	*rcpt_ctx = t;
	return true;
}

static void deliver_data(void *ctx, void *rcpt_ctx, const char *address, const char *sender,
			 const uint8_t *data, size_t len, char *reply, size_t size)
{
	(void)ctx;
	(void)sender;
	lmtp_deliver_message(rcpt_ctx, address, data, len, reply, size);
}

static void rcpt_free(void *ctx, void *rcpt_ctx)
{
	(void)ctx;
	free(rcpt_ctx);
}

const struct lmtp_callbacks lmtp_deliver_callbacks = { deliver_rcpt, deliver_data, rcpt_free };
