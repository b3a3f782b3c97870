/*
 * The files source: complete Avro container files picked up from an inbox,
 * one at a time, record by record; done/ with a receipt, rejected/ with the
 * reason; a sha256 ledger against processing a file twice and a progress
 * file to resume after a crash at the last committed record.
 */
#include "connectors/files/files_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "codec/guard.h"
#include "codec/schema.h"
#include "connectors/files/ocf.h"
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_NAME ".progress"
#define LEDGER_NAME   ".ledger"
#define STALE_TMP_MS  (3600 * 1000) /* a *.tmp this old is no upload in progress */

struct files_source {
	struct cps_conn base;
	char *inbox, *done, *rejected;
	int64_t stable_ms, max_file_bytes, max_dead_letters;
	struct cps_catalog *catalog;       /* writer schemas a file may have */
	struct files_prefixes entities;    /* file.<prefix>.entity */
	struct files_effective *effective; /* the effective-time fields */
	char (*ledger)[65];
	size_t n_ledger, cap_ledger;

	/* the file in flight (one at a time) */
	bool have_file, eof, broken, resumed;
	char name[CPS_STREAM_MAX];
	char masked[CPS_STREAM_MAX]; /* name with its national IDs masked: what cpsync writes */
	char sha[65];
	char reason[256];
	char entity[ENTITY_MAX];
	bool has_entity;
	char writer_fp[17];
	int64_t written_ms; /* the file's mtime: its records' source time */
	struct cps_buf image;
	struct cps_ocf_reader *reader;
	int64_t committed;  /* last committed record index; -1 */
	int64_t last_index; /* last handed-out record index; -1 */
	int64_t records;    /* records read from the file, including skipped ones */

	/* the current batch */
	struct cps_source_msg *msgs;
	size_t *value_offs;
	size_t cap_msgs;
	struct cps_buf arena;
	struct cps_header header;

	struct cps_conn_status counts; /* received, committed, errors, last_* */
};

static bool ledger_has(struct files_source *s, const char *sha)
{
	for (size_t i = 0; i < s->n_ledger; i++)
		if (!strcmp(s->ledger[i], sha))
			return true;
	return false;
}

static int ledger_remember(struct files_source *s, const char *sha)
{
	if (cps_grow(&s->ledger, &s->cap_ledger, s->n_ledger + 1, sizeof(*s->ledger)) != 0)
		return -1;
	memcpy(s->ledger[s->n_ledger++], sha, 65);
	return 0;
}

/* done/.ledger: one "<sha256> <file name, national IDs masked>" line per
 * processed file; the hash alone identifies it. */
static int ledger_load(struct files_source *s, char *errstr, size_t errstr_size)
{
	char path[PATH_MAX], line[CPS_STREAM_MAX + 80];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", s->done, LEDGER_NAME);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? CPS_OK
		                       : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                                    "reading '%s': %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strlen(line) < 64 || strspn(line, "0123456789abcdef") != 64)
			continue;
		line[64] = '\0';
		if (!ledger_has(s, line) && ledger_remember(s, line) < 0) {
			fclose(f);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
	}
	fclose(f);
	return CPS_OK;
}

static int ledger_append(struct files_source *s, char *errstr, size_t errstr_size)
{
	char path[PATH_MAX], line[CPS_STREAM_MAX + 80];
	int fd, n;

	if (ledger_has(s, s->sha))
		return CPS_OK;
	snprintf(path, sizeof(path), "%s/%s", s->done, LEDGER_NAME);
	n = snprintf(line, sizeof(line), "%s %s\n", s->sha, s->masked);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0 || files_write_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "appending to '%s': %s",
		                  path, strerror(e));
	}
	close(fd);
	if (ledger_remember(s, s->sha) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}

/* inbox/.progress: {"file" (masked), "sha256", "committed"} of the file in flight. */
static int progress_write(struct files_source *s, char *errstr, size_t errstr_size)
{
	json_t *j = json_pack("{s:s, s:s, s:I}", "file", s->masked, "sha256", s->sha, "committed",
	                      (json_int_t)s->committed);
	int rc;

	if (!j)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = files_write_json_atomic(s->inbox, PROGRESS_NAME, j, errstr, errstr_size);
	json_decref(j);
	return rc;
}

/* The committed index recorded for (name, sha), or -1. */
static int64_t progress_read(struct files_source *s, bool *found)
{
	char path[PATH_MAX];
	json_t *j, *c;
	int64_t committed = -1;

	*found = false;
	snprintf(path, sizeof(path), "%s/%s", s->inbox, PROGRESS_NAME);
	j = json_load_file(path, 0, NULL);
	if (!j)
		return -1;
	c = json_object_get(j, "committed");
	if (json_is_string(json_object_get(j, "file")) &&
	    json_is_string(json_object_get(j, "sha256")) && json_is_integer(c) &&
	    !strcmp(json_string_value(json_object_get(j, "file")), s->masked) &&
	    !strcmp(json_string_value(json_object_get(j, "sha256")), s->sha)) {
		*found = true;
		committed = json_integer_value(c);
	}
	json_decref(j);
	return committed;
}

static void progress_clear(struct files_source *s)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", s->inbox, PROGRESS_NAME);
	unlink(path);
	files_fsync_dir(s->inbox);
}

/* Moves inbox/<name> to dir/<name><suffix> (a free variant of it if taken). */
static int move_file(struct files_source *s, const char *name, const char *dir, const char *suffix,
                     char *moved, size_t moved_size, char *errstr, size_t errstr_size)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat st;

	snprintf(from, sizeof(from), "%s/%s", s->inbox, name);
	snprintf(moved, moved_size, "%s%s", name, suffix);
	snprintf(to, sizeof(to), "%s/%s", dir, moved);
	for (int i = 1; lstat(to, &st) == 0 && i < 1000; i++) {
		snprintf(moved, moved_size, "%s%s.%d", name, suffix, i);
		snprintf(to, sizeof(to), "%s/%s", dir, moved);
	}
	if (rename(from, to) < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "moving '%s' to '%s': %s",
		                  from, to, strerror(errno));
	if (files_fsync_dir(dir) < 0 || files_fsync_dir(s->inbox) < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "syncing '%s': %s", dir,
		                  strerror(errno));
	return CPS_OK;
}

static bool has_control_char(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* Whether fd is a regular file; its modification time (ms) in *mtime_ms. */
static bool is_regular(int fd, int64_t *mtime_ms)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	*mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	return true;
}

/* rejected/<name> and rejected/<name>.reason */
static int reject_file(struct files_source *s, const char *name, const char *reason, char *errstr,
                       size_t errstr_size)
{
	char moved[CPS_STREAM_MAX + 16], rname[CPS_STREAM_MAX + 32], text[512];
	int rc, n;

	rc = move_file(s, name, s->rejected, "", moved, sizeof(moved), errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	n = snprintf(text, sizeof(text), "%s\n", reason);
	snprintf(rname, sizeof(rname), "%s.reason", moved);
	CPS_LOG(CPS_LOG_WARN, FACILITY, "rejected '%s': %s", name, reason);
	return files_write_file_atomic(s->rejected, rname, text,
	                               (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1,
	                               errstr, errstr_size);
}

static void close_current(struct files_source *s)
{
	cps_ocf_reader_free(s->reader);
	s->reader = NULL;
	cps_buf_reset(&s->image);
	s->have_file = false;
}

/* The entity of the file: the longest matching name prefix, else the
 * writer schema's short name in lower case. */
static void pick_entity(struct files_source *s)
{
	const char *mapped = files_prefixes_find(&s->entities, s->name);
	avro_schema_t schema = cps_ocf_reader_schema(s->reader);

	s->has_entity = mapped != NULL;
	if (mapped)
		snprintf(s->entity, sizeof(s->entity), "%s", mapped);
	if (!s->has_entity && avro_typeof(schema) == AVRO_RECORD) {
		const char *n = avro_schema_name(schema);

		snprintf(s->entity, sizeof(s->entity), "%s", n ? n : "");
		for (char *p = s->entity; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		s->has_entity = s->entity[0] != '\0';
	}
}

/* Whether the file may be read: 1 yes; 0 no, with the reason in why. Its
 * writer schema must be in the catalog (else each record would be a dead
 * letter), and a new file must not hold more records ingest would
 * dead-letter than max_dead_letters. A resumed file was admitted before. */
static int admit_file(struct files_source *s, const struct cps_schema *writer, bool resumed,
                      char *why, size_t why_size, char *errstr, size_t errstr_size)
{
	const struct cps_schema *known =
	    cps_catalog_by_fingerprint(s->catalog, writer->fingerprint);
	struct files_scan scan;
	int rc;

	if (!known) {
		snprintf(why, why_size,
		         "its writer schema '%.100s' (fingerprint %s) is not in the schema catalog",
		         writer->name ? writer->name : "?", s->writer_fp);
		return 0;
	}
	if (resumed)
		return 1;
	rc = files_scan(&s->image, known, s->has_entity ? s->entity : NULL, s->max_dead_letters,
	                &scan, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (scan.bad <= s->max_dead_letters)
		return 1;
	snprintf(why, why_size,
	         "more than max_dead_letters (%" PRId64 ") of its records are invalid, %" PRId64
	         " in its first %" PRId64 "; the first, %s",
	         s->max_dead_letters, scan.bad, scan.records, scan.first_reason);
	return 0;
}

/* Opens inbox/<name>: 1 when it is now the file in flight, 0 when it was
 * dealt with (rejected, duplicate, gone). */
static int open_file(struct files_source *s, const char *name, char *errstr, size_t errstr_size)
{
	char path[PATH_MAX], why[CPS_ERRSTR_SIZE], moved[CPS_STREAM_MAX + 16];
	struct cps_schema *writer = NULL;
	struct cps_sha256 sha;
	bool in_progress;
	int fd, rc;

	snprintf(s->name, sizeof(s->name), "%s", name);
	files_mask_name(name, s->masked, sizeof(s->masked));
	snprintf(path, sizeof(path), "%s/%s", s->inbox, name);
	cps_buf_reset(&s->image);
	s->image.limit = (size_t)s->max_file_bytes + 1;
	if (has_control_char(name)) {
		rc = reject_file(s, name, "the file name holds a control character", errstr,
		                 errstr_size);
		return rc < 0 ? rc : 0;
	}
	/* the inbox is a boundary: never follow a link out of it, never block on a fifo */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 && errno == ELOOP) {
		rc = reject_file(s, name, "a symbolic link: only regular files are read", errstr,
		                 errstr_size);
		return rc < 0 ? rc : 0;
	}
	if (fd < 0)
		return errno == ENOENT ? 0
		                       : cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                                    "opening '%s': %s", path, strerror(errno));
	if (!is_regular(fd, &s->written_ms)) {
		close(fd);
		rc = reject_file(s, name, "not a regular file", errstr, errstr_size);
		return rc < 0 ? rc : 0;
	}
	rc = cps_buf_read_fd(&s->image, fd);
	close(fd);
	if (rc < 0) {
		snprintf(why, sizeof(why),
		         "file cannot be read or is larger than %" PRId64 " bytes",
		         s->max_file_bytes);
		rc = reject_file(s, name, why, errstr, errstr_size);
		return rc < 0 ? rc : 0;
	}
	cps_sha256_init(&sha);
	cps_sha256_update(&sha, s->image.data, s->image.len);
	cps_sha256_final_hex(&sha, s->sha);
	s->committed = progress_read(s, &in_progress);
	if (ledger_has(s, s->sha) && !in_progress) {
		CPS_LOG(CPS_LOG_INFO, FACILITY, "'%s' was already processed (sha256 %.12s…)", name,
		        s->sha);
		rc = move_file(s, name, s->done, ".duplicate", moved, sizeof(moved), errstr,
		               errstr_size);
		return rc < 0 ? rc : 0;
	}
	rc = cps_ocf_reader_open(s->image.data, s->image.len, NULL, &s->reader, why, sizeof(why));
	if (rc == CPS_OK) {
		rc = cps_schema_parse(cps_ocf_reader_schema_json(s->reader),
		                      strlen(cps_ocf_reader_schema_json(s->reader)), &writer, why,
		                      sizeof(why));
		if (rc != CPS_OK) {
			cps_ocf_reader_free(s->reader);
			s->reader = NULL;
		}
	}
	if (rc != CPS_OK) {
		char reason[CPS_ERRSTR_SIZE + 32];

		snprintf(reason, sizeof(reason), "unreadable Avro container file: %s", why);
		rc = reject_file(s, name, reason, errstr, errstr_size);
		return rc < 0 ? rc : 0;
	}
	snprintf(s->writer_fp, sizeof(s->writer_fp), "%016" PRIx64, writer->fingerprint);
	pick_entity(s);
	rc = files_effective_start(s->effective, name, writer, why, sizeof(why)) == CPS_OK
	         ? admit_file(s, writer, in_progress, why, sizeof(why), errstr, errstr_size)
	         : 0;
	cps_schema_free(writer);
	if (rc <= 0) {
		cps_ocf_reader_free(s->reader);
		s->reader = NULL;
		if (rc == 0)
			rc = reject_file(s, name, why, errstr, errstr_size);
		return rc < 0 ? rc : 0;
	}
	s->have_file = true;
	s->eof = s->broken = false;
	s->resumed = in_progress;
	s->reason[0] = '\0';
	s->last_index = s->committed;
	s->records = 0;
	CPS_LOG(CPS_LOG_INFO, FACILITY, "reading '%s' (%s, writer %s)%s", name,
	        s->has_entity ? s->entity : "no entity", s->writer_fp,
	        in_progress ? ", resuming" : "");
	return 1;
}

/* Whether an inbox entry the source skips is one it will never read: a
 * dot file other than its own progress file, a *.tmp (".name.tmp" too: an
 * upload in progress) left unchanged for STALE_TMP_MS, a name too long to
 * process, a folder other than done/ and rejected/. */
static bool never_read(struct files_source *s, const char *name, const struct stat *st, int64_t now)
{
	char path[PATH_MAX];
	size_t n = strlen(name);

	if (n >= CPS_STREAM_MAX)
		return true;
	if (name[0] == '.' && (n < 4 || strcmp(name + n - 4, ".tmp") != 0))
		return strcmp(name, ".") && strcmp(name, "..") && strcmp(name, PROGRESS_NAME);
	if (S_ISDIR(st->st_mode)) {
		snprintf(path, sizeof(path), "%s/%s", s->inbox, name);
		return strcmp(path, s->done) && strcmp(path, s->rejected);
	}
	return now - (int64_t)st->st_mtim.tv_sec * 1000 >= STALE_TMP_MS;
}

/* Counts the entries never_read finds, and says so when there are more. */
static void note_ignored(struct files_source *s, int64_t ignored)
{
	if (ignored > s->counts.ignored)
		CPS_LOG(
		    CPS_LOG_WARN, FACILITY,
		    "the inbox of '%s' holds %" PRId64
		    " entries it will never read (dot files, stale *.tmp, over-long names, folders)",
		    s->base.platform, ignored);
	s->counts.ignored = ignored;
}

/* The oldest complete file of the inbox into name; false when none. */
static bool oldest_complete(struct files_source *s, char *name, size_t name_size)
{
	DIR *d = opendir(s->inbox);
	struct dirent *de;
	int64_t now = cps_wall_ms(), best_mtime = INT64_MAX, ignored = 0;
	bool found = false;

	if (!d)
		return false;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		size_t n = strlen(de->d_name);
		struct stat st;
		int64_t mtime;

		snprintf(path, sizeof(path), "%s/%s", s->inbox, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (de->d_name[0] == '.' || (n >= 4 && !strcmp(de->d_name + n - 4, ".tmp")) ||
		    n >= CPS_STREAM_MAX || S_ISDIR(st.st_mode)) {
			ignored += never_read(s, de->d_name, &st, now);
			continue;
		}
		mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		if (now - mtime < s->stable_ms)
			continue;
		/* manifests, and full snapshots (kind FULL), are for sweeps only */
		if (files_is_manifest_name(de->d_name) ||
		    files_is_full_snapshot(s->inbox, de->d_name))
			continue;
		if (mtime < best_mtime || (mtime == best_mtime && strcmp(de->d_name, name) < 0)) {
			best_mtime = mtime;
			snprintf(name, name_size, "%s", de->d_name);
			found = true;
		}
	}
	closedir(d);
	note_ignored(s, ignored);
	return found;
}

/* Every record of the file in flight is handed out and committed: done/
 * (or rejected/ when its framing broke), receipt, ledger, progress cleared.
 * The ledger is written first: a crash after it finds the progress file and
 * finishes the move instead of calling the file a duplicate. */
static int finish_file(struct files_source *s, char *errstr, size_t errstr_size)
{
	char moved[CPS_STREAM_MAX + 16], rname[CPS_STREAM_MAX + 32], at[32];
	json_t *receipt;
	int rc;

	if (s->last_index >= 0 || !s->broken) {
		rc = ledger_append(s, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	if (s->broken) {
		char reason[400];

		snprintf(reason, sizeof(reason), "broken after %" PRId64 " records: %s", s->records,
		         s->reason);
		rc = reject_file(s, s->name, reason, errstr, errstr_size);
	} else {
		files_iso_time(cps_wall_ms(), at, sizeof(at));
		receipt = json_pack(
		    "{s:s, s:s, s:I, s:I, s:s?, s:s, s:s, s:b, s:s}", "file", s->masked, "sha256",
		    s->sha, "bytes", (json_int_t)s->image.len, "records", (json_int_t)s->records,
		    "entity", s->has_entity ? s->entity : NULL, "writer_fingerprint", s->writer_fp,
		    "codec", cps_ocf_codec_name(cps_ocf_reader_codec(s->reader)), "resumed",
		    s->resumed, "processed_at", at);
		if (!receipt)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		snprintf(rname, sizeof(rname), "%s.receipt.json", s->name);
		rc = files_write_json_atomic(s->done, rname, receipt, errstr, errstr_size);
		json_decref(receipt);
		if (rc == CPS_OK)
			rc = move_file(s, s->name, s->done, "", moved, sizeof(moved), errstr,
			               errstr_size);
		if (rc == CPS_OK)
			CPS_LOG(CPS_LOG_INFO, FACILITY, "'%s' done: %" PRId64 " records", s->name,
			        s->records);
	}
	if (rc != CPS_OK)
		return rc;
	progress_clear(s);
	close_current(s);
	return CPS_OK;
}

static int grow_batch(struct files_source *s, size_t max)
{
	if (max <= s->cap_msgs)
		return 0;
	free(s->msgs);
	free(s->value_offs);
	s->msgs = calloc(max, sizeof(*s->msgs));
	s->value_offs = calloc(max, sizeof(*s->value_offs));
	s->cap_msgs = s->msgs && s->value_offs ? max : 0;
	return s->cap_msgs ? 0 : -1;
}

/* Reads records of the file in flight into the batch (copies in the arena). */
static int fill_batch(struct files_source *s, struct cps_source_batch *batch, size_t max,
                      char *errstr, size_t errstr_size)
{
	while (batch->n < max && !s->eof) {
		struct cps_source_msg *m;
		const void *rec;
		size_t len;
		int64_t index;
		char why[256];
		int rc = cps_ocf_reader_next(s->reader, &rec, &len, &index, why, sizeof(why));

		if (rc == 0) {
			s->eof = true;
			break;
		}
		if (rc == CPS_ERR_FATAL)
			return cps_seterr(rc, errstr, errstr_size, "reading '%s': %s", s->name,
			                  why);
		if (rc < 0) {
			s->eof = s->broken = true;
			snprintf(s->reason, sizeof(s->reason), "%s", why);
			CPS_LOG(CPS_LOG_WARN, FACILITY, "'%s' ends early: %s", s->name, why);
			break;
		}
		s->records = index + 1;
		if (index <= s->committed)
			continue; /* resumed: committed before a restart */
		m = &s->msgs[batch->n];
		memset(m, 0, sizeof(*m));
		s->value_offs[batch->n] = s->arena.len;
		if (cps_buf_append(&s->arena, rec, len) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		m->entity = s->has_entity ? s->entity : NULL;
		m->value_len = len;
		snprintf(m->pos.stream, sizeof(m->pos.stream), "%s", s->name);
		m->pos.partition = 0;
		m->pos.offset = index;
		snprintf(m->origin, sizeof(m->origin), "%s:%s#%" PRId64, s->base.platform, s->name,
		         index);
		/* when Shenshan wrote it: the same again if the record is read again */
		m->source_ts_ms = s->written_ms;
		m->has_effective = files_effective_of(s->effective, rec, len, &m->effective_ms);
		m->headers = &s->header;
		m->n_headers = 1;
		s->last_index = index;
		batch->n++;
	}
	return CPS_OK;
}

int files_source_poll(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
                      int timeout_ms, char *errstr, size_t errstr_size)
{
	struct files_source *s = (struct files_source *)c;
	int64_t deadline = cps_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int rc = CPS_OK;

	batch->msgs = NULL;
	batch->n = 0;
	if (max == 0)
		return CPS_OK;
	if (grow_batch(s, max) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_reset(&s->arena);
	batch->msgs = s->msgs;
	for (;;) {
		if (!s->have_file) {
			char name[CPS_STREAM_MAX];

			if (oldest_complete(s, name, sizeof(name))) {
				rc = open_file(s, name, errstr, errstr_size);
				if (rc < 0)
					goto out;
				continue;
			}
		} else {
			rc = fill_batch(s, batch, max, errstr, errstr_size);
			if (rc < 0 || batch->n > 0)
				goto out;
			if (s->eof && s->committed >= s->last_index) {
				rc = finish_file(s, errstr, errstr_size);
				if (rc < 0)
					goto out;
				continue;
			}
		}
		if (cps_mono_ms() >= deadline)
			break;
		files_sleep_ms(deadline - cps_mono_ms() < 50 ? deadline - cps_mono_ms() : 50);
	}
out:
	for (size_t i = 0; i < batch->n; i++)
		s->msgs[i].value = s->arena.data + s->value_offs[i];
	s->counts.received += batch->n;
	if (batch->n)
		s->counts.last_msg_ms = cps_wall_ms();
	if (rc < 0) {
		cps_conn_status_error(&s->counts, errstr);
		return rc;
	}
	return CPS_OK;
}

int files_source_commit(struct cps_conn *c, const struct cps_position *pos, size_t n, char *errstr,
                        size_t errstr_size)
{
	struct files_source *s = (struct files_source *)c;
	int64_t committed;
	int rc;

	if (!s->have_file)
		return CPS_OK;
	committed = s->committed;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(pos[i].stream, s->name) && pos[i].offset > committed)
			committed = pos[i].offset < s->last_index ? pos[i].offset : s->last_index;
	if (committed == s->committed)
		return CPS_OK;
	s->counts.committed += (uint64_t)(committed - s->committed);
	s->committed = committed;
	rc = progress_write(s, errstr, errstr_size);
	if (rc == CPS_OK && s->eof && s->committed >= s->last_index)
		rc = finish_file(s, errstr, errstr_size);
	if (rc != CPS_OK) {
		cps_conn_status_error(&s->counts, errstr);
	}
	return rc;
}

void files_source_close(struct cps_conn *c)
{
	struct files_source *s = (struct files_source *)c;

	if (!s)
		return;
	close_current(s);
	cps_buf_release(&s->image);
	cps_buf_release(&s->arena);
	files_prefixes_release(&s->entities);
	files_effective_free(s->effective);
	cps_catalog_free(s->catalog);
	free(s->ledger);
	free(s->msgs);
	free(s->value_offs);
	free(s->inbox);
	free(s->done);
	free(s->rejected);
	free(s);
}

void files_source_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct files_source *s = (struct files_source *)c;

	*st = s->counts;
	st->lag = s->have_file && s->last_index >= s->committed ? s->last_index - s->committed : -1;
}

static char *dir_or_default(const struct cps_settings *settings, const char *key, const char *base,
                            const char *sub)
{
	const char *v = cps_settings_get(settings, key);
	char *out = NULL;

	if (v && *v)
		return strdup(v);
	if (asprintf(&out, "%s/%s", base, sub) < 0)
		return NULL;
	return out;
}

int files_source_open(const char *platform, const struct cps_settings *settings,
                      struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct files_source *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_init(&s->image, 0);
	cps_buf_init(&s->arena, 0);
	cps_conn_status_reset(&s->counts);
	s->committed = s->last_index = -1;
	s->inbox = strdup(cps_settings_get(settings, "inbox"));
	s->done = s->inbox ? dir_or_default(settings, "done_dir", s->inbox, "done") : NULL;
	s->rejected =
	    s->inbox ? dir_or_default(settings, "rejected_dir", s->inbox, "rejected") : NULL;
	s->stable_ms = cps_settings_get_int(settings, "stable_ms", 2000);
	s->max_file_bytes = cps_settings_get_int(settings, "max_file_bytes", 268435456);
	s->max_dead_letters = cps_settings_get_int(settings, "max_dead_letters", 100);
	if (!s->inbox || !s->done || !s->rejected) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	if (files_prefixes_load(&s->entities, settings, ".entity") < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	s->header.name = CPS_HEADER_WRITER_FP;
	s->header.value = s->writer_fp;
	s->header.value_len = 16;
	if (access(s->inbox, R_OK | W_OK | X_OK) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "inbox '%s': %s", s->inbox,
		                strerror(errno));
		goto out_free;
	}
	rc = files_load_catalog(settings, &s->catalog, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = files_effective_new(settings, &s->effective, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = files_make_dir(s->done, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = files_make_dir(s->rejected, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = ledger_load(s, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	*out = &s->base;
	return CPS_OK;
out_free:
	files_source_close(&s->base);
	return rc;
}
