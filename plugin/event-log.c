#include "lib.h"
#include "net.h"
#include "auth-request.h"

#include "resolver.h"
#include "event-log.h"

void xi_dovecot_event_sink(void *ctx, const struct xi_event *ev, const char *line)
{
	struct event *event = ctx;
	const char *severity = ev->severity != NULL ? ev->severity : "";

	if (event == NULL) {
		if (strcmp(severity, "error") == 0)
			i_error("%s", line);
		else if (strcmp(severity, "warning") == 0)
			i_warning("%s", line);
		else
			i_info("%s", line);
		return;
	}
	if (strcmp(severity, "error") == 0)
		e_error(event, "%s", line);
	else if (strcmp(severity, "warning") == 0)
		e_warning(event, "%s", line);
	else
		e_info(event, "%s", line);
}

enum xi_protocol xi_dovecot_protocol(const char *service)
{
	if (service == NULL)
		return XI_PROTO_OTHER;
	if (strcasecmp(service, "imap") == 0)
		return XI_PROTO_IMAP;
	if (strcasecmp(service, "pop3") == 0)
		return XI_PROTO_POP3;
	if (strcasecmp(service, "lmtp") == 0)
		return XI_PROTO_LMTP;
	return XI_PROTO_OTHER;
}

const char *xi_dovecot_remote(const struct auth_request *request)
{
	if (request->fields.remote_ip.family == 0)
		return NULL;
	return net_ip2addr(&request->fields.remote_ip);
}
