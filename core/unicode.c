/*
 * unicode: UTF-8 validation, UTF-16LE conversion and simple case mapping.
 *
 * Case mapping uses towupper_l/towlower_l on a C.UTF-8 locale object rather
 * than the process locale: the host (Dovecot, xidentd) may run under any
 * locale, and setlocale() is process-wide mutable state.  The locale object is
 * created once behind pthread_once and never changed or freed, so threads may
 * share it.  If C.UTF-8 is missing, non-ASCII letters are left unmapped (ASCII
 * is always mapped by hand), which only makes comparisons stricter.
 */
#include "unicode.h"

#include <locale.h>
#include <pthread.h>
#include <string.h>
#include <wctype.h>

#define XI_CP_MAX 0x10FFFFu
#define XI_CP_INVALID 0xFFFFFFFFu

/* Decodes one code point from s[0..len) into *cp; returns its byte length, or
 * 0 when the sequence is ill-formed (truncated, overlong, surrogate, >10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c, min;
	size_t n, i;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		n = 2; c &= 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3; c &= 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4; c &= 0x07; min = 0x10000;
	} else {
		return 0;  /* continuation byte, C0/C1 overlong lead, or > F4 */
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > XI_CP_MAX || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* Encodes cp (valid scalar value) into out; returns bytes, 0 if no room. */
static size_t utf8_encode(uint32_t cp, char *out, size_t room)
{
	unsigned char *o = (unsigned char *)out;

	if (cp < 0x80) {
		if (room < 1)
			return 0;
		o[0] = (unsigned char)cp;
		return 1;
	} else if (cp < 0x800) {
		if (room < 2)
			return 0;
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	} else if (cp < 0x10000) {
		if (room < 3)
			return 0;
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	if (room < 4)
		return 0;
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

bool xi_utf8_valid_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t pos = 0, n;
	uint32_t cp;

	if (s == NULL)
		return len == 0;
	while (pos < len) {
		n = utf8_decode(p + pos, len - pos, &cp);
		if (n == 0 || is_control(cp))
			return false;
		pos += n;
	}
	return true;
}

int xi_utf16le_to_utf8(const uint8_t *in, size_t len, char *out, size_t size,
		       struct xi_error *err)
{
	size_t pos = 0, used = 0, n;
	uint32_t cp, lo;

	if (size == 0 || out == NULL)
		return xi_error_set(err, XI_ERR_INVALID, "no room for UTF-8 output");
	if (len % 2 != 0)
		return xi_error_set(err, XI_ERR_INVALID, "UTF-16LE string has an odd length (%zu bytes)", len);
	if (len > 0 && in == NULL)
		return xi_error_set(err, XI_ERR_INVALID, "UTF-16LE input missing");
	while (pos < len) {
		cp = (uint32_t)in[pos] | ((uint32_t)in[pos + 1] << 8);
		pos += 2;
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return xi_error_set(err, XI_ERR_INVALID, "unpaired low surrogate in UTF-16LE string");
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (pos + 2 > len)
				return xi_error_set(err, XI_ERR_INVALID, "unpaired high surrogate in UTF-16LE string");
			lo = (uint32_t)in[pos] | ((uint32_t)in[pos + 1] << 8);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return xi_error_set(err, XI_ERR_INVALID, "unpaired high surrogate in UTF-16LE string");
			pos += 2;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
		}
		if (cp == 0)
			return xi_error_set(err, XI_ERR_INVALID, "NUL character in UTF-16LE string");
		/* keep one byte for the terminator */
		n = utf8_encode(cp, out + used, size - 1 - used);
		if (n == 0) {
			out[0] = '\0';
			return xi_error_set(err, XI_ERR_INVALID, "UTF-8 form longer than %zu bytes", size - 1);
		}
		used += n;
	}
	out[used] = '\0';
	return (int)used;
}

int xi_utf8_to_utf16le(const char *in, size_t len, uint8_t *out, size_t size,
		       struct xi_error *err)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t pos = 0, used = 0, n;
	uint32_t cp, v, hi, lo;

	if (len > 0 && in == NULL)
		return xi_error_set(err, XI_ERR_INVALID, "UTF-8 input missing");
	if (len > (size_t)INT32_MAX / 2)
		return xi_error_set(err, XI_ERR_INVALID, "UTF-8 input too long");
	while (pos < len) {
		n = utf8_decode(p + pos, len - pos, &cp);
		if (n == 0)
			return xi_error_set(err, XI_ERR_INVALID, "ill-formed UTF-8 at byte %zu", pos);
		pos += n;
		if (cp >= 0x10000) {
			if (out == NULL || size - used < 4)
				return xi_error_set(err, XI_ERR_INVALID, "UTF-16LE form longer than %zu bytes", size);
			v = cp - 0x10000;
			hi = 0xD800 | (v >> 10);
			lo = 0xDC00 | (v & 0x3FF);
			out[used++] = (uint8_t)(hi & 0xFF);
			out[used++] = (uint8_t)(hi >> 8);
			out[used++] = (uint8_t)(lo & 0xFF);
			out[used++] = (uint8_t)(lo >> 8);
		} else {
			if (out == NULL || size - used < 2)
				return xi_error_set(err, XI_ERR_INVALID, "UTF-16LE form longer than %zu bytes", size);
			out[used++] = (uint8_t)(cp & 0xFF);
			out[used++] = (uint8_t)(cp >> 8);
		}
	}
	return (int)used;
}

static pthread_once_t case_locale_once = PTHREAD_ONCE_INIT;
static locale_t case_locale = (locale_t)0;

static void case_locale_init(void)
{
	case_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static uint32_t map_case(uint32_t cp, bool upper)
{
	wint_t m;

	if (cp < 0x80) {
		if (upper && cp >= 'a' && cp <= 'z')
			return cp - 32;
		if (!upper && cp >= 'A' && cp <= 'Z')
			return cp + 32;
		return cp;
	}
	pthread_once(&case_locale_once, case_locale_init);
	if (case_locale == (locale_t)0)
		return cp;
	m = upper ? towupper_l((wint_t)cp, case_locale) : towlower_l((wint_t)cp, case_locale);
	/* A mapping must stay a scalar value; anything else is left alone. */
	if (m == 0 || (uint32_t)m > XI_CP_MAX || ((uint32_t)m >= 0xD800 && (uint32_t)m <= 0xDFFF))
		return cp;
	return (uint32_t)m;
}

static int map_string(const char *in, char *out, size_t size, bool upper,
		      struct xi_error *err)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t len, pos = 0, used = 0, n, w;
	uint32_t cp;

	if (in == NULL || out == NULL || size == 0)
		return xi_error_set(err, XI_ERR_INVALID, "case mapping needs input and output");
	len = strlen(in);
	while (pos < len) {
		n = utf8_decode(p + pos, len - pos, &cp);
		if (n == 0) {
			out[0] = '\0';
			return xi_error_set(err, XI_ERR_INVALID, "ill-formed UTF-8 at byte %zu", pos);
		}
		pos += n;
		w = utf8_encode(map_case(cp, upper), out + used, size - 1 - used);
		if (w == 0) {
			out[0] = '\0';
			return xi_error_set(err, XI_ERR_INVALID, "case-mapped form longer than %zu bytes", size - 1);
		}
		used += w;
	}
	out[used] = '\0';
	return (int)used;
}

int xi_utf8_upper(const char *in, char *out, size_t size, struct xi_error *err)
{
	return map_string(in, out, size, true, err);
}

int xi_utf8_lower(const char *in, char *out, size_t size, struct xi_error *err)
{
	return map_string(in, out, size, false, err);
}

/* Compares code point by code point after lower-casing both; no buffers, so
 * there is no length limit.  Ill-formed input never equals anything. */
bool xi_utf8_caseeq(const char *a, const char *b)
{
	const unsigned char *pa = (const unsigned char *)a, *pb = (const unsigned char *)b;
	size_t la, lb, ia = 0, ib = 0, na, nb;
	uint32_t ca, cb;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	while (ia < la && ib < lb) {
		na = utf8_decode(pa + ia, la - ia, &ca);
		nb = utf8_decode(pb + ib, lb - ib, &cb);
		if (na == 0 || nb == 0)
			return false;
		/* both directions, so final sigma equals sigma and capital sigma */
		if (ca != cb && map_case(ca, false) != map_case(cb, false) &&
		    map_case(ca, true) != map_case(cb, true))
			return false;
		ia += na;
		ib += nb;
	}
	return ia == la && ib == lb;
}
