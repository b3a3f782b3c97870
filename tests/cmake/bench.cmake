# The codec benchmark (tests/bench/bench_codec.c): bare Avro C decode+encode
# against guard + decode+encode, and the typed decoder (codec/record.h) alone
# and with the typed encoder, on the unsanitized core built -O2. The test
# runs 100,000 records, best of 5 rounds, alone (RUN_SERIAL), and checks the
# figures are printed (no timing assertion).
add_executable(bench_codec ${PROJECT_SOURCE_DIR}/tests/bench/bench_codec.c)
target_compile_options(bench_codec PRIVATE -O2)
target_link_libraries(bench_codec PRIVATE cpsync_core_plain cpsync_warnings)
add_test(NAME bench.codec
  COMMAND sh -c "out=$(\"$1\" 100000 5) || exit 1; echo \"$out\"; for w in 'bare Avro C decode.encode: [0-9]+ records/s' 'guard . decode.encode: +[0-9]+ records/s' 'ratio .guarded/bare throughput.: [0-9.]+' 'guard overhead: -?[0-9.]+%' 'typed decode: [0-9]+ records/s' 'typed decode.encode: [0-9]+ records/s' 'ratio typed decode / bare Avro C decode.encode: [0-9.]+'; do echo \"$out\" | grep -Eq \"$w\" || { echo \"missing: $w\"; exit 1; }; done"
    sh $<TARGET_FILE:bench_codec>)
# RUN_SERIAL: a ratio measured while other tests share the two cores is noise
set_tests_properties(bench.codec PROPERTIES LABELS bench TIMEOUT 120 RUN_SERIAL TRUE)

# The reconcile benchmark (tests/bench/bench_reconcile.c): person events from
# the three platforms applied with the default rules, events/s and a checksum
# of the final versions, then the typed engine on the same events: its
# events/s and ratio, and what storing and loading a state's facts and
# provenance costs with either codec (no timing assertion; it fails when the
# engines' final versions differ).
add_executable(bench_reconcile ${PROJECT_SOURCE_DIR}/tests/bench/bench_reconcile.c)
target_compile_options(bench_reconcile PRIVATE -O2)
target_link_libraries(bench_reconcile PRIVATE cpsync_core_plain cpsync_warnings PkgConfig::LIBPQ)
add_test(NAME bench.reconcile
  COMMAND sh -c "out=$(\"$1\" \"$2\" 30000 2000 3) || exit 1; echo \"$out\"; for w in '^reconcile apply: [0-9]+ events/s' 'typed reconcile apply: [0-9]+ events/s' 'ratio typed / JSON engine: [0-9.]+' 'store.load: JSON [0-9.]+ us, typed [0-9.]+ us a state' 'unified event encode: JSON [0-9.]+ us, typed [0-9.]+ us' 'payload to engine event: JSON [0-9.]+ us, typed [0-9.]+ us' 'record jsonb text: JSON [0-9.]+ us, typed [0-9.]+ us'; do echo \"$out\" | grep -Eq \"$w\" || { echo \"missing: $w\"; exit 1; }; done"
    sh $<TARGET_FILE:bench_reconcile> ${PROJECT_SOURCE_DIR})
set_tests_properties(bench.reconcile PROPERTIES LABELS bench TIMEOUT 120 RUN_SERIAL TRUE)

# The pipeline benchmark (tests/bench/pipeline_bench.py; deploy/bench.sh runs it
# at full size on a private PostgreSQL): a binary COPY baseline, then the whole
# pipeline on the unsanitized cpsync, all three platforms and all sinks on,
# scaled down (30,000 events over 5,000 keys; 20 s at 1,000 events/s for the
# latency; the store grown to 20,000 keys for the peak RSS). Prints the figures and writes them to bench/latest.json under the
# build directory; fails only when the harness does (nothing arrives, a figure
# is missing), never for speed. Needs CPSYNC_TEST_PG and CPSYNC_TEST_PYENV.
add_test(NAME bench.pipeline
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/bench/pipeline_bench.py
    --cpsync $<TARGET_FILE:cpsync_plain> --broker $<TARGET_FILE:cps_e2e_broker>
    --source ${PROJECT_SOURCE_DIR} --events 30000 --keys 5000 --copy-rows 200000
    --latency-rate 1000 --latency-seconds 20 --fill-keys 20000 --timeout 240
    --json-dir ${CMAKE_BINARY_DIR}/bench)
set_tests_properties(bench.pipeline PROPERTIES LABELS bench TIMEOUT 600 RUN_SERIAL TRUE)
