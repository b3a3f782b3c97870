/*
 * A Shenshan file named after a national ID (issue 11, probe 9): what the
 * files source writes about the file — the progress file while it is in
 * flight, the ledger line and the receipt once done — names it with the ID
 * masked, and a restart still resumes it at its committed record.
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
#include <unistd.h>

#include "base/buf.h"
#include "base/common.h"
#include "connectors/connector.h"
#include "connectors/files/ocf.h"

extern const struct cps_connector_ops cps_files_connector;

#define SCHEMA                                                                                     \
	"{\"type\":\"record\",\"name\":\"Note\",\"namespace\":\"cpsync.test\",\"fields\":["        \
	"{\"name\":\"text\",\"type\":\"string\"}]}"
/* a national ID whose check character is right (GB 11643), and its mask */
#define PLANTED "440300199001011238"
#define MASKED  "440300***********8"
#define NAME    "person_" PLANTED ".avro"

static const uint8_t sync_marker[CPS_OCF_SYNC_SIZE] = "0011223344556677";

struct fx {
	char root[256], inbox[300], done[320], catalog[300];
	struct cps_conn *src;
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

static char *slurp(const char *dir, const char *name)
{
	char path[700];
	struct cps_buf b;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cps_buf_init(&b, 0);
	if (cps_buf_read_file(&b, path) != 0)
		fail_msg("cannot read %s", path);
	cps_buf_append_byte(&b, 0);
	return (char *)b.data;
}

static void open_source(struct fx *f)
{
	struct cps_settings s;
	char err[CPS_ERRSTR_SIZE];

	cps_settings_init(&s);
	cps_settings_set(&s, "inbox", f->inbox);
	cps_settings_set(&s, "schema_dir", f->catalog);
	cps_settings_set(&s, "stable_ms", "0");
	if (cps_connector_source_open(&cps_files_connector, "shenshan", &s, &f->src, err,
	                              sizeof(err)) != CPS_OK)
		fail_msg("open: %s", err);
	cps_settings_release(&s);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/cps_files_names_XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->inbox, sizeof(f->inbox), "%s/inbox", f->root);
	snprintf(f->done, sizeof(f->done), "%s/done", f->inbox);
	snprintf(f->catalog, sizeof(f->catalog), "%s/catalog", f->root);
	assert_int_equal(mkdir(f->inbox, 0700), 0);
	assert_int_equal(mkdir(f->catalog, 0700), 0);
	write_file(f->catalog, "note.avsc", SCHEMA, strlen(SCHEMA));
	open_source(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	cps_source_close(f->src);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* inbox/NAME: three notes in one block. */
static void deliver(struct fx *f)
{
	struct cps_buf body, file;
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(&body, 0);
	cps_buf_init(&file, 0);
	for (int i = 0; i < 3; i++) {
		cps_buf_append_byte(&body, 2 * 5); /* a 5-byte string */
		cps_buf_append(&body, i ? "later" : "first", 5);
	}
	assert_int_equal(cps_ocf_write_header(&file, SCHEMA, CPS_OCF_NULL, sync_marker), 0);
	assert_int_equal(cps_ocf_write_block(&file, CPS_OCF_NULL, sync_marker, 3, body.data,
	                                     body.len, err, sizeof(err)),
	                 0);
	write_file(f->inbox, NAME, file.data, file.len);
	cps_buf_release(&body);
	cps_buf_release(&file);
}

/* The records handed out by one poll (up to max), the last position in *last. */
static size_t poll_some(struct fx *f, size_t max, struct cps_position *last)
{
	char err[CPS_ERRSTR_SIZE];

	for (int round = 0; round < 30; round++) {
		struct cps_source_batch b;

		assert_int_equal(cps_source_poll(f->src, &b, max, 100, err, sizeof(err)), CPS_OK);
		if (b.n) {
			*last = b.msgs[b.n - 1].pos;
			return b.n;
		}
	}
	return 0;
}

static void commit(struct fx *f, const struct cps_position *pos)
{
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(cps_source_commit(f->src, pos, 1, err, sizeof(err)), CPS_OK);
}

static void test_written_names_masked(void **state)
{
	struct fx *f = *state;
	struct cps_position last;
	char *text;

	deliver(f);
	assert_int_equal(poll_some(f, 1, &last), 1);
	commit(f, &last); /* record 0 committed: the progress file says so */
	text = slurp(f->inbox, ".progress");
	assert_null(strstr(text, PLANTED));
	assert_non_null(strstr(text, "person_" MASKED ".avro"));
	free(text);

	/* a restart resumes at record 1: the masked name still matches */
	cps_source_close(f->src);
	open_source(f);
	assert_int_equal(poll_some(f, 10, &last), 2);
	assert_int_equal(last.offset, 2);
	assert_string_equal(last.stream, NAME);
	commit(f, &last);

	text = slurp(f->done, ".ledger");
	assert_null(strstr(text, PLANTED));
	assert_non_null(strstr(text, " person_" MASKED ".avro\n"));
	free(text);
	text = slurp(f->done, NAME ".receipt.json");
	assert_null(strstr(text, PLANTED));
	assert_non_null(strstr(text, "\"person_" MASKED ".avro\""));
	assert_non_null(strstr(text, "\"resumed\": true"));
	free(text);
	/* the data file itself keeps its name: it is the sender's */
	text = slurp(f->done, NAME);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_written_names_masked, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
