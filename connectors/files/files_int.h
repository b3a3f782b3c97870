/*
 * Private to the files connector (files.c, files_source.c, files_sink.c,
 * files_offsets.c, files_scan.c, files_effective.c, files_full.c, files_fs.c,
 * files_prefix.c): the two sides' slots, which files.c puts in one table,
 * and the file-system steps both use.
 */
#ifndef CPS_FILES_INT_H
#define CPS_FILES_INT_H

#include "connectors/connector.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FACILITY   "FILES"
#define ENTITY_MAX 64

/* files_source.c */
int files_source_open(const char *platform, const struct cps_settings *settings,
                      struct cps_conn **out, char *errstr, size_t errstr_size);
int files_source_poll(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
                      int timeout_ms, char *errstr, size_t errstr_size);
int files_source_commit(struct cps_conn *c, const struct cps_position *pos, size_t n, char *errstr,
                        size_t errstr_size);
void files_source_close(struct cps_conn *c);
void files_source_describe(struct cps_conn *c, struct cps_conn_status *st);

/* files_offsets.c */
int files_offsets_get(const char *platform, const struct cps_settings *settings,
                      struct cps_offsets *out, char *errstr, size_t errstr_size);

/* files_sink.c */
int files_sink_open(const char *platform, const struct cps_settings *settings,
                    struct cps_conn **out, char *errstr, size_t errstr_size);
int files_sink_put(struct cps_conn *c, const struct cps_sink_record *recs, size_t n,
                   size_t *accepted, char *errstr, size_t errstr_size);
int files_sink_flush(struct cps_conn *c, int timeout_ms, char *errstr, size_t errstr_size);
void files_sink_close(struct cps_conn *c);
void files_sink_describe(struct cps_conn *c, struct cps_conn_status *st);

/* files_scan.c */
struct cps_buf;
struct cps_schema;
struct files_scan {
	int64_t records; /* records read (up to the one past the cap) */
	int64_t bad;     /* of them, those ingest would dead-letter */
	char first_reason[300];
};
/* Reads the container file `image` (written with `writer`, a catalog
 * schema) record by record and counts those ingest would dead-letter as
 * records of `entity` (NULL: all of them); stops once more than `cap` are. */
int files_scan(const struct cps_buf *image, const struct cps_schema *writer, const char *entity,
               int64_t cap, struct files_scan *out, char *errstr, size_t errstr_size);

struct cps_catalog;
/* The schema catalog of setting `schema_dir`; empty: $CPSYNC_SCHEMA_DIR, else
 * the source tree's schemas/. */
int files_load_catalog(const struct cps_settings *settings, struct cps_catalog **out, char *errstr,
                       size_t errstr_size);

/* files_prefix.c: the settings file.<prefix><suffix>; zero-initialised is
 * empty. */
struct files_prefixes {
	struct files_prefix {
		char *prefix, *value;
	} * v;
	size_t n;
};
/* Adds every setting file.<prefix><suffix> (suffix ".entity"); -1 when
 * memory is out (release p then). */
int files_prefixes_load(struct files_prefixes *p, const struct cps_settings *settings,
                        const char *suffix);
/* The value of the longest prefix of `name`, or NULL when none matches. */
const char *files_prefixes_find(const struct files_prefixes *p, const char *name);
void files_prefixes_release(struct files_prefixes *p);

/* files_effective.c */
struct files_effective;
/* The effective-time fields of the settings (effective_field,
 * file.<prefix>.effective_field); *out is freed with files_effective_free. */
int files_effective_new(const struct cps_settings *settings, struct files_effective **out,
                        char *errstr, size_t errstr_size);
void files_effective_free(struct files_effective *e); /* NULL-safe */
/* Readies e for the file `name` written with `writer` (borrowed, it may go
 * after the call): CPS_OK, also when no field is mapped for it;
 * CPS_ERR_INVALID with the reason in why when the mapped field is not a
 * long or date field of the writer schema (the file is then rejected). */
int files_effective_start(struct files_effective *e, const char *name,
                          const struct cps_schema *writer, char *why, size_t why_size);
/* The effective time of one record of that file in *ms: false when no field
 * is mapped, the field is null or the record does not decode. */
bool files_effective_of(struct files_effective *e, const void *rec, size_t len, int64_t *ms);

/* files_full.c: full snapshots (manifest kind FULL) for sweeps */
/* Whether `name` is a manifest (<data file>.manifest.json). */
bool files_is_manifest_name(const char *name);
/* Whether inbox/<name> is a FULL snapshot: its manifest says kind FULL. */
bool files_is_full_snapshot(const char *inbox, const char *name);
/* The connector's sweep_read slot: the newest FULL file of each entity. */
int files_sweep_read(const char *platform, const struct cps_settings *settings, size_t chunk,
                     const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size);

/* files_fs.c */
void files_sleep_ms(int64_t ms);
/* `name` with every national ID in it masked into buf: a Shenshan file's
 * name may carry one, and what cpsync writes about a file (ledger, receipt,
 * progress) is not meant to hold personal data. Returns buf. */
const char *files_mask_name(const char *name, char *buf, size_t size);
/* "2026-01-02T03:04:05.678Z" */
void files_iso_time(int64_t ms, char *buf, size_t size);
int files_fsync_dir(const char *dir);
/* Writes all n bytes, retrying on EINTR; -1 with errno on failure. */
int files_write_all(int fd, const void *p, size_t n);
/* Writes dir/name durably: dir/.name.tmp, fsync, rename, fsync dir. */
int files_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
                            char *errstr, size_t errstr_size);
/* The same for a JSON document (indented, keys sorted). */
int files_write_json_atomic(const char *dir, const char *name, json_t *j, char *errstr,
                            size_t errstr_size);
/* mkdir unless it exists. */
int files_make_dir(const char *dir, char *errstr, size_t errstr_size);

#endif
