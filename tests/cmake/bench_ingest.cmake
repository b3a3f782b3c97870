# The ingest benchmark (tests/bench/bench_ingest.c): person messages through
# the ingest message path up to the encoded IngestEvent, the JSON way against
# the typed way, on the unsanitized core built -O2; checks the figures are
# printed (no timing assertion), alone (RUN_SERIAL).
add_executable(bench_ingest ${PROJECT_SOURCE_DIR}/tests/bench/bench_ingest.c)
target_compile_options(bench_ingest PRIVATE -O2)
target_link_libraries(bench_ingest PRIVATE cpsync_core_plain cpsync_warnings PkgConfig::RDKAFKA PkgConfig::LIBPQ)
add_test(NAME bench.ingest
  COMMAND sh -c "out=$(\"$1\" 50000 5) || exit 1; echo \"$out\"; for w in 'JSON way .*: [0-9]+ messages/s' 'typed way .*: [0-9]+ messages/s' 'ratio typed / JSON throughput: [0-9.]+'; do echo \"$out\" | grep -Eq \"$w\" || { echo \"missing: $w\"; exit 1; }; done"
    sh $<TARGET_FILE:bench_ingest>)
set_tests_properties(bench.ingest PROPERTIES LABELS bench TIMEOUT 120 RUN_SERIAL TRUE
  ENVIRONMENT "CPSYNC_SCHEMA_DIR=${PROJECT_SOURCE_DIR}/schemas")
