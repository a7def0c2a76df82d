/*
 * admin_password: reading passwords without echo and hashing them for the
 * directory.
 */
#include "xident-config.h"

#include <errno.h>
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

static ssize_t prompt(const char *text, char *buf, size_t size, struct xi_error *err)
{
	struct termios old, quiet;
	ssize_t len;

	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return xi_error_set(err, XI_ERR_IO, "cannot turn terminal echo off: %s",
				    strerror(errno));
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	/* Echo goes off before the prompt appears, so nothing typed after the
	 * prompt is ever shown; TCSANOW keeps what was typed ahead. */
	if (tcsetattr(STDIN_FILENO, TCSANOW, &quiet) < 0)
		return xi_error_set(err, XI_ERR_IO, "cannot turn terminal echo off: %s",
				    strerror(errno));
	fputs(text, stderr);
	fflush(stderr);
	len = read_line(STDIN_FILENO, buf, size, err);
	(void)tcsetattr(STDIN_FILENO, TCSANOW, &old);
	fputc('\n', stderr);
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
