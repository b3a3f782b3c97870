/*
 * A growable byte buffer with a hard cap: the cap is a defence against
 * hostile input (curl's curlx_dyn_init(s, toobig)). Contents are always
 * NUL-terminated past `len` so text can be used directly.
 */
#ifndef CPS_BUF_H
#define CPS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cps_buf {
	uint8_t *data;
	size_t len;
	size_t cap;   /* allocated */
	size_t limit; /* never grow past this many bytes */
};

#define CPS_BUF_DEFAULT_LIMIT ((size_t)64 << 20)

/* No allocation; limit 0 means CPS_BUF_DEFAULT_LIMIT. */
void cps_buf_init(struct cps_buf *b, size_t limit);
/* Frees the contents; the struct may be reused after cps_buf_init. */
void cps_buf_release(struct cps_buf *b);
void cps_buf_reset(struct cps_buf *b);
/* Make room for `more` bytes; -1 when that would pass the limit or memory is out. */
int cps_buf_reserve(struct cps_buf *b, size_t more);
int cps_buf_append(struct cps_buf *b, const void *p, size_t n);
int cps_buf_append_byte(struct cps_buf *b, uint8_t c);
int cps_buf_printf(struct cps_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a whole stream or file into b; -1 on I/O error or past the limit. */
int cps_buf_read_fd(struct cps_buf *b, int fd);
int cps_buf_read_file(struct cps_buf *b, const char *path);

#endif
