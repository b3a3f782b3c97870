# The region-scope benchmark (tests/bench/bench_scope.c): the steward store's
# conflict list unscoped (the baseline), scoped to most rows (4403) and to 1%
# of them (441521), on 20,000 conflicts in a scratch database; prints ms per
# page and ratios, fails only when the Shenshan walk misses a conflict.
add_executable(bench_scope ${PROJECT_SOURCE_DIR}/tests/bench/bench_scope.c)
target_link_libraries(bench_scope PRIVATE cpsync_testlib cpsync_core cpsync_warnings)
add_test(NAME bench.scope COMMAND bench_scope 20000 3)
set_tests_properties(bench.scope PROPERTIES LABELS bench TIMEOUT 300 RUN_SERIAL TRUE)
