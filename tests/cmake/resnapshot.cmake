# api.resnapshot: a re-snapshot of a city table while it streams
# (connectors/postgres/pg_source_resnap*.c, sync/api/api_snapshot.c,
# `cpsync connectors snapshot`): with a steady stream of updates the store
# ends equal to city.person, rows never updated keep their version and no
# history goes back; a table mapped later is snapshotted by itself.
# Debian's python3 (psycopg2).
add_test(NAME api.resnapshot
  COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/api/test_resnapshot.py
          --cpsync $<TARGET_FILE:cpsync> --broker $<TARGET_FILE:cps_e2e_broker>
          --source ${PROJECT_SOURCE_DIR})
set_tests_properties(api.resnapshot PROPERTIES LABELS "api" TIMEOUT 400)
