/*
 * lmtp: the RFC 2033 session state machine (lmtp.h).
 */
#include "lmtp.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum lmtp_state {
	ST_GREETED,   /* before LHLO */
	ST_READY,     /* after LHLO, no transaction */
	ST_MAIL,      /* MAIL given, collecting RCPT */
	ST_DATA,      /* reading message lines */
	ST_QUIT
};

struct lmtp_rcpt {
	char address[LMTP_ADDRESS_MAX + 1];
	void *ctx;
};

struct lmtp_session {
	struct lmtp_settings set;
	struct lmtp_callbacks cb;
	void *ctx;
	enum lmtp_state state;

	/* unparsed input: at most line_max + 2 bytes (a line and its CRLF) */
	char *in;
	size_t in_len;
	bool skipping_long_line;  /* discarding the rest of a too long command */

	char *out;
	size_t out_len, out_cap;

	char sender[LMTP_ADDRESS_MAX + 1];
	struct lmtp_rcpt *rcpts;
	unsigned rcpt_count;

	uint8_t *msg;
	size_t msg_len, msg_cap;
	bool msg_too_big;
	bool msg_mid_line;        /* the last bytes taken were not a whole line */
	bool nomem;
};

static void out_raw(struct lmtp_session *s, const char *p, size_t n)
{
	if (s->out_cap - s->out_len < n) {
		size_t cap = s->out_cap == 0 ? 1024 : s->out_cap;
		char *o;

		while (cap - s->out_len < n)
			cap *= 2;
		o = realloc(s->out, cap);
		if (o == NULL) {
			s->nomem = true;
			return;
		}
		s->out = o;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
}

/* One reply line; control bytes a callback might pass on are replaced so a
 * reply can never split into two. */
static void reply(struct lmtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void reply(struct lmtp_session *s, const char *fmt, ...)
{
	char line[LMTP_REPLY_MAX + 1];
	va_list ap;
	size_t i, n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	out_raw(s, line, n);
	out_raw(s, "\r\n", 2);
}

static void transaction_reset(struct lmtp_session *s)
{
	unsigned i;

	for (i = 0; i < s->rcpt_count; i++)
		if (s->cb.rcpt_free != NULL)
			s->cb.rcpt_free(s->ctx, s->rcpts[i].ctx);
	s->rcpt_count = 0;
	s->sender[0] = '\0';
	free(s->msg);
	s->msg = NULL;
	s->msg_len = s->msg_cap = 0;
	s->msg_too_big = false;
	s->msg_mid_line = false;
	if (s->state == ST_MAIL || s->state == ST_DATA)
		s->state = ST_READY;
}

struct lmtp_session *lmtp_session_new(const struct lmtp_settings *set,
				      const struct lmtp_callbacks *cb, void *ctx)
{
	struct lmtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->set = *set;
	if (s->set.line_max < 512)
		s->set.line_max = 512;
	if (s->set.rcpt_max == 0)
		s->set.rcpt_max = 1;
	s->cb = *cb;
	s->ctx = ctx;
	s->in = malloc(s->set.line_max + 2);
	s->rcpts = calloc(s->set.rcpt_max, sizeof(*s->rcpts));
	if (s->in == NULL || s->rcpts == NULL) {
		lmtp_session_free(s);
		return NULL;
	}
	reply(s, "220 %s LMTP ready", s->set.hostname);
	if (s->nomem) {
		lmtp_session_free(s);
		return NULL;
	}
	return s;
}

void lmtp_session_free(struct lmtp_session *s)
{
	if (s == NULL)
		return;
	if (s->rcpts != NULL)
		transaction_reset(s);
	free(s->rcpts);
	free(s->in);
	free(s->out);
	free(s);
}

const char *lmtp_session_output(const struct lmtp_session *s, size_t *len_r)
{
	*len_r = s->out_len;
	return s->out;
}

void lmtp_session_output_consume(struct lmtp_session *s, size_t n)
{
	if (n > s->out_len)
		n = s->out_len;
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
}

bool lmtp_session_finished(const struct lmtp_session *s)
{
	return s->state == ST_QUIT;
}

/* ------------------------------------------------------------ commands */

/* Whether line starts with the keyword word (case-insensitive) followed by
 * the end or a space; *rest points after it. */
static bool verb(const char *line, const char *word, const char **rest)
{
	size_t n = strlen(word);

	if (strncasecmp(line, word, n) != 0 || (line[n] != '\0' && line[n] != ' '))
		return false;
	*rest = line + n;
	return true;
}

/* "FROM:<addr> params" / "TO:<addr> params": copies addr, points *params at
 * what follows.  false for a missing or malformed path. */
static bool parse_path(const char *p, const char *prefix, char *addr, const char **params)
{
	size_t n = strlen(prefix), len;
	const char *end;

	while (*p == ' ')
		p++;
	if (strncasecmp(p, prefix, n) != 0)
		return false;
	p += n;
	while (*p == ' ')
		p++;  /* tolerated, as most servers do */
	if (*p != '<')
		return false;
	end = strchr(++p, '>');
	if (end == NULL)
		return false;
	len = (size_t)(end - p);
	if (len > LMTP_ADDRESS_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f || p[i] == '<')
			return false;
	memcpy(addr, p, len);
	addr[len] = '\0';
	*params = end + 1;
	return **params == '\0' || **params == ' ';
}

/* MAIL parameters: BODY=7BIT|8BITMIME and SIZE=n (RFC 1652, 1870). */
static bool mail_params(struct lmtp_session *s, const char *p)
{
	char word[64];

	while (*p != '\0') {
		size_t n;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, " ");
		if (n >= sizeof(word)) {
			reply(s, "501 5.5.4 Parameter too long");
			return false;
		}
		memcpy(word, p, n);
		word[n] = '\0';
		p += n;
		if (strcasecmp(word, "BODY=7BIT") == 0 || strcasecmp(word, "BODY=8BITMIME") == 0)
			continue;
		if (strncasecmp(word, "SIZE=", 5) == 0) {
			char *end;
			unsigned long long size;

			if (!isdigit((unsigned char)word[5])) {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				return false;
			}
			size = strtoull(word + 5, &end, 10);
			if (*end != '\0') {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				return false;
			}
			if (size > s->set.size_max) {
				reply(s, "552 5.3.4 Message size exceeds the limit of %zu bytes",
				      s->set.size_max);
				return false;
			}
			continue;
		}
		reply(s, "555 5.5.4 Unsupported parameter %s", word);
		return false;
	}
	return true;
}

static void cmd_mail(struct lmtp_session *s, const char *args)
{
	char addr[LMTP_ADDRESS_MAX + 1];
	const char *params;

	if (s->state == ST_GREETED) {
		reply(s, "503 5.5.1 Send LHLO first");
		return;
	}
	if (s->state != ST_READY) {
		reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (!parse_path(args, "FROM:", addr, &params)) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (!mail_params(s, params))
		return;
	memcpy(s->sender, addr, sizeof(addr));
	s->state = ST_MAIL;
	reply(s, "250 2.1.0 OK");
}

static void cmd_rcpt(struct lmtp_session *s, const char *args)
{
	char addr[LMTP_ADDRESS_MAX + 1], text[LMTP_REPLY_MAX + 1];
	const char *params;
	void *rctx = NULL;

	if (s->state != ST_MAIL) {
		reply(s, "503 5.5.1 Send MAIL first");
		return;
	}
	if (!parse_path(args, "TO:", addr, &params) || addr[0] == '\0') {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	while (*params == ' ')
		params++;
	if (*params != '\0') {
		reply(s, "555 5.5.4 Unsupported parameter");
		return;
	}
	if (s->rcpt_count >= s->set.rcpt_max) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	text[0] = '\0';
	if (!s->cb.rcpt(s->ctx, addr, &rctx, text, sizeof(text))) {
		reply(s, "%s", text[0] != '\0' ? text : "550 5.1.1 Recipient refused");
		return;
	}
	memcpy(s->rcpts[s->rcpt_count].address, addr, sizeof(addr));
	s->rcpts[s->rcpt_count].ctx = rctx;
	s->rcpt_count++;
	reply(s, "250 2.1.5 OK");
}

static void cmd_data(struct lmtp_session *s)
{
	if (s->state == ST_GREETED || s->state == ST_READY) {
		reply(s, "503 5.5.1 Send MAIL first");
		return;
	}
	if (s->rcpt_count == 0) {
		reply(s, "554 5.5.1 No valid recipients");
		return;
	}
	s->state = ST_DATA;
	reply(s, "354 Send the message, end with <CRLF>.<CRLF>");
}

static void command(struct lmtp_session *s, char *line)
{
	const char *rest;

	if (verb(line, "LHLO", &rest)) {
		while (*rest == ' ')
			rest++;
		if (*rest == '\0') {
			reply(s, "501 5.5.4 Syntax: LHLO hostname");
			return;
		}
		transaction_reset(s);
		s->state = ST_READY;
		reply(s, "250-%s", s->set.hostname);
		reply(s, "250-PIPELINING");
		reply(s, "250-ENHANCEDSTATUSCODES");
		reply(s, "250-8BITMIME");
		reply(s, "250 SIZE %zu", s->set.size_max);
	} else if (verb(line, "HELO", &rest) || verb(line, "EHLO", &rest)) {
		reply(s, "500 5.5.1 This is LMTP: use LHLO");
	} else if (verb(line, "MAIL", &rest)) {
		cmd_mail(s, rest);
	} else if (verb(line, "RCPT", &rest)) {
		cmd_rcpt(s, rest);
	} else if (verb(line, "DATA", &rest)) {
		if (*rest != '\0')
			reply(s, "501 5.5.4 DATA takes no arguments");
		else
			cmd_data(s);
	} else if (verb(line, "RSET", &rest)) {
		transaction_reset(s);
		reply(s, "250 2.0.0 OK");
	} else if (verb(line, "NOOP", &rest)) {
		reply(s, "250 2.0.0 OK");
	} else if (verb(line, "QUIT", &rest)) {
		reply(s, "221 2.0.0 %s closing connection", s->set.hostname);
		transaction_reset(s);
		s->state = ST_QUIT;
	} else if (verb(line, "VRFY", &rest)) {
		reply(s, "252 2.5.2 Cannot verify; send the message");
	} else {
		reply(s, "500 5.5.2 Unknown command");
	}
}

/* ------------------------------------------------------------ message */

static void msg_append(struct lmtp_session *s, const char *p, size_t n)
{
	if (s->msg_too_big)
		return;
	if (n > s->set.size_max - s->msg_len) {
		s->msg_too_big = true;
		free(s->msg);
		s->msg = NULL;
		s->msg_len = s->msg_cap = 0;
		return;
	}
	if (s->msg_cap - s->msg_len < n) {
		size_t cap = s->msg_cap == 0 ? 4096 : s->msg_cap;
		uint8_t *m;

		while (cap - s->msg_len < n)
			cap *= 2;
		m = realloc(s->msg, cap);
		if (m == NULL) {
			s->nomem = true;
			return;
		}
		s->msg = m;
		s->msg_cap = cap;
	}
	memcpy(s->msg + s->msg_len, p, n);
	s->msg_len += n;
}

static void message_end(struct lmtp_session *s)
{
	char text[LMTP_REPLY_MAX + 1];
	unsigned i;

	for (i = 0; i < s->rcpt_count; i++) {
		if (s->msg_too_big) {
			reply(s, "552 5.3.4 <%s> Message size exceeds the limit of %zu bytes",
			      s->rcpts[i].address, s->set.size_max);
			continue;
		}
		text[0] = '\0';
		s->cb.deliver(s->ctx, s->rcpts[i].ctx, s->rcpts[i].address, s->sender,
			      s->msg != NULL ? s->msg : (const uint8_t *)"", s->msg_len,
			      text, sizeof(text));
		reply(s, "%s", text[0] != '\0' ? text : "451 4.3.0 Delivery failed");
	}
	transaction_reset(s);
}

/* One message line (without its line end) or, with partial, a piece of a
 * line too long for the buffer. */
static void data_line(struct lmtp_session *s, const char *p, size_t n, bool partial)
{
	if (!s->msg_mid_line && p[0] == '.' && n >= 1) {
		if (n == 1 && !partial) {
			message_end(s);
			return;
		}
		p++;  /* dot-stuffing (RFC 5321 4.5.2) */
		n--;
	}
	msg_append(s, p, n);
	if (partial) {
		s->msg_mid_line = true;
	} else {
		msg_append(s, "\n", 1);
		s->msg_mid_line = false;
	}
}

/* ------------------------------------------------------------ input */

int lmtp_session_input(struct lmtp_session *s, const void *data, size_t len)
{
	const char *src = data;
	size_t cap = s->set.line_max + 2;

	while (len > 0 && !s->nomem && s->state != ST_QUIT) {
		size_t take = cap - s->in_len, i;
		char *lf;

		if (take > len)
			take = len;
		memcpy(s->in + s->in_len, src, take);
		s->in_len += take;
		src += take;
		len -= take;

		/* every complete line in the buffer */
		while (s->in_len > 0 && s->state != ST_QUIT && !s->nomem &&
		       (lf = memchr(s->in, '\n', s->in_len)) != NULL) {
			size_t line_len = (size_t)(lf - s->in), used = line_len + 1;

			if (line_len > 0 && s->in[line_len - 1] == '\r')
				line_len--;
			if (s->state == ST_DATA) {
				data_line(s, s->in, line_len, false);
			} else if (s->skipping_long_line) {
				s->skipping_long_line = false;
			} else {
				s->in[line_len] = '\0';
				/* a NUL inside a command: treat the line as garbage */
				if (memchr(s->in, '\0', line_len) != NULL)
					reply(s, "500 5.5.2 Bad command line");
				else
					command(s, s->in);
			}
			memmove(s->in, s->in + used, s->in_len - used);
			s->in_len -= used;
		}
		if (s->in_len < cap)
			continue;
		/* the buffer is full without a line end */
		if (s->state == ST_DATA) {
			/* keep a trailing CR: it may start the CRLF */
			i = s->in[s->in_len - 1] == '\r' ? s->in_len - 1 : s->in_len;
			data_line(s, s->in, i, true);
			memmove(s->in, s->in + i, s->in_len - i);
			s->in_len -= i;
		} else {
			if (!s->skipping_long_line)
				reply(s, "500 5.5.2 Line too long (limit %zu bytes)", s->set.line_max);
			s->skipping_long_line = true;
			s->in_len = 0;
		}
	}
	return s->nomem ? -1 : 0;
}
