# Fuzzing of the guard in front of Avro C, and of the typed decoder against
# the guard (tests/fuzz/fuzz_record.c, on the same corpus). Always: a replay
# build of the harness run once over the checked-in corpus. With CPSYNC_FUZZ
# under clang: the libFuzzer build, fuzzed for 60 s on a copy of the corpus;
# any finding (crash, leak, oracle abort) fails the test.
add_executable(fuzz_decode_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c
  ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_decode.c)
target_link_libraries(fuzz_decode_replay PRIVATE cpsync_core cpsync_warnings)
add_test(NAME fuzz.decode_replay
  COMMAND fuzz_decode_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus)
set_tests_properties(fuzz.decode_replay PROPERTIES TIMEOUT 120)
add_executable(fuzz_record_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c
  ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_record.c)
target_link_libraries(fuzz_record_replay PRIVATE cpsync_core cpsync_warnings)
add_test(NAME fuzz.record_replay
  COMMAND fuzz_record_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus)
set_tests_properties(fuzz.record_replay PROPERTIES TIMEOUT 120)

if(CPSYNC_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_decode ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_decode.c)
  target_compile_options(fuzz_decode PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_decode PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_decode PRIVATE cpsync_core cpsync_warnings)
  set(fuzz_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz_decode_work)
  add_test(NAME fuzz.decode_60s
    COMMAND sh -c "rm -rf \"$1\" && mkdir -p \"$1/artifacts\" && cp -R \"$2\" \"$1/corpus\" && exec \"$3\" -max_total_time=60 -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix=\"$1/artifacts/\" \"$1/corpus\""
      sh ${fuzz_work} ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus $<TARGET_FILE:fuzz_decode>)
  set_tests_properties(fuzz.decode_60s PROPERTIES TIMEOUT 200)
  add_executable(fuzz_record ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_record.c)
  target_compile_options(fuzz_record PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_record PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_record PRIVATE cpsync_core cpsync_warnings)
  set(fuzz_record_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz_record_work)
  add_test(NAME fuzz.record_60s
    COMMAND sh -c "rm -rf \"$1\" && mkdir -p \"$1/artifacts\" && cp -R \"$2\" \"$1/corpus\" && exec \"$3\" -max_total_time=60 -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix=\"$1/artifacts/\" \"$1/corpus\""
      sh ${fuzz_record_work} ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus $<TARGET_FILE:fuzz_record>)
  set_tests_properties(fuzz.record_60s PROPERTIES TIMEOUT 200)
endif()
