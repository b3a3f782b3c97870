/* The entity table: see entity.h. */
#include "model/entity.h"

#include <string.h>

const char *const cps_entities[CPS_N_ENTITIES] = {"person", "household", "enrolment",
                                                  "verification", "alert"};
static const char *const key_fields[CPS_N_ENTITIES] = {
    "national_id", "household_id", "enrolment_id", "verification_id", "alert_id"};

int cps_entity_index(const char *entity)
{
	for (int i = 0; entity && i < CPS_N_ENTITIES; i++)
		if (!strcmp(entity, cps_entities[i]))
			return i;
	return -1;
}

const char *cps_entity_key_field(const char *entity)
{
	int i = cps_entity_index(entity);

	return i < 0 ? NULL : key_fields[i];
}
