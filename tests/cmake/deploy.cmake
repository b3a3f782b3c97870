# The deploy scripts. deploy.pg_private (tests/deploy/test_pg_private.sh,
# issue 11's probe 8): deploy/pg-private.sh's PostgreSQL refuses TCP
# connections without its password file (as 'nobody' too) and accepts the
# printed conninfo, for a fresh data directory and for one made with trust
# (upgraded on start). Its own data directories under /tmp and free ports.
add_test(NAME deploy.pg_private
  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/deploy/test_pg_private.sh
          ${PROJECT_SOURCE_DIR}/deploy/pg-private.sh)
set_tests_properties(deploy.pg_private PROPERTIES LABELS "deploy" TIMEOUT 300)
