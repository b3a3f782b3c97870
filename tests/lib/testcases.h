/*
 * Data-file cases for the C tests: a directory's *.json files as cmocka
 * tests (one per file, reported by file name, the file's path as the test's
 * state), reading a whole file, and JSON from a literal. The
 * reconciliation and policy case runners share them.
 */
#ifndef CPSYNC_TESTS_TESTCASES_H
#define CPSYNC_TESTS_TESTCASES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

/* The whole file at `path`, NUL-terminated (the caller frees it); NULL when
 * it cannot be read. */
char *cps_test_read_file(const char *path);

/* The JSON `text` (any value, NUL escapes allowed), a new reference; fails
 * the test when it does not parse. */
json_t *cps_test_json(const char *text);

/* Fills tests[0..cap) with one test per "*.json" file of `dir`, sorted by
 * name, each running `fn` with the file's path as *state. Returns how many;
 * 0 (with the reason on stderr) when the directory cannot be read or holds
 * none, so that the caller fails rather than passing with no case. */
size_t cps_test_json_cases(const char *dir, CMUnitTestFunction fn, struct CMUnitTest *tests,
                           size_t cap);
/* Frees what cps_test_json_cases allocated for n tests. */
void cps_test_json_cases_free(struct CMUnitTest *tests, size_t n);

#endif
