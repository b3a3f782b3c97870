/*
 * Data-file cases for the C tests (testcases.h).
 */
#include "testcases.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cps_test_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = 0;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(((const struct CMUnitTest *)a)->name, ((const struct CMUnitTest *)b)->name);
}

size_t cps_test_json_cases(const char *dir, CMUnitTestFunction fn, struct CMUnitTest *tests,
                           size_t cap)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	size_t n = 0;

	if (!d) {
		fprintf(stderr, "cannot open %s (set CPSYNC_SOURCE_DIR)\n", dir);
		return 0;
	}
	while ((de = readdir(d)) && n < cap) {
		size_t len = strlen(de->d_name);
		char *path;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		path = malloc(strlen(dir) + len + 2);
		if (!path)
			break;
		sprintf(path, "%s/%s", dir, de->d_name);
		tests[n++] = (struct CMUnitTest){strdup(de->d_name), fn, NULL, NULL, path};
	}
	closedir(d);
	qsort(tests, n, sizeof(*tests), cmp_names);
	if (n == 0)
		fprintf(stderr, "no cases in %s\n", dir);
	return n;
}

void cps_test_json_cases_free(struct CMUnitTest *tests, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((void *)tests[i].name);
		free((void *)tests[i].initial_state);
	}
}

json_t *cps_test_json(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

	if (!j)
		fail_msg("bad test JSON '%s': %s", text, e.text);
	return j;
}
