/*
 * Offsets through the connector contract (connector.h: offsets_get /
 * offsets_reset): the files source's ledger position read from an inbox as
 * the source leaves it (file in flight, files done, files waiting), no reset
 * for it, settings validated first, a connector without the slots refused,
 * the registry refusing offsets slots without a source or a reset without a
 * get, and the growable entry list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "connectors/builtin.h"
#include "connectors/connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void inbox_settings(struct cps_settings *s, const char *inbox)
{
	cps_settings_init(s);
	assert_int_equal(cps_settings_set(s, "inbox", inbox), 0);
}

static void test_files_ledger_position(void **state)
{
	char inbox[] = "/tmp/cps-files-offsets-XXXXXX", done[600], err[CPS_ERRSTR_SIZE];
	struct cps_offsets o = {0};
	struct cps_settings s;

	(void)state;
	assert_non_null(mkdtemp(inbox));
	snprintf(done, sizeof(done), "%s/done", inbox);
	assert_int_equal(mkdir(done, 0700), 0);
	write_file(inbox, ".progress",
	           "{\"file\": \"a.avro\", \"sha256\": \"" SHA_A "\", \"committed\": 3}");
	write_file(done, ".ledger", SHA_A " old-1.avro\n" SHA_B " old-2.avro\nnot a ledger line\n");
	write_file(inbox, "a.avro", "x");
	write_file(inbox, "b.avro", "x");
	write_file(inbox, ".b.avro.tmp", "x"); /* an upload in progress */
	write_file(inbox, "c.avro.tmp", "x");
	inbox_settings(&s, inbox);

	assert_int_equal(
	    cps_connector_offsets_get(&cps_files_connector, "shenshan", &s, &o, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.v[0].kind, "file_in_flight");
	assert_string_equal(o.v[0].stream, "a.avro");
	assert_int_equal(o.v[0].offset, 3);
	assert_int_equal(o.v[0].partition, -1);
	assert_string_equal(o.v[0].text, "sha256:aaaaaaaaaaaaaaaa");
	assert_string_equal(o.v[1].kind, "files_done");
	assert_int_equal(o.v[1].offset, 2); /* two ledger lines, the junk one not counted */
	assert_int_equal(o.v[1].lag, 2);    /* a.avro and b.avro wait; .tmp files do not */
	assert_int_equal(o.v[1].end, 4);
	cps_offsets_release(&o);

	/* no file in flight: only the files done */
	snprintf(done, sizeof(done), "%s/.progress", inbox);
	assert_int_equal(unlink(done), 0);
	assert_int_equal(
	    cps_connector_offsets_get(&cps_files_connector, "shenshan", &s, &o, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.v[0].kind, "files_done");
	cps_offsets_release(&o);

	/* the ledger is what guards against a second application: no reset */
	{
		struct cps_offsets_reset to = {.to = CPS_OFFSETS_EARLIEST};

		assert_int_equal(cps_connector_offsets_reset(&cps_files_connector, "shenshan", &s,
		                                             NULL, &to, &o, err, sizeof(err)),
		                 CPS_ERR_INVALID);
		assert_non_null(strstr(err, "cannot reset"));
		assert_int_equal(o.n, 0);
	}
	cps_settings_release(&s);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", inbox);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_settings_validated_first(void **state)
{
	struct cps_offsets o = {0};
	struct cps_settings s;
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	cps_settings_init(&s); /* no inbox: a required setting */
	assert_int_equal(
	    cps_connector_offsets_get(&cps_files_connector, "shenshan", &s, &o, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_non_null(strstr(err, "inbox"));
	assert_int_equal(cps_settings_set(&s, "inbox", "/nonexistent"), 0);
	assert_int_equal(cps_settings_set(&s, "no_such_key", "1"), 0);
	assert_int_equal(
	    cps_connector_offsets_get(&cps_files_connector, "shenshan", &s, &o, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_non_null(strstr(err, "no_such_key"));
	assert_int_equal(o.n, 0);
	cps_settings_release(&s);
}

static void test_slot_missing(void **state)
{
	struct cps_connector_ops bare = cps_files_connector;
	struct cps_offsets o = {0};
	struct cps_settings s;
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	bare.offsets_get = NULL;
	inbox_settings(&s, "/tmp");
	assert_int_equal(cps_connector_offsets_get(&bare, "shenshan", &s, &o, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "cannot show its offsets"));
	cps_settings_release(&s);
}

static void test_register_refuses_half_offsets(void **state)
{
	struct cps_connector_ops half = cps_files_connector;
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	half.type = "half-offsets";
	half.offsets_get = NULL;
	half.offsets_reset = cps_kafka_connector.offsets_reset;
	assert_int_equal(cps_connector_register(&half, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "offsets_get"));
	half = cps_files_connector;
	half.type = "sink-offsets";
	half.source_open = NULL;
	half.source_poll = NULL;
	half.source_commit = NULL;
	half.source_close = NULL;
	half.source_describe = NULL;
	assert_int_equal(cps_connector_register(&half, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "offsets are a source's"));
	half.offsets_get = NULL;
	assert_int_equal(cps_connector_register(&half, err, sizeof(err)), CPS_OK);
	cps_connector_registry_clear();
}

static void test_offsets_grow(void **state)
{
	struct cps_offsets o = {0};
	struct cps_offset_entry e;

	(void)state;
	for (int i = 0; i < 100; i++) {
		cps_offset_entry_init(&e, "partition", "t");
		e.partition = i;
		assert_int_equal(cps_offsets_add(&o, &e), CPS_OK);
	}
	assert_int_equal(o.n, 100);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(o.v[i].partition, i);
		assert_int_equal(o.v[i].offset, -1);
		assert_int_equal(o.v[i].end, -1);
		assert_int_equal(o.v[i].lag, -1);
	}
	cps_offsets_release(&o);
	assert_null(o.v);
	assert_int_equal(o.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_files_ledger_position),
	    cmocka_unit_test(test_settings_validated_first),
	    cmocka_unit_test(test_slot_missing),
	    cmocka_unit_test(test_register_refuses_half_offsets),
	    cmocka_unit_test(test_offsets_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
