/*
 * admin_password: reading passwords without echo and hashing them for the
 * directory.
 */
#include "xident-config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin_password.h"
#include "ntlm_server.h"
#include "unicode.h"

/* Reads one line from fd into buf; returns its length without the line end,
 * or -1.  Byte by byte, so nothing after the line is consumed. */
static ssize_t read_line(int fd, char *buf, size_t size, struct xi_error *err)
{
	size_t len = 0;

	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return xi_error_set(err, XI_ERR_IO, "cannot read the password: %s",
					    strerror(errno));
		if (n == 0 || c == '\n')
			break;
		if (len + 1 >= size) {
			OPENSSL_cleanse(buf, size);
			return xi_error_set(err, XI_ERR_INVALID,
					    "the password is longer than %d bytes", XI_PASSWORD_MAX);
		}
		buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The terminal settings a signal handler must put back.  A signal handler
 * can reach nothing else, so these are the CLI's one piece of global state;
 * they are set only while a prompt has echo off, one prompt at a time. */
static struct termios prompt_old, prompt_quiet;

static const int prompt_signals[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN,
				      SIGTTOU };
#define PROMPT_SIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/* Echo back on, then the signal's own action: the process ends, or stops
 * with a usable terminal.  A stop returns here once the process is
 * continued (or at once when the kernel discards it for an orphaned process
 * group); the prompt is still waiting, so echo goes off again.  Only
 * async-signal-safe calls. */
static void restore_and_reraise(int sig)
{
	int saved = errno;
	struct sigaction sa;
	sigset_t one;

	(void)tcsetattr(STDIN_FILENO, TCSANOW, &prompt_old);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(sig, &sa, NULL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	(void)sigprocmask(SIG_UNBLOCK, &one, NULL);
	(void)raise(sig);
	(void)tcsetattr(STDIN_FILENO, TCSANOW, &prompt_quiet);
	sa.sa_handler = restore_and_reraise;
	(void)sigaction(sig, &sa, NULL);
	errno = saved;
}

static ssize_t prompt(const char *text, char *buf, size_t size, struct xi_error *err)
{
	struct sigaction sa, saved[PROMPT_SIGNALS];
	ssize_t len;
	size_t i;

	if (tcgetattr(STDIN_FILENO, &prompt_old) < 0)
		return xi_error_set(err, XI_ERR_IO, "cannot turn terminal echo off: %s",
				    strerror(errno));
	prompt_quiet = prompt_old;
	prompt_quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	prompt_quiet.c_lflag |= ICANON;
	/* The handlers are in place before echo goes off, so there is no
	 * moment when a signal could leave the terminal silent. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = restore_and_reraise;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < PROMPT_SIGNALS; i++)
		(void)sigaction(prompt_signals[i], &sa, &saved[i]);
	/* Echo goes off before the prompt appears, so nothing typed after the
	 * prompt is ever shown; TCSANOW keeps what was typed ahead. */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &prompt_quiet) < 0) {
		len = xi_error_set(err, XI_ERR_IO, "cannot turn terminal echo off: %s",
				   strerror(errno));
	} else {
		fputs(text, stderr);
		fflush(stderr);
		len = read_line(STDIN_FILENO, buf, size, err);
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &prompt_old);
		fputc('\n', stderr);
	}
	for (i = 0; i < PROMPT_SIGNALS; i++)
		(void)sigaction(prompt_signals[i], &saved[i], NULL);
	return len;
}

int xi_admin_read_password(bool from_stdin, bool confirm, char *buf, size_t size,
			   struct xi_error *err)
{
	char again[XI_PASSWORD_MAX + 2];
	ssize_t len, len2;

	if (size > XI_PASSWORD_MAX + 1)
		size = XI_PASSWORD_MAX + 1;
	if (from_stdin) {
		len = read_line(STDIN_FILENO, buf, size, err);
	} else {
		if (!isatty(STDIN_FILENO))
			return xi_error_set(err, XI_ERR_INVALID,
					    "standard input is not a terminal: give the password "
					    "with --password-stdin");
		len = prompt("New password: ", buf, size, err);
		if (len >= 0 && confirm) {
			len2 = prompt("Retype new password: ", again, sizeof(again), err);
			if (len2 < 0) {
				OPENSSL_cleanse(buf, size);
				return -1;
			}
			if (len2 != len || CRYPTO_memcmp(again, buf, (size_t)len) != 0) {
				OPENSSL_cleanse(again, sizeof(again));
				OPENSSL_cleanse(buf, size);
				return xi_error_set(err, XI_ERR_INVALID,
						    "the passwords do not match");
			}
			OPENSSL_cleanse(again, sizeof(again));
		}
	}
	if (len < 0)
		return -1;
	if (len == 0)
		return xi_error_set(err, XI_ERR_INVALID, "the password is empty");
	if (memchr(buf, '\0', (size_t)len) != NULL ||
	    !xi_utf8_valid_text(buf, (size_t)len)) {
		OPENSSL_cleanse(buf, size);
		return xi_error_set(err, XI_ERR_INVALID,
				    "the password is not UTF-8 text (or holds control characters)");
	}
	return 0;
}

int xi_admin_password_values(const char *password, enum xi_password_scheme scheme,
			     char *userpw, size_t userpw_size, char nt_hex[33],
			     struct xi_error *err)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t nt[16];
	size_t i;

	if (xi_password_hash(scheme, password, userpw, userpw_size, err) < 0)
		return -1;
	if (xi_nt_hash(password, nt, err) < 0) {
		OPENSSL_cleanse(userpw, userpw_size);
		return -1;
	}
	for (i = 0; i < sizeof(nt); i++) {
		nt_hex[2 * i] = hex[nt[i] >> 4];
		nt_hex[2 * i + 1] = hex[nt[i] & 0xf];
	}
	nt_hex[32] = '\0';
	OPENSSL_cleanse(nt, sizeof(nt));
	return 0;
}

int xi_admin_parse_scheme(const char *text, enum xi_password_scheme *scheme_r,
			  struct xi_error *err)
{
	if (strcasecmp(text, "ssha512") == 0 || strcasecmp(text, "{SSHA512}") == 0) {
		*scheme_r = XI_PW_SSHA512;
		return 0;
	}
	if (strcasecmp(text, "argon2") == 0 || strcasecmp(text, "{ARGON2}") == 0) {
#ifdef HAVE_ARGON2
		*scheme_r = XI_PW_ARGON2;
		return 0;
#else
		return xi_error_set(err, XI_ERR_UNSUPPORTED,
				    "{ARGON2} needs xident built with libargon2");
#endif
	}
	return xi_error_set(err, XI_ERR_INVALID, "unknown password scheme %s (ssha512, argon2)",
			    text);
}
