/*
 * libFuzzer harness for the Object Container File reader (connectors/files/ocf.c):
 * any bytes as a whole file. Whatever it opens, every record it returns must
 * lie inside the input or its inflated block, and the walk must end (clean
 * end or a broken-framing error) within the caps. Replay: replay_main.c.
 */
#include <stdint.h>
#include <stdlib.h>

#include "base/common.h"
#include "connectors/files/ocf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cps_ocf_limits limits;
	struct cps_ocf_reader *r;
	char err[CPS_ERRSTR_SIZE];
	const void *rec;
	size_t len, total = 0;
	int64_t index, last = -1;
	int rc;

	cps_ocf_limits_default(&limits);
	limits.max_inflated_bytes = (size_t)4 << 20; /* keep runs fast */
	if (cps_ocf_reader_open(data, size, &limits, &r, err, sizeof(err)) != CPS_OK)
		return 0;
	while ((rc = cps_ocf_reader_next(r, &rec, &len, &index, err, sizeof(err))) == 1) {
		if (index <= last)
			abort(); /* indexes only grow */
		last = index;
		total += len;
		if (len > limits.max_inflated_bytes && len > size)
			abort();
		if (len) /* touch both ends: ASan checks they are readable */
			(void)(((const volatile uint8_t *)rec)[0] +
			       ((const volatile uint8_t *)rec)[len - 1]);
	}
	if (rc != 0 && rc != CPS_ERR_INVALID)
		abort();
	/* a second call after the end or an error says the same */
	if (cps_ocf_reader_next(r, &rec, &len, &index, err, sizeof(err)) != rc)
		abort();
	(void)total;
	cps_ocf_reader_free(r);
	return 0;
}
