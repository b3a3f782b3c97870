/* Growable, capped byte buffer (see buf.h). */
#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cps_buf_init(struct cps_buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit ? limit : CPS_BUF_DEFAULT_LIMIT;
}

void cps_buf_release(struct cps_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void cps_buf_reset(struct cps_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

int cps_buf_reserve(struct cps_buf *b, size_t more)
{
	size_t need, ncap;
	uint8_t *p;

	if (more > b->limit || b->len > b->limit - more)
		return -1;
	need = b->len + more + 1; /* room for the terminating NUL */
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->limit + 1)
		ncap = b->limit + 1;
	p = realloc(b->data, ncap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int cps_buf_append(struct cps_buf *b, const void *p, size_t n)
{
	if (cps_buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int cps_buf_append_byte(struct cps_buf *b, uint8_t c)
{
	return cps_buf_append(b, &c, 1);
}

int cps_buf_printf(struct cps_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || cps_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int cps_buf_read_fd(struct cps_buf *b, int fd)
{
	for (;;) {
		ssize_t n;

		if (cps_buf_reserve(b, 65536) < 0) {
			/* Near the limit: read what still fits, then insist on EOF. */
			size_t room = b->limit - b->len;
			uint8_t probe;

			if (room && cps_buf_reserve(b, room) == 0) {
				n = read(fd, b->data + b->len, room);
				if (n < 0)
					return -1;
				b->len += (size_t)n;
				b->data[b->len] = 0;
				if (n > 0)
					continue;
				return 0;
			}
			n = read(fd, &probe, 1);
			return n == 0 ? 0 : -1;
		}
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = 0;
	}
	return 0;
}

int cps_buf_read_file(struct cps_buf *b, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = cps_buf_read_fd(b, fd);
	close(fd);
	return rc;
}
