/*
 * The tagged binary JSON's primitives (tagged.h).
 */
#include "store/tagged.h"

#include <string.h>

int cps_tag_put_varint(struct cps_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	return cps_buf_append(b, tmp, n);
}

int cps_tag_put_zz(struct cps_buf *b, int64_t v)
{
	uint64_t u = (uint64_t)v;

	return cps_tag_put_varint(b, (u << 1) ^ (0 - (u >> 63)));
}

int cps_tag_put_str(struct cps_buf *b, const char *s, size_t n)
{
	return cps_tag_put_varint(b, n) || cps_buf_append(b, s, n);
}

int cps_tag_put_real(struct cps_buf *b, double d)
{
	uint8_t le[8];
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(bits >> (8 * i));
	return cps_buf_append(b, le, sizeof(le));
}

int cps_tag_fail(struct cps_tag_reader *r, const char *why)
{
	if (!r->err)
		r->err = why;
	return -1;
}

int cps_tag_byte(struct cps_tag_reader *r, uint8_t *v)
{
	if (r->at >= r->n)
		return cps_tag_fail(r, "truncated");
	*v = r->p[r->at++];
	return 0;
}

int cps_tag_varint(struct cps_tag_reader *r, uint64_t *v)
{
	uint64_t acc = 0;
	uint8_t b;

	for (int shift = 0; shift < 70; shift += 7) {
		if (cps_tag_byte(r, &b))
			return -1;
		if (shift == 63 && b > 1)
			return cps_tag_fail(r, "a varint past 64 bits");
		acc |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = acc;
			return 0;
		}
	}
	return cps_tag_fail(r, "a varint past 64 bits");
}

int cps_tag_zz(struct cps_tag_reader *r, int64_t *v)
{
	uint64_t u;

	if (cps_tag_varint(r, &u))
		return -1;
	*v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
	return 0;
}

int cps_tag_count(struct cps_tag_reader *r, size_t min, size_t *n)
{
	uint64_t v;

	if (cps_tag_varint(r, &v))
		return -1;
	if (v > (r->n - r->at) / min)
		return cps_tag_fail(r, "a count larger than the bytes left");
	*n = (size_t)v;
	return 0;
}

int cps_tag_str(struct cps_tag_reader *r, const char **s, size_t *len)
{
	size_t n;

	if (cps_tag_count(r, 1, &n))
		return -1;
	*s = (const char *)r->p + r->at;
	*len = n;
	r->at += n;
	return 0;
}

int cps_tag_real(struct cps_tag_reader *r, double *d)
{
	uint64_t bits = 0;

	if (r->n - r->at < 8)
		return cps_tag_fail(r, "truncated");
	for (int i = 0; i < 8; i++)
		bits |= (uint64_t)r->p[r->at + (size_t)i] << (8 * i);
	r->at += 8;
	memcpy(d, &bits, sizeof(*d));
	return 0;
}
