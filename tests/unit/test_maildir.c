/* Unit tests of xidentd's Maildir storage: formats, hostile files, delivery. */
#define _GNU_SOURCE /* qsort_r, getrandom */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "maildir_private.h"

static char root[256];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static char *read_text(const char *path)
{
	char *buf;
	size_t len;
	bool exists;
	if (xi_read_bounded(path, 1 << 20, &buf, &len, &exists, NULL) < 0 || !exists)
		return NULL;
	return buf;
}

static void test_info(void)
{
	unsigned f;
	uint32_t k;
	char buf[40];
	tap_ok(xi_maildir_info_parse("2,FRSac", &f, &k) == 0 &&
		       f == (XI_MAIL_FLAGGED | XI_MAIL_ANSWERED | XI_MAIL_SEEN) && k == 5u,
	       "info 2,FRSac: F R S + keywords a, c");
	xi_maildir_info_format(XI_MAIL_SEEN | XI_MAIL_DRAFT | XI_MAIL_DELETED, 1u << 25 | 2u, buf, sizeof(buf));
	tap_ok(strcmp(buf, "2,DSTbz") == 0, "info format: flags in ASCII order, then keyword letters (%s)", buf);
	tap_ok(xi_maildir_info_parse("1,xyz", &f, &k) < 0, "info with another version is refused");
	xi_maildir_info_parse("2,", &f, &k);
	tap_ok(f == 0 && k == 0, "empty info: no flags");
	for (unsigned bits = 0; bits <= XI_MAIL_FLAGS_ALL; bits++) {
		xi_maildir_info_format(bits, bits * 977u & 0x3ffffffu, buf, sizeof(buf));
		xi_maildir_info_parse(buf, &f, &k);
		if (f != bits || k != (bits * 977u & 0x3ffffffu)) {
			tap_ok(0, "info round trip %u", bits);
			return;
		}
	}
	tap_ok(1, "info round trip for every flag set");
	uint64_t v;
	tap_ok(xi_maildir_basename_size("1.M2P3.host,S=1234,W=1260", 'S', &v) == 0 && v == 1234, "S= read");
	tap_ok(xi_maildir_basename_size("1.M2P3.host,S=1234,W=1260", 'W', &v) == 0 && v == 1260, "W= read");
	tap_ok(xi_maildir_basename_size("1.M2P3.host,S=12x4", 'S', &v) < 0, "bad S= refused");
	tap_ok(xi_maildir_basename_size("1.M2P3.host", 'W', &v) < 0, "no W= absent");
}

static void test_names(void)
{
	static const char *const good[] = {"INBOX", "inbox", "Sent", "A.B", "Entw&APw-rfe", "a b"};
	static const char *const bad[] = {"", ".x", "x.", "a..b", "a/b", "..", "a\tb", "*", "x%", "Entwürfe"};
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		tap_ok(xi_maildir_folder_name_check(good[i], NULL) == 0, "folder name '%s' accepted", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		tap_ok(xi_maildir_folder_name_check(bad[i], NULL) < 0, "folder name '%s' refused", bad[i]);
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tap_ok(xi_maildir_folder_name_check(longname, NULL) < 0, "folder name of 299 bytes refused");
}

static void test_uidlist_format(void)
{
	/* As Dovecot 2.3 writes it, plus a line appended without a header update. */
	const char *text =
		"3 V1700000000 N3 G0123456789abcdef0123456789abcdef\n"
		"1 :1700000000.M1P2.host,S=10,W=11\n"
		"2 W120 S118 :1700000001.M5P2.host\n"
		"7 G11112222333344445555666677778888 :1700000002.M5P2.host,S=5,W=5\n";
	struct xi_uidlist ul;
	struct xi_error err;
	xi_uidlist_init(&ul);
	tap_ok(xi_uidlist_parse(text, strlen(text), &ul, &err) == 0, "Dovecot uidlist parsed");
	tap_is_int(ul.uidvalidity, 1700000000, "UIDVALIDITY");
	tap_is_int(ul.nextuid, 8, "next UID is past an appended record (header said 3)");
	tap_is_int(ul.count, 3, "three records");
	uint64_t v = 0;
	tap_ok(ul.count == 3 && xi_uidlist_rec_ext(&ul.recs[1], 'W', &v) == 0 && v == 120, "W ext field");
	tap_is_str(ul.guid, "0123456789abcdef0123456789abcdef", "mailbox GUID");
	char *out;
	size_t len;
	xi_uidlist_format(&ul, &out, &len, &err);
	const char *want =
		"3 V1700000000 N8 G0123456789abcdef0123456789abcdef\n"
		"1 :1700000000.M1P2.host,S=10,W=11\n"
		"2 W120 S118 :1700000001.M5P2.host\n"
		"7 G11112222333344445555666677778888 :1700000002.M5P2.host,S=5,W=5\n";
	tap_is_str(out, want, "written back as Dovecot writes it");
	struct xi_uidlist again;
	xi_uidlist_init(&again);
	tap_ok(xi_uidlist_parse(out, len, &again, &err) == 0 && again.count == 3 &&
		       strcmp(again.recs[2].basename, ul.recs[2].basename) == 0,
	       "round trip");
	free(out);
	xi_uidlist_free(&again);

	const char *v1 = "1 1234 5\n1 a.host\n4 b.host\n";
	tap_ok(xi_uidlist_parse(v1, strlen(v1), &ul, &err) == 0 && ul.count == 2 && ul.nextuid == 5 &&
		       strcmp(ul.recs[1].basename, "b.host") == 0,
	       "version 1 uidlist read");
	const char *dup = "3 V1 N10 G0123456789abcdef0123456789abcdef\n1 :x\n2 :y\n5 :x\n";
	tap_ok(xi_uidlist_parse(dup, strlen(dup), &ul, &err) == 0 && ul.count == 2 && ul.recs[1].uid == 5,
	       "duplicate file: the later UID wins, as in Dovecot");
	const char *partial = "3 V1 N10 G0123456789abcdef0123456789abcdef\n1 :x\n2 :y";
	tap_ok(xi_uidlist_parse(partial, strlen(partial), &ul, &err) == 0 && ul.count == 1,
	       "a partial last line (append in progress) is not read");
	xi_uidlist_free(&ul);
}

static void test_uidlist_hostile(void)
{
	static const char *const bad[] = {
		"",
		"4 V1 N1\n",
		"3 N5 G0123456789abcdef0123456789abcdef\n",
		"3 V0 N5\n",
		"3 V1 N99999999999\n",
		"3 V1 N2 Gnothex\n",
		"3 V1 N2\nabc :x\n",
		"3 V1 N2\n0 :x\n",
		"3 V1 N2\n5 :x\n3 :y\n",
		"3 V1 N2\n5 :x\n5 :y\n",
		"3 V1 N2\n4294967295 :x\n",
		"3 V1 N2\n99999999999 :x\n",
		"3 V1 N2\n1 :../../etc/passwd\n",
		"3 V1 N2\n1 :a/b\n",
		"3 V1 N2\n1 :.hidden\n",
		"3 V1 N2\n1 :\n",
		"3 V1 N2\n1 W12\n",
		"3 V1 N2\n1 w12 :x\n",
		"3 V1 N2\n1 :x\x01y\n",
		"3 V1 N2\n1 :x:2,S\n",
	};
	struct xi_uidlist ul;
	struct xi_error err;
	xi_uidlist_init(&ul);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		bool refused = xi_uidlist_parse(bad[i], strlen(bad[i]), &ul, &err) < 0;
		tap_ok(refused && ul.count == 0, "hostile uidlist %zu refused (%s)", i,
		       refused ? err.message : "accepted");
	}
	/* NUL inside a line and an over-long line */
	char nul[] = "3 V1 N2\n1 :ab\0cd\n";
	tap_ok(xi_uidlist_parse(nul, sizeof(nul) - 1, &ul, &err) < 0, "NUL byte refused");
	size_t big = XI_UIDLIST_LINE_MAX + 100;
	char *longl = malloc(big + 32);
	strcpy(longl, "3 V1 N2\n1 :");
	memset(longl + 11, 'a', big);
	strcpy(longl + 11 + big, "\n");
	tap_ok(xi_uidlist_parse(longl, strlen(longl), &ul, &err) < 0, "over-long line refused");
	free(longl);
	xi_uidlist_free(&ul);
}

static void test_keywords_format(void)
{
	struct xi_keywords kw = {{0}};
	const char *text = "0 $Junk\n2 Work\nx Bad\n30 TooHigh\n3 \n4 Work\n5 has space\n1 $Label1";
	xi_keywords_parse(text, strlen(text), &kw);
	tap_ok(kw.names[0] && strcmp(kw.names[0], "$Junk") == 0, "keyword a = $Junk");
	tap_ok(kw.names[1] && strcmp(kw.names[1], "$Label1") == 0, "last line without newline read");
	tap_ok(kw.names[2] && strcmp(kw.names[2], "Work") == 0, "keyword c = Work");
	tap_ok(!kw.names[3] && !kw.names[4] && !kw.names[5], "empty, duplicate and bad names skipped");
	char *out;
	size_t len;
	xi_keywords_format(&kw, &out, &len, NULL);
	tap_is_str(out, "0 $Junk\n1 $Label1\n2 Work\n", "keywords written as Dovecot does");
	free(out);
	xi_keywords_free(&kw);
}

static void test_mailbox(void)
{
	struct xi_error err;
	struct xi_maildir *md;
	char path[512];
	snprintf(path, sizeof(path), "%s/Maildir", root);
	tap_ok(xi_maildir_open(path, true, NULL, &md, &err) == 0, "Maildir created");
	if (md == NULL)
		return;
	uint32_t uids[5] = {0};
	const char *msg = "Subject: t\n\nbody\n";
	int ok = 1;
	for (int i = 0; i < 5; i++)
		ok &= xi_maildir_deliver(md, NULL, msg, strlen(msg), 0, &uids[i], &err) == 0;
	tap_ok(ok, "five deliveries");
	tap_ok(uids[0] == 1 && uids[1] == 2 && uids[4] == 5, "delivery assigns increasing UIDs 1..5");
	snprintf(path, sizeof(path), "%s/Maildir/dovecot-uidlist", root);
	char *ul = read_text(path);
	tap_ok(ul && strncmp(ul, "3 V", 3) == 0 && strstr(ul, " G") != NULL && strstr(ul, "\n5 :") != NULL,
	       "uidlist: header 3 V.. N.. G.., UID 5 appended as Dovecot's savers do");
	struct xi_uidlist parsed;
	xi_uidlist_init(&parsed);
	tap_ok(ul && xi_uidlist_parse(ul, strlen(ul), &parsed, &err) == 0 && parsed.nextuid == 6 && parsed.count == 5,
	       "read back: 5 records, next UID 6");
	xi_uidlist_free(&parsed);
	free(ul);

	struct xi_mailbox *mb;
	tap_ok(xi_mailbox_open(md, "INBOX", false, &mb, &err) == 0, "INBOX opened");
	if (mb == NULL)
		return;
	tap_is_int(xi_mailbox_count(mb), 5, "five messages");
	const struct xi_maildir_message *m = xi_mailbox_message(mb, 0);
	tap_ok(m && m->size == strlen(msg) && m->vsize == strlen(msg) + 3, "size and CRLF vsize");
	tap_ok(m && m->recent, "new/ message is recent");
	unsigned junk, work;
	tap_ok(xi_mailbox_keyword_lookup(mb, "$Junk", true, &junk, &err) == 0 && junk == 0, "keyword $Junk = a");
	tap_ok(xi_mailbox_keyword_lookup(mb, "Work", true, &work, &err) == 0 && work == 1, "keyword Work = b");
	tap_ok(xi_mailbox_keyword_lookup(mb, "bad name", true, &work, &err) < 0, "keyword with a space refused");
	tap_ok(xi_mailbox_set_flags(mb, 1, XI_FLAGS_REPLACE, XI_MAIL_SEEN | XI_MAIL_FLAGGED, 1u << 1, &err) == 0,
	       "flags set on UID 2");
	tap_ok(xi_mailbox_set_flags(mb, 2, XI_FLAGS_ADD, XI_MAIL_DELETED, 0, &err) == 0, "UID 3 \\Deleted");
	tap_ok(xi_mailbox_set_flags(mb, 0, XI_FLAGS_ADD, 0, 1u << 7, &err) < 0, "undefined keyword refused");
	xi_mailbox_close(mb);

	tap_ok(xi_mailbox_open(md, NULL, false, &mb, &err) == 0, "INBOX reopened");
	m = xi_mailbox_message(mb, 1);
	tap_ok(m && m->uid == 2 && m->flags == (XI_MAIL_SEEN | XI_MAIL_FLAGGED) && m->keywords == 2u,
	       "flags and keyword survive reopening");
	tap_is_str(xi_mailbox_keyword_name(mb, 1), "Work", "keyword name from dovecot-keywords");
	int fd;
	char buf[64] = {0};
	tap_ok(xi_mailbox_message_open(mb, 1, &fd, &err) == 0 && read(fd, buf, sizeof(buf) - 1) > 0 &&
		       strcmp(buf, msg) == 0,
	       "message read back");
	if (fd >= 0)
		close(fd);
	size_t n = 0;
	tap_ok(xi_mailbox_expunge_deleted(mb, &n, &err) == 0 && n == 1, "one \\Deleted message expunged");
	tap_ok(xi_mailbox_count(mb) == 5 && xi_mailbox_message(mb, 2)->expunged &&
		       !xi_mailbox_message(mb, 3)->expunged,
	       "indexes stay until the next sync; UID 3 marked expunged");
	tap_ok(xi_mailbox_message_open(mb, 2, &fd, &err) < 0 && err.status == XI_ERR_NOTFOUND,
	       "an expunged message cannot be opened");
	tap_ok(xi_mailbox_expunge(mb, 2, &err) == 0, "expunging twice is not an error");
	/* Another process expunges UID 2 meanwhile: our indexes still hold. */
	struct xi_mailbox *other;
	tap_ok(xi_mailbox_open(md, NULL, false, &other, &err) == 0 && xi_mailbox_find_uid(other, 2) == 1 &&
		       xi_mailbox_expunge(other, 1, &err) == 0,
	       "second session expunges UID 2");
	xi_mailbox_close(other);
	tap_ok(xi_mailbox_expunge(mb, 0, &err) == 0 && xi_mailbox_message(mb, 0)->uid == 1 &&
		       xi_mailbox_message(mb, 1)->uid == 2 && xi_mailbox_message(mb, 3)->uid == 4,
	       "UID 1 expunged by index; UID 4 still at its index");
	tap_ok(xi_mailbox_sync(mb, &err) == 0 && xi_mailbox_count(mb) == 2 && xi_mailbox_find_uid(mb, 1) < 0 &&
		       xi_mailbox_find_uid(mb, 3) < 0 && xi_mailbox_find_uid(mb, 4) == 0,
	       "after sync: UIDs 4 and 5 remain, renumbered");
	ul = read_text(path);
	tap_ok(ul && strstr(ul, "\n1 :") == NULL && strstr(ul, "\n2 :") == NULL && strstr(ul, "\n3 :") == NULL &&
		       strstr(ul, "\n4 :") != NULL, "uidlist forgets expunged UIDs");
	free(ul);
	uint32_t uid6;
	tap_ok(xi_maildir_deliver(md, NULL, msg, strlen(msg), XI_MAIL_SEEN, &uid6, &err) == 0 && uid6 == 6,
	       "UIDs are never reused: next delivery gets 6");
	tap_ok(xi_mailbox_sync(mb, &err) == 0 && xi_mailbox_count(mb) == 3 &&
		       xi_mailbox_message(mb, 2)->flags == XI_MAIL_SEEN,
	       "sync sees the delivery with \\Seen");
	struct xi_maildir_delivery *dlv;
	uint32_t uid_r = 0;
	time_t when = 0;
	tap_ok(xi_maildir_delivery_begin(md, NULL, &dlv, &err) == 0 &&
		       xi_maildir_delivery_write(dlv, msg, 5, &err) == 0 &&
		       xi_maildir_delivery_write(dlv, msg + 5, strlen(msg) - 5, &err) == 0 &&
		       (xi_maildir_delivery_set_received(dlv, 1234567890), 1) &&
		       xi_maildir_delivery_commit(dlv, 0, &uid_r, &err) == 0 && uid_r == 7,
	       "streamed delivery with a received date: UID 7");
	tap_ok(xi_mailbox_sync(mb, &err) == 0 && xi_mailbox_find_uid(mb, 7) == 3 &&
		       xi_mailbox_message_received(mb, 3, &when, &err) == 0 && when == 1234567890 &&
		       xi_mailbox_message(mb, 3)->size == strlen(msg),
	       "received date and size read back");
	tap_ok(xi_maildir_delivery_begin(md, NULL, &dlv, &err) == 0, "delivery begun");
	xi_maildir_delivery_abort(dlv);
	xi_mailbox_expunge(mb, 3, &err);
	tap_ok(xi_mailbox_sync(mb, &err) == 0 && xi_mailbox_count(mb) == 3, "aborted delivery leaves nothing");
	uint32_t validity = xi_mailbox_uidvalidity(mb);
	/* A file gone without our expunge (another agent, or a scan racing a
	 * rename) keeps its uidlist record: were it back, it keeps its UID. */
	char gone[600], kept[600];
	snprintf(gone, sizeof(gone), "%s/Maildir/new/%s", root, xi_mailbox_message(mb, 0)->basename);
	snprintf(kept, sizeof(kept), "%s/Maildir/keep", root);
	bool moved = rename(gone, kept) == 0;
	xi_mailbox_close(mb);
	tap_ok(moved, "file of UID 4 moved away");
	tap_ok(xi_maildir_deliver(md, NULL, msg, strlen(msg), 0, &uid6, &err) == 0 && uid6 == 8, "UID 8 delivered");
	ul = read_text(path);
	tap_ok(ul && strstr(ul, "\n4 :") != NULL, "record of UID 4 kept while its file is away");
	free(ul);
	rename(kept, gone);
	tap_ok(xi_mailbox_open(md, NULL, false, &mb, &err) == 0 && xi_mailbox_find_uid(mb, 4) == 0 &&
		       xi_mailbox_count(mb) == 4,
	       "file back: UID 4 again");
	xi_mailbox_close(mb);

	/* A file dropped into new/ by another agent gets the next UID on open. */
	snprintf(path, sizeof(path), "%s/Maildir/new/1800000000.M1P1.other", root);
	write_file(path, "x\r\n");
	tap_ok(xi_mailbox_open(md, NULL, true, &mb, &err) == 0 && xi_mailbox_count(mb) == 4,
	       "read-only open leaves a file without UID out");
	xi_mailbox_close(mb);
	tap_ok(xi_mailbox_open(md, NULL, false, &mb, &err) == 0 && xi_mailbox_count(mb) == 5 &&
		       xi_mailbox_message(mb, 4)->uid == 9 && xi_mailbox_message(mb, 4)->vsize == 3 &&
		       xi_mailbox_uidvalidity(mb) == validity,
	       "foreign file gets UID 9, vsize computed, UIDVALIDITY kept");
	xi_mailbox_close(mb);

	/* Folders */
	tap_ok(xi_maildir_folder_create(md, "Sent", &err) == 0, "folder Sent created");
	tap_ok(xi_maildir_folder_create(md, "A.B", &err) == 0, "folder A.B created");
	tap_ok(xi_maildir_folder_create(md, "Sent", &err) < 0 && err.status == XI_ERR_EXISTS, "Sent again: exists");
	tap_ok(xi_maildir_folder_create(md, "../x", &err) < 0, "folder ../x refused");
	snprintf(path, sizeof(path), "%s/Maildir/.Sent/maildirfolder", root);
	tap_ok(access(path, F_OK) == 0, "maildirfolder file");
	tap_ok(xi_maildir_deliver(md, "A.B", msg, strlen(msg), 0, &uid6, &err) == 0 && uid6 == 1,
	       "delivery into A.B: UID 1 there");
	tap_ok(xi_maildir_folder_rename(md, "Nothing", "C", &err) < 0 && err.status == XI_ERR_NOTFOUND,
	       "renaming a folder that does not exist fails");
	tap_ok(xi_maildir_folder_rename(md, "A", "Sent", &err) < 0 && err.status == XI_ERR_EXISTS,
	       "renaming onto an existing folder fails");
	tap_ok(xi_maildir_folder_rename(md, "A", "A.B.C", &err) < 0, "renaming into its own child fails");
	tap_ok(xi_maildir_folder_rename(md, "A", "D", &err) == 0 && xi_maildir_folder_rename(md, "D", "A", &err) == 0,
	       "A (only A.B on disk) renamed to D and back: the children move");
	tap_ok(xi_maildir_folder_create(md, "A", &err) == 0 && xi_maildir_folder_rename(md, "A", "C", &err) == 0,
	       "A renamed to C (with its child)");
	char **names;
	size_t count;
	tap_ok(xi_maildir_folder_list(md, &names, &count, &err) == 0 && count == 4 &&
		       strcmp(names[0], "INBOX") == 0 && strcmp(names[1], "C") == 0 &&
		       strcmp(names[2], "C.B") == 0 && strcmp(names[3], "Sent") == 0,
	       "list: INBOX, C, C.B, Sent");
	xi_maildir_folder_list_free(names, count);
	tap_ok(xi_mailbox_open(md, "C.B", false, &mb, &err) == 0 && xi_mailbox_count(mb) == 1, "C.B has the message");
	xi_mailbox_close(mb);
	tap_ok(xi_maildir_folder_delete(md, "C", &err) < 0, "C with a child is not deleted");
	tap_ok(xi_maildir_folder_delete(md, "C.B", &err) == 0 && xi_maildir_folder_delete(md, "C", &err) == 0,
	       "C.B then C deleted");
	tap_ok(xi_maildir_folder_delete(md, "INBOX", &err) < 0, "INBOX is not deleted");
	tap_ok(xi_maildir_folder_list(md, &names, &count, &err) == 0 && count == 2, "list: INBOX, Sent");
	xi_maildir_folder_list_free(names, count);

	/* Dovecot appends records without raising N: a delivery follows the
	 * last record, and a file not ending in a newline takes the full path. */
	snprintf(path, sizeof(path), "%s/Maildir/.Sent/dovecot-uidlist", root);
	write_file(path, "3 V77 N2 G0123456789abcdef0123456789abcdef\n1 :a\n41 :b\n");
	tap_ok(xi_maildir_deliver(md, "Sent", msg, strlen(msg), 0, &uid6, &err) == 0 && uid6 == 42,
	       "delivery after a record appended past N gets 42");
	write_file(path, "3 V77 N2 G0123456789abcdef0123456789abcdef\n1 :a\n41 :b\n50 :c");
	mb = NULL;
	/* Both files lack a record now: the older gets 42, ours 43. */
	tap_ok(xi_maildir_deliver(md, "Sent", msg, strlen(msg), 0, &uid6, &err) == 0 && uid6 == 43 &&
		       xi_mailbox_open(md, "Sent", false, &mb, &err) == 0 && xi_mailbox_count(mb) == 2 &&
		       xi_mailbox_uidvalidity(mb) == 77,
	       "after a partial last line: full sync, UIDVALIDITY kept");
	xi_mailbox_close(mb);
	ul = read_text(path);
	tap_ok(ul && ul[strlen(ul) - 1] == '\n' && strstr(ul, ":c") == NULL, "uidlist rewritten whole");
	free(ul);
	/* A hostile uidlist: refused read-only, set aside and rebuilt by a writer. */
	snprintf(path, sizeof(path), "%s/Maildir/.Sent/dovecot-uidlist", root);
	write_file(path, "3 V7 N9\n8 :../../x\n");
	tap_ok(xi_mailbox_open(md, "Sent", true, &mb, &err) < 0 && err.status == XI_ERR_INVALID,
	       "hostile uidlist: read-only open refused");
	tap_ok(xi_mailbox_open(md, "Sent", false, &mb, &err) == 0 && xi_mailbox_count(mb) == 2 &&
		       xi_mailbox_message(mb, 0)->uid == 1 && xi_mailbox_uidvalidity(mb) != 7,
	       "hostile uidlist: a writer rebuilds it with a new UIDVALIDITY");
	xi_mailbox_close(mb);
	snprintf(path, sizeof(path), "%s/Maildir/.Sent/dovecot-uidlist.broken", root);
	ul = read_text(path);
	tap_ok(ul && strcmp(ul, "3 V7 N9\n8 :../../x\n") == 0, "the broken uidlist is kept aside");
	free(ul);
	xi_maildir_close(md);
}

static void test_lock(void)
{
	struct xi_error err;
	struct xi_dotlock a, b;
	char path[512], lockpath[600];
	snprintf(path, sizeof(path), "%s/dovecot-uidlist", root);
	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
	tap_ok(xi_dotlock_take(path, 120, 1, &a, &err) == 0, "lock taken");
	char *c = read_text(lockpath);
	char want[32];
	snprintf(want, sizeof(want), "%ld:", (long)getpid());
	tap_ok(c && strncmp(c, want, strlen(want)) == 0, "lock holds pid:host");
	free(c);
	struct timeval t0, t1;
	gettimeofday(&t0, NULL);
	tap_ok(xi_dotlock_take(path, 120, 1, &b, &err) < 0 && err.status == XI_ERR_TEMP,
	       "second taker times out while the holder lives");
	gettimeofday(&t1, NULL);
	tap_ok(t1.tv_sec - t0.tv_sec >= 1 && t1.tv_sec - t0.tv_sec <= 3, "after about the timeout");
	xi_dotlock_release(&a);
	tap_ok(access(lockpath, F_OK) != 0, "released lock removed");
	/* A lock left by a dead process (old mtime) is overridden. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int st;
	waitpid(pid, &st, 0);
	char host[256];
	gethostname(host, sizeof(host));
	snprintf(want, sizeof(want), "%ld:", (long)pid);
	char content[300];
	snprintf(content, sizeof(content), "%s%s", want, host);
	write_file(lockpath, content);
	struct timeval old[2] = {{time(NULL) - 10, 0}, {time(NULL) - 10, 0}};
	utimes(lockpath, old);
	tap_ok(xi_dotlock_take(path, 120, 5, &b, &err) == 0, "lock of a dead process overridden");
	xi_dotlock_release(&b);
	/* A lock unchanged for longer than the stale time is overridden. */
	write_file(lockpath, "1:elsewhere");
	tap_ok(xi_dotlock_take(path, 1, 5, &b, &err) == 0, "stale lock overridden after stale_seconds");
	xi_dotlock_release(&b);
}

static void test_session_lock(void)
{
	struct xi_error err;
	struct xi_maildir *md;
	struct xi_maildir_session_lock *a = NULL, *b = NULL;
	char path[512], lockpath[600];
	snprintf(path, sizeof(path), "%s/Pop", root);
	snprintf(lockpath, sizeof(lockpath), "%s/" XI_MAILDIR_SESSION_LOCK_NAME, path);
	if (xi_maildir_open(path, true, NULL, &md, &err) < 0) {
		tap_ok(0, "Maildir for the session lock");
		return;
	}
	tap_ok(xi_maildir_session_lock(md, 1, &a, &err) == 0 && access(lockpath, F_OK) == 0,
	       "POP3 session lock taken: ROOT/dovecot-pop3-session.lock");
	tap_ok(xi_maildir_session_lock(md, 1, &b, &err) < 0 && err.status == XI_ERR_TEMP && b == NULL,
	       "second POP3 session refused while the first lives (%s)", err.message);
	struct timeval old[2] = {{time(NULL) - 100, 0}, {time(NULL) - 100, 0}};
	utimes(lockpath, old);
	struct stat st;
	tap_ok(xi_maildir_session_lock_touch(a, &err) == 0 && stat(lockpath, &st) == 0 &&
		       st.st_mtime >= time(NULL) - 5,
	       "touch refreshes the lock");
	xi_maildir_session_unlock(a);
	tap_ok(access(lockpath, F_OK) != 0, "unlock removes it");
	/* A session process killed while holding the lock. */
	pid_t pid = fork();
	if (pid == 0) {
		struct xi_maildir_session_lock *c;
		_exit(xi_maildir_session_lock(md, 1, &c, NULL) == 0 ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && access(lockpath, F_OK) == 0,
	       "a dead session left its lock behind");
	utimes(lockpath, old);
	tap_ok(xi_maildir_session_lock(md, 5, &b, &err) == 0, "the lock of a dead session is overridden");
	xi_maildir_session_unlock(b);
	xi_maildir_close(md);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/xi-maildir-test.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	test_info();
	test_names();
	test_uidlist_format();
	test_uidlist_hostile();
	test_keywords_format();
	test_mailbox();
	test_lock();
	test_session_lock();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", root);
	return tap_done();
}
