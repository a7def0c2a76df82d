/* unicode: validation, UTF-16LE conversion, case mapping, bounds. */
#include <string.h>

#include "tap.h"
#include "unicode.h"

/* tap_is_str tests its arguments for NULL; arrays never are (-Waddress). */
static const char *S(const char *s) { return s; }

static void test_valid(void)
{
	tap_ok(xi_utf8_valid_text("alice", 5), "ASCII is valid");
	tap_ok(xi_utf8_valid_text("", 0), "empty is valid");
	tap_ok(xi_utf8_valid_text("J\xc3\xb6rg", 5), "Jörg is valid");
	tap_ok(xi_utf8_valid_text("\xf0\x9f\x98\x80", 4), "4-byte sequence is valid");
	tap_ok(!xi_utf8_valid_text("a\0b", 3), "NUL refused");
	tap_ok(!xi_utf8_valid_text("a\tb", 3), "C0 control refused");
	tap_ok(!xi_utf8_valid_text("a\x7f", 2), "DEL refused");
	tap_ok(!xi_utf8_valid_text("\xc2\x85", 2), "C1 control (NEL) refused");
	tap_ok(!xi_utf8_valid_text("\xc0\xaf", 2), "overlong 2-byte '/' refused");
	tap_ok(!xi_utf8_valid_text("\xe0\x80\xaf", 3), "overlong 3-byte '/' refused");
	tap_ok(!xi_utf8_valid_text("\xf0\x80\x80\xaf", 4), "overlong 4-byte '/' refused");
	tap_ok(!xi_utf8_valid_text("\xed\xa0\x80", 3), "surrogate U+D800 refused");
	tap_ok(!xi_utf8_valid_text("\xf4\x90\x80\x80", 4), "above U+10FFFF refused");
	tap_ok(!xi_utf8_valid_text("\xc3", 1), "truncated sequence refused");
	tap_ok(!xi_utf8_valid_text("\x80", 1), "lone continuation byte refused");
	tap_ok(!xi_utf8_valid_text("\xfe", 1), "0xFE refused");
	tap_ok(!xi_utf8_valid_text("J\xc3\xb6rg", 2), "length bound respected (cut mid-sequence)");
}

static void test_utf16(void)
{
	struct xi_error err;
	uint8_t u16[64];
	char u8[64];
	int n;
	static const uint8_t user_le[] = { 'U', 0, 's', 0, 'e', 0, 'r', 0 };
	static const uint8_t jorg_le[] = { 'J', 0, 0xf6, 0, 'r', 0, 'g', 0 };
	static const uint8_t emoji_le[] = { 0x3d, 0xd8, 0x00, 0xde };
	static const uint8_t lone_hi[] = { 0x3d, 0xd8, 'a', 0 };
	static const uint8_t lone_lo[] = { 0x00, 0xde };
	static const uint8_t nul[] = { 'a', 0, 0, 0 };

	n = xi_utf8_to_utf16le("User", 4, u16, sizeof(u16), &err);
	tap_is_int(n, 8, "User -> 8 bytes UTF-16LE");
	tap_is_mem(u16, user_le, 8, "User UTF-16LE bytes");
	n = xi_utf8_to_utf16le("J\xc3\xb6rg", 5, u16, sizeof(u16), &err);
	tap_is_int(n, 8, "Jörg -> 8 bytes");
	tap_is_mem(u16, jorg_le, 8, "Jörg UTF-16LE bytes");
	n = xi_utf8_to_utf16le("\xf0\x9f\x98\x80", 4, u16, sizeof(u16), &err);
	tap_is_int(n, 4, "U+1F600 -> surrogate pair");
	tap_is_mem(u16, emoji_le, 4, "surrogate pair bytes");
	tap_is_int(xi_utf8_to_utf16le("User", 4, u16, 7, &err), -1, "UTF-16LE output bound respected");
	tap_is_int(err.status, XI_ERR_INVALID, "bound overflow is XI_ERR_INVALID");
	tap_is_int(xi_utf8_to_utf16le("\xc0\xaf", 2, u16, sizeof(u16), &err), -1, "overlong refused on encode");

	n = xi_utf16le_to_utf8(jorg_le, sizeof(jorg_le), u8, sizeof(u8), &err);
	tap_is_int(n, 5, "UTF-16LE Jörg -> 5 UTF-8 bytes");
	tap_is_str(S(u8), "J\xc3\xb6rg", "UTF-16LE Jörg decoded");
	n = xi_utf16le_to_utf8(emoji_le, sizeof(emoji_le), u8, sizeof(u8), &err);
	tap_is_str(S(u8), "\xf0\x9f\x98\x80", "surrogate pair decoded");
	tap_is_int(xi_utf16le_to_utf8(user_le, 7, u8, sizeof(u8), &err), -1, "odd length refused");
	tap_is_int(xi_utf16le_to_utf8(lone_hi, sizeof(lone_hi), u8, sizeof(u8), &err), -1, "unpaired high surrogate refused");
	tap_is_int(xi_utf16le_to_utf8(emoji_le, 2, u8, sizeof(u8), &err), -1, "high surrogate at end refused");
	tap_is_int(xi_utf16le_to_utf8(lone_lo, sizeof(lone_lo), u8, sizeof(u8), &err), -1, "unpaired low surrogate refused");
	tap_is_int(xi_utf16le_to_utf8(nul, sizeof(nul), u8, sizeof(u8), &err), -1, "NUL refused");
	tap_is_int(xi_utf16le_to_utf8(user_le, 8, u8, 4, &err), -1, "UTF-8 output bound (needs 5 with NUL)");
	tap_is_int(xi_utf16le_to_utf8(user_le, 8, u8, 5, &err), 4, "exact fit works");
	tap_is_int(xi_utf16le_to_utf8(jorg_le, 8, u8, 5, &err), -1, "multi-byte char does not split at the bound");
	tap_is_int(xi_utf16le_to_utf8(NULL, 0, u8, sizeof(u8), &err), 0, "empty input gives empty string");
	tap_is_str(S(u8), "", "empty output terminated");
}

static void test_case(void)
{
	struct xi_error err;
	char out[64];

	tap_is_int(xi_utf8_upper("User", out, sizeof(out), &err), 4, "upper ASCII length");
	tap_is_str(S(out), "USER", "upper ASCII");
	xi_utf8_lower("DoMaIn", out, sizeof(out), &err);
	tap_is_str(S(out), "domain", "lower ASCII");
	xi_utf8_upper("J\xc3\xb6rg", out, sizeof(out), &err);
	tap_is_str(S(out), "J\xc3\x96RG", "upper Jörg = JÖRG");
	xi_utf8_lower("J\xc3\x96RG", out, sizeof(out), &err);
	tap_is_str(S(out), "j\xc3\xb6rg", "lower JÖRG = jörg");
	/* αβγ -> ΑΒΓ */
	xi_utf8_upper("\xce\xb1\xce\xb2\xce\xb3", out, sizeof(out), &err);
	tap_is_str(S(out), "\xce\x91\xce\x92\xce\x93", "upper Greek αβγ = ΑΒΓ");
	tap_is_int(xi_utf8_upper("abcdef", out, 6, &err), -1, "upper respects output bound");
	tap_is_int(xi_utf8_upper("abcde", out, 6, &err), 5, "upper exact fit");
	tap_is_int(xi_utf8_upper("a\xc3", out, sizeof(out), &err), -1, "upper refuses ill-formed UTF-8");

	tap_ok(xi_utf8_caseeq("alice", "ALICE"), "caseeq ASCII");
	tap_ok(xi_utf8_caseeq("J\xc3\xb6rg", "J\xc3\x96RG"), "caseeq Jörg == JÖRG");
	tap_ok(xi_utf8_caseeq("\xce\xb1\xce\xb2\xce\xb3", "\xce\x91\xce\x92\xce\x93"), "caseeq Greek");
	tap_ok(xi_utf8_caseeq("\xcf\x82", "\xce\xa3"), "caseeq final sigma == capital sigma");
	tap_ok(!xi_utf8_caseeq("J\xc3\xb6rg", "Jorg"), "ö != o");
	tap_ok(!xi_utf8_caseeq("alice", "alic"), "prefix is not equal");
	tap_ok(!xi_utf8_caseeq("a\xc3", "a\xc3"), "ill-formed never equal");
	tap_ok(!xi_utf8_caseeq(NULL, "a"), "NULL never equal");
	tap_ok(xi_utf8_caseeq("", ""), "empty equals empty");
}

int main(void)
{
	test_valid();
	test_utf16();
	test_case();
	return tap_done();
}
