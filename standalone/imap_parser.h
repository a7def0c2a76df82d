/*
 * imap_parser: incremental IMAP4rev1 command parser (RFC 3501 section 9,
 * LITERAL+ of RFC 7888) and the response-side string helpers.
 *
 * The server feeds whatever bytes arrived; the parser answers
 *   XI_IMAP_NEED_MORE      everything consumed, no command yet
 *   XI_IMAP_CONTINUE       a synchronizing literal {n} was announced and the
 *                          line before it is valid: send "+ ..." and go on
 *                          feeding (xi_imap_parser_literal_left() bytes due)
 *   XI_IMAP_COMMAND        a whole command: xi_imap_parser_command()
 *   XI_IMAP_ERROR          xi_imap_parser_error(): send "<tag> BAD <text>"
 *                          (tag "*" when none was read).  Unless `fatal`,
 *                          the parser resynchronises by itself (it discards
 *                          the rest of the line, and the data of a LITERAL+
 *                          literal on it) and the connection stays up.
 *
 * A command is a tag, a name and a tree of arguments: atoms (which include
 * flags "\Seen", sequence sets "1:*", search keys and fetch attributes
 * "BODY[HEADER.FIELDS (A B)]<0.100>" as one token each), quoted strings
 * (unescaped), literals, NIL and parenthesised lists.  Sequence sets are
 * decoded on demand by xi_imap_seqset_parse().
 *
 * Memory is bounded per command by xi_imap_limits (line bytes, literal
 * size, whole-command size, nesting depth, argument count); a literal
 * larger than the limit is refused from its announcement, before anything
 * is allocated.  Between commands the parser holds no buffer.
 *
 * No globals; a parser belongs to one connection.
 */
#ifndef XI_IMAP_PARSER_H
#define XI_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xi_imap_limits {
	size_t max_line;       /* command text bytes, literals not counted */
	uint64_t max_literal;  /* bytes of one literal */
	size_t max_command;    /* line text plus all literals of one command */
	unsigned max_depth;    /* nested parenthesised lists */
	unsigned max_args;     /* arguments (list items included) in a command */
	bool literal_plus;     /* accept {n+} (LITERAL+ advertised) */
	/* accept '\' inside an atom: logon names typed DOMAIN\account\alias
	 * without quotes, as Dovecot and Exchange take them (before logon only) */
	bool atom_backslash;
};

#define XI_IMAP_DEFAULT_MAX_LINE (64u * 1024)
#define XI_IMAP_DEFAULT_MAX_LITERAL (64u * 1024 * 1024)
#define XI_IMAP_DEFAULT_MAX_DEPTH 16
#define XI_IMAP_DEFAULT_MAX_ARGS 4096

/* Fills l with the defaults (max_command = max_line + max_literal,
 * literal_plus on, atom_backslash off). */
void xi_imap_limits_default(struct xi_imap_limits *l);

enum xi_imap_arg_type {
	XI_IMAP_ARG_ATOM,
	XI_IMAP_ARG_QUOTED,
	XI_IMAP_ARG_LITERAL,
	XI_IMAP_ARG_NIL,
	XI_IMAP_ARG_LIST,
};

struct xi_imap_arg {
	enum xi_imap_arg_type type;
	const char *str;  /* ATOM/QUOTED/LITERAL: the value, NUL-terminated
			   * (a literal may hold no NUL, so this is exact) */
	size_t len;
	const struct xi_imap_arg *list; /* LIST: its first item, or NULL */
	unsigned count;                 /* LIST: number of items */
	const struct xi_imap_arg *next; /* the following sibling, or NULL */
	bool literal_plus;              /* LITERAL: sent as {n+} */
};

struct xi_imap_command {
	const char *tag;
	const char *name;               /* as sent; compare case-insensitively */
	const struct xi_imap_arg *args; /* first argument, or NULL */
	unsigned argc;                  /* top-level arguments */
};

/* The argument shape RFC 3501 (and RFC 2971 ID, RFC 5161 ENABLE) gives the
 * commands whose arguments no handler parses further: NULL when cmd
 * fits, else the text for "<tag> BAD <text>".  Unknown names fit. */
const char *xi_imap_command_shape_error(const struct xi_imap_command *cmd);

enum xi_imap_errcode {
	XI_IMAP_ERR_NONE = 0,
	XI_IMAP_ERR_SYNTAX,          /* grammar violated */
	XI_IMAP_ERR_TAG,             /* missing or invalid tag */
	XI_IMAP_ERR_COMMAND,         /* missing or invalid command name */
	XI_IMAP_ERR_LINE_TOO_LONG,
	XI_IMAP_ERR_LITERAL_TOO_BIG,
	XI_IMAP_ERR_COMMAND_TOO_BIG,
	XI_IMAP_ERR_TOO_DEEP,
	XI_IMAP_ERR_TOO_MANY_ARGS,
	XI_IMAP_ERR_NUL,             /* NUL byte in the command or a literal */
	XI_IMAP_ERR_8BIT,            /* 8-bit byte in an atom or the tag */
	XI_IMAP_ERR_LITERAL_PLUS,    /* {n+} while LITERAL+ is off */
	XI_IMAP_ERR_NOMEM,
};

struct xi_imap_error {
	enum xi_imap_errcode code;
	char tag[128];   /* the command's tag, or "*" */
	char text[160];  /* for "<tag> BAD <text>" */
	bool fatal;      /* resynchronisation impossible: close the connection */
};

enum xi_imap_feed {
	XI_IMAP_NEED_MORE,
	XI_IMAP_CONTINUE,
	XI_IMAP_COMMAND,
	XI_IMAP_ERROR,
};

struct xi_imap_parser;

/* limits NULL: defaults.  NULL when out of memory. */
struct xi_imap_parser *xi_imap_parser_new(const struct xi_imap_limits *limits);
void xi_imap_parser_free(struct xi_imap_parser *p);

/* Consumes a prefix of data[0..len) (*consumed bytes) and reports.  Feed
 * the rest again after acting on the result.  After a fatal error every
 * call returns XI_IMAP_ERROR again. */
enum xi_imap_feed xi_imap_parser_feed(struct xi_imap_parser *p, const char *data, size_t len,
				      size_t *consumed);
/* Done with the last command or error: wipes and frees what it held now
 * rather than at the next feed (before logon a LOGIN line holds a password
 * while the connection waits for more).  Invalidates the command. */
void xi_imap_parser_release(struct xi_imap_parser *p);
/* The last command; valid until the next feed (or release). */
const struct xi_imap_command *xi_imap_parser_command(const struct xi_imap_parser *p);
const struct xi_imap_error *xi_imap_parser_error(const struct xi_imap_parser *p);
/* Bytes still due for the literal being read (0 when none). */
uint64_t xi_imap_parser_literal_left(const struct xi_imap_parser *p);
/* Bytes held for the command being read (for memory accounting). */
size_t xi_imap_parser_buffered(const struct xi_imap_parser *p);

/* ---------------------------------------------------------------- sequence sets */

#define XI_IMAP_SEQ_STAR UINT32_MAX

struct xi_imap_seq_range {
	uint32_t lo, hi; /* lo <= hi unless one is XI_IMAP_SEQ_STAR ("*") */
};

/* Parses sequence-set (RFC 3501: "2,4:7,9:*"), never expanding ranges;
 * adjacent or overlapping ranges in order are merged, so "1,2,3,...,10000"
 * is one range.  At most max ranges are stored in out; more (after
 * merging) is an error.  Returns the number of ranges or -1 (syntax error,
 * number 0 or > 2^32-1, too many ranges). */
int xi_imap_seqset_parse(const char *s, size_t len, struct xi_imap_seq_range *out, unsigned max);
/* A range with "*" replaced by `largest`, ordered: false when largest is 0. */
bool xi_imap_seq_range_resolve(const struct xi_imap_seq_range *r, uint32_t largest, uint32_t *lo,
			       uint32_t *hi);

/* ---------------------------------------------------------------- responses */

/* Writes s as an IMAP string: quoted when it can be (no CR, LF, NUL,
 * 8-bit; '"' and '\' escaped), else a literal "{n}\r\n" + bytes.  Returns
 * the length needed (like snprintf; out NUL-terminated when cap > 0). */
size_t xi_imap_write_string(char *out, size_t cap, const char *s, size_t len);
/* The same as an nstring: NIL for s == NULL. */
size_t xi_imap_write_nstring(char *out, size_t cap, const char *s, size_t len);

/* Modified UTF-7 mailbox names (RFC 3501 5.1.3).  Both return the output
 * length (out NUL-terminated, like snprintf) or -1 when the input is
 * invalid: bad UTF-8 (overlong, surrogates) for encode; for decode a byte
 * outside 0x20..0x7e, an unterminated or empty shift other than "&-",
 * base64 of printable ASCII, non-zero padding bits, broken surrogate
 * pairs or two shifts back to back. */
long xi_imap_mutf7_encode(const char *utf8, size_t len, char *out, size_t cap);
long xi_imap_mutf7_decode(const char *mutf7, size_t len, char *out, size_t cap);

#endif
