/*
 * The entities cpsync knows, one table for every room: their names in the
 * order of the Avro Entity enum (an entity's index is its position there)
 * and the field of each record that holds its key.
 */
#ifndef CPS_ENTITY_H
#define CPS_ENTITY_H

#define CPS_N_ENTITIES 5

extern const char *const cps_entities[CPS_N_ENTITIES];

/* The entity's index in cps_entities, -1 for NULL or an unknown name. */
int cps_entity_index(const char *entity);

/* The key field of the entity's records, NULL for an unknown entity. */
const char *cps_entity_key_field(const char *entity);

#endif
