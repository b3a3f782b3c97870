/*
 * The cost of region scopes (http.tokens.*.regions) on the steward store's
 * conflict list: N person records (1% in Shenshan 441521, the rest in the
 * city's districts 4403xx) with one open conflict each, then pages of 50
 * listed unscoped (the baseline), scoped to the city (4403: most rows
 * match) and to Shenshan (441521: the filter must skip 99 rows in 100),
 * and a full walk of Shenshan's conflicts. Prints ms per page, ratios
 * against the baseline and the rows found; no timing assertion.
 * usage: bench_scope [N] [ROUNDS]   (needs CPSYNC_TEST_PG)
 */
#include "base/common.h"
#include "store/store_steward.h"
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define FIELDS                                                                                     \
	"\"fields\": {\"person\": [\"registration_region_code\", \"residence_region_code\"], "     \
	"\"household\": [\"region_code\"], \"enrolment\": [\"granting_region_code\"], "            \
	"\"verification\": [], \"alert\": [\"region_code\"]}"

/* Best of `rounds`: ms for one page (or, with walk, every page) and the rows seen. */
static double list_ms(struct cps_steward_store *ss, const char *scope, int walk, int rounds,
                      size_t *rows)
{
	double best = 1e18;

	for (int r = 0; r < rounds; r++) {
		struct cps_conflict_filter f = {.min_age_s = -1, .limit = 50, .scope = scope};
		char err[CPS_ERRSTR_SIZE];
		int64_t t0 = mono_us();

		*rows = 0;
		do {
			struct cps_steward_cursor next;
			json_t *items;

			if (cps_steward_conflicts_list(ss, &f, &items, &next, err, sizeof(err))) {
				fprintf(stderr, "bench_scope: list: %s\n", err);
				exit(1);
			}
			*rows += json_array_size(items);
			json_decref(items);
			f.after = next;
		} while (walk && f.after.has);
		double ms = (double)(mono_us() - t0) / 1000.0;

		best = ms < best ? ms : best;
	}
	return best;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100000, rounds = argc > 2 ? atoi(argv[2]) : 5;
	struct cps_testdb db;
	struct cps_steward_store *ss;
	char err[CPS_ERRSTR_SIZE], sql[1024];
	size_t rows;
	double base, city, shenshan, walk;
	int rc = 1;

	if (n < 200 || rounds < 1 || cps_testdb_create(&db, "bench_scope", -1) ||
	    cps_testdb_migrate(&db))
		return 1;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO cpsync.records (entity, key, version, record) SELECT 'person', "
	         "'k' || i, 1, jsonb_build_object('registration_region_code', CASE WHEN i %% 100 = "
	         "0 THEN '441521' ELSE '4403' || lpad((3 + i %% 9)::text, 2, '0') END, "
	         "'residence_region_code', CASE WHEN i %% 100 = 0 THEN '441521' ELSE '440305' END) "
	         "FROM generate_series(1, %d) i",
	         n);
	if (cps_testdb_exec(db.conninfo, sql))
		goto out;
	snprintf(
	    sql, sizeof(sql),
	    "INSERT INTO cpsync.conflicts (entity, key, field, opened_at) SELECT 'person', "
	    "'k' || i, 'phone', now() - i * interval '1 second' FROM generate_series(1, %d) i; "
	    "ANALYZE",
	    n);
	if (cps_testdb_exec(db.conninfo, sql))
		goto out;
	if (cps_steward_store_new(db.conninfo, 2, &ss, err, sizeof(err))) {
		fprintf(stderr, "bench_scope: %s\n", err);
		goto out;
	}
	base = list_ms(ss, NULL, 0, rounds, &rows);
	printf("unscoped page of 50: %.2f ms (%zu rows)\n", base, rows);
	city = list_ms(ss, "{" FIELDS ", \"prefixes\": [\"4403\"]}", 0, rounds, &rows);
	printf("scoped 4403 page of 50: %.2f ms (%zu rows), ratio %.2f\n", city, rows, city / base);
	shenshan = list_ms(ss, "{" FIELDS ", \"prefixes\": [\"441521\"]}", 0, rounds, &rows);
	printf("scoped 441521 page of 50: %.2f ms (%zu rows), ratio %.2f\n", shenshan, rows,
	       shenshan / base);
	walk = list_ms(ss, "{" FIELDS ", \"prefixes\": [\"441521\"]}", 1, rounds, &rows);
	printf("scoped 441521 every page: %.2f ms (%zu rows of %d conflicts)\n", walk, rows, n);
	rc = rows == (size_t)(n / 100) ? 0 : 1;
	if (rc)
		fprintf(stderr, "bench_scope: %zu Shenshan conflicts listed, want %d\n", rows,
		        n / 100);
	cps_steward_store_free(ss);
out:
	cps_testdb_drop(&db);
	return rc;
}
