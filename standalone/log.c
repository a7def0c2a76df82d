#define _GNU_SOURCE
#include "xidentd.h"

#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Process-wide log settings, written once at startup before any fork. */
static bool log_syslog;
static struct xi_event_levels event_levels;
static bool event_levels_set;

void xd_log_open(bool use_syslog)
{
	log_syslog = use_syslog;
	if (use_syslog)
		openlog("xidentd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void xd_log(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log_syslog) {
		vsyslog(priority, fmt, ap);
	} else {
		char line[XI_EVENT_LINE_MAX + 64];
		int n = snprintf(line, sizeof(line), "xidentd[%d]: ", (int)getpid());
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		/* One write per line so lines of several processes do not interleave. */
		fprintf(stderr, "%s\n", line);
		fflush(stderr);
	}
	va_end(ap);
}

void xd_event_sink(void *ctx, const struct xi_event *ev, const char *line)
{
	(void)ctx;
	xd_log(ev->level == XI_LEVEL_NONE ? LOG_WARNING : LOG_INFO, "%s", line);
}

void xd_event_levels_set(const struct xi_event_levels *lv)
{
	event_levels = *lv;
	event_levels_set = true;
}

void xd_emit(const struct xi_event *ev)
{
	xi_event_emit(event_levels_set ? &event_levels : NULL, xd_event_sink, NULL, ev);
}
