/*
 * libFuzzer harness for the typed decoder (codec/record.h), on the schemas
 * and seed corpus of fuzz_decode.c (included below, its entry point renamed,
 * so the first input byte picks the same schema). The typed decoder must
 * agree with the guard on every input, verdict and reason alike; what it
 * accepts must encode, without blocks to exactly the input, and always to a
 * fixed point. fuzz_decode's own oracle runs on each input too.
 */
#define LLVMFuzzerTestOneInput fuzz_decode_one_input
#include "fuzz_decode.c"
#undef LLVMFuzzerTestOneInput

#include "base/arena.h"
#include "base/buf.h"
#include "codec/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cps_record_schema *typed[NSCHEMAS];
static struct cps_arena arena;

static void typed_init_once(void)
{
	char err[CPS_ERRSTR_SIZE];
	size_t i;

	if (typed[0])
		return;
	init_once();
	for (i = 0; i < NSCHEMAS; i++) {
		json_t *json = json_loads(schema_texts[i], JSON_DECODE_ANY, NULL);

		if (!json || cps_record_schema_compile(schemas[i], json, &typed[i], err,
		                                       sizeof(err)) != CPS_OK)
			die("cannot compile the typed schema", i);
		json_decref(json);
	}
	cps_arena_init(&arena, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cps_guard_limits limits;
	char err[CPS_ERRSTR_SIZE], gerr[CPS_ERRSTR_SIZE];
	struct cps_buf out, out2;
	struct cps_tval v;
	size_t which, len;
	const uint8_t *msg;
	int rc, grc;

	if (size < 1)
		return 0;
	typed_init_once();
	which = data[0] % NSCHEMAS;
	msg = data + 1;
	len = size - 1;
	cps_guard_limits_default(&limits);
	limits.max_items = 20000; /* as fuzz_decode */

	cps_arena_reset(&arena);
	err[0] = gerr[0] = '\0';
	rc = cps_record_decode(typed[which], msg, len, &limits,
	                       size % 2 ? CPS_RECORD_COPY_BYTES : 0, &arena, &v, err, sizeof(err));
	grc = cps_guard_check(schemas[which], msg, len, &limits, gerr, sizeof(gerr));
	if (rc != grc || strcmp(err, gerr) != 0) {
		fprintf(stderr, "fuzz_record: typed (%d \"%s\") and guard (%d \"%s\") disagree\n",
		        rc, err, grc, gerr);
		abort();
	}
	fuzz_decode_one_input(data, size);
	if (rc != CPS_OK)
		return 0;

	cps_buf_init(&out, 0);
	cps_buf_init(&out2, 0);
	if (cps_record_encode(typed[which], &v, &out, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "fuzz_record: cannot encode what was decoded: %s\n", err);
		abort();
	}
	if (!has_blocks[which] && (out.len != len || memcmp(out.data, msg, len) != 0))
		die("typed re-encoding differs from the input", which);
	if (out.len > len)
		die("typed re-encoding is longer than the input", which);
	if (cps_record_decode(typed[which], out.data, out.len, &limits, 0, &arena, &v, err,
	                      sizeof(err)) != CPS_OK ||
	    cps_record_encode(typed[which], &v, &out2, err, sizeof(err)) != CPS_OK ||
	    out2.len != out.len || memcmp(out2.data, out.data, out.len) != 0)
		die("typed re-encoding is not a fixed point", which);
	cps_buf_release(&out2);
	cps_buf_release(&out);
	return 0;
}
