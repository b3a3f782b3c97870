/*
 * The files source's effective-time field (issue 11, item 11): with
 * `effective_field` or `file.<prefix>.effective_field` set, each record's
 * fact carries that field's value (timestamp-millis, epoch-ms long or date)
 * as its effective time instead of the file's mtime; a null leaves it to
 * ingest's fallbacks; a file whose writer schema lacks the field, or holds
 * it as another type, goes to rejected/ unread with the reason.
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

/* a schema no entity is named after: records are handed out as they are */
#define EVENT_SCHEMA                                                                               \
	"{\"type\":\"record\",\"name\":\"Event\",\"namespace\":\"cpsync.test\",\"fields\":["       \
	"{\"name\":\"id\",\"type\":\"string\"},"                                                   \
	"{\"name\":\"raised_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-"         \
	"millis\"}},"                                                                              \
	"{\"name\":\"on\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"                  \
	"{\"name\":\"handled_at\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":"          \
	"\"timestamp-millis\"}]},"                                                                 \
	"{\"name\":\"label\",\"type\":\"string\"}]}"
#define RAISED_MS  INT64_C(1700000000123)
#define HANDLED_MS INT64_C(1700000999000)
#define ON_DAYS    19700 /* 2023-12-09 */
#define DAY_MS     INT64_C(86400000)

static const uint8_t sync_marker[CPS_OCF_SYNC_SIZE] = "fedcba9876543210";

struct fx {
	char root[256], inbox[300], rejected[330], catalog[300];
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

static void open_source(struct fx *f, const char *const *kv)
{
	struct cps_settings s;
	char err[CPS_ERRSTR_SIZE];

	cps_settings_init(&s);
	cps_settings_set(&s, "inbox", f->inbox);
	cps_settings_set(&s, "schema_dir", f->catalog);
	cps_settings_set(&s, "stable_ms", "0");
	for (; kv && kv[0]; kv += 2)
		cps_settings_set(&s, kv[0], kv[1]);
	if (cps_connector_source_open(&cps_files_connector, "shenshan", &s, &f->src, err,
	                              sizeof(err)) != CPS_OK)
		fail_msg("open: %s", err);
	cps_settings_release(&s);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/cps_files_eff_XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->inbox, sizeof(f->inbox), "%s/inbox", f->root);
	snprintf(f->rejected, sizeof(f->rejected), "%s/rejected", f->inbox);
	snprintf(f->catalog, sizeof(f->catalog), "%s/catalog", f->root);
	assert_int_equal(mkdir(f->inbox, 0700), 0);
	assert_int_equal(mkdir(f->catalog, 0700), 0);
	write_file(f->catalog, "event.avsc", EVENT_SCHEMA, strlen(EVENT_SCHEMA));
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

static void zigzag(struct cps_buf *b, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);

	while (u >= 0x80) {
		cps_buf_append_byte(b, (uint8_t)(u | 0x80));
		u >>= 7;
	}
	cps_buf_append_byte(b, (uint8_t)u);
}

static void string(struct cps_buf *b, const char *s)
{
	zigzag(b, (int64_t)strlen(s));
	cps_buf_append(b, s, strlen(s));
}

/* One Event; handled < 0: null. */
static void event(struct cps_buf *b, const char *id, int64_t raised, int32_t on, int64_t handled,
                  const char *label)
{
	string(b, id);
	zigzag(b, raised);
	zigzag(b, on);
	zigzag(b, handled < 0 ? 0 : 1);
	if (handled >= 0)
		zigzag(b, handled);
	string(b, label);
}

/* inbox/name: the two events e1 (handled) and e2 (not handled). */
static void deliver(struct fx *f, const char *name)
{
	struct cps_buf body, file;
	char err[CPS_ERRSTR_SIZE];

	cps_buf_init(&body, 0);
	cps_buf_init(&file, 0);
	/* the label is the file name: no two files are duplicates */
	event(&body, "e1", RAISED_MS, ON_DAYS, HANDLED_MS, name);
	event(&body, "e2", RAISED_MS + 1, ON_DAYS + 1, -1, name);
	assert_int_equal(cps_ocf_write_header(&file, EVENT_SCHEMA, CPS_OCF_NULL, sync_marker), 0);
	assert_int_equal(cps_ocf_write_block(&file, CPS_OCF_NULL, sync_marker, 2, body.data,
	                                     body.len, err, sizeof(err)),
	                 0);
	write_file(f->inbox, name, file.data, file.len);
	cps_buf_release(&body);
	cps_buf_release(&file);
}

/* Polls the two records of the file and commits them; their
 * (has_effective, effective_ms). */
static void poll_two(struct fx *f, bool has[2], int64_t ms[2], int64_t *source_ms)
{
	char err[CPS_ERRSTR_SIZE];
	size_t n = 0;

	for (int round = 0; round < 30 && n < 2; round++) {
		struct cps_source_batch b;

		assert_int_equal(cps_source_poll(f->src, &b, 10, 100, err, sizeof(err)), CPS_OK);
		for (size_t i = 0; i < b.n && n < 2; i++, n++) {
			has[n] = b.msgs[i].has_effective;
			ms[n] = b.msgs[i].effective_ms;
			*source_ms = b.msgs[i].source_ts_ms;
		}
		/* done with the file: the next one is read next */
		if (b.n)
			assert_int_equal(
			    cps_source_commit(f->src, &b.msgs[b.n - 1].pos, 1, err, sizeof(err)),
			    CPS_OK);
	}
	assert_int_equal(n, 2);
}

/* No field mapped: the file's time only (ingest's fallbacks), as before. */
static void test_unmapped(void **state)
{
	struct fx *f = *state;
	bool has[2];
	int64_t ms[2], src;

	open_source(f, NULL);
	deliver(f, "events_1.avro");
	poll_two(f, has, ms, &src);
	assert_false(has[0]);
	assert_false(has[1]);
	assert_true(src > 0);
}

/* effective_field raised_at (timestamp-millis): each record its own value. */
static void test_timestamp_field(void **state)
{
	static const char *const kv[] = {"effective_field", "raised_at", NULL};
	struct fx *f = *state;
	bool has[2];
	int64_t ms[2], src;

	open_source(f, kv);
	deliver(f, "events_1.avro");
	poll_two(f, has, ms, &src);
	assert_true(has[0] && has[1]);
	assert_int_equal(ms[0], RAISED_MS);
	assert_int_equal(ms[1], RAISED_MS + 1);
	assert_true(src != RAISED_MS);
}

/* A prefix's field wins over the default; a date counts whole days; a null
 * of a nullable field leaves that record to the fallbacks. */
static void test_prefix_date_and_null(void **state)
{
	static const char *const kv[] = {"effective_field",
	                                 "raised_at",
	                                 "file.events_.effective_field",
	                                 "handled_at",
	                                 "file.days_.effective_field",
	                                 "on",
	                                 NULL};
	struct fx *f = *state;
	bool has[2];
	int64_t ms[2], src;

	open_source(f, kv);
	deliver(f, "days_1.avro");
	poll_two(f, has, ms, &src);
	assert_true(has[0] && has[1]);
	assert_int_equal(ms[0], ON_DAYS * DAY_MS);
	assert_int_equal(ms[1], (ON_DAYS + 1) * DAY_MS);
	cps_source_close(f->src);
	f->src = NULL;
	open_source(f, kv);
	deliver(f, "events_2.avro");
	poll_two(f, has, ms, &src);
	assert_true(has[0]);
	assert_int_equal(ms[0], HANDLED_MS);
	assert_false(has[1]);
}

/* A mapped field the writer schema lacks, or holds as a string: rejected
 * unread, with the reason. */
static void test_bad_field_rejected(void **state)
{
	static const char *const kv[] = {"file.nofield_.effective_field", "updated_at",
	                                 "file.label_.effective_field", "label", NULL};
	struct fx *f = *state;
	struct cps_source_batch b;
	char err[CPS_ERRSTR_SIZE], path[700], text[600];
	FILE *in;
	size_t n;

	open_source(f, kv);
	deliver(f, "nofield_1.avro");
	deliver(f, "label_1.avro");
	for (int i = 0; i < 5; i++) {
		assert_int_equal(cps_source_poll(f->src, &b, 10, 50, err, sizeof(err)), CPS_OK);
		assert_int_equal(b.n, 0);
	}
	snprintf(path, sizeof(path), "%s/nofield_1.avro.reason", f->rejected);
	in = fopen(path, "r");
	assert_non_null(in);
	n = fread(text, 1, sizeof(text) - 1, in);
	text[n] = '\0';
	fclose(in);
	assert_non_null(strstr(text, "effective_field 'updated_at'"));
	snprintf(path, sizeof(path), "%s/label_1.avro.reason", f->rejected);
	assert_int_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unmapped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timestamp_field, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prefix_date_and_null, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_field_rejected, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
