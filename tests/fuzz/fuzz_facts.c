/*
 * libFuzzer harness for the compact facts and provenance decoders
 * (store/state_facts.h), each on the same bytes:
 * any bytes decode to a JSON object or to CPS_ERR_INVALID, never a crash,
 * an overread or a leak; what decodes encodes again, that encoding decodes,
 * and encoding what it decodes to gives the same bytes (a fixed point; bytes
 * compared, as json_equal cannot compare keys holding U+0000). Seed corpus: tests/fuzz/corpus_facts (encodings of
 * representative key states' platforms). The typed codec (store/state_typed.h)
 * on the same bytes, for a person: it reads them or refuses them with
 * CPS_ERR_INVALID; what it reads, the JSON decoder reads too, to the same
 * state; what it writes, the JSON decoder reads back as that state.
 */
#include "base/buf.h"
#include "base/common.h"
#include "codec/record.h"
#include "codec/schema.h"
#include "store/state_facts.h"
#include "store/state_typed.h"

#include <stdbool.h>
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

/* The person schema, compiled once (CPS_FUZZ_SCHEMA_DIR: the source's schemas/). */
static const struct cps_record_schema *person(void)
{
	static struct cps_record_schema *rs;
	struct cps_schema *s = NULL;
	char err[CPS_ERRSTR_SIZE];

	if (!rs &&
	    (cps_schema_load_file(CPS_FUZZ_SCHEMA_DIR "/person.avsc", &s, err, sizeof(err)) ||
	     cps_record_schema_new(s, &rs, err, sizeof(err))))
		die(err);
	cps_schema_free(s);
	return rs;
}

/* A person's JSON state holding `tree` as its facts, or as its provenance
 * (beside three platforms that stated nothing). */
static void json_state(struct cps_key_state *js, json_t *tree, bool facts)
{
	if (cps_key_state_init(js, "person", "k") != CPS_OK)
		die("out of memory");
	if (facts) {
		json_decref(js->platforms);
		js->platforms = json_incref(tree);
		return;
	}
	json_decref(js->provenance);
	js->provenance = json_incref(tree);
	json_decref(js->platforms);
	js->platforms = json_pack("{s:{s:b,s:i,s:i,s:n,s:{}}, s:{s:b,s:i,s:i,s:n,s:{}}, "
	                          "s:{s:b,s:i,s:i,s:n,s:{}}}",
	                          "province", "withdrawn", 0, "eff", 0, "src", 0, "pos", "fields",
	                          "city", "withdrawn", 0, "eff", 0, "src", 0, "pos", "fields",
	                          "shenshan", "withdrawn", 0, "eff", 0, "src", 0, "pos", "fields");
}

/* The typed codec's properties above for facts (`facts`) or provenance:
 * what it reads, the JSON decoder reads too, and that tree taken into the
 * typed state (which normalises values: a union branch by its full name)
 * is the same state; what it writes reads back as that state again. */
static void check_typed(const uint8_t *data, size_t size, bool facts)
{
	static const char *const platforms[] = {"province", "city", "shenshan"};
	char err[CPS_ERRSTR_SIZE];
	struct cps_arena arena;
	struct cps_tstate ts, via_json;
	struct cps_key_state mine, theirs, js;
	struct cps_buf again;
	json_t *tree = NULL, *back = NULL;
	int rc;

	cps_arena_init(&arena, 0);
	if (cps_tstate_init(&ts, person(), "person", "k", &arena, err, sizeof(err)))
		die(err);
	for (size_t i = 0; !facts && i < 3; i++) { /* as json_state's */
		uint32_t p = cps_tstate_platform(&ts, platforms[i], true);

		ts.platforms[p].stamp = cps_tstate_stamp(&ts, 0, 0, NULL);
	}
	rc = facts ? cps_tstate_facts_decode(&ts, data, size, err, sizeof(err))
	           : cps_tstate_prov_decode(&ts, data, size, err, sizeof(err));
	if (rc != CPS_OK && rc != CPS_ERR_INVALID)
		die("a typed refusal that is not CPS_ERR_INVALID");
	if (rc != CPS_OK) {
		cps_arena_release(&arena);
		return;
	}
	if ((facts ? cps_facts_decode(data, size, &tree, err, sizeof(err))
	           : cps_prov_decode(data, size, &tree, NULL, err, sizeof(err))) != CPS_OK)
		die("the typed codec reads bytes the JSON one refuses");
	json_state(&js, tree, facts);
	if (cps_tstate_from_json(&js, person(), &arena, &via_json, err, sizeof(err)) ||
	    cps_tstate_to_json(&via_json, &theirs, err, sizeof(err)) ||
	    cps_tstate_to_json(&ts, &mine, err, sizeof(err)))
		die("what the typed codec reads has no typed form by way of JSON");
	if (!json_equal(facts ? mine.platforms : mine.provenance,
	                facts ? theirs.platforms : theirs.provenance))
		die("the typed codec reads other values than the JSON one");
	cps_buf_init(&again, 0);
	if ((facts ? cps_tstate_facts_encode(&ts, &again, err, sizeof(err))
	           : cps_tstate_prov_encode(&ts, &again, err, sizeof(err))) ||
	    (facts ? cps_facts_decode(again.data, again.len, &back, err, sizeof(err))
	           : cps_prov_decode(again.data, again.len, &back, NULL, err, sizeof(err))) ||
	    !json_equal(back, facts ? mine.platforms : mine.provenance))
		die("what the typed codec writes does not read back the same");
	json_decref(tree);
	json_decref(back);
	cps_key_state_release(&mine);
	cps_key_state_release(&theirs);
	cps_key_state_release(&js);
	cps_buf_release(&again);
	cps_arena_release(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, cps_facts_decode_sized, cps_facts_encode);
	check(data, size, cps_prov_decode, cps_prov_encode);
	check_typed(data, size, true);
	check_typed(data, size, false);
	return 0;
}
