/*
 * cps_test_assert_echo_for (testecho.h).
 */
#include "testecho.h"
#include "base/common.h"
#include "sink/sink_runner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

void cps_test_assert_echo_for(json_t *event, const char *who)
{
	const char *platforms[] = {"province", "city", "shenshan"};
	char list[64];

	snprintf(list, sizeof(list), ",%s,", who);
	for (size_t i = 0; i < CPS_ARRAY_SIZE(platforms); i++) {
		char item[16];

		snprintf(item, sizeof(item), ",%s,", platforms[i]);
		if (cps_sink_is_echo(event, platforms[i]) != (strstr(list, item) != NULL))
			fail_msg("echo for %s: want an echo for '%s' only", platforms[i], who);
	}
}
