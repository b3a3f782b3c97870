# The house rules (tests/layout/): layout.rooms checks the real tree and the
# core library (includes and calls point down the rooms, no cycles, 800-line
# files, 120-line functions); layout.checker proves the checker rejects each
# kind of violation on fixture trees.
add_test(NAME layout.rooms COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/layout/check_layout.py
  --root ${PROJECT_SOURCE_DIR} --archive $<TARGET_FILE:cpsync_core>)
add_test(NAME layout.checker COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/tests/layout/test_check_layout.py)
set_tests_properties(layout.rooms layout.checker PROPERTIES LABELS "layout" TIMEOUT 120)
