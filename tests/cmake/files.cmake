# The files connector (connectors/files/files.c, connectors/files/ocf.c): the unit tests
# test_files and test_ocf need python3-avro (Debian's interpreter), and the
# container-file reader is fuzzed: a replay of the checked-in corpus always,
# a 30 s libFuzzer run with CPSYNC_FUZZ under clang.
set_property(TEST unit.test_files APPEND PROPERTY ENVIRONMENT "CPSYNC_PYTHON3=${PYTHON3}")

add_executable(fuzz_ocf_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c
  ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_ocf.c)
target_link_libraries(fuzz_ocf_replay PRIVATE cpsync_core cpsync_warnings)
add_test(NAME fuzz.ocf_replay
  COMMAND fuzz_ocf_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus_ocf)
set_tests_properties(fuzz.ocf_replay PROPERTIES TIMEOUT 120)

if(CPSYNC_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_ocf ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_ocf.c)
  target_compile_options(fuzz_ocf PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_ocf PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_ocf PRIVATE cpsync_core cpsync_warnings)
  set(fuzz_ocf_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz_ocf_work)
  add_test(NAME fuzz.ocf_30s
    COMMAND sh -c "rm -rf \"$1\" && mkdir -p \"$1/artifacts\" && cp -R \"$2\" \"$1/corpus\" && exec \"$3\" -max_total_time=30 -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix=\"$1/artifacts/\" \"$1/corpus\""
      sh ${fuzz_ocf_work} ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus_ocf $<TARGET_FILE:fuzz_ocf>)
  set_tests_properties(fuzz.ocf_30s PROPERTIES TIMEOUT 120)
endif()
