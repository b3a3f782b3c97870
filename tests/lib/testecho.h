/*
 * The sinks' no-echo rule (sink/sink_runner.h) as the C tests check it: for
 * which platforms a unified event is an echo.
 */
#ifndef CPS_TESTECHO_H
#define CPS_TESTECHO_H

#include <jansson.h>

/* Fails the test unless `event` (Avro JSON of its <entity>_event; an
 * absent changed_fields or prior_platforms reads as []) is an echo
 * (cps_sink_is_echo, on the event as a sink decodes it) for exactly
 * the platforms of `who`, a comma list of province, city, shenshan ("" for
 * none). */
void cps_test_assert_echo_for(json_t *event, const char *who);

#endif
