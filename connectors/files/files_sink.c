/*
 * The files sink: one rolling Avro container file per entity in an outbox,
 * written as a tmp file, fsynced and renamed when it rolls (by records or
 * age, or at flush), each published with a manifest (count, times, sha256).
 */
#include "connectors/files/files_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "codec/guard.h"
#include "codec/schema.h"
#include "connectors/files/ocf.h"
#include "connectors/sink.h"
#include "base/sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SINK_BLOCK_BYTES   (64 * 1024)
#define SINK_BLOCK_RECORDS 1000

struct out_file {
	char entity[ENTITY_MAX];
	struct cps_schema *schema; /* borrowed from the catalog */
	int fd;
	char name[CPS_STREAM_MAX];
	char tmp_path[PATH_MAX];
	uint8_t sync[CPS_OCF_SYNC_SIZE];
	struct cps_buf pending; /* records of the next block */
	int64_t pending_count;
	struct cps_buf out; /* encoded header/blocks before write */
	int64_t records;
	uint64_t bytes;
	struct cps_sha256 sha;
	int64_t first_ms, last_ms, opened_mono;
};

struct files_sink {
	struct cps_conn base;
	char *outbox;
	int64_t roll_records, roll_ms;
	enum cps_ocf_codec codec;
	struct cps_catalog *catalog;
	struct out_file *files;
	size_t n_files;
	unsigned seq;
	struct cps_conn_status counts; /* enqueued, delivered, failed, errors, last_* */
};

static void out_file_discard(struct out_file *f)
{
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->tmp_path);
	}
	f->fd = -1;
	cps_buf_release(&f->pending);
	cps_buf_release(&f->out);
}

static int out_file_write(struct out_file *f, char *errstr, size_t errstr_size)
{
	if (files_write_all(f->fd, f->out.data, f->out.len) < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "writing '%s': %s",
		                  f->tmp_path, strerror(errno));
	cps_sha256_update(&f->sha, f->out.data, f->out.len);
	f->bytes += f->out.len;
	cps_buf_reset(&f->out);
	return CPS_OK;
}

static int out_file_write_block(struct files_sink *k, struct out_file *f, char *errstr,
                                size_t errstr_size)
{
	int rc;

	if (f->pending_count == 0)
		return CPS_OK;
	rc = cps_ocf_write_block(&f->out, k->codec, f->sync, f->pending_count, f->pending.data,
	                         f->pending.len, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = out_file_write(f, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	cps_buf_reset(&f->pending);
	f->pending_count = 0;
	return CPS_OK;
}

static int out_file_open(struct files_sink *k, struct out_file *f, const char *entity,
                         struct cps_schema *schema, char *errstr, size_t errstr_size)
{
	char stamp[32], *json;
	time_t t;
	struct tm tm;
	int64_t now = cps_wall_ms();
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	snprintf(f->entity, sizeof(f->entity), "%s", entity);
	f->schema = schema;
	cps_buf_init(&f->pending, 0);
	cps_buf_init(&f->out, 0);
	cps_sha256_init(&f->sha);
	t = (time_t)(now / 1000);
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	for (int tries = 0; f->fd < 0; tries++) {
		char final_path[PATH_MAX];
		struct stat st;

		snprintf(f->name, sizeof(f->name), "%s-%s%03dZ-%06u.avro", entity, stamp,
		         (int)(now % 1000), ++k->seq);
		snprintf(f->tmp_path, sizeof(f->tmp_path), "%s/.%s.tmp", k->outbox, f->name);
		snprintf(final_path, sizeof(final_path), "%s/%s", k->outbox, f->name);
		if (lstat(final_path, &st) == 0)
			continue;
		f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (f->fd < 0 && (errno != EEXIST || tries > 1000))
			return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                  "creating '%s': %s", f->tmp_path, strerror(errno));
	}
	if (getrandom(f->sync, sizeof(f->sync), 0) != (ssize_t)sizeof(f->sync))
		for (size_t i = 0; i < sizeof(f->sync); i++)
			f->sync[i] = (uint8_t)(now >> (i % 8) ^ (int64_t)i * 131);
	json = json_dumps(schema->json, JSON_COMPACT);
	if (!json) {
		out_file_discard(f);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	rc = cps_ocf_write_header(&f->out, json, k->codec, f->sync);
	free(json);
	if (rc == CPS_OK)
		rc = out_file_write(f, errstr, errstr_size);
	if (rc != CPS_OK) {
		out_file_discard(f);
		return rc;
	}
	f->opened_mono = cps_mono_ms();
	f->first_ms = f->last_ms = -1;
	return CPS_OK;
}

/* Last block, fsync, rename into place, then the manifest: a file with a
 * manifest is complete. The out_file is released either way. */
static int out_file_roll(struct files_sink *k, struct out_file *f, char *errstr, size_t errstr_size)
{
	char path[PATH_MAX], mname[CPS_STREAM_MAX + 16], hex[65], fp[17], first[32], last[32];
	json_t *manifest;
	int rc;

	rc = out_file_write_block(k, f, errstr, errstr_size);
	if (rc == CPS_OK && fsync(f->fd) < 0)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "syncing '%s': %s",
		                f->tmp_path, strerror(errno));
	if (rc != CPS_OK)
		goto out;
	close(f->fd);
	f->fd = -1;
	snprintf(path, sizeof(path), "%s/%s", k->outbox, f->name);
	if (rename(f->tmp_path, path) < 0 || files_fsync_dir(k->outbox) < 0) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "publishing '%s': %s", path,
		                strerror(errno));
		goto out;
	}
	cps_sha256_final_hex(&f->sha, hex);
	snprintf(fp, sizeof(fp), "%016" PRIx64, f->schema->fingerprint);
	files_iso_time(f->first_ms, first, sizeof(first));
	files_iso_time(f->last_ms, last, sizeof(last));
	manifest = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "file", f->name,
	                     "entity", f->entity, "schema", f->schema->name, "schema_fingerprint",
	                     fp, "records", (json_int_t)f->records, "bytes", (json_int_t)f->bytes,
	                     "sha256", hex, "codec", cps_ocf_codec_name(k->codec), "first_time",
	                     first, "last_time", last);
	if (!manifest) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	snprintf(mname, sizeof(mname), "%s.manifest.json", f->name);
	rc = files_write_json_atomic(k->outbox, mname, manifest, errstr, errstr_size);
	json_decref(manifest);
	if (rc == CPS_OK) {
		k->counts.delivered += (uint64_t)f->records;
		CPS_LOG(CPS_LOG_INFO, FACILITY, "wrote '%s': %" PRId64 " records", f->name,
		        f->records);
	}
out:
	if (rc != CPS_OK)
		k->counts.failed += (uint64_t)f->records;
	out_file_discard(f);
	return rc;
}

/* Removes the open file of index i from the table, rolling it. */
static int roll_at(struct files_sink *k, size_t i, char *errstr, size_t errstr_size)
{
	int rc = out_file_roll(k, &k->files[i], errstr, errstr_size);

	k->files[i] = k->files[--k->n_files];
	return rc;
}

static int roll_aged(struct files_sink *k, bool all, char *errstr, size_t errstr_size)
{
	int rc = CPS_OK;

	for (size_t i = k->n_files; i-- > 0;) {
		if (all || cps_mono_ms() - k->files[i].opened_mono >= k->roll_ms) {
			int r = roll_at(k, i, errstr, errstr_size);

			if (r != CPS_OK && rc == CPS_OK)
				rc = r;
		}
	}
	return rc;
}

static struct cps_schema *record_schema(struct files_sink *k, const struct cps_sink_record *r)
{
	uint64_t fp;
	int found =
	    cps_header_fingerprint(r->headers, r->n_headers, CPS_SINK_HEADER_SCHEMA_FP, &fp);

	if (found == 0)
		return cps_catalog_by_entity(k->catalog, r->entity);
	return found > 0 ? cps_catalog_by_fingerprint(k->catalog, fp) : NULL;
}

int files_sink_put(struct cps_conn *c, const struct cps_sink_record *recs, size_t n,
                   size_t *accepted, char *errstr, size_t errstr_size)
{
	struct files_sink *k = (struct files_sink *)c;
	char why[CPS_ERRSTR_SIZE];
	int rc = CPS_OK;

	*accepted = 0;
	rc = roll_aged(k, false, errstr, errstr_size);
	for (size_t i = 0; rc == CPS_OK && i < n; i++) {
		const struct cps_sink_record *r = &recs[i];
		struct cps_schema *schema;
		struct out_file *f = NULL;
		size_t fi;

		if (!r->entity || !*r->entity || strlen(r->entity) >= ENTITY_MAX ||
		    strchr(r->entity, '/')) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "record %zu has no usable entity", i);
			break;
		}
		schema = record_schema(k, r);
		if (!schema) {
			/* the sink's catalog lacks it: configuration, not poison */
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                "no schema for a '%s' record in the catalog", r->entity);
			break;
		}
		if (cps_guard_check(schema->avro, r->value, r->value_len, NULL, why, sizeof(why)) !=
		    CPS_OK) {
			rc =
			    cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			               "'%s' record is not a %s: %s", r->entity, schema->name, why);
			break;
		}
		for (fi = 0; fi < k->n_files; fi++)
			if (!strcmp(k->files[fi].entity, r->entity))
				break;
		if (fi < k->n_files && k->files[fi].schema != schema) {
			rc = roll_at(k, fi, errstr, errstr_size);
			if (rc != CPS_OK)
				break;
			fi = k->n_files;
		}
		if (fi == k->n_files) {
			void *p = realloc(k->files, (k->n_files + 1) * sizeof(*k->files));

			if (!p) {
				rc =
				    cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
				break;
			}
			k->files = p;
			rc =
			    out_file_open(k, &k->files[fi], r->entity, schema, errstr, errstr_size);
			if (rc != CPS_OK)
				break;
			k->n_files++;
		}
		f = &k->files[fi];
		if (cps_buf_append(&f->pending, r->value, r->value_len) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			break;
		}
		f->pending_count++;
		f->records++;
		f->last_ms = cps_wall_ms();
		if (f->first_ms < 0)
			f->first_ms = f->last_ms;
		(*accepted)++;
		k->counts.enqueued++;
		k->counts.last_msg_ms = f->last_ms;
		if (f->pending.len >= SINK_BLOCK_BYTES || f->pending_count >= SINK_BLOCK_RECORDS)
			rc = out_file_write_block(k, f, errstr, errstr_size);
		if (rc == CPS_OK && f->records >= k->roll_records)
			rc = roll_at(k, fi, errstr, errstr_size);
	}
	if (rc != CPS_OK) {
		cps_conn_status_error(&k->counts, errstr);
	}
	return rc;
}

int files_sink_flush(struct cps_conn *c, int timeout_ms, char *errstr, size_t errstr_size)
{
	struct files_sink *k = (struct files_sink *)c;
	int rc = roll_aged(k, true, errstr, errstr_size);

	if (rc != CPS_OK) {
		cps_conn_status_error(&k->counts, errstr);
	}
	return rc;
}

void files_sink_close(struct cps_conn *c)
{
	struct files_sink *k = (struct files_sink *)c;
	char err[CPS_ERRSTR_SIZE];

	if (!k)
		return;
	if (roll_aged(k, true, err, sizeof(err)) != CPS_OK)
		CPS_LOG(CPS_LOG_WARN, FACILITY, "closing the sink of '%s': %s", k->base.platform,
		        err);
	free(k->files);
	cps_catalog_free(k->catalog);
	free(k->outbox);
	free(k);
}

void files_sink_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct files_sink *k = (struct files_sink *)c;
	int64_t open_records = 0;

	for (size_t i = 0; i < k->n_files; i++)
		open_records += k->files[i].records;
	*st = k->counts;
	st->lag = open_records;
}

/* Unpublished temporary files of an earlier run: their records were never
 * acknowledged by a flush, so the engine still has them. */
static void remove_stale_tmp(const char *outbox)
{
	DIR *d = opendir(outbox);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char path[PATH_MAX];

		if (de->d_name[0] != '.' || n < 10 || strcmp(de->d_name + n - 9, ".avro.tmp") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", outbox, de->d_name);
		unlink(path);
	}
	closedir(d);
}

int files_sink_open(const char *platform, const struct cps_settings *settings,
                    struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct files_sink *k = calloc(1, sizeof(*k));
	const char *codec = cps_settings_get(settings, "codec");
	int rc;

	*out = NULL;
	if (!k)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_conn_status_reset(&k->counts);
	k->outbox = strdup(cps_settings_get(settings, "outbox"));
	k->roll_records = cps_settings_get_int(settings, "roll_records", 1000);
	k->roll_ms = cps_settings_get_int(settings, "roll_ms", 60000);
	if (!k->outbox) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	if (cps_ocf_codec_from_name(codec ? codec : "null", &k->codec) != CPS_OK) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "setting 'codec': '%s' is not null or deflate", codec);
		goto out_free;
	}
	rc = files_load_catalog(settings, &k->catalog, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	if (access(k->outbox, W_OK | X_OK) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "outbox '%s': %s", k->outbox,
		                strerror(errno));
		goto out_free;
	}
	remove_stale_tmp(k->outbox);
	*out = &k->base;
	return CPS_OK;
out_free:
	files_sink_close(&k->base);
	return rc;
}
