# Fuzzing of the guard in front of Avro C, of the typed decoder against
# the guard (tests/fuzz/fuzz_record.c, on the same corpus), and of the
# store's compact facts decoder (tests/fuzz/fuzz_facts.c, corpus_facts).
# Always: a replay build of each harness run once over its checked-in corpus
# (fuzz.<name>_replay). With CPSYNC_FUZZ under clang: the libFuzzer build,
# fuzzed for 60 s on a copy of the corpus (fuzz.<name>_60s); any finding
# (crash, leak, oracle abort) fails the test.
function(cps_fuzz_harness name corpus)
  set(src ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_${name}.c)
  set(corpus_dir ${PROJECT_SOURCE_DIR}/tests/fuzz/${corpus})
  add_executable(fuzz_${name}_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c ${src})
  target_link_libraries(fuzz_${name}_replay PRIVATE cpsync_core cpsync_warnings)
  add_test(NAME fuzz.${name}_replay COMMAND fuzz_${name}_replay ${corpus_dir})
  set_tests_properties(fuzz.${name}_replay PROPERTIES TIMEOUT 120)
  if(CPSYNC_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    add_executable(fuzz_${name} ${src})
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${name} PRIVATE cpsync_core cpsync_warnings)
    set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzz_${name}_work)
    add_test(NAME fuzz.${name}_60s
      COMMAND sh -c "rm -rf \"$1\" && mkdir -p \"$1/artifacts\" && cp -R \"$2\" \"$1/corpus\" && exec \"$3\" -max_total_time=60 -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix=\"$1/artifacts/\" \"$1/corpus\""
        sh ${work} ${corpus_dir} $<TARGET_FILE:fuzz_${name}>)
    set_tests_properties(fuzz.${name}_60s PROPERTIES TIMEOUT 200)
  endif()
endfunction()

cps_fuzz_harness(decode corpus)
cps_fuzz_harness(record corpus)
cps_fuzz_harness(facts corpus_facts)
# the facts harness also holds the typed codec to the JSON one, for a person
foreach(t fuzz_facts_replay fuzz_facts)
  if(TARGET ${t})
    target_compile_definitions(${t} PRIVATE CPS_FUZZ_SCHEMA_DIR="${PROJECT_SOURCE_DIR}/schemas")
  endif()
endforeach()
