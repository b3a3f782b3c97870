/*
 * The schema catalog on tests/data/schemas-fixture: files referring to each
 * other across files and subdirectories (in any order, in cycles), lookups by
 * entity, name, fingerprint and id, the id manifest, and errors that name the
 * file they come from.
 */
#include "base/common.h"
#include "codec/schema.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char fixture[4096];

static int setup(void **state)
{
	const char *src = getenv("CPSYNC_SOURCE_DIR");

	snprintf(fixture, sizeof(fixture), "%s/tests/data/schemas-fixture",
	         src ? src : CPSYNC_SOURCE_DIR);
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static struct cps_catalog *load_fixture(void)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_catalog *c = NULL;

	if (cps_catalog_load_dir(fixture, &c, err, sizeof(err)) != CPS_OK)
		fail_msg("load %s: %s", fixture, err);
	return c;
}

static void test_lookups(void **state)
{
	struct cps_catalog *c = load_fixture();
	struct cps_schema *person, *household, *event, *enrolment;

	assert_int_equal(cps_catalog_count(c), 6);
	for (size_t i = 0; i < cps_catalog_count(c); i++) {
		struct cps_schema *s = cps_catalog_at(c, i);

		assert_non_null(s->avro);
		assert_non_null(s->iface);
		assert_non_null(s->path);
		assert_true(s->fingerprint == cps_crc64_avro(s->canonical, strlen(s->canonical)));
		assert_ptr_equal(cps_catalog_by_fingerprint(c, s->fingerprint), s);
		assert_ptr_equal(cps_catalog_by_name(c, s->name), s);
	}
	assert_null(cps_catalog_at(c, 6));

	/* by entity: the file's base name, or the lowercased short name */
	person = cps_catalog_by_entity(c, "person");
	assert_non_null(person);
	assert_string_equal(person->name, "cpsync.Person");
	assert_true(ends_with(person->path, "/person.avsc"));
	event = cps_catalog_by_entity(c, "person_event");
	assert_non_null(event);
	assert_string_equal(event->name, "cpsync.unified.PersonEvent");
	assert_true(ends_with(event->path, "/unified/person_event.avsc"));
	assert_ptr_equal(cps_catalog_by_entity(c, "personevent"), event);
	assert_ptr_equal(cps_catalog_by_entity(c, "nodea"),
	                 cps_catalog_by_name(c, "cpsync.links.NodeA"));
	assert_null(cps_catalog_by_entity(c, "persons"));
	assert_null(cps_catalog_by_entity(c, "Person")); /* entities are lowercase */
	assert_null(cps_catalog_by_entity(c, ""));

	/* by name */
	household = cps_catalog_by_name(c, "cpsync.Household");
	assert_non_null(household);
	assert_ptr_equal(cps_catalog_by_entity(c, "household"), household);
	assert_null(cps_catalog_by_name(c, "Household"));

	/* ids from schema-ids.json; none for a schema it does not list */
	assert_int_equal(person->id, 11);
	assert_int_equal(household->id, 12);
	assert_int_equal(event->id, 21);
	assert_ptr_equal(cps_catalog_by_id(c, 11), person);
	assert_ptr_equal(cps_catalog_by_id(c, 21), event);
	assert_null(cps_catalog_by_id(c, 13));
	assert_null(cps_catalog_by_id(c, 0));
	enrolment = cps_catalog_by_name(c, "cpsync.Enrolment");
	assert_non_null(enrolment);
	assert_int_equal(enrolment->id, 0);

	assert_null(cps_catalog_by_fingerprint(c, 0));
	cps_catalog_free(c);
}

static void test_cross_file_references(void **state)
{
	struct cps_catalog *c = load_fixture();
	struct cps_schema *person = cps_catalog_by_name(c, "cpsync.Person");
	struct cps_schema *household = cps_catalog_by_name(c, "cpsync.Household");
	struct cps_schema *event = cps_catalog_by_name(c, "cpsync.unified.PersonEvent");
	struct cps_schema *enrolment = cps_catalog_by_name(c, "cpsync.Enrolment");
	json_t *fields, *items, *head;
	avro_value_t v, f, g;
	size_t idx = 0;

	/* Person is inlined at its first use, as its own definition ... */
	fields = json_object_get(household->json, "fields");
	items = json_object_get(json_object_get(json_array_get(fields, 2), "type"), "items");
	assert_true(json_is_object(items));
	assert_string_equal(json_string_value(json_object_get(items, "name")), "cpsync.Person");
	assert_non_null(json_object_get(items, "doc")); /* docs and defaults survive */
	assert_non_null(strstr(household->canonical, person->canonical));
	/* ... and stays a reference at the second */
	head = json_object_get(json_array_get(fields, 3), "type");
	assert_string_equal(json_string_value(json_array_get(head, 1)), "cpsync.Person");

	/* the same in a subdirectory, with a namespace of its own */
	fields = json_object_get(event->json, "fields");
	assert_true(json_is_object(json_object_get(json_array_get(fields, 1), "type")));
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(json_array_get(fields, 2), "type"), 1)),
	                    "cpsync.Person");
	assert_non_null(strstr(event->canonical, person->canonical));
	/* Category was defined inside Person, so the map refers to it by name */
	assert_non_null(strstr(event->canonical, "\"values\":\"cpsync.Category\""));

	/* a nested enum of another file, referred to by its short name */
	assert_non_null(
	    strstr(enrolment->canonical,
	           "{\"name\":\"category\",\"type\":{\"name\":\"cpsync.Category\","
	           "\"type\":\"enum\",\"symbols\":[\"DIBAO\",\"TEKUN\",\"DIBAO_EDGE\"]}}"));

	/* Avro C got the inlined definition: the value class has its fields */
	assert_int_equal(avro_generic_value_new(event->iface, &v), 0);
	assert_int_equal(avro_value_get_by_name(&v, "person", &f, &idx), 0);
	assert_int_equal(idx, 1);
	assert_int_equal(avro_value_get_by_name(&f, "national_id", &g, &idx), 0);
	assert_int_equal(avro_value_get_type(&g), AVRO_STRING);
	avro_value_decref(&v);
	cps_catalog_free(c);
}

static void test_cycle_between_files(void **state)
{
	struct cps_catalog *c = load_fixture();
	struct cps_schema *a = cps_catalog_by_name(c, "cpsync.links.NodeA");
	struct cps_schema *b = cps_catalog_by_name(c, "cpsync.links.NodeB");

	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(
	    a->canonical,
	    "{\"name\":\"cpsync.links.NodeA\",\"type\":\"record\",\"fields\":["
	    "{\"name\":\"label\",\"type\":\"string\"},"
	    "{\"name\":\"b\",\"type\":[\"null\",{\"name\":\"cpsync.links.NodeB\","
	    "\"type\":\"record\",\"fields\":[{\"name\":\"weight\",\"type\":\"double\"},"
	    "{\"name\":\"a\",\"type\":[\"null\",\"cpsync.links.NodeA\"]}]}]}]}");
	assert_string_equal(
	    b->canonical,
	    "{\"name\":\"cpsync.links.NodeB\",\"type\":\"record\",\"fields\":["
	    "{\"name\":\"weight\",\"type\":\"double\"},"
	    "{\"name\":\"a\",\"type\":[\"null\",{\"name\":\"cpsync.links.NodeA\","
	    "\"type\":\"record\",\"fields\":[{\"name\":\"label\",\"type\":\"string\"},"
	    "{\"name\":\"b\",\"type\":[\"null\",\"cpsync.links.NodeB\"]}]}]}]}");
	cps_catalog_free(c);
}

static void test_add(void **state)
{
	struct cps_catalog *c = load_fixture();
	const char *text = "{\"type\":\"record\",\"name\":\"Extra\",\"namespace\":\"reg\","
	                   "\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}";
	char err[CPS_ERRSTR_SIZE];
	struct cps_schema *s;

	assert_int_equal(cps_schema_parse(text, strlen(text), &s, err, sizeof(err)), CPS_OK);
	assert_null(s->path);
	s->id = 77;
	assert_int_equal(cps_catalog_add(c, s, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_catalog_count(c), 7);
	assert_ptr_equal(cps_catalog_by_id(c, 77), s);
	assert_ptr_equal(cps_catalog_by_name(c, "reg.Extra"), s);
	assert_ptr_equal(cps_catalog_by_entity(c, "extra"), s);
	assert_ptr_equal(cps_catalog_by_fingerprint(c, s->fingerprint), s);
	cps_catalog_free(c);
}

static void test_file_needs_its_catalog(void **state)
{
	char path[4200], err[CPS_ERRSTR_SIZE];
	struct cps_schema *s = NULL;

	/* alone, household.avsc cannot know cpsync.Person: the error says where */
	snprintf(path, sizeof(path), "%s/household.avsc", fixture);
	assert_int_equal(cps_schema_load_file(path, &s, err, sizeof(err)), CPS_ERR_INVALID);
	assert_null(s);
	assert_non_null(strstr(err, "household.avsc"));
	assert_non_null(strstr(err, "unknown type \"cpsync.Person\""));

	snprintf(path, sizeof(path), "%s/person.avsc", fixture);
	assert_int_equal(cps_schema_load_file(path, &s, err, sizeof(err)), CPS_OK);
	assert_string_equal(s->name, "cpsync.Person");
	assert_string_equal(s->path, path);
	cps_schema_free(s);
}

/* ---- errors, on scratch directories ---- */

static char scratch[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_file(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	unlink(path);
}

static void expect_load_error(const char *want1, const char *want2)
{
	char err[CPS_ERRSTR_SIZE] = "";
	struct cps_catalog *c = (void *)1;

	assert_int_not_equal(cps_catalog_load_dir(scratch, &c, err, sizeof(err)), CPS_OK);
	assert_null(c);
	if (!strstr(err, want1) || !strstr(err, want2))
		fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, want1, want2);
	assert_null(strchr(err, '\n'));
}

static void test_errors_name_the_file(void **state)
{
	char sub[128], err[CPS_ERRSTR_SIZE];
	struct cps_catalog *c;

	strcpy(scratch, "/tmp/cpsync-catalog-XXXXXX");
	assert_non_null(mkdtemp(scratch));
	snprintf(sub, sizeof(sub), "%s/sub", scratch);
	assert_int_equal(mkdir(sub, 0700), 0);

	write_file("ok.avsc", "{\"type\":\"enum\",\"name\":\"t.Ok\",\"symbols\":[\"A\"]}");
	write_file("sub/broken.avsc", "{\"type\": \"record\", \"name\": ");
	expect_load_error("sub/broken.avsc", "invalid JSON at line 1");
	remove_file("sub/broken.avsc");

	write_file("sub/ghost_user.avsc", "{\"type\":\"record\",\"name\":\"t.User\",\"fields\":["
	                                  "{\"name\":\"g\",\"type\":\"Ghost\"}]}");
	expect_load_error("sub/ghost_user.avsc", "unknown type \"t.Ghost\"");
	remove_file("sub/ghost_user.avsc");

	write_file("bad_avro.avsc",
	           "{\"type\":\"record\",\"name\":\"t.Bad\",\"fields\":["
	           "{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"F\"}}]}");
	expect_load_error("bad_avro.avsc", "without a non-negative integer size");
	remove_file("bad_avro.avsc");

	/* one Avro C refuses, with its reason after the file */
	write_file("bad_name.avsc", "{\"type\":\"record\",\"name\":\"t.9lives\",\"fields\":[]}");
	expect_load_error("bad_name.avsc: avro: ", "Invalid Avro identifier");
	remove_file("bad_name.avsc");

	write_file("twin.avsc", "{\"type\":\"enum\",\"name\":\"t.Ok\",\"symbols\":[\"A\",\"B\"]}");
	expect_load_error("twin.avsc", "\"t.Ok\" is already defined differently");
	remove_file("twin.avsc");

	write_file("schema-ids.json", "{\"t.Missing\": 3}");
	expect_load_error("schema-ids.json", "no schema named \"t.Missing\"");
	write_file("schema-ids.json", "{\"t.Ok\": -3}");
	expect_load_error("schema-ids.json", "not an integer from 1");
	write_file("schema-ids.json", "[1]");
	expect_load_error("schema-ids.json", "not a JSON object");
	write_file("schema-ids.json", "{\"t.Ok\": 5}");

	/* what is left loads, with its id */
	assert_int_equal(cps_catalog_load_dir(scratch, &c, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_catalog_count(c), 1);
	assert_int_equal(cps_catalog_by_id(c, 5)->id, 5);
	cps_catalog_free(c);

	remove_file("schema-ids.json");
	remove_file("ok.avsc");
	rmdir(sub);
	assert_int_equal(cps_catalog_load_dir(scratch, &c, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_catalog_count(c), 0);
	cps_catalog_free(c);
	rmdir(scratch);
	expect_load_error(scratch, "cannot open schema directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_cross_file_references),
	    cmocka_unit_test(test_cycle_between_files),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_file_needs_its_catalog),
	    cmocka_unit_test(test_errors_name_the_file),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
