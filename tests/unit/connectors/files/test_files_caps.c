/*
 * The files source's caps on what one inbox file may cost (issue 11, probes
 * 2 and 10): a writer schema outside the catalog is refused before a record
 * is split (a 145-byte file of zero-byte records became 20,000 dead letters);
 * a block claiming more records than its bytes can hold is refused; a file
 * with more invalid records than max_dead_letters goes to rejected/ whole;
 * entries the source will never read are counted for /status and /metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/common.h"
#include "connectors/connector.h"
#include "connectors/files/ocf.h"

extern const struct cps_connector_ops cps_files_connector;

#define MAX_DEAD_LETTERS "60"
/* a national ID whose check character is right (GB 11643) */
#define GOOD_ID "440300199001011238"

static char test_schema[1100];
static const uint8_t sync_marker[CPS_OCF_SYNC_SIZE] = "0123456789abcdef";

struct fx {
	char root[256], inbox[300], rejected[330], catalog[300];
	struct cps_conn *src;
	struct cps_buf schema_json;
};

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[700];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	out = fopen(path, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(data, 1, len, out), len);
	assert_int_equal(fclose(out), 0);
}

static bool exists(const char *dir, const char *name)
{
	char path[700];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static char *reason_of(struct fx *f, const char *name)
{
	char path[700];
	struct cps_buf b;

	snprintf(path, sizeof(path), "%s/%s.reason", f->rejected, name);
	cps_buf_init(&b, 0);
	assert_int_equal(cps_buf_read_file(&b, path), 0);
	cps_buf_append_byte(&b, 0);
	return (char *)b.data;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cps_settings s;
	char err[CPS_ERRSTR_SIZE];

	snprintf(f->root, sizeof(f->root), "/tmp/cps_files_caps_XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->inbox, sizeof(f->inbox), "%s/inbox", f->root);
	snprintf(f->rejected, sizeof(f->rejected), "%s/rejected", f->inbox);
	snprintf(f->catalog, sizeof(f->catalog), "%s/catalog", f->root);
	assert_int_equal(mkdir(f->inbox, 0700), 0);
	assert_int_equal(mkdir(f->catalog, 0700), 0);
	cps_buf_init(&f->schema_json, 0);
	assert_int_equal(cps_buf_read_file(&f->schema_json, test_schema), 0);
	write_file(f->catalog, "test.avsc", f->schema_json.data, f->schema_json.len);
	cps_buf_append_byte(&f->schema_json, 0);

	cps_settings_init(&s);
	cps_settings_set(&s, "inbox", f->inbox);
	cps_settings_set(&s, "schema_dir", f->catalog);
	cps_settings_set(&s, "stable_ms", "0");
	cps_settings_set(&s, "max_dead_letters", MAX_DEAD_LETTERS);
	assert_int_equal(cps_connector_source_open(&cps_files_connector, "shenshan", &s, &f->src,
	                                           err, sizeof(err)),
	                 CPS_OK);
	cps_settings_release(&s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	cps_source_close(f->src);
	cps_buf_release(&f->schema_json);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Messages handed out by polls until one comes back empty. */
static size_t drain(struct fx *f)
{
	char err[CPS_ERRSTR_SIZE];
	size_t total = 0;

	for (;;) {
		struct cps_source_batch b;

		assert_int_equal(cps_source_poll(f->src, &b, 500, 100, err, sizeof(err)), CPS_OK);
		if (b.n == 0)
			return total;
		total += b.n;
		assert_int_equal(
		    cps_source_commit(f->src, &b.msgs[b.n - 1].pos, 1, err, sizeof(err)), CPS_OK);
	}
}

/* One record of tests/files/test.avsc: kind (enum index), national_id, n, note null. */
static void append_record(struct cps_buf *b, uint8_t kind_zigzag)
{
	cps_buf_append_byte(b, kind_zigzag);
	cps_buf_append_byte(b, 2 * (sizeof(GOOD_ID) - 1));
	cps_buf_append(b, GOOD_ID, sizeof(GOOD_ID) - 1);
	cps_buf_append_byte(b, 0x02); /* n = 1 */
	cps_buf_append_byte(b, 0x00); /* note: null */
}

/* Writes inbox/name: one block of `count` records over `body`. */
static void deliver(struct fx *f, const char *name, const char *schema_json, int64_t count,
                    const struct cps_buf *body)
{
	struct cps_buf file;
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(&file, 0);
	assert_int_equal(cps_ocf_write_header(&file, schema_json, CPS_OCF_NULL, sync_marker), 0);
	assert_int_equal(cps_ocf_write_block(&file, CPS_OCF_NULL, sync_marker, count, body->data,
	                                     body->len, err, sizeof(err)),
	                 0);
	write_file(f->inbox, name, file.data, file.len);
	cps_buf_release(&file);
}

/* The probe: 20,000 zero-byte records of a schema the catalog does not hold.
 * Before: 20,000 records handed out, each a dead letter. Now: the file goes
 * to rejected/ unsplit. */
static void test_writer_not_in_catalog(void **state)
{
	struct fx *f = *state;
	struct cps_buf empty;
	char *reason;

	cps_buf_init(&empty, 0);
	deliver(f, "zero.avro", "{\"type\":\"record\",\"name\":\"Empty\",\"fields\":[]}", 20000,
	        &empty);
	assert_int_equal(drain(f), 0);
	assert_true(exists(f->rejected, "zero.avro"));
	reason = reason_of(f, "zero.avro");
	assert_non_null(strstr(reason, "writer schema 'Empty'"));
	assert_non_null(strstr(reason, "is not in the schema catalog"));
	free(reason);
	cps_buf_release(&empty);
}

/* A block that says a million records but holds one: refused before any is
 * handed out (before: the one, then the rest of the block as a bad one). */
static void test_count_beyond_bytes(void **state)
{
	struct fx *f = *state;
	struct cps_buf body;
	char *reason;

	cps_buf_init(&body, 0);
	append_record(&body, 0x00);
	deliver(f, "lie.avro", (const char *)f->schema_json.data, 1000000, &body);
	assert_int_equal(drain(f), 0);
	assert_true(exists(f->rejected, "lie.avro"));
	reason = reason_of(f, "lie.avro");
	assert_non_null(strstr(reason, "block 1: 1000000 records cannot fit in its 22 bytes"));
	free(reason);
	cps_buf_release(&body);
}

/* 70 of 100 records invalid (an enum index out of range) against a cap of
 * 60: rejected whole, nothing handed out. 50 of 100: every record handed
 * out, the invalid ones for ingest to dead-letter one by one. */
static void test_dead_letter_cap(void **state)
{
	struct fx *f = *state;
	struct cps_buf many_bad, some_bad;
	char *reason;

	cps_buf_init(&many_bad, 0);
	cps_buf_init(&some_bad, 0);
	for (int i = 0; i < 100; i++) {
		append_record(&many_bad, i < 70 ? 0x7e : 0x02);
		append_record(&some_bad, i % 2 ? 0x7e : 0x04);
	}
	deliver(f, "many_bad.avro", (const char *)f->schema_json.data, 100, &many_bad);
	assert_int_equal(drain(f), 0);
	assert_true(exists(f->rejected, "many_bad.avro"));
	reason = reason_of(f, "many_bad.avro");
	assert_non_null(strstr(reason, "more than max_dead_letters (" MAX_DEAD_LETTERS
	                               ") of its records are invalid"));
	assert_non_null(strstr(reason, "the first, record 0: "));
	free(reason);

	deliver(f, "some_bad.avro", (const char *)f->schema_json.data, 100, &some_bad);
	assert_int_equal(drain(f), 100);
	assert_false(exists(f->rejected, "some_bad.avro"));
	cps_buf_release(&many_bad);
	cps_buf_release(&some_bad);
}

/* Dot files, a *.tmp left for two hours and a stray folder are never read:
 * counted, so /status and /metrics show them. A fresh *.tmp or .*.tmp (an
 * upload in progress) and the source's own files are not. */
static void test_ignored_entries(void **state)
{
	struct fx *f = *state;
	struct timeval old[2];
	struct cps_conn_status st;
	char path[700];

	write_file(f->inbox, ".hidden.avro", "x", 1);
	write_file(f->inbox, "old.avro.tmp", "x", 1);
	write_file(f->inbox, "new.avro.tmp", "x", 1);
	write_file(f->inbox, ".busy.avro.tmp", "x", 1); /* a dot-named upload in progress */
	snprintf(path, sizeof(path), "%s/old.avro.tmp", f->inbox);
	gettimeofday(&old[0], NULL);
	old[0].tv_sec -= 2 * 3600;
	old[1] = old[0];
	assert_int_equal(utimes(path, old), 0);
	snprintf(path, sizeof(path), "%s/misc", f->inbox);
	assert_int_equal(mkdir(path, 0700), 0);

	assert_int_equal(drain(f), 0);
	cps_conn_describe(f->src, &st);
	assert_int_equal(st.ignored, 3);
	snprintf(path, sizeof(path), "%s/.hidden.avro", f->inbox);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(drain(f), 0);
	cps_conn_describe(f->src, &st);
	assert_int_equal(st.ignored, 2);
}

int main(void)
{
	const char *dir = getenv("CPSYNC_SOURCE_DIR");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_writer_not_in_catalog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_count_beyond_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_letter_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ignored_entries, setup, teardown),
	};

	snprintf(test_schema, sizeof(test_schema), "%s/tests/files/test.avsc",
	         dir ? dir : CPSYNC_SOURCE_DIR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
