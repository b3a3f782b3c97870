/*
 * Masking of personal data and GB 11643 national ID validation (see
 * pii.h). Nothing here ever copies an unmasked value into an error text.
 */
#include "base/pii.h"

#include "base/common.h"

#include <stdbool.h>
#include <stdio.h>
#include <ctype.h>
#include <string.h>
#include <time.h>

/* A tiny bounded writer: appends while room remains, always terminated. */
struct out {
	char *p;
	size_t size, len;
};

static void out_init(struct out *o, char *p, size_t size)
{
	o->p = p;
	o->size = size;
	o->len = 0;
	if (size)
		p[0] = 0;
}

static void out_add(struct out *o, const char *s, size_t n)
{
	if (!o->size)
		return;
	if (o->len + n >= o->size)
		n = o->size - 1 - o->len;
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void out_str(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

static const char *masked_all(char *out, size_t out_size)
{
	struct out o;

	out_init(&o, out, out_size);
	out_str(&o, "***");
	return out;
}

/* The `n` bytes of `s` with all but the first `head` and the last `tail`
 * shown as '*' (n >= head + tail). Returns out. */
static const char *keep_ends(const char *s, size_t n, size_t head, size_t tail, char *out,
                             size_t out_size)
{
	struct out o;

	out_init(&o, out, out_size);
	out_add(&o, s, head);
	for (size_t i = head; i < n - tail; i++)
		out_add(&o, "*", 1);
	out_add(&o, s + n - tail, tail);
	return out;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum_ascii(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

const char *cps_mask_national_id(const char *id, char *out, size_t out_size)
{
	size_t n;

	if (!id)
		return masked_all(out, out_size);
	n = strlen(id);
	if (n < 15 || n > 18)
		return masked_all(out, out_size);
	for (size_t i = 0; i < n; i++)
		if (!is_alnum_ascii(id[i]))
			return masked_all(out, out_size);
	return keep_ends(id, n, 6, 1, out, out_size);
}

size_t cps_mask_national_ids_in(char *text)
{
	size_t n = text ? strlen(text) : 0, found = 0;

	for (size_t i = 0; n >= 18 && i <= n - 18; i++) {
		char first17[18];
		size_t j;

		if (i > 0 && isdigit((unsigned char)text[i - 1]))
			continue;
		for (j = 0; j < 17 && isdigit((unsigned char)text[i + j]); j++)
			;
		if (j < 17 || (i + 18 < n && isdigit((unsigned char)text[i + 18])))
			continue;
		memcpy(first17, text + i, 17);
		first17[17] = 0;
		if (cps_national_id_check_char(first17) != text[i + 17])
			continue;
		memset(text + i + 6, '*', 11);
		found++;
		i += 17;
	}
	return found;
}

/* Length of the UTF-8 sequence starting at s, or 0 when it is invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

const char *cps_mask_name(const char *name, char *out, size_t out_size)
{
	const unsigned char *s = (const unsigned char *)name;
	struct out o;
	size_t n, first;

	if (!name)
		return masked_all(out, out_size);
	out_init(&o, out, out_size);
	if (!*s)
		return out;
	first = utf8_len(s);
	if (!first)
		return masked_all(out, out_size);
	/* validate the whole name before showing anything of it */
	for (const unsigned char *p = s + first; *p; p += n)
		if (!(n = utf8_len(p)))
			return masked_all(out, out_size);
	out_add(&o, name, first);
	for (const unsigned char *p = s + first; *p; p += n) {
		n = utf8_len(p);
		out_add(&o, "*", 1);
	}
	return out;
}

const char *cps_mask_phone(const char *phone, char *out, size_t out_size)
{
	char digits[CPS_MASK_SIZE];
	size_t nd = 0;

	if (!phone)
		return masked_all(out, out_size);
	for (const char *p = phone; *p; p++) {
		if (!is_digit(*p))
			continue;
		if (nd == sizeof(digits))
			return masked_all(out, out_size);
		digits[nd++] = *p;
	}
	if (nd < 7)
		return masked_all(out, out_size);
	return keep_ends(digits, nd, 3, 2, out, out_size);
}

const char *cps_mask_amount(const char *amount, char *out, size_t out_size)
{
	(void)amount;
	return masked_all(out, out_size);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Keyword/value form: copies keywords and values, replacing the value of
 * every "password" keyword (quoted or not) by "***". */
static void mask_conninfo_kv(struct out *o, const char *s)
{
	while (*s) {
		const char *kw = s, *eq;
		bool secret;

		if (is_space(*s)) {
			out_add(o, s++, 1);
			continue;
		}
		while (*s && *s != '=' && !is_space(*s))
			s++;
		eq = s;
		while (*s && is_space(*s))
			s++;
		if (*s != '=') { /* malformed: hide the rest rather than guess */
			out_str(o, "***");
			return;
		}
		s++;
		while (*s && is_space(*s))
			s++;
		secret = (size_t)(eq - kw) == 8 && !strncmp(kw, "password", 8);
		out_add(o, kw, (size_t)(eq - kw));
		out_add(o, "=", 1);
		const char *val = s;
		if (*s == '\'') {
			s++;
			while (*s && *s != '\'') {
				if (*s == '\\' && s[1])
					s++;
				s++;
			}
			if (*s)
				s++;
		} else {
			while (*s && !is_space(*s)) {
				if (*s == '\\' && s[1])
					s++;
				s++;
			}
		}
		if (secret)
			out_str(o, "***");
		else
			out_add(o, val, (size_t)(s - val));
	}
}

/* URI form: hides user:PASSWORD@ and every password= query parameter. */
static void mask_conninfo_uri(struct out *o, const char *s)
{
	const char *auth = strstr(s, "://");
	const char *end, *at = NULL, *colon = NULL;

	if (!auth) {
		out_str(o, "***");
		return;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?");
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at)
		colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon) {
		out_add(o, s, (size_t)(colon + 1 - s));
		out_str(o, "***");
		s = at;
	}
	/* query parameters after '?' */
	const char *q = strchr(s, '?');
	if (!q) {
		out_str(o, s);
		return;
	}
	out_add(o, s, (size_t)(q + 1 - s));
	s = q + 1;
	while (*s) {
		size_t n = strcspn(s, "&");
		if (n >= 9 && !strncmp(s, "password=", 9)) {
			out_str(o, "password=***");
		} else {
			out_add(o, s, n);
		}
		s += n;
		if (*s == '&')
			out_add(o, s++, 1);
	}
}

const char *cps_mask_conninfo(const char *conninfo, char *out, size_t out_size)
{
	struct out o;

	if (!conninfo)
		return masked_all(out, out_size);
	out_init(&o, out, out_size);
	if (!strncmp(conninfo, "postgresql://", 13) || !strncmp(conninfo, "postgres://", 11))
		mask_conninfo_uri(&o, conninfo);
	else
		mask_conninfo_kv(&o, conninfo);
	return out;
}

static const int id_weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
static const char id_check_map[] = "10X98765432";

char cps_national_id_check_char(const char *first17)
{
	int sum = 0;

	if (!first17)
		return 0;
	for (int i = 0; i < 17; i++) {
		if (!is_digit(first17[i]))
			return 0;
		sum += (first17[i] - '0') * id_weights[i];
	}
	return id_check_map[sum % 11];
}

static bool known_province(int p)
{
	return (p >= 11 && p <= 15) || (p >= 21 && p <= 23) || (p >= 31 && p <= 37) ||
	       (p >= 41 && p <= 46) || (p >= 50 && p <= 54) || (p >= 61 && p <= 65) || p == 71 ||
	       p == 81 || p == 82;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

static int digits_value(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* Birth date checks shared by validate and make: 0 or a reason. */
static const char *birth_date_problem(int y, int m, int d)
{
	time_t now = time(NULL);
	struct tm tm;

	if (y < 1900)
		return "birth year is before 1900";
	if (m < 1 || m > 12)
		return "birth month is not 01-12";
	if (d < 1 || d > days_in_month(y, m))
		return "birth date is not a calendar date";
	localtime_r(&now, &tm);
	if (y * 10000 + m * 100 + d >
	    (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday)
		return "birth date is in the future";
	return NULL;
}

int cps_national_id_validate(const char *id, char *errstr, size_t errstr_size)
{
	const char *problem;
	size_t n;

	if (!id)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "national id is missing");
	n = strlen(id);
	if (n != 18)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "national id has %zu characters, expected 18", n);
	for (int i = 0; i < 17; i++)
		if (!is_digit(id[i]))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "national id character %d is not a digit", i + 1);
	if (id[17] == 'x')
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "national id check character must be uppercase 'X'");
	if (!is_digit(id[17]) && id[17] != 'X')
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "national id check character is not a digit or 'X'");
	if (!known_province(digits_value(id, 2)))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "national id has an unknown province code");
	if (!memcmp(id + 3, "000", 3))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "national id region code names no county (ends in 000)");
	problem = birth_date_problem(digits_value(id + 6, 4), digits_value(id + 10, 2),
	                             digits_value(id + 12, 2));
	if (problem)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "national id %s", problem);
	if (cps_national_id_check_char(id) != id[17])
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "national id check character is wrong");
	return CPS_OK;
}

int cps_national_id_make(const char *region6, int year, int month, int day, int seq3,
                         char out19[19])
{
	if (!region6 || strlen(region6) != 6 || seq3 < 0 || seq3 > 999 || year < 0 || year > 9999 ||
	    month < 0 || month > 99 || day < 0 || day > 99)
		return CPS_ERR_INVALID;
	for (int i = 0; i < 6; i++)
		if (!is_digit(region6[i]))
			return CPS_ERR_INVALID;
	snprintf(out19, 19, "%s%04d%02d%02d%03d", region6, year, month, day, seq3);
	out19[17] = cps_national_id_check_char(out19);
	out19[18] = 0;
	return cps_national_id_validate(out19, NULL, 0);
}
