/*
 * config: reads xident.conf (and the secrets file it names) into an immutable
 * struct xi_config.  The reader never stops at the first problem: an
 * administrator fixing a file wants every mistake in one run, each as
 * "file:line: reason".
 *
 * Everything about a key (type, default, constraint, documentation) comes
 * from the one table in config_keys.h; defaults are parsed by the same code as
 * values written in the file, so a default can never mean something a file
 * could not say.
 */
#include "xident-config.h"

#include "config.h"
#include "unicode.h"

#include <errno.h>
#include <fcntl.h>
#include <ldap.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* A file full of garbage would otherwise produce one problem per line; past
 * this many the report says so and stops growing. */
#define CONFIG_PROBLEMS_MAX 100
/* Longest piece of the file quoted back in a reason. */
#define SNIPPET_MAX 64

static const struct xi_config_key_info key_table[] = {
#define XI_CONFIG_KEY_INFO(id, name, type, def, flags, constraint, doc) \
	{ XI_CFG_##id, name, type, def, flags, constraint, doc },
	XI_CONFIG_KEYS(XI_CONFIG_KEY_INFO)
#undef XI_CONFIG_KEY_INFO
};

static const char *const level_names[] = { "none", "minimum", "medium", "maximum" };
static const int level_numbers[] = { 0, 1, 3, 5 };

static const char *const empty_list[] = { NULL };

struct config_value {
	bool present;     /* has a value, from a file or the default */
	bool set;         /* the value was written in a file */
	char *text;       /* canonical text (enum alternative, "yes", level name...) */
	long long number; /* INT and LEVEL value, BOOL 0/1, ENUM index */
	char **words;     /* LIST and URI_LIST, NULL-terminated */
	size_t word_count;
};

struct xi_config {
	struct config_value values[XI_CFG__COUNT];
};

/* Where each key was first written, to name it in "duplicate key". */
struct key_origin {
	const char *file;
	unsigned line;
	bool mentioned; /* written, even if its value was refused */
};

struct loader {
	struct xi_config *cfg;
	struct xi_config_report *report; /* NULL: only count */
	size_t problems;
	bool full;
	struct key_origin origin[XI_CFG__COUNT];
};

/* ------------------------------------------------------------ small helpers */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool ascii_ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		if (ascii_lower(*a) != ascii_lower(*b))
			return false;
	}
	return *a == *b;
}

static bool ascii_iprefix(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++) {
		if (*s == '\0' || ascii_lower(*s) != ascii_lower(*prefix))
			return false;
	}
	return true;
}

static bool has_control(const char *text)
{
	for (; *text != '\0'; text++) {
		if ((unsigned char)*text < 0x20 || *text == 0x7f)
			return true;
	}
	return false;
}

/* Whether text looks like a key someone meant to write (a misspelt one):
 * in a secrets file only such text is quoted back, never a stray secret. */
static bool looks_like_key(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++, n++) {
		char c = ascii_lower(*text);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return n > 0 && n <= 40;
}

/* Copies text for quoting in a reason: bounded, and with bytes that could
 * upset a terminal shown as \xHH (the file may be anything). */
static const char *snippet(const char *text, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t out = 0, in = 0;

	for (; text[in] != '\0' && in < SNIPPET_MAX; in++) {
		unsigned char c = (unsigned char)text[in];

		if (out + 5 >= size)
			break;
		if (c >= 0x20 && c < 0x7f) {
			buf[out++] = (char)c;
		} else {
			buf[out++] = '\\';
			buf[out++] = 'x';
			buf[out++] = hex[c >> 4];
			buf[out++] = hex[c & 15];
		}
	}
	if (text[in] != '\0' && out + 4 < size) {
		memcpy(buf + out, "...", 3);
		out += 3;
	}
	buf[out] = '\0';
	return buf;
}

static const char *errno_text(int error, char *buf, size_t size)
{
#ifdef _GNU_SOURCE
	return strerror_r(error, buf, size);
#else
	if (strerror_r(error, buf, size) != 0)
		snprintf(buf, size, "error %d", error);
	return buf;
#endif
}

/* snprintf for reasons, where cutting a long quote short is intended. */
__attribute__((format(printf, 3, 4)))
static void say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 5)))
static void problem(struct loader *l, const char *file, unsigned line, const char *fmt, ...)
{
	struct xi_config_problem *p, *grown;
	struct xi_config_report *r = l->report;
	va_list ap;

	l->problems++;
	if (r == NULL || l->full)
		return;
	grown = realloc(r->problems, (r->count + 1) * sizeof(*grown));
	if (grown == NULL) {
		/* The load fails anyway (problems > 0); a shorter report is
		 * the best we can do without memory. */
		l->full = true;
		return;
	}
	r->problems = grown;
	p = &r->problems[r->count++];
	snprintf(p->file, sizeof(p->file), "%s", file);
	p->line = line;
	if (r->count == CONFIG_PROBLEMS_MAX) {
		snprintf(p->reason, sizeof(p->reason),
			 "too many problems; stopped listing after %d", CONFIG_PROBLEMS_MAX - 1);
		l->full = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(p->reason, sizeof(p->reason), fmt, ap);
	va_end(ap);
}

static const struct xi_config_key_info *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < XI_CFG__COUNT; i++) {
		if (strcmp(key_table[i].name, name) == 0)
			return &key_table[i];
	}
	return NULL;
}

/* ------------------------------------------------------------ values */

/* Frees a buffer that may have held a secret (the bind password, a line of
 * the secrets file), wiping it first so it does not linger in the heap. */
static void free_wiped(char *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static void value_clear(struct config_value *v)
{
	size_t i;

	if (v->text != NULL)
		free_wiped(v->text, strlen(v->text));
	if (v->words != NULL) {
		for (i = 0; i < v->word_count; i++)
			free(v->words[i]);
		free(v->words);
	}
	memset(v, 0, sizeof(*v));
}

/* Finds word among the "a|b|c" alternatives; returns its index or -1. */
static int enum_index(const char *alternatives, const char *word, char *canon, size_t canon_size)
{
	const char *p = alternatives;
	size_t wlen = strlen(word);
	int index = 0;

	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);

		if (len == wlen && len < canon_size) {
			size_t i;

			for (i = 0; i < len; i++) {
				if (ascii_lower(p[i]) != ascii_lower(word[i]))
					break;
			}
			if (i == len) {
				memcpy(canon, p, len);
				canon[len] = '\0';
				return index;
			}
		}
		if (bar == NULL)
			return -1;
		p = bar + 1;
		index++;
	}
}

/* "a|b|c" as "a, b, c" for a reason. */
static const char *enum_alternatives(const char *alternatives, char *buf, size_t size)
{
	size_t out = 0;
	const char *p;

	for (p = alternatives; *p != '\0' && out + 3 < size; p++) {
		if (*p == '|') {
			buf[out++] = ',';
			buf[out++] = ' ';
		} else {
			buf[out++] = *p;
		}
	}
	buf[out] = '\0';
	return buf;
}

static bool parse_ll(const char *text, long long *n_r)
{
	const char *p = text;
	char *end;

	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	*n_r = strtoll(text, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_range(const char *constraint, long long *min_r, long long *max_r)
{
	char min_text[32], max_text[32];
	const char *dots = constraint != NULL ? strstr(constraint, "..") : NULL;
	size_t len;

	if (dots == NULL)
		return false;
	len = (size_t)(dots - constraint);
	if (len >= sizeof(min_text) || strlen(dots + 2) >= sizeof(max_text))
		return false;
	memcpy(min_text, constraint, len);
	min_text[len] = '\0';
	snprintf(max_text, sizeof(max_text), "%s", dots + 2);
	return parse_ll(min_text, min_r) && parse_ll(max_text, max_r);
}

static bool parse_bool(const char *text, bool *b_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (ascii_ieq(text, yes[i])) {
			*b_r = true;
			return true;
		}
		if (ascii_ieq(text, no[i])) {
			*b_r = false;
			return true;
		}
	}
	return false;
}

static bool parse_level(const char *text, int *index_r)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		char number[4];

		snprintf(number, sizeof(number), "%d", level_numbers[i]);
		if (ascii_ieq(text, level_names[i]) || strcmp(text, number) == 0) {
			*index_r = (int)i;
			return true;
		}
	}
	return false;
}

static const char *url_error_text(int code)
{
	switch (code) {
	case LDAP_URL_ERR_MEM: return "out of memory";
	case LDAP_URL_ERR_BADSCHEME: return "bad scheme";
	case LDAP_URL_ERR_BADENCLOSURE: return "missing closing '>'";
	case LDAP_URL_ERR_BADHOST: return "bad host or port";
	case LDAP_URL_ERR_BADATTRS: return "bad attributes";
	case LDAP_URL_ERR_BADSCOPE: return "bad scope";
	case LDAP_URL_ERR_BADFILTER: return "bad filter";
	case LDAP_URL_ERR_BADEXTS: return "bad extensions";
	default: return "malformed URL";
	}
}

/* Checks one LDAP URI; on failure writes the reason into why. */
static bool check_uri(const struct xi_config_key_info *info, const char *uri,
		      char *why, size_t why_size)
{
	char quoted[SNIPPET_MAX * 4 + 8];
	LDAPURLDesc *desc = NULL;
	int rc;

	if (!ascii_iprefix(uri, "ldap://") && !ascii_iprefix(uri, "ldaps://") &&
	    !ascii_iprefix(uri, "ldapi://")) {
		say(why, why_size, "bad LDAP URI '%s' in '%s' (must start with ldap://, ldaps:// or ldapi://)",
			 snippet(uri, quoted, sizeof(quoted)), info->name);
		return false;
	}
	rc = ldap_url_parse(uri, &desc);
	if (rc != LDAP_URL_SUCCESS) {
		say(why, why_size, "bad LDAP URI '%s' in '%s' (%s)",
			 snippet(uri, quoted, sizeof(quoted)), info->name, url_error_text(rc));
		return false;
	}
	/* libldap takes any number as a port. */
	if (desc->lud_port < 0 || desc->lud_port > 65535) {
		say(why, why_size, "bad LDAP URI '%s' in '%s' (port out of range)",
		    snippet(uri, quoted, sizeof(quoted)), info->name);
		ldap_free_urldesc(desc);
		return false;
	}
	ldap_free_urldesc(desc);
	return true;
}

/* Splits a LIST value on spaces and commas. */
static bool split_words(const char *text, struct config_value *v)
{
	const char *p = text;
	size_t count = 0, n = 0;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		count++;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
			p++;
	}
	v->words = calloc(count + 1, sizeof(*v->words));
	if (v->words == NULL)
		return false;
	for (p = text; *p != '\0';) {
		const char *start;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		v->words[n] = strndup(start, (size_t)(p - start));
		if (v->words[n] == NULL)
			return false;
		v->word_count = ++n;
	}
	return true;
}

/* Joins the words with single spaces: the canonical text of a list. */
static char *join_words(const struct config_value *v)
{
	size_t i, len = 1;
	char *text, *p;

	for (i = 0; i < v->word_count; i++)
		len += strlen(v->words[i]) + 1;
	text = malloc(len);
	if (text == NULL)
		return NULL;
	p = text;
	for (i = 0; i < v->word_count; i++) {
		size_t wlen = strlen(v->words[i]);

		if (i > 0)
			*p++ = ' ';
		memcpy(p, v->words[i], wlen);
		p += wlen;
	}
	*p = '\0';
	return text;
}

/* Whether text is well-formed UTF-8 without control characters (tabs allowed
 * when tabs is set). */
static bool text_without_controls(const char *text, bool tabs)
{
	size_t len;

	for (;;) {
		len = tabs ? strcspn(text, "\t") : strlen(text);
		if (!xi_utf8_valid_text(text, len))
			return false;
		if (text[len] == '\0')
			return true;
		text += len + 1;
	}
}

/* Parses text as a value of key info into *v.  Returns 0, or -1 with the
 * reason in why (no memory also fails, with a reason saying so). */
static int convert(const struct xi_config_key_info *info, const char *text,
		   struct config_value *v, char *why, size_t why_size)
{
	char quoted[SNIPPET_MAX * 4 + 8];
	char canon[64], alternatives[256];
	long long min, max;
	bool b;
	int index;
	size_t i;

	memset(v, 0, sizeof(*v));
	/* A secret is never quoted back, so it is not copied for quoting. */
	if (info->type == XI_CT_SECRET)
		quoted[0] = '\0';
	else
		snippet(text, quoted, sizeof(quoted));
	if (text[0] == '\0' && (info->flags & XI_CF_REQUIRED) != 0) {
		say(why, why_size, "'%s' must not be empty", info->name);
		return -1;
	}
	switch (info->type) {
	case XI_CT_STRING:
		/* Names and DNs go into LDAP requests, NTLM challenges, logs and
		 * `xident config show`: well-formed UTF-8, no control characters
		 * (an escape sequence would reach the administrator's terminal). */
		if (!text_without_controls(text, false)) {
			say(why, why_size, "'%s' must be UTF-8 text without control characters, not '%s'",
			    info->name, quoted);
			return -1;
		}
		v->text = strdup(text);
		break;
	case XI_CT_SECRET:
		v->text = strdup(text);
		break;
	case XI_CT_PATH:
		/* Paths end up in reasons and logs: no control characters. */
		if (text[0] != '/' || has_control(text)) {
			say(why, why_size, "'%s' must be an absolute path, not '%s'",
				 info->name, quoted);
			return -1;
		}
		v->text = strdup(text);
		break;
	case XI_CT_INT:
		if (!parse_ll(text, &v->number)) {
			say(why, why_size, "bad integer '%s' for '%s'", quoted, info->name);
			return -1;
		}
		if (parse_range(info->constraint, &min, &max) &&
		    (v->number < min || v->number > max)) {
			say(why, why_size, "%lld is out of range for '%s' (%lld..%lld)",
				 v->number, info->name, min, max);
			return -1;
		}
		snprintf(canon, sizeof(canon), "%lld", v->number);
		v->text = strdup(canon);
		break;
	case XI_CT_BOOL:
		if (!parse_bool(text, &b)) {
			say(why, why_size, "bad boolean '%s' for '%s' (yes/no, true/false, on/off or 1/0)",
				 quoted, info->name);
			return -1;
		}
		v->number = b;
		v->text = strdup(b ? "yes" : "no");
		break;
	case XI_CT_ENUM:
		index = enum_index(info->constraint != NULL ? info->constraint : "", text,
				   canon, sizeof(canon));
		if (index < 0) {
			say(why, why_size, "bad value '%s' for '%s' (one of: %s)", quoted, info->name,
				 enum_alternatives(info->constraint != NULL ? info->constraint : "",
						   alternatives, sizeof(alternatives)));
			return -1;
		}
		v->number = index;
		v->text = strdup(canon);
		break;
	case XI_CT_LEVEL:
		if (!parse_level(text, &index)) {
			say(why, why_size, "bad level '%s' for '%s' (none, minimum, medium, maximum or 0, 1, 3, 5)",
				 quoted, info->name);
			return -1;
		}
		v->number = level_numbers[index];
		v->text = strdup(level_names[index]);
		break;
	case XI_CT_LIST:
	case XI_CT_URI_LIST:
		/* Words are names too (domains, protocols, servers); a tab
		 * separates words like a space does. */
		if (!text_without_controls(text, true)) {
			say(why, why_size, "'%s' must be UTF-8 text without control characters, not '%s'",
			    info->name, quoted);
			return -1;
		}
		if (!split_words(text, v))
			goto nomem;
		if (info->type == XI_CT_URI_LIST) {
			if (v->word_count == 0 && (info->flags & XI_CF_REQUIRED) != 0) {
				say(why, why_size, "'%s' must not be empty", info->name);
				value_clear(v);
				return -1;
			}
			for (i = 0; i < v->word_count; i++) {
				if (!check_uri(info, v->words[i], why, why_size)) {
					value_clear(v);
					return -1;
				}
			}
		}
		v->text = join_words(v);
		break;
	}
	if (v->text == NULL)
		goto nomem;
	v->present = true;
	return 0;
nomem:
	value_clear(v);
	say(why, why_size, "out of memory reading '%s'", info->name);
	return -1;
}

/* ------------------------------------------------------------ lines */

/* Takes the value part of a line (after '=' and leading blanks) apart:
 * quoted with \" and \\, or bare up to a comment.  Writes the value into out
 * (at least strlen(p) + 1 bytes); returns NULL or the reason it is malformed. */
static const char *unquote_value(const char *p, char *out)
{
	size_t n = 0;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			if (*p == '\0')
				return "unterminated quoted value";
			if (*p == '\\') {
				if (p[1] != '"' && p[1] != '\\')
					return "unknown escape in quoted value (only \\\" and \\\\)";
				p++;
			}
			out[n++] = *p;
		}
		out[n] = '\0';
		for (p++; is_blank(*p); p++)
			;
		if (*p != '\0' && *p != '#')
			return "unexpected text after the closing quote";
		return NULL;
	}
	/* Bare value: a '#' at its start or after a blank starts a comment. */
	for (; *p != '\0'; p++) {
		if (*p == '#' && (n == 0 || is_blank(out[n - 1])))
			break;
		out[n++] = *p;
	}
	while (n > 0 && is_blank(out[n - 1]))
		n--;
	out[n] = '\0';
	return NULL;
}

static void parse_line(struct loader *l, const char *file, unsigned line_no, char *line,
		       char value[XI_CONFIG_LINE_MAX + 1], bool secrets)
{
	char quoted[SNIPPET_MAX * 4 + 8], why[sizeof(((struct xi_config_problem *)0)->reason)];
	const struct xi_config_key_info *info;
	struct key_origin *origin;
	const char *malformed;
	char *p = line, *eq, *key_end;

	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return;
	eq = strchr(p, '=');
	if (eq == NULL) {
		/* Not quoted back: in a secrets file this could be a password. */
		problem(l, file, line_no, "missing '=' (a setting is written key = value)");
		return;
	}
	for (key_end = eq; key_end > p && is_blank(key_end[-1]); key_end--)
		;
	*key_end = '\0';
	if (*p == '\0') {
		problem(l, file, line_no, "missing key before '='");
		return;
	}
	info = find_key(p);
	if (info == NULL && secrets && !looks_like_key(p)) {
		problem(l, file, line_no, "unknown key (not shown: this is a secrets file)");
		return;
	}
	if (info == NULL) {
		problem(l, file, line_no, "unknown key '%s'", snippet(p, quoted, sizeof(quoted)));
		return;
	}
	for (p = eq + 1; is_blank(*p); p++)
		;
	malformed = unquote_value(p, value);
	if (malformed != NULL) {
		problem(l, file, line_no, "%s", malformed);
		return;
	}
	if (secrets && info->type != XI_CT_SECRET) {
		problem(l, file, line_no, "'%s' is not a secret and cannot be set in a secrets file",
			info->name);
		return;
	}
	if (!secrets && (info->flags & XI_CF_SECRET_FILE_ONLY) != 0) {
		problem(l, file, line_no, "'%s' may only be set in the secrets file", info->name);
		return;
	}
	origin = &l->origin[info->key];
	if (origin->mentioned) {
		if (strcmp(origin->file, file) == 0)
			problem(l, file, line_no, "duplicate key '%s' (first set on line %u)",
				info->name, origin->line);
		else
			problem(l, file, line_no, "duplicate key '%s' (first set in %s line %u)",
				info->name, origin->file, origin->line);
		return;
	}
	origin->file = file;
	origin->line = line_no;
	origin->mentioned = true;
	if (convert(info, value, &l->cfg->values[info->key], why, sizeof(why)) < 0) {
		problem(l, file, line_no, "%s", why);
		return;
	}
	l->cfg->values[info->key].set = true;
}

static void parse_text(struct loader *l, const char *file, const char *text, size_t len,
		       bool secrets)
{
	char line[XI_CONFIG_LINE_MAX + 1], value[XI_CONFIG_LINE_MAX + 1];
	unsigned line_no = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t line_len = nl != NULL ? (size_t)(nl - start) : len - pos;

		pos += line_len + (nl != NULL ? 1 : 0);
		line_no++;
		if (memchr(start, '\0', line_len) != NULL) {
			problem(l, file, line_no, "NUL byte in line");
			continue;
		}
		if (line_len > XI_CONFIG_LINE_MAX) {
			problem(l, file, line_no, "line longer than %d bytes", XI_CONFIG_LINE_MAX);
			continue;
		}
		memcpy(line, start, line_len);
		line[line_len] = '\0';
		parse_line(l, file, line_no, line, value, secrets);
	}
	/* Either file may hold ldap_bind_password. */
	OPENSSL_cleanse(line, sizeof(line));
	OPENSSL_cleanse(value, sizeof(value));
}

/* ------------------------------------------------------------ files */

/* Reads a whole file into a new buffer.  A secrets file must be readable by
 * its owner only.  Problems are reported against the file itself (line 0). */
static int read_file(struct loader *l, const char *path, bool secrets, char **text_r,
		     size_t *len_r)
{
	char errbuf[128];
	struct stat st;
	size_t len = 0;
	char *text;
	int fd;

	/* stat before open: opening a FIFO would block and opening some
	 * devices has side effects, so only regular files are opened. */
	if (stat(path, &st) < 0) {
		problem(l, path, 0, "cannot read: %s", errno_text(errno, errbuf, sizeof(errbuf)));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		problem(l, path, 0, "not a regular file");
		return -1;
	}
	fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		problem(l, path, 0, "cannot read: %s", errno_text(errno, errbuf, sizeof(errbuf)));
		return -1;
	}
	/* Checked again on what was opened, in case the path was swapped. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		problem(l, path, 0, "not a regular file");
		close(fd);
		return -1;
	}
	if (secrets && (st.st_mode & 077) != 0) {
		problem(l, path, 0, "secrets file has mode %04o, open to group or others; "
			"it must be readable by its owner only: chmod 600 %s",
			(unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	if (st.st_size > XI_CONFIG_FILE_MAX) {
		problem(l, path, 0, "file too large (%lld bytes, at most %d)",
			(long long)st.st_size, XI_CONFIG_FILE_MAX);
		close(fd);
		return -1;
	}
	/* One byte more than allowed, to notice a file that grew meanwhile. */
	text = malloc(XI_CONFIG_FILE_MAX + 1);
	if (text == NULL) {
		problem(l, path, 0, "out of memory");
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, XI_CONFIG_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			problem(l, path, 0, "cannot read: %s", errno_text(errno, errbuf, sizeof(errbuf)));
			free_wiped(text, len);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > XI_CONFIG_FILE_MAX) {
			problem(l, path, 0, "file too large (more than %d bytes)", XI_CONFIG_FILE_MAX);
			free_wiped(text, len);
			close(fd);
			return -1;
		}
	}
	close(fd);
	*text_r = text;
	*len_r = len;
	return 0;
}

static void read_secrets(struct loader *l)
{
	const struct config_value *v = &l->cfg->values[XI_CFG_SECRETS_FILE];
	char *text;
	size_t len;

	if (!v->set)
		return;
	if (read_file(l, v->text, true, &text, &len) < 0)
		return;
	parse_text(l, v->text, text, len, true);
	free_wiped(text, len);
}

/* Fills in defaults and reports required keys nobody wrote. */
static void finish(struct loader *l, const char *file)
{
	char why[sizeof(((struct xi_config_problem *)0)->reason)];
	size_t i;

	for (i = 0; i < XI_CFG__COUNT; i++) {
		const struct xi_config_key_info *info = &key_table[i];
		struct config_value *v = &l->cfg->values[i];

		if (l->origin[i].mentioned)
			continue;
		if ((info->flags & XI_CF_REQUIRED) != 0) {
			problem(l, file, 0, "missing required key '%s'", info->name);
			continue;
		}
		if (info->default_value == NULL)
			continue;
		if (convert(info, info->default_value, v, why, sizeof(why)) < 0)
			problem(l, file, 0, "built-in default of '%s' is invalid: %s", info->name, why);
	}
}

static int load(const char *name, const char *text, size_t len, bool from_file,
		struct xi_config **cfg_r, struct xi_config_report *report)
{
	struct loader l;
	char *owned = NULL;

	*cfg_r = NULL;
	if (report != NULL) {
		report->count = 0;
		report->problems = NULL;
	}
	memset(&l, 0, sizeof(l));
	l.report = report;
	l.cfg = calloc(1, sizeof(*l.cfg));
	if (l.cfg == NULL) {
		problem(&l, name, 0, "out of memory");
		return -1;
	}
	if (from_file) {
		if (read_file(&l, name, false, &owned, &len) < 0)
			goto failed;
		text = owned;
	}
	parse_text(&l, name, text, len, false);
	read_secrets(&l);
	finish(&l, name);
	free_wiped(owned, len);
	owned = NULL;
	if (l.problems > 0)
		goto failed;
	*cfg_r = l.cfg;
	return 0;
failed:
	free_wiped(owned, len);
	xi_config_free(l.cfg);
	return -1;
}

int xi_config_load(const char *path, struct xi_config **cfg_r, struct xi_config_report *report)
{
	return load(path, NULL, 0, true, cfg_r, report);
}

int xi_config_load_string(const char *name, const char *text, struct xi_config **cfg_r,
			  struct xi_config_report *report)
{
	return load(name, text, strlen(text), false, cfg_r, report);
}

void xi_config_free(struct xi_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < XI_CFG__COUNT; i++)
		value_clear(&cfg->values[i]);
	free(cfg);
}

void xi_config_report_free(struct xi_config_report *report)
{
	if (report == NULL)
		return;
	free(report->problems);
	report->problems = NULL;
	report->count = 0;
}

void xi_config_problem_format(const struct xi_config_problem *p, char *buf, size_t size)
{
	if (p->line == 0)
		snprintf(buf, size, "%s: %s", p->file, p->reason);
	else
		snprintf(buf, size, "%s:%u: %s", p->file, p->line, p->reason);
}

/* ------------------------------------------------------------ getters */

static const struct config_value *value_of(const struct xi_config *cfg, enum xi_config_key key,
					   unsigned type_mask)
{
	if (cfg == NULL || (unsigned)key >= XI_CFG__COUNT)
		return NULL;
	if ((type_mask & (1u << key_table[key].type)) == 0)
		return NULL;
	if (!cfg->values[key].present)
		return NULL;
	return &cfg->values[key];
}

#define TYPE(t) (1u << (t))

const char *xi_config_str(const struct xi_config *cfg, enum xi_config_key key)
{
	const struct config_value *v = value_of(cfg, key, TYPE(XI_CT_STRING) | TYPE(XI_CT_PATH) |
						TYPE(XI_CT_SECRET) | TYPE(XI_CT_ENUM));

	return v != NULL ? v->text : NULL;
}

long long xi_config_int(const struct xi_config *cfg, enum xi_config_key key)
{
	const struct config_value *v = value_of(cfg, key, TYPE(XI_CT_INT) | TYPE(XI_CT_LEVEL));

	return v != NULL ? v->number : 0;
}

bool xi_config_bool(const struct xi_config *cfg, enum xi_config_key key)
{
	const struct config_value *v = value_of(cfg, key, TYPE(XI_CT_BOOL));

	return v != NULL && v->number != 0;
}

int xi_config_enum(const struct xi_config *cfg, enum xi_config_key key)
{
	const struct config_value *v = value_of(cfg, key, TYPE(XI_CT_ENUM));

	return v != NULL ? (int)v->number : -1;
}

const char *const *xi_config_list(const struct xi_config *cfg, enum xi_config_key key,
				  size_t *count_r)
{
	const struct config_value *v = value_of(cfg, key, TYPE(XI_CT_LIST) | TYPE(XI_CT_URI_LIST));

	if (count_r != NULL)
		*count_r = v != NULL ? v->word_count : 0;
	return v != NULL ? (const char *const *)v->words : empty_list;
}

bool xi_config_list_has(const struct xi_config *cfg, enum xi_config_key key, const char *word)
{
	const char *const *w;

	for (w = xi_config_list(cfg, key, NULL); *w != NULL; w++) {
		if (ascii_ieq(*w, word))
			return true;
	}
	return false;
}

bool xi_config_is_set(const struct xi_config *cfg, enum xi_config_key key)
{
	if (cfg == NULL || (unsigned)key >= XI_CFG__COUNT)
		return false;
	return cfg->values[key].set;
}

const struct xi_config_key_info *xi_config_key_table(size_t *count_r)
{
	if (count_r != NULL)
		*count_r = XI_CFG__COUNT;
	return key_table;
}

/* ------------------------------------------------------------ manual page */

/* Writes text as troff body text: backslashes escaped, no line starting with
 * a control character, hyphens as minus signs where they are options. */
static void troff_text(FILE *out, const char *text)
{
	const char *p;

	if (*text == '.' || *text == '\'')
		fputs("\\&", out);
	for (p = text; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\e", out);
		else if (*p == '-')
			fputs("\\-", out);
		else
			fputc(*p, out);
	}
}

static const char *type_word(const struct xi_config_key_info *info)
{
	switch (info->type) {
	case XI_CT_STRING: return "text";
	case XI_CT_INT: return "integer";
	case XI_CT_BOOL: return "yes|no";
	case XI_CT_ENUM: return info->constraint;
	case XI_CT_LIST: return "word ...";
	case XI_CT_URI_LIST: return "URI ...";
	case XI_CT_PATH: return "/path";
	case XI_CT_SECRET: return "secret";
	case XI_CT_LEVEL: return "none|minimum|medium|maximum";
	}
	return "value";
}

int xi_config_write_manpage(FILE *out)
{
	size_t i;

	fputs(".\\\" Generated by `xident config doc` from core/config_keys.h; do not edit.\n"
	      ".TH XIDENT.CONF 5 \"\" \"xident\" \"File Formats\"\n"
	      ".SH NAME\n"
	      "xident.conf \\- configuration of xident\n"
	      ".SH DESCRIPTION\n"
	      "One file configures the Dovecot plugin, the standalone server\n"
	      ".B xidentd\n"
	      "and the\n"
	      ".B xident\n"
	      "command line.\n"
	      "Each line is\n"
	      "\\fIkey\\fR = \\fIvalue\\fR.\n"
	      "Blanks around the key and the value are ignored.\n"
	      "A line whose first non\\-blank character is\n"
	      ".B #\n"
	      "is a comment, and so is the rest of a line from a\n"
	      ".B #\n"
	      "that follows a blank outside quotes.\n"
	      "A value may be written in double quotes to keep blanks or\n"
	      ".BR # ;\n"
	      "inside quotes,\n"
	      ".B \\e\"\n"
	      "stands for a double quote and\n"
	      ".B \\e\\e\n"
	      "for a backslash.\n"
	      ".PP\n"
	      "Every key may appear at most once.\n"
	      "Unknown keys, bad values, duplicate keys and missing required keys are\n"
	      "errors; the file is not used until all of them are fixed.\n"
	      "Lines may be at most 4096 bytes long and the file at most 1 MiB.\n"
	      ".PP\n"
	      "Booleans are written yes/no, true/false, on/off or 1/0.\n"
	      "Lists are words separated by blanks or commas.\n"
	      "Diagnostics levels are none, minimum, medium and maximum\n"
	      "(or 0, 1, 3 and 5).\n"
	      "Paths must be absolute.\n"
	      ".SH SECRETS FILE\n"
	      "The key\n"
	      ".B secrets_file\n"
	      "names a second file in the same syntax that may hold only secret keys\n"
	      "(such as\n"
	      ".BR ldap_bind_password ).\n"
	      "It must be a regular file that neither its group nor others may access\n"
	      "(for example\n"
	      ".BR \"chmod 600\" );\n"
	      "otherwise the configuration is refused.\n"
	      "A key may not be set both there and in the main file.\n"
	      ".SH KEYS\n", out);
	for (i = 0; i < XI_CFG__COUNT; i++) {
		const struct xi_config_key_info *info = &key_table[i];

		fputs(".TP\n\\fB", out);
		troff_text(out, info->name);
		fputs("\\fR = \\fI", out);
		troff_text(out, type_word(info));
		fputs("\\fR\n", out);
		troff_text(out, info->doc);
		fputc('\n', out);
		if (info->type == XI_CT_INT && info->constraint != NULL) {
			fputs("Range: ", out);
			troff_text(out, info->constraint);
			fputs(".\n", out);
		}
		if ((info->flags & XI_CF_REQUIRED) != 0)
			fputs("Required.\n", out);
		else if (info->default_value != NULL) {
			fputs("Default: \\fB", out);
			troff_text(out, info->default_value);
			fputs("\\fR.\n", out);
		} else {
			fputs("No default.\n", out);
		}
		if ((info->flags & XI_CF_SECRET_FILE_ONLY) != 0)
			fputs("Only in the secrets file.\n", out);
	}
	fputs(".SH SEE ALSO\n"
	      ".B xident config check\n"
	      ".I file\n"
	      "lists every problem of a file as\n"
	      ".IR file : line : \" reason\\fR;\n"
	      ".B xident config show\n"
	      ".I file\n"
	      "prints the effective values (secrets masked);\n"
	      ".B xident config doc\n"
	      "prints this page.\n", out);
	return ferror(out) ? -1 : 0;
}
