/* The LMTP session state machine (standalone/lmtp.h): pipelined commands,
 * dot-stuffing, over-long lines, the size limit, RSET, bad sequences and
 * per-recipient replies after DATA. */
#include <stdlib.h>
#include <string.h>

#include "lmtp.h"
#include "tap.h"

struct fake {
	char delivered[4][4096];
	size_t delivered_len[4];
	unsigned deliveries;
	unsigned rcpt_live;   /* accepted and not yet freed */
};

static bool fake_rcpt(void *ctx, const char *address, void **rcpt_ctx, char *reply,
		      size_t size)
{
	struct fake *f = ctx;

	if (strncmp(address, "bad", 3) == 0) {
		snprintf(reply, size, "550 5.1.1 <%s> No such recipient", address);
		return false;
	}
	if (strncmp(address, "temp", 4) == 0) {
		snprintf(reply, size, "451 4.3.0 <%s> Directory unavailable", address);
		return false;
	}
	f->rcpt_live++;
	*rcpt_ctx = f;
	return true;
}

static void fake_deliver(void *ctx, void *rcpt_ctx, const char *address, const char *sender,
			 const uint8_t *data, size_t len, char *reply, size_t size)
{
	struct fake *f = ctx;

	(void)rcpt_ctx;
	(void)sender;
	if (strncmp(address, "full", 4) == 0) {
		snprintf(reply, size, "452 4.2.2 <%s> Mailbox full", address);
		return;
	}
	if (f->deliveries < 4 && len < sizeof(f->delivered[0])) {
		memcpy(f->delivered[f->deliveries], data, len);
		f->delivered_len[f->deliveries] = len;
	}
	f->deliveries++;
	snprintf(reply, size, "250 2.0.0 <%s> Delivered", address);
}

static void fake_free(void *ctx, void *rcpt_ctx)
{
	struct fake *f = ctx;

	(void)rcpt_ctx;
	f->rcpt_live--;
}

static const struct lmtp_callbacks CB = { fake_rcpt, fake_deliver, fake_free };

static struct lmtp_session *start(struct fake *f, size_t size_max)
{
	struct lmtp_settings set = { .hostname = "mx.test", .line_max = 512,
				     .size_max = size_max, .rcpt_max = 3 };
	memset(f, 0, sizeof(*f));
	return lmtp_session_new(&set, &CB, f);
}

/* Feeds text and returns the replies (a static buffer), consuming them. */
static const char *feed(struct lmtp_session *s, const char *text)
{
	static char buf[16384];
	size_t n;
	const char *o;

	if (lmtp_session_input(s, text, strlen(text)) < 0)
		return "(nomem)";
	o = lmtp_session_output(s, &n);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, o, n);
	buf[n] = '\0';
	lmtp_session_output_consume(s, n);
	return buf;
}

int main(void)
{
	struct fake f;
	struct lmtp_session *s;
	char big[3000];

	/* greeting, LHLO capabilities */
	s = start(&f, 1000);
	tap_is_str(feed(s, ""), "220 mx.test LMTP ready\r\n", "greeting");
	tap_is_str(feed(s, "LHLO client\r\n"),
		   "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
		   "250-8BITMIME\r\n250 SIZE 1000\r\n", "LHLO lists the extensions");

	/* a whole pipelined transaction in one write; per-recipient results */
	tap_is_str(feed(s, "MAIL FROM:<a@x> BODY=8BITMIME SIZE=10\r\nRCPT TO:<u1@x>\r\n"
			"RCPT TO:<bad@x>\r\nRCPT TO:<full@x>\r\nDATA\r\n"
			"Subject: t\r\n\r\n..dot\r\n..\r\nline\r\n.\r\nQUIT\r\n"),
		   "250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 <bad@x> No such recipient\r\n"
		   "250 2.1.5 OK\r\n354 Send the message, end with <CRLF>.<CRLF>\r\n"
		   "250 2.0.0 <u1@x> Delivered\r\n452 4.2.2 <full@x> Mailbox full\r\n"
		   "221 2.0.0 mx.test closing connection\r\n",
		   "pipelined transaction: one reply per accepted recipient after DATA");
	tap_is_int(f.deliveries, 1, "delivered once");
	tap_is_mem(f.delivered[0], "Subject: t\n\n.dot\n.\nline\n", 24,
		   "dot-unstuffed, CRLF stored as LF");
	tap_is_int(f.delivered_len[0], 24, "message length");
	tap_ok(lmtp_session_finished(s), "QUIT finishes the session");
	tap_is_str(feed(s, "NOOP\r\n"), "", "nothing answered after QUIT");
	tap_is_int(f.rcpt_live, 0, "every recipient freed");
	lmtp_session_free(s);

	/* bad sequences */
	s = start(&f, 1000);
	feed(s, "");
	tap_is_str(feed(s, "MAIL FROM:<a@x>\r\n"), "503 5.5.1 Send LHLO first\r\n",
		   "MAIL before LHLO");
	tap_is_str(feed(s, "EHLO x\r\n"), "500 5.5.1 This is LMTP: use LHLO\r\n", "EHLO refused");
	feed(s, "LHLO c\r\n");
	tap_is_str(feed(s, "RCPT TO:<u@x>\r\n"), "503 5.5.1 Send MAIL first\r\n", "RCPT before MAIL");
	tap_is_str(feed(s, "DATA\r\n"), "503 5.5.1 Send MAIL first\r\n", "DATA before MAIL");
	tap_is_str(feed(s, "MAIL FROM:<>\r\n"), "250 2.1.0 OK\r\n", "null sender accepted");
	tap_is_str(feed(s, "MAIL FROM:<a@x>\r\n"), "503 5.5.1 Nested MAIL command\r\n",
		   "nested MAIL");
	tap_is_str(feed(s, "DATA\r\n"), "554 5.5.1 No valid recipients\r\n",
		   "DATA without recipients");
	tap_is_str(feed(s, "RCPT TO:<temp@x>\r\n"), "451 4.3.0 <temp@x> Directory unavailable\r\n",
		   "temporary recipient failure passed through");
	tap_is_str(feed(s, "RCPT TO:u@x\r\n"), "501 5.5.4 Syntax: RCPT TO:<address>\r\n",
		   "RCPT without angle brackets");
	tap_is_str(feed(s, "RCPT TO:<u1@x>\r\nRCPT TO:<u2@x>\r\nRCPT TO:<u3@x>\r\nRCPT TO:<u4@x>\r\n"),
		   "250 2.1.5 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n452 4.5.3 Too many recipients\r\n",
		   "recipient limit");
	tap_is_int(f.rcpt_live, 3, "three recipients held");
	tap_is_str(feed(s, "RSET\r\n"), "250 2.0.0 OK\r\n", "RSET");
	tap_is_int(f.rcpt_live, 0, "RSET frees the recipients");
	tap_is_str(feed(s, "RCPT TO:<u@x>\r\n"), "503 5.5.1 Send MAIL first\r\n",
		   "RSET ended the transaction");
	tap_is_str(feed(s, "NOOP\r\n"), "250 2.0.0 OK\r\n", "NOOP");
	tap_is_str(feed(s, "FOO\r\n"), "500 5.5.2 Unknown command\r\n", "unknown command");
	tap_is_str(feed(s, "MAIL FROM:<a@x> SIZE=1001\r\n"),
		   "552 5.3.4 Message size exceeds the limit of 1000 bytes\r\n",
		   "SIZE above the limit refused at MAIL");
	tap_is_str(feed(s, "MAIL FROM:<a@x> XFOO=1\r\n"), "555 5.5.4 Unsupported parameter XFOO=1\r\n",
		   "unknown MAIL parameter");
	tap_is_str(feed(s, "MAIL FROM:<a\r@x>\r\n"), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
		   "control byte in an address");
	tap_ok(!lmtp_session_finished(s), "session still open");
	lmtp_session_free(s);

	/* over-long command line: refused once, the rest of it skipped */
	s = start(&f, 1000);
	feed(s, "LHLO c\r\n");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tap_is_str(feed(s, big), "500 5.5.2 Line too long (limit 512 bytes)\r\n",
		   "over-long line refused");
	tap_is_str(feed(s, big), "", "refused only once");
	tap_is_str(feed(s, "\r\nNOOP\r\n"), "250 2.0.0 OK\r\n", "next line served again");
	/* a line split over many writes, byte by byte */
	{
		const char *cmd = "NOOP\r\n";
		char got[64] = "";
		for (size_t i = 0; cmd[i] != '\0'; i++) {
			char one[2] = { cmd[i], '\0' };
			strcat(got, feed(s, one));
		}
		tap_is_str(got, "250 2.0.0 OK\r\n", "command split byte by byte");
	}
	lmtp_session_free(s);

	/* size limit: the message is read to its end and refused per recipient */
	s = start(&f, 100);
	feed(s, "LHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<u1@x>\r\nRCPT TO:<u2@x>\r\nDATA\r\n");
	memset(big, 'B', 150);
	big[150] = '\0';
	tap_is_str(feed(s, big), "", "no reply during DATA");
	tap_is_str(feed(s, "\r\n.\r\n"),
		   "552 5.3.4 <u1@x> Message size exceeds the limit of 100 bytes\r\n"
		   "552 5.3.4 <u2@x> Message size exceeds the limit of 100 bytes\r\n",
		   "too large: 552 per recipient");
	tap_is_int(f.deliveries, 0, "nothing delivered");
	tap_is_str(feed(s, "NOOP\r\n"), "250 2.0.0 OK\r\n", "command mode after the message");
	lmtp_session_free(s);

	/* message lines longer than the command bound are kept whole; a dot at
	 * the start of a continuation piece is data, not the end */
	s = start(&f, 4000);
	feed(s, "LHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<u1@x>\r\nDATA\r\n");
	memset(big, 'C', 1000);
	big[1000] = '\0';
	big[514] = '.';
	feed(s, big);
	tap_is_str(feed(s, "\r\n.\r\n"), "250 2.0.0 <u1@x> Delivered\r\n", "long line delivered");
	tap_is_int(f.delivered_len[0], 1001, "long line kept whole");
	tap_ok(f.delivered[0][514] == '.' && f.delivered[0][1000] == '\n', "inner dot kept");
	/* bare LF line ends and the end marker with LF only */
	tap_is_str(feed(s, "MAIL FROM:<a@x>\nRCPT TO:<u2@x>\nDATA\nx\n..\n.\n"),
		   "250 2.1.0 OK\r\n250 2.1.5 OK\r\n354 Send the message, end with <CRLF>.<CRLF>\r\n"
		   "250 2.0.0 <u2@x> Delivered\r\n", "LF line ends tolerated");
	tap_is_mem(f.delivered[1], "x\n.\n", 4, "dot line unstuffed");
	/* an empty message */
	tap_is_str(feed(s, "MAIL FROM:<a@x>\r\nRCPT TO:<u3@x>\r\nDATA\r\n.\r\n"),
		   "250 2.1.0 OK\r\n250 2.1.5 OK\r\n354 Send the message, end with <CRLF>.<CRLF>\r\n"
		   "250 2.0.0 <u3@x> Delivered\r\n", "empty message");
	tap_is_int(f.delivered_len[2], 0, "empty message is empty");
	lmtp_session_free(s);

	/* NUL bytes in a command */
	s = start(&f, 100);
	feed(s, "");
	tap_ok(lmtp_session_input(s, "NO\0OP\r\n", 7) == 0, "NUL input accepted");
	tap_is_str(feed(s, ""), "500 5.5.2 Bad command line\r\n", "NUL in a command refused");
	lmtp_session_free(s);
	return tap_done();
}
