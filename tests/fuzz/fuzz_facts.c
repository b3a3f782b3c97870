/*
 * libFuzzer harness for the compact facts decoder (store/state_facts.h):
 * any bytes decode to a JSON object or to CPS_ERR_INVALID, never a crash,
 * an overread or a leak; what decodes encodes again, that encoding decodes,
 * and encoding what it decodes to gives the same bytes (a fixed point; bytes
 * compared, as json_equal cannot compare keys holding U+0000). Seed corpus: tests/fuzz/corpus_facts (encodings of
 * representative key states' platforms).
 */
#include "base/buf.h"
#include "base/common.h"
#include "store/state_facts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *why)
{
	fprintf(stderr, "fuzz_facts: %s\n", why);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf once, twice;
	json_t *tree = NULL, *back = NULL;
	int rc = cps_facts_decode(data, size, &tree, err, sizeof(err));

	if (rc != CPS_OK) {
		if (rc != CPS_ERR_INVALID || tree)
			die("a refusal that is not CPS_ERR_INVALID with no tree");
		return 0;
	}
	if (!json_is_object(tree))
		die("decoded to something other than an object");
	cps_buf_init(&once, 0);
	cps_buf_init(&twice, 0);
	if (cps_facts_encode(tree, &once, err, sizeof(err)) != CPS_OK)
		die("a decoded tree does not encode");
	if (cps_facts_decode(once.data, once.len, &back, err, sizeof(err)) != CPS_OK)
		die("a re-encoding does not decode");
	if (cps_facts_encode(back, &twice, err, sizeof(err)) != CPS_OK || twice.len != once.len ||
	    memcmp(twice.data, once.data, once.len))
		die("the encoding is not a fixed point");
	json_decref(tree);
	json_decref(back);
	cps_buf_release(&once);
	cps_buf_release(&twice);
	return 0;
}
