#include "xi_error.h"

#include <stdarg.h>
#include <stdio.h>

int xi_error_set(struct xi_error *err, enum xi_status status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	err->status = status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

void xi_error_clear(struct xi_error *err)
{
	if (err == NULL)
		return;
	err->status = XI_OK;
	err->message[0] = '\0';
}

const char *xi_status_name(enum xi_status status)
{
	switch (status) {
	case XI_OK: return "ok";
	case XI_ERR_INVALID: return "invalid";
	case XI_ERR_NOMEM: return "nomem";
	case XI_ERR_IO: return "io";
	case XI_ERR_CONFIG: return "config";
	case XI_ERR_TEMP: return "temp";
	case XI_ERR_DENIED: return "denied";
	case XI_ERR_NOTFOUND: return "notfound";
	case XI_ERR_EXISTS: return "exists";
	case XI_ERR_UNSUPPORTED: return "unsupported";
	case XI_ERR_INTERNAL: return "internal";
	}
	return "unknown";
}
