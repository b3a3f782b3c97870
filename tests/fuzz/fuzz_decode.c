/*
 * libFuzzer harness for the guard in front of Avro C. The first input byte
 * picks one of the embedded schemas (every Avro type, recursion, zero-byte
 * items); the guard checks the rest. Whatever the guard accepts, Avro C must
 * read, print as JSON and re-encode; anything else is a finding (abort).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#include "base/common.h"
#include "codec/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keep each schema one `static const char NAME[] = "...";` definition:
 * tests/fuzz/make_corpus.py reads them from this file. */
static const char ALL_TYPES[] =
    "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"G\",\"symbols\":[\"A\",\"B\","
    "\"C\",\"D\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\",\"G\"]},"
    "{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":"
    "\"M\","
    "\"fields\":[{\"name\":\"national_id\",\"type\":\"string\"},{\"name\":\"age\",\"type\":\"int\"}"
    "]}}},"
    "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"double\",\"M\"]}},"
    "{\"name\":\"list\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
    "{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}}]}";

static const char PERSON[] =
    "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"f\",\"fields\":["
    "{\"name\":\"national_id\",\"type\":\"string\"},{\"name\":\"name\",\"type\":\"string\"},"
    "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"Gender\",\"symbols\":"
    "[\"UNKNOWN\",\"MALE\",\"FEMALE\",\"UNSPECIFIED\"]}},"
    "{\"name\":\"birth_date\",\"type\":\"int\"},{\"name\":\"region\",\"type\":\"string\"},"
    "{\"name\":\"address\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"disabled\",\"type\":\"boolean\"},{\"name\":\"income_cents\",\"type\":\"long\"},"
    "{\"name\":\"phones\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"updated_ms\",\"type\":\"long\"}]}";

static const char TREE[] =
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
    "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"T\"}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"T\"]}},"
    "{\"name\":\"blob\",\"type\":\"bytes\"}]}";

static const char NULLS[] = "{\"type\":\"array\",\"items\":\"null\"}";

/* Zero-byte items. Not a zero-size fixed: Avro C 1.11.1 cannot read one at
 * all (avro_malloc(0) returns NULL: "Cannot allocate new fixed value"). */
static const char EMPTIES[] =
    "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"E\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"record\",\"name\":\"E2\",\"fields\":[]}}]}}";

static const char STRING[] = "\"string\"";

static const char ENUM_REC[] =
    "{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"age\",\"type\":\"int\"},"
    "{\"name\":\"gender\",\"type\":{\"type\":\"enum\",\"name\":\"G\",\"symbols\":[\"A\",\"B\","
    "\"C\",\"D\"]}}]}";

static const char UNION[] = "[\"null\",\"int\",\"string\"]";

static const char INTS[] = "{\"type\":\"array\",\"items\":\"int\"}";

/* No arrays or maps: Avro C must give back exactly the input bytes. */
static const char SCALARS[] =
    "{\"type\":\"record\",\"name\":\"S\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F3\",\"size\":3}},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\",\"Y\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"int\",\"string\",\"E\",\"F3\"]},"
    "{\"name\":\"list\",\"type\":{\"type\":\"record\",\"name\":\"L\",\"fields\":["
    "{\"name\":\"v\",\"type\":\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}}]}";

static const char *const schema_texts[] = {ALL_TYPES, PERSON,   TREE,  NULLS, EMPTIES,
                                           STRING,    ENUM_REC, UNION, INTS,  SCALARS};
/* Whether the schema has arrays or maps, whose blocks Avro C may legitimately
 * re-encode differently (negative counts, several blocks, duplicate keys). */
static const int has_blocks[] = {1, 1, 1, 1, 1, 0, 0, 0, 1, 0};
#define NSCHEMAS CPS_ARRAY_SIZE(schema_texts)
_Static_assert(CPS_ARRAY_SIZE(has_blocks) == NSCHEMAS, "one has_blocks flag per schema");

static avro_schema_t schemas[NSCHEMAS];
static avro_value_iface_t *ifaces[NSCHEMAS];
static avro_reader_t reader;

static void die(const char *what, size_t which)
{
	fprintf(stderr, "fuzz_decode: schema %zu: %s (last Avro C error: %s)\n", which, what,
	        avro_strerror());
	abort();
}

static void init_once(void)
{
	size_t i;

	if (reader)
		return;
	for (i = 0; i < NSCHEMAS; i++) {
		if (avro_schema_from_json_length(schema_texts[i], strlen(schema_texts[i]),
		                                 &schemas[i]) != 0)
			die("bad embedded schema", i);
		ifaces[i] = avro_generic_class_from_schema(schemas[i]);
		if (!ifaces[i])
			die("cannot make a value class", i);
	}
	reader = avro_reader_memory(NULL, 0);
}

/* Encodes v into a fresh malloc'd buffer of *len bytes. */
static uint8_t *encode(avro_value_t *v, size_t *len, size_t which)
{
	size_t size = 0;
	uint8_t *out;
	avro_writer_t w;

	if (avro_value_sizeof(v, &size) != 0)
		die("avro_value_sizeof failed", which);
	out = malloc(size + 1);
	if (!out)
		abort();
	w = avro_writer_memory((char *)out, (int64_t)size + 1);
	if (avro_value_write(w, v) != 0)
		die("avro_value_write failed", which);
	*len = (size_t)avro_writer_tell(w);
	avro_writer_free(w);
	return out;
}

/* An oracle independent of the guard's byte walk: the value Avro C decoded
 * must make sense for the schema (Avro C itself accepts an enum index out of
 * range, a boolean byte other than 0 or 1, ...). */
static void check_value(avro_value_t *v, size_t which)
{
	avro_value_t child;
	size_t i, n = 0;
	int idx, b;

	switch (avro_value_get_type(v)) {
	case AVRO_BOOLEAN:
		if (avro_value_get_boolean(v, &b) != 0 || (b != 0 && b != 1))
			die("decoded boolean is neither 0 nor 1", which);
		break;
	case AVRO_ENUM:
		if (avro_value_get_enum(v, &idx) != 0 || idx < 0 ||
		    idx >= avro_schema_enum_number_of_symbols(avro_value_get_schema(v)))
			die("decoded enum index out of range", which);
		break;
	case AVRO_UNION:
		if (avro_value_get_discriminant(v, &idx) != 0 || idx < 0 ||
		    (size_t)idx >= avro_schema_union_size(avro_value_get_schema(v)) ||
		    avro_value_get_current_branch(v, &child) != 0)
			die("decoded union branch out of range", which);
		check_value(&child, which);
		break;
	case AVRO_RECORD:
	case AVRO_ARRAY:
	case AVRO_MAP:
		if (avro_value_get_size(v, &n) != 0)
			die("cannot get a size", which);
		for (i = 0; i < n; i++) {
			if (avro_value_get_by_index(v, i, &child, NULL) != 0)
				die("cannot get a child", which);
			check_value(&child, which);
		}
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cps_guard_limits limits;
	char err[CPS_ERRSTR_SIZE];
	size_t which, len, consumed = 0, out_len, out2_len;
	const uint8_t *msg;
	uint8_t *out, *out2;
	char *json = NULL;
	avro_value_t value, value2;
	int rc, prc;

	if (size < 1)
		return 0;
	init_once();
	which = data[0] % NSCHEMAS;
	msg = data + 1;
	len = size - 1;
	cps_guard_limits_default(&limits);
	limits.max_items = 20000; /* keep each run fast; the logic is the same */

	rc = cps_guard_check(schemas[which], msg, len, &limits, err, sizeof(err));
	prc = cps_guard_check_prefix(schemas[which], msg, len, &limits, &consumed, err + 0,
	                             sizeof(err));
	if (rc == CPS_OK && (prc != CPS_OK || consumed != len)) {
		fprintf(stderr, "fuzz_decode: check accepts but prefix check disagrees\n");
		abort();
	}
	if (rc != CPS_OK) {
		/* re-run the full check for its reason (the prefix check overwrote err) */
		rc = cps_guard_check(schemas[which], msg, len, &limits, err, sizeof(err));
		if (rc != CPS_ERR_INVALID || err[0] == '\0' || strchr(err, '\n')) {
			fprintf(stderr, "fuzz_decode: bad rejection (rc %d)\n", rc);
			abort();
		}
		return 0;
	}

	/* Accepted: Avro C must read it, print it and write it back. Values are
	 * made per input: LeakSanitizer cannot see the pointers Avro C keeps
	 * inside generic map values, so a value reused across inputs looks leaked. */
	if (avro_generic_value_new(ifaces[which], &value) != 0 ||
	    avro_generic_value_new(ifaces[which], &value2) != 0)
		die("cannot make a value", which);
	avro_reader_memory_set_source(reader, (const char *)msg, (int64_t)len);
	if (avro_value_read(reader, &value) != 0)
		die("guard accepted what avro_value_read refuses", which);
	check_value(&value, which);
	/* May fail cleanly (jansson refuses NaN and infinities) but must not crash. */
	if (avro_value_to_json(&value, 1, &json) == 0)
		free(json);
	out = encode(&value, &out_len, which);
	if ((out_len != len || memcmp(out, msg, len) != 0) && !has_blocks[which])
		die("re-encoding differs from the input", which);
	if (out_len != len || memcmp(out, msg, len) != 0) {
		/* Legitimately different only where Avro C normalises: negative
		 * block counts with byte sizes, several blocks merged into one,
		 * duplicate map keys collapsed. Then its output must be no
		 * longer, pass the guard and be a fixed point. */
		if (out_len > len)
			die("re-encoding is longer than the input", which);
		if (cps_guard_check(schemas[which], out, out_len, &limits, err, sizeof(err)) !=
		    CPS_OK) {
			fprintf(stderr, "fuzz_decode: guard refuses Avro C's own output: %s\n",
			        err);
			abort();
		}
		avro_reader_memory_set_source(reader, (const char *)out, (int64_t)out_len);
		if (avro_value_read(reader, &value2) != 0)
			die("cannot re-read the re-encoding", which);
		out2 = encode(&value2, &out2_len, which);
		if (out2_len != out_len || memcmp(out2, out, out_len) != 0)
			die("re-encoding is not a fixed point", which);
		free(out2);
	}
	free(out);
	avro_value_decref(&value2);
	avro_value_decref(&value);
	return 0;
}
