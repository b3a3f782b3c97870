/*
 * Schema ids for the Confluent wire format. Two sources: a Confluent-
 * compatible schema registry over HTTP (register-or-lookup of our schemas,
 * fetch of unknown ids, an id cache so each id costs one request), or —
 * registry-free, for air-gapped government networks — the ids of the
 * catalog's manifest (schemas/schema-ids.json).
 */
#ifndef CPS_REGISTRY_H
#define CPS_REGISTRY_H

#include "codec/schema.h"

#include <stdbool.h>

struct cps_registry;

struct cps_registry_conf {
	const char *url;      /* NULL or "" = registry-free (catalog ids only) */
	long timeout_ms;      /* per request; default 5000 */
	const char *username; /* basic auth, optional */
	const char *password;
	const char *ca_file; /* TLS trust, optional */
	/* schemas.registry.auto_register false: ids are only looked up (POST
	 * /subjects/{subject}); a schema not registered there is an error.
	 * false (the default): register-or-lookup (POST .../versions). */
	bool lookup_only;
};

/* The registry keeps a borrowed pointer to `catalog`, which must outlive it;
 * schemas fetched by id are added to the catalog. */
int cps_registry_new(const struct cps_registry_conf *conf, struct cps_catalog *catalog,
                     struct cps_registry **out, char *errstr, size_t errstr_size);
void cps_registry_free(struct cps_registry *r);

/* The id of `schema` under `subject` (e.g. "cpsync.unified.person-value"):
 * cached, else POST /subjects/{subject}/versions (register-or-lookup) or,
 * lookup_only, POST /subjects/{subject} (a schema not registered there:
 * CPS_ERR_INVALID saying so); in registry-free mode schema->id from the
 * manifest. Sets schema->id too. */
int cps_registry_id_for(struct cps_registry *r, const char *subject, struct cps_schema *schema,
                        int32_t *id, char *errstr, size_t errstr_size);

/* Asks the registry whether `schema` may be produced under `subject`: POST
 * /compatibility/subjects/{subject}/versions/latest?verbose=true under the
 * subject's compatibility level. CPS_OK when it is compatible, when the
 * subject has no version yet, and in registry-free mode; CPS_ERR_INVALID
 * when it is not, errstr "schema <name> is incompatible with the latest
 * version of subject <subject>: <the registry's messages>";
 * CPS_ERR_RETRIABLE when the registry cannot be asked now. */
int cps_registry_check_compatible(struct cps_registry *r, const char *subject,
                                  const struct cps_schema *schema, char *errstr,
                                  size_t errstr_size);

/* Whether ids are only looked up (cps_registry_conf.lookup_only). */
bool cps_registry_lookup_only(const struct cps_registry *r);

/* The schema with `id`: cached or catalog, else GET /schemas/ids/{id}.
 * Returned pointer is borrowed (owned by the catalog). */
int cps_registry_schema_by_id(struct cps_registry *r, int32_t id, struct cps_schema **out,
                              char *errstr, size_t errstr_size);

#endif
