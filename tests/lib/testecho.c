/*
 * cps_test_assert_echo_for (testecho.h): the event is written in its
 * entity's current <entity>_event schema and read back as a sink reads it
 * (typed values, cps_sink_event_read), then judged by cps_sink_is_echo.
 */
#include "testecho.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/common.h"
#include "codec/record.h"
#include "sink/sink_runner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The compiled <entity>_event schema of an event's "entity" symbol. */
static struct cps_record_schema *event_schema(json_t *event)
{
	static struct cps_catalog *catalog;
	static struct cps_record_schema *compiled[8];
	static char names[8][32];
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	const char *entity = json_string_value(json_object_get(event, "entity"));
	char name[32], err[CPS_ERRSTR_SIZE];
	size_t i;

	if (!entity || strlen(entity) + 7 > sizeof(name))
		fail_msg("an event without an entity");
	for (i = 0; entity[i]; i++)
		name[i] = (char)(entity[i] >= 'A' && entity[i] <= 'Z' ? entity[i] + 32 : entity[i]);
	strcpy(name + i, "_event");
	if (!catalog && cps_catalog_load_dir(dir ? dir : CPSYNC_SOURCE_DIR "/schemas", &catalog,
	                                     err, sizeof(err)) != CPS_OK)
		fail_msg("catalog: %s", err);
	for (i = 0; i < CPS_ARRAY_SIZE(compiled) && compiled[i]; i++)
		if (!strcmp(names[i], name))
			return compiled[i];
	if (i == CPS_ARRAY_SIZE(compiled) || !cps_catalog_by_entity(catalog, name) ||
	    cps_record_schema_new(cps_catalog_by_entity(catalog, name), &compiled[i], err,
	                          sizeof(err)) != CPS_OK)
		fail_msg("no schema %s", name);
	snprintf(names[i], sizeof(names[i]), "%s", name);
	return compiled[i];
}

void cps_test_assert_echo_for(json_t *event, const char *who)
{
	const char *platforms[] = {"province", "city", "shenshan"};
	struct cps_record_schema *rs = event_schema(event);
	json_t *whole = json_deep_copy(event);
	char list[64], err[CPS_ERRSTR_SIZE];
	struct cps_sink_event ev;
	struct cps_arena arena;
	struct cps_tval v;
	struct cps_buf b;

	/* an event written before these members existed reads them as [] */
	if (!json_object_get(whole, "changed_fields"))
		json_object_set_new(whole, "changed_fields", json_array());
	if (!json_object_get(whole, "prior_platforms"))
		json_object_set_new(whole, "prior_platforms", json_array());
	cps_arena_init(&arena, 0);
	cps_buf_init(&b, 0);
	if (cps_record_encode_json(rs, whole, &b, err, sizeof(err)) != CPS_OK ||
	    cps_record_decode(rs, b.data, b.len, NULL, 0, &arena, &v, err, sizeof(err)) != CPS_OK ||
	    cps_sink_event_read(rs->root, &v, &ev, err, sizeof(err)) != CPS_OK)
		fail_msg("event: %s", err);
	snprintf(list, sizeof(list), ",%s,", who);
	for (size_t i = 0; i < CPS_ARRAY_SIZE(platforms); i++) {
		char item[16];

		snprintf(item, sizeof(item), ",%s,", platforms[i]);
		if (cps_sink_is_echo(&ev, platforms[i]) != (strstr(list, item) != NULL))
			fail_msg("echo for %s: want an echo for '%s' only", platforms[i], who);
	}
	cps_buf_release(&b);
	cps_arena_release(&arena);
	json_decref(whole);
}
