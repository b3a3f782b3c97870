# The fault suite (tests/faults/faults.py, label faults): one fault per test
# while the three platforms flow on their real transports; each prints lost /
# doubled / gaps (all 0) and its recovery time against a bound. On the
# unsanitized binary, as the other crash tests: tens of thousands of events.
# pg_restart and store_down start a PostgreSQL server of their own;
# outbox_full mounts a tmpfs (needs root; it takes the folder away otherwise).
foreach(f kills pg_restart store_down broker_down outbox_full leader_kill)
  add_test(NAME faults.${f}
    COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tests/faults/faults.py --fault ${f}
      --cpsync ${CPS_E2E_FAST_BIN} --broker $<TARGET_FILE:cps_e2e_broker>
      --source ${PROJECT_SOURCE_DIR})
  set_tests_properties(faults.${f} PROPERTIES TIMEOUT 480 LABELS faults)
endforeach()
