/*
 * The Object Container File reader and writer (connectors/files/ocf.c) on good and
 * hostile bytes: round trips with both codecs, every truncation, a wrong sync
 * marker, corrupt deflate data, a deflate bomb, huge block counts and sizes,
 * undelimitable and structurally intact corrupt records, non-Avro input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/common.h"
#include "codec/guard.h"
#include "connectors/files/ocf.h"

static const char SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"cpsync.test\",\"fields\":["
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\",\"B\","
    "\"C\"]}},{\"name\":\"national_id\",\"type\":\"string\"},{\"name\":\"n\",\"type\":\"long\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"]}]}";

/* kind, national_id (6 bytes here), n, note */
static const uint8_t REC[3][16] = {
    {0x00, 0x0c, '4', '4', '0', '3', '0', '0', 0x02, 0x00},
    {0x02, 0x0c, '4', '4', '0', '3', '0', '1', 0x03, 0x02, 0x04, 'h', 'i'},
    {0x04, 0x0c, '4', '4', '0', '3', '0', '2', 0xc0, 0xcf, 0x24, 0x00},
};
static const size_t REC_LEN[3] = {10, 13, 12};
static const uint8_t SYNC[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* header + block {REC0, REC1} + block {REC2} */
static void build_file(struct cps_buf *out, enum cps_ocf_codec codec, size_t *block2_at)
{
	uint8_t data[64];
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(out, 0);
	assert_int_equal(cps_ocf_write_header(out, SCHEMA, codec, SYNC), CPS_OK);
	memcpy(data, REC[0], REC_LEN[0]);
	memcpy(data + REC_LEN[0], REC[1], REC_LEN[1]);
	assert_int_equal(cps_ocf_write_block(out, codec, SYNC, 2, data, REC_LEN[0] + REC_LEN[1],
	                                     err, sizeof(err)),
	                 CPS_OK);
	if (block2_at)
		*block2_at = out->len;
	assert_int_equal(
	    cps_ocf_write_block(out, codec, SYNC, 1, REC[2], REC_LEN[2], err, sizeof(err)), CPS_OK);
}

/* Reads everything: the number of records, the last return code. Each
 * record returned must equal the original of its index. */
static int read_all(const void *buf, size_t len, const struct cps_ocf_limits *limits, int *n,
                    char *err, size_t err_size)
{
	struct cps_ocf_reader *r;
	const void *rec;
	size_t rlen;
	int64_t index;
	int rc;

	*n = 0;
	rc = cps_ocf_reader_open(buf, len, limits, &r, err, err_size);
	if (rc != CPS_OK)
		return rc;
	while ((rc = cps_ocf_reader_next(r, &rec, &rlen, &index, err, err_size)) == 1) {
		assert_int_equal(index, *n);
		assert_int_equal(rlen, REC_LEN[index]);
		assert_memory_equal(rec, REC[index], rlen);
		(*n)++;
	}
	cps_ocf_reader_free(r);
	return rc;
}

static void test_round_trip(void **state)
{
	for (int codec = CPS_OCF_NULL; codec <= CPS_OCF_DEFLATE; codec++) {
		struct cps_buf f;
		struct cps_ocf_reader *r;
		char err[CPS_ERRSTR_SIZE];
		int n;

		build_file(&f, (enum cps_ocf_codec)codec, NULL);
		assert_int_equal(read_all(f.data, f.len, NULL, &n, err, sizeof(err)), 0);
		assert_int_equal(n, 3);
		assert_int_equal(cps_ocf_reader_open(f.data, f.len, NULL, &r, err, sizeof(err)),
		                 CPS_OK);
		assert_string_equal(cps_ocf_reader_schema_json(r), SCHEMA);
		assert_int_equal(cps_ocf_reader_codec(r), codec);
		cps_ocf_reader_free(r);
		cps_buf_release(&f);
	}
}

/* Every prefix of the file: never a crash, only correct records, and an
 * error unless the cut falls exactly on a block boundary. */
static void test_every_truncation(void **state)
{
	for (int codec = CPS_OCF_NULL; codec <= CPS_OCF_DEFLATE; codec++) {
		struct cps_buf f;
		size_t block2_at;
		char err[CPS_ERRSTR_SIZE];

		struct cps_buf h;

		cps_buf_init(&h, 0);
		assert_int_equal(cps_ocf_write_header(&h, SCHEMA, (enum cps_ocf_codec)codec, SYNC),
		                 CPS_OK);
		build_file(&f, (enum cps_ocf_codec)codec, &block2_at);
		for (size_t cut = 0; cut < f.len; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			int n, rc;

			memcpy(copy, f.data, cut);
			rc = read_all(copy, cut, NULL, &n, err, sizeof(err));
			if (cut == h.len || cut == block2_at) {
				assert_int_equal(rc, 0);
				assert_int_equal(n, cut == h.len ? 0 : 2);
			} else {
				assert_int_equal(rc, CPS_ERR_INVALID);
				assert_true(n == 0 || (n == 2 && cut > block2_at));
			}
			free(copy);
		}
		cps_buf_release(&h);
		cps_buf_release(&f);
	}
}

static void test_wrong_sync_marker(void **state)
{
	struct cps_buf f;
	char err[CPS_ERRSTR_SIZE];
	int n;

	build_file(&f, CPS_OCF_NULL, NULL);
	f.data[f.len - 1] ^= 0xff; /* the second block's marker */
	assert_int_equal(read_all(f.data, f.len, NULL, &n, err, sizeof(err)), CPS_ERR_INVALID);
	assert_int_equal(n, 2);
	assert_non_null(strstr(err, "block 2: sync marker does not match"));
	cps_buf_release(&f);
}

static void test_corrupt_deflate_block(void **state)
{
	struct cps_buf f;
	size_t block2_at;
	char err[CPS_ERRSTR_SIZE];
	int n, rc;

	build_file(&f, CPS_OCF_DEFLATE, &block2_at);
	/* garble the second block's compressed bytes (after count and size) */
	for (size_t i = block2_at + 2; i < f.len - 16; i++)
		f.data[i] = 0xff;
	rc = read_all(f.data, f.len, NULL, &n, err, sizeof(err));
	assert_int_equal(rc, CPS_ERR_INVALID);
	assert_int_equal(n, 2);
	assert_non_null(strstr(err, "block 2"));
	cps_buf_release(&f);
}

static void test_deflate_bomb_capped(void **state)
{
	struct cps_ocf_limits limits;
	struct cps_buf f;
	uint8_t *zeros = calloc(1, (size_t)8 << 20);
	char err[CPS_ERRSTR_SIZE];
	int n;

	cps_ocf_limits_default(&limits);
	limits.max_inflated_bytes = (size_t)1 << 20;
	cps_buf_init(&f, 0);
	assert_int_equal(cps_ocf_write_header(&f, "\"null\"", CPS_OCF_DEFLATE, SYNC), CPS_OK);
	assert_int_equal(cps_ocf_write_block(&f, CPS_OCF_DEFLATE, SYNC, 1000, zeros,
	                                     (size_t)8 << 20, err, sizeof(err)),
	                 CPS_OK);
	assert_true(f.len < 100000);
	assert_int_equal(read_all(f.data, f.len, &limits, &n, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "inflates past 1048576 bytes"));
	cps_buf_release(&f);
	free(zeros);
}

/* A block header declaring 2^40 records, then one declaring 2^40 bytes. */
static void test_huge_block_count_and_size(void **state)
{
	static const uint8_t huge[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x40}; /* zig-zag 2^40 */
	struct cps_buf f;
	char err[CPS_ERRSTR_SIZE];
	int n;

	cps_buf_init(&f, 0);
	assert_int_equal(cps_ocf_write_header(&f, SCHEMA, CPS_OCF_NULL, SYNC), CPS_OK);
	cps_buf_append(&f, huge, sizeof(huge));
	cps_buf_append_byte(&f, 0x02);
	cps_buf_append(&f, SYNC, sizeof(SYNC));
	assert_int_equal(read_all(f.data, f.len, NULL, &n, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "record count 1099511627776 outside"));

	cps_buf_reset(&f);
	assert_int_equal(cps_ocf_write_header(&f, SCHEMA, CPS_OCF_NULL, SYNC), CPS_OK);
	cps_buf_append_byte(&f, 0x02);
	cps_buf_append(&f, huge, sizeof(huge));
	cps_buf_append(&f, SYNC, sizeof(SYNC));
	assert_int_equal(read_all(f.data, f.len, NULL, &n, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "size 1099511627776 outside"));

	cps_buf_reset(&f); /* negative count */
	assert_int_equal(cps_ocf_write_header(&f, SCHEMA, CPS_OCF_NULL, SYNC), CPS_OK);
	cps_buf_append_byte(&f, 0x01);
	cps_buf_append_byte(&f, 0x00);
	cps_buf_append(&f, SYNC, sizeof(SYNC));
	assert_int_equal(read_all(f.data, f.len, NULL, &n, err, sizeof(err)), CPS_ERR_INVALID);
	cps_buf_release(&f);
}

/* Record 0 of the first block declares a string longer than the block: it
 * comes back with the rest of the block as one record (for the engine to
 * dead-letter), and the next block is read as usual with its right index. */
static void test_undelimitable_record(void **state)
{
	struct cps_buf f;
	struct cps_ocf_reader *r;
	char err[CPS_ERRSTR_SIZE];
	const void *rec;
	size_t len;
	int64_t index;
	uint8_t data[64];

	memcpy(data, REC[0], REC_LEN[0]);
	memcpy(data + REC_LEN[0], REC[1], REC_LEN[1]);
	data[1] = 0x7e; /* national_id length 63 */
	cps_buf_init(&f, 0);
	assert_int_equal(cps_ocf_write_header(&f, SCHEMA, CPS_OCF_NULL, SYNC), CPS_OK);
	assert_int_equal(cps_ocf_write_block(&f, CPS_OCF_NULL, SYNC, 2, data,
	                                     REC_LEN[0] + REC_LEN[1], err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(
	    cps_ocf_write_block(&f, CPS_OCF_NULL, SYNC, 1, REC[2], REC_LEN[2], err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(cps_ocf_reader_open(f.data, f.len, NULL, &r, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_ocf_reader_next(r, &rec, &len, &index, err, sizeof(err)), 1);
	assert_int_equal(index, 0);
	assert_int_equal(len, REC_LEN[0] + REC_LEN[1]);
	assert_memory_equal(rec, data, len);
	assert_int_not_equal(
	    cps_guard_check(cps_ocf_reader_schema(r), rec, len, NULL, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_ocf_reader_next(r, &rec, &len, &index, err, sizeof(err)), 1);
	assert_int_equal(index, 2);
	assert_memory_equal(rec, REC[2], REC_LEN[2]);
	assert_int_equal(cps_ocf_reader_next(r, &rec, &len, &index, err, sizeof(err)), 0);
	cps_ocf_reader_free(r);
	cps_buf_release(&f);
}

/* An enum index out of range keeps the structure: the record is delimited,
 * the guard rejects it, its neighbours pass. */
static void test_corrupt_enum_record(void **state)
{
	struct cps_buf f;
	struct cps_ocf_reader *r;
	char err[CPS_ERRSTR_SIZE];
	const void *rec;
	size_t len;
	int64_t index;
	size_t at;

	build_file(&f, CPS_OCF_NULL, NULL);
	at = (size_t)((uint8_t *)memmem(f.data, f.len, REC[1], REC_LEN[1]) - f.data);
	f.data[at] = 0x7e; /* kind 63 */
	assert_int_equal(cps_ocf_reader_open(f.data, f.len, NULL, &r, err, sizeof(err)), CPS_OK);
	for (int i = 0; i < 3; i++) {
		int rc;

		assert_int_equal(cps_ocf_reader_next(r, &rec, &len, &index, err, sizeof(err)), 1);
		assert_int_equal(index, i);
		assert_int_equal(len, REC_LEN[i]);
		rc = cps_guard_check(cps_ocf_reader_schema(r), rec, len, NULL, err, sizeof(err));
		assert_int_equal(rc, i == 1 ? CPS_ERR_INVALID : CPS_OK);
	}
	assert_int_equal(cps_ocf_reader_next(r, &rec, &len, &index, err, sizeof(err)), 0);
	cps_ocf_reader_free(r);
	cps_buf_release(&f);
}

static void test_not_avro_and_bad_headers(void **state)
{
	struct cps_ocf_reader *r;
	struct cps_buf f;
	char err[CPS_ERRSTR_SIZE];
	static const uint8_t meta_huge[] = {'O', 'b', 'j', 1, 0x80, 0x80, 0x80, 0x80, 0x10};

	assert_int_equal(cps_ocf_reader_open("hello, world\n", 13, NULL, &r, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "not an Avro object container file"));
	assert_int_equal(cps_ocf_reader_open("Obj", 3, NULL, &r, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_int_equal(
	    cps_ocf_reader_open(meta_huge, sizeof(meta_huge), NULL, &r, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_non_null(strstr(err, "too many"));

	cps_buf_init(&f, 0);
	assert_int_equal(cps_ocf_write_header(&f, "{\"type\":\"nonsense\"}", CPS_OCF_NULL, SYNC),
	                 CPS_OK);
	assert_int_equal(cps_ocf_reader_open(f.data, f.len, NULL, &r, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "header schema does not parse"));

	cps_buf_reset(&f); /* a named type defined twice (Avro C leaks on it) */
	assert_int_equal(
	    cps_ocf_write_header(&f,
	                         "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\","
	                         "\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"enum\","
	                         "\"name\":\"K\",\"symbols\":[\"A\"]}},{\"name\":\"b\","
	                         "\"type\":{\"type\":\"enum\",\"name\":\"t.K\",\"symbols\":"
	                         "[\"B\"]}}]}",
	                         CPS_OCF_NULL, SYNC),
	    CPS_OK);
	assert_int_equal(cps_ocf_reader_open(f.data, f.len, NULL, &r, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "defines 't.K' twice"));

	cps_buf_reset(&f); /* an unknown codec */
	assert_int_equal(cps_ocf_write_header(&f, SCHEMA, CPS_OCF_NULL, SYNC), CPS_OK);
	memcpy((uint8_t *)memmem(f.data, f.len, "avro.codec\x08null", 15) + 11, "zzzz", 4);
	assert_int_equal(cps_ocf_reader_open(f.data, f.len, NULL, &r, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "unsupported codec 'zzzz'"));
	cps_buf_release(&f);
}

/* The structural walker on nested types and its depth and item caps. */
static void test_datum_size(void **state)
{
	avro_schema_t arr, nulls;
	static const uint8_t three[] = {0x06, 0x02, 0x04, 0x06, 0x00};
	static const uint8_t many_nulls[] = {0x80, 0x80, 0x80, 0x80, 0x20, 0x00};
	size_t size;

	assert_int_equal(
	    avro_schema_from_json_literal("{\"type\":\"array\",\"items\":\"long\"}", &arr), 0);
	assert_int_equal(cps_ocf_datum_size(arr, three, sizeof(three), 0, &size), CPS_OK);
	assert_int_equal(size, sizeof(three));
	assert_int_equal(cps_ocf_datum_size(arr, three, 3, 0, &size), CPS_ERR_INVALID);
	assert_int_equal(
	    avro_schema_from_json_literal("{\"type\":\"array\",\"items\":\"null\"}", &nulls), 0);
	assert_int_equal(cps_ocf_datum_size(nulls, many_nulls, sizeof(many_nulls), 0, &size),
	                 CPS_ERR_INVALID);
	avro_schema_decref(arr);
	avro_schema_decref(nulls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_wrong_sync_marker),
	    cmocka_unit_test(test_corrupt_deflate_block),
	    cmocka_unit_test(test_deflate_bomb_capped),
	    cmocka_unit_test(test_huge_block_count_and_size),
	    cmocka_unit_test(test_undelimitable_record),
	    cmocka_unit_test(test_corrupt_enum_record),
	    cmocka_unit_test(test_not_avro_and_bad_headers),
	    cmocka_unit_test(test_datum_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
