/*
 * A loaded Avro schema: its JSON (where defaults and docs live — Avro C
 * throws defaults away), the Avro C schema and value class, its Parsing
 * Canonical Form and CRC-64-AVRO fingerprint, and the registry id it is
 * known by. Also the catalog: every schema of a directory (schemas/), looked
 * up by entity, full name, fingerprint or id.
 *
 * Named types may refer to types defined in other files of the same
 * directory (for example "cpsync.Person" inside a unified event): the
 * catalog inlines the definition at the first use before Avro C parses it.
 */
#ifndef CPS_SCHEMA_H
#define CPS_SCHEMA_H

#include <avro.h>
#include <jansson.h>
#include <stdint.h>

struct cps_schema {
	char *name;   /* full name, e.g. "cpsync.Person" */
	char *path;   /* file it came from, or NULL */
	json_t *json; /* the schema JSON, references resolved (owned) */
	avro_schema_t avro;
	avro_value_iface_t *iface; /* generic value class for `avro` */
	char *canonical;           /* Parsing Canonical Form */
	uint64_t fingerprint;      /* CRC-64-AVRO of `canonical` */
	int32_t id;                /* registry id; 0 = not known */
	int writer_only;           /* an older version kept for old data (writers/) */
};

/* Parses schema JSON text. On success *out is owned by the caller. */
int cps_schema_parse(const char *text, size_t len, struct cps_schema **out, char *errstr,
                     size_t errstr_size);
/* Takes a reference of its own to `json`. */
int cps_schema_from_json(json_t *json, struct cps_schema **out, char *errstr, size_t errstr_size);
int cps_schema_load_file(const char *path, struct cps_schema **out, char *errstr,
                         size_t errstr_size);
void cps_schema_free(struct cps_schema *s);

/* Parsing Canonical Form of a schema JSON (Avro specification 1.11,
 * "Parsing Canonical Form for Schemas"). Returns a malloc'd string. */
char *cps_canonical_form(json_t *schema, char *errstr, size_t errstr_size);
/* CRC-64-AVRO (Rabin) fingerprint, as the specification defines it. */
uint64_t cps_crc64_avro(const void *data, size_t len);

struct cps_catalog;

/* Loads every *.avsc below dir (one level of subdirectories too) and the
 * registry-free id manifest `dir/schema-ids.json` ({"<full name>": id, …})
 * when present. The subdirectory `writers/` is different: it keeps older
 * versions of the current schemas, self-contained, for data written before
 * a schema evolved. Each must be readable as the current schema of its name
 * (else the load fails), is found by fingerprint and by id (from
 * `writers/schema-ids.json`, {"<file name>": id, …}: an id names one text
 * forever), never by name or entity, and is flagged `writer_only`. */
int cps_catalog_load_dir(const char *dir, struct cps_catalog **out, char *errstr,
                         size_t errstr_size);
void cps_catalog_free(struct cps_catalog *c);
/* Lookups return borrowed pointers valid for the catalog's lifetime, or NULL.
 * By name and by entity: the current schema only (never a writer_only one). */
struct cps_schema *cps_catalog_by_name(struct cps_catalog *c, const char *full_name);
/* Entity short names: person, household, enrolment, verification, alert,
 * and also the file's base name (e.g. "ingest_event"). */
struct cps_schema *cps_catalog_by_entity(struct cps_catalog *c, const char *entity);
struct cps_schema *cps_catalog_by_fingerprint(struct cps_catalog *c, uint64_t fp);
struct cps_schema *cps_catalog_by_id(struct cps_catalog *c, int32_t id);
/* Adds a schema (the catalog takes ownership), e.g. one fetched from a registry. */
int cps_catalog_add(struct cps_catalog *c, struct cps_schema *s, char *errstr, size_t errstr_size);
size_t cps_catalog_count(struct cps_catalog *c);
struct cps_schema *cps_catalog_at(struct cps_catalog *c, size_t i);

#endif
