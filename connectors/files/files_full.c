/*
 * Full snapshots in the Shenshan inbox (the inbox protocol's manifest kind
 * FULL, README "Sweeps"): a container file whose manifest
 * <name>.manifest.json says {"kind": "FULL", "entity": …, "records": N} is
 * every current record of that entity, read only by a sweep (sweep_read,
 * connector.h) and never as changes by the streaming source.
 */
#include "connectors/files/files_int.h"

#include "base/buf.h"
#include "base/log.h"
#include "codec/schema.h"
#include "connectors/files/ocf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_SUFFIX ".manifest.json"

bool files_is_manifest_name(const char *name)
{
	size_t n = strlen(name), m = strlen(MANIFEST_SUFFIX);

	return n > m && !strcmp(name + n - m, MANIFEST_SUFFIX);
}

/* The manifest of inbox/<name> when it is one of kind FULL (new reference), else NULL. */
static json_t *full_manifest(const char *inbox, const char *name)
{
	char path[PATH_MAX];
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s" MANIFEST_SUFFIX, inbox, name);
	j = json_load_file(path, 0, NULL);
	if (j && json_is_string(json_object_get(j, "kind")) &&
	    !strcmp(json_string_value(json_object_get(j, "kind")), "FULL"))
		return j;
	json_decref(j);
	return NULL;
}

bool files_is_full_snapshot(const char *inbox, const char *name)
{
	json_t *j = full_manifest(inbox, name);

	json_decref(j);
	return j != NULL;
}

/* The newest FULL data file per entity (by its manifest's mtime, then name). */
struct full_file {
	char entity[ENTITY_MAX];
	char name[CPS_STREAM_MAX];
	int64_t records; /* what the manifest promises */
	int64_t mtime_ms;
};

static int pick_full_files(const char *inbox, struct full_file **out, size_t *n_out, char *errstr,
                           size_t errstr_size)
{
	DIR *d = opendir(inbox);
	struct full_file *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "inbox '%s': %s", inbox,
		                  strerror(errno));
	while ((de = readdir(d))) {
		char data[CPS_STREAM_MAX], path[PATH_MAX];
		size_t len = strlen(de->d_name), i;
		const char *entity;
		struct stat st;
		json_t *j;

		if (de->d_name[0] == '.' || !files_is_manifest_name(de->d_name) ||
		    len - strlen(MANIFEST_SUFFIX) >= sizeof(data))
			continue;
		snprintf(data, sizeof(data), "%.*s", (int)(len - strlen(MANIFEST_SUFFIX)),
		         de->d_name);
		j = full_manifest(inbox, data);
		entity = j ? json_string_value(json_object_get(j, "entity")) : NULL;
		snprintf(path, sizeof(path), "%s/%s", inbox, de->d_name);
		if (!entity || strlen(entity) >= ENTITY_MAX || lstat(path, &st) < 0) {
			if (j)
				CPS_LOG(CPS_LOG_WARN, FACILITY,
				        "FULL manifest '%s' names no entity: ignored", de->d_name);
			json_decref(j);
			continue;
		}
		int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;

		for (i = 0; i < n && strcmp(v[i].entity, entity); i++)
			;
		if (i == n) {
			if (cps_grow(&v, &cap, n + 1, sizeof(*v)) != 0) {
				json_decref(j);
				closedir(d);
				free(v);
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "out of memory");
			}
			memset(&v[n++], 0, sizeof(*v));
		} else if (mt < v[i].mtime_ms ||
		           (mt == v[i].mtime_ms && strcmp(data, v[i].name) < 0)) {
			json_decref(j); /* an older snapshot of the same entity */
			continue;
		}
		snprintf(v[i].entity, sizeof(v[i].entity), "%s", entity);
		snprintf(v[i].name, sizeof(v[i].name), "%s", data);
		v[i].mtime_ms = mt;
		v[i].records = json_is_integer(json_object_get(j, "records"))
		                   ? json_integer_value(json_object_get(j, "records"))
		                   : -1;
		json_decref(j);
	}
	closedir(d);
	*out = v;
	*n_out = n;
	return CPS_OK;
}

/* Reads one FULL file and hands its records to the sink in chunks. */
static int sweep_file(const char *platform, const char *inbox, const struct full_file *f,
                      struct cps_catalog *catalog, int64_t max_bytes, size_t chunk,
                      const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size)
{
	struct cps_source_msg msg, *m = &msg;
	struct cps_ocf_reader *reader = NULL;
	struct cps_schema *writer = NULL;
	struct cps_header header;
	struct cps_buf image;
	char path[PATH_MAX], why[CPS_ERRSTR_SIZE], fp[17], masked[CPS_STREAM_MAX];
	int64_t index = -1, count = 0;
	int fd, rc;

	cps_buf_init(&image, (size_t)max_bytes + 1);
	files_mask_name(f->name, masked, sizeof(masked));
	snprintf(path, sizeof(path), "%s/%s", inbox, f->name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || cps_buf_read_fd(&image, fd) < 0) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "FULL file '%s' of %s cannot be read (absent, unreadable or over "
		                "max_file_bytes)",
		                masked, f->entity);
		goto out;
	}
	rc = cps_ocf_reader_open(image.data, image.len, NULL, &reader, why, sizeof(why));
	if (rc == CPS_OK)
		rc = cps_schema_parse(cps_ocf_reader_schema_json(reader),
		                      strlen(cps_ocf_reader_schema_json(reader)), &writer, why,
		                      sizeof(why));
	if (rc == CPS_OK && !cps_catalog_by_fingerprint(catalog, writer->fingerprint)) {
		snprintf(why, sizeof(why), "its writer schema is not in the schema catalog");
		rc = CPS_ERR_INVALID;
	}
	if (rc != CPS_OK) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "FULL file '%s': %s", masked,
		                why);
		goto out;
	}
	snprintf(fp, sizeof(fp), "%016" PRIx64, writer->fingerprint);
	header = (struct cps_header){CPS_HEADER_WRITER_FP, fp, 16};
	rc = sink->entity(sink->arg, f->entity, errstr, errstr_size);
	while (rc == CPS_OK) {
		const void *rec;
		size_t len;
		int more = cps_ocf_reader_next(reader, &rec, &len, &index, why, sizeof(why));

		if (more < 0) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "FULL file '%s' is broken after %" PRId64 " records: %s",
			                masked, count, why);
			break;
		}
		if (more == 1) {
			memset(m, 0, sizeof(*m));
			m->entity = f->entity;
			m->value = rec;
			m->value_len = len;
			snprintf(m->pos.stream, sizeof(m->pos.stream), "%s", f->name);
			m->pos.offset = index;
			snprintf(m->origin, sizeof(m->origin), "%s:%s#%" PRId64, platform, masked,
			         index);
			m->source_ts_ms = f->mtime_ms;
			m->headers = &header;
			m->n_headers = 1;
			count++;
			/* the record points into the reader's block, valid until the
			 * next call: handed over one at a time (the sweep copies) */
			rc = sink->emit(sink->arg, m, 1, errstr, errstr_size);
		}
		if (more == 0)
			break;
		if (rc == CPS_OK && sink->stop && count % (int64_t)chunk == 0 &&
		    atomic_load(sink->stop))
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "sweep stopped");
	}
	if (rc == CPS_OK && f->records >= 0 && f->records != count)
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "FULL file '%s' holds %" PRId64
		                " records, its manifest says %" PRId64 ": not compared",
		                masked, count, f->records);
	if (rc == CPS_OK)
		CPS_LOG(CPS_LOG_INFO, FACILITY, "sweep read FULL file '%s': %" PRId64 " %s records",
		        masked, count, f->entity);
out:
	if (fd >= 0)
		close(fd);
	cps_schema_free(writer);
	cps_ocf_reader_free(reader);
	cps_buf_release(&image);
	return rc;
}

int files_sweep_read(const char *platform, const struct cps_settings *settings, size_t chunk,
                     const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size)
{
	const char *inbox = cps_settings_get(settings, "inbox");
	struct cps_catalog *catalog = NULL;
	struct full_file *files = NULL;
	size_t n = 0;
	int rc = files_load_catalog(settings, &catalog, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = pick_full_files(inbox, &files, &n, errstr, errstr_size);
	if (rc == CPS_OK && n == 0)
		CPS_LOG(CPS_LOG_WARN, FACILITY,
		        "sweep of '%s': no FULL file in the inbox, nothing of it compared",
		        platform);
	for (size_t i = 0; rc == CPS_OK && i < n; i++)
		rc = sweep_file(platform, inbox, &files[i], catalog,
		                cps_settings_get_int(settings, "max_file_bytes", 268435456), chunk,
		                sink, errstr, errstr_size);
	free(files);
	cps_catalog_free(catalog);
	return rc;
}
