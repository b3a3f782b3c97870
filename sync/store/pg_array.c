/*
 * Binary PostgreSQL arrays (pg_array.h). The wire form: ndim, a has-null
 * flag, the element OID, then per dimension its size and lower bound, all
 * int32 big-endian; then each element as an int32 length (-1: NULL) and its
 * binary value. The header is reserved at init and filled at finish.
 */
#include "store/pg_array.h"

#include <string.h>

#define HEADER 20 /* ndim, flags, oid, size, lower bound */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int append32(struct cps_buf *b, uint32_t v)
{
	uint8_t p[4];

	put32(p, v);
	return cps_buf_append(b, p, sizeof(p));
}

void cps_pg_array_init(struct cps_pg_array *a, enum cps_pg_oid oid)
{
	static const uint8_t zero[HEADER];

	memset(a, 0, sizeof(*a));
	cps_buf_init(&a->b, (size_t)1 << 30);
	a->oid = oid;
	cps_buf_append(&a->b, zero, sizeof(zero)); /* a failure shows at the first element */
}

void cps_pg_array_release(struct cps_pg_array *a)
{
	cps_buf_release(&a->b);
}

int cps_pg_array_null(struct cps_pg_array *a)
{
	if (a->b.len < HEADER || append32(&a->b, UINT32_MAX))
		return -1;
	a->has_null = true;
	a->n++;
	return 0;
}

int cps_pg_array_open(struct cps_pg_array *a)
{
	if (a->b.len < HEADER || append32(&a->b, 0))
		return -1;
	a->open = a->b.len;
	return 0;
}

void cps_pg_array_close(struct cps_pg_array *a)
{
	put32(a->b.data + a->open - 4, (uint32_t)(a->b.len - a->open));
	a->n++;
}

int cps_pg_array_bytes(struct cps_pg_array *a, const void *p, size_t n)
{
	if (cps_pg_array_open(a) || cps_buf_append(&a->b, p, n))
		return -1;
	cps_pg_array_close(a);
	return 0;
}

int cps_pg_array_text(struct cps_pg_array *a, const char *s)
{
	return s ? cps_pg_array_bytes(a, s, strlen(s)) : cps_pg_array_null(a);
}

int cps_pg_array_int8(struct cps_pg_array *a, int64_t v)
{
	uint8_t p[8];

	put32(p, (uint32_t)((uint64_t)v >> 32));
	put32(p + 4, (uint32_t)v);
	return cps_pg_array_bytes(a, p, sizeof(p));
}

int cps_pg_array_bool(struct cps_pg_array *a, bool v)
{
	uint8_t c = v;

	return cps_pg_array_bytes(a, &c, 1);
}

int cps_pg_array_jsonb(struct cps_pg_array *a, const char *text)
{
	if (!text)
		return cps_pg_array_null(a);
	/* jsonb's binary form: its version byte 1, then the text */
	if (cps_pg_array_open(a) || cps_buf_append_byte(&a->b, 1) ||
	    cps_buf_append(&a->b, text, strlen(text)))
		return -1;
	cps_pg_array_close(a);
	return 0;
}

const char *cps_pg_array_finish(struct cps_pg_array *a, int *len)
{
	uint8_t *h = a->b.data;

	if (a->b.len < HEADER)
		return NULL; /* the header's allocation failed */
	put32(h, 1);
	put32(h + 4, a->has_null);
	put32(h + 8, (uint32_t)a->oid);
	put32(h + 12, a->n);
	put32(h + 16, 1);
	*len = (int)a->b.len;
	return (const char *)h;
}
