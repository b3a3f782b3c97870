/*
 * libFuzzer harness for the compact facts and provenance decoders
 * (store/state_facts.h), each on the same bytes:
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

/* The properties above for one of the binary forms. */
static void check(const uint8_t *data, size_t size, cps_tree_decode_fn *decode,
                  cps_tree_encode_fn *encode)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_buf once, twice;
	json_t *tree = NULL, *back = NULL;
	int rc = decode(data, size, &tree, NULL, err, sizeof(err));

	if (rc != CPS_OK) {
		if (rc != CPS_ERR_INVALID || tree)
			die("a refusal that is not CPS_ERR_INVALID with no tree");
		return;
	}
	if (!json_is_object(tree))
		die("decoded to something other than an object");
	cps_buf_init(&once, 0);
	cps_buf_init(&twice, 0);
	if (encode(tree, &once, err, sizeof(err)) != CPS_OK)
		die("a decoded tree does not encode");
	if (decode(once.data, once.len, &back, NULL, err, sizeof(err)) != CPS_OK)
		die("a re-encoding does not decode");
	if (encode(back, &twice, err, sizeof(err)) != CPS_OK || twice.len != once.len ||
	    memcmp(twice.data, once.data, once.len))
		die("the encoding is not a fixed point");
	json_decref(tree);
	json_decref(back);
	cps_buf_release(&once);
	cps_buf_release(&twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, cps_facts_decode_sized, cps_facts_encode);
	check(data, size, cps_prov_decode, cps_prov_encode);
	return 0;
}
