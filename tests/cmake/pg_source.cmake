# PostgreSQL source area: the cmocka tests are test_pgoutput.c and
# test_pg_source.c in tests/unit/connectors/postgres/; here the capture benchmark (pg_recvlogical with
# test_decoding vs the postgres source on the same WAL), on the unsanitized
# core built -O2. Prints figures; no timing assertion.
add_executable(bench_pg_capture ${PROJECT_SOURCE_DIR}/tests/bench/bench_pg_capture.c)
target_compile_options(bench_pg_capture PRIVATE -O2)
target_link_libraries(bench_pg_capture PRIVATE cpsync_core_plain cpsync_warnings PkgConfig::LIBPQ)
add_test(NAME bench.pg_capture
  COMMAND sh -c "out=$(bash \"$1\" \"$2\" \"$3\" 200000) || exit 1; echo \"$out\"; for w in 'pg_recvlogical test_decoding: [0-9]+ rows/s' 'cpsync postgres source.*: [0-9]+ rows/s' 'ratio .*: [0-9.]+'; do echo \"$out\" | grep -Eq \"$w\" || { echo \"missing: $w\"; exit 1; }; done"
    sh ${PROJECT_SOURCE_DIR}/tests/bench/bench_pg_capture.sh $<TARGET_FILE:bench_pg_capture>
    ${PROJECT_SOURCE_DIR}/schemas)
set_tests_properties(bench.pg_capture PROPERTIES TIMEOUT 600 RUN_SERIAL TRUE)
