# The dashboard in a real browser (sync/http/dashboard*, tests/browser/):
# browser.npm installs playwright-core (pinned by package-lock.json) into
# tests/browser/node_modules from the npm registry; browser.dashboard runs
# run_dashboard.py (Debian /usr/bin/python3: a `cpsync run` with an embedded
# broker and a fresh database on $CPSYNC_TEST_PG, seeded conflicts, a dead
# letter, policy findings and a sweep difference) which drives /usr/bin/chromium
# with dashboard.test.js (node). The
# screenshots land in <build>/browser-artifacts/ (their paths are printed).
find_program(CPSYNC_NPM npm)
if(NOT CPSYNC_NPM)
  set(CPSYNC_NPM npm) # the test fails with "not found" (deploy/install-deps.sh installs it)
endif()
add_test(NAME browser.npm
  COMMAND ${CPSYNC_NPM} ci --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests/browser)
set_tests_properties(browser.npm PROPERTIES LABELS "browser" TIMEOUT 300
  FIXTURES_SETUP cpsync_browser_npm RESOURCE_LOCK cpsync_browser_node_modules)
add_test(NAME browser.dashboard
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/browser/run_dashboard.py
          --cpsync ${CPSYNC_BIN} --source ${PROJECT_SOURCE_DIR}
          --out ${PROJECT_BINARY_DIR}/browser-artifacts)
set_tests_properties(browser.dashboard PROPERTIES LABELS "browser" TIMEOUT 300
  FIXTURES_REQUIRED cpsync_browser_npm RESOURCE_LOCK cpsync_browser_node_modules
  ATTACHED_FILES "${PROJECT_BINARY_DIR}/browser-artifacts/dashboard-operations.png;${PROJECT_BINARY_DIR}/browser-artifacts/dashboard-conflict.png;${PROJECT_BINARY_DIR}/browser-artifacts/dashboard-record.png;${PROJECT_BINARY_DIR}/browser-artifacts/dashboard-findings.png;${PROJECT_BINARY_DIR}/browser-artifacts/dashboard-sweeps.png;${PROJECT_BINARY_DIR}/browser-artifacts/dashboard-rules.png")
