/*
 * The files connector (type "files"): Avro Object Container File exchange
 * with the Shenshan zone. Source: complete files in an inbox, record by
 * record, with done/ + receipts, rejected/ + reasons, a sha256 ledger against
 * duplicates and a progress file for crash resume. Sink: one rolling file per
 * entity in an outbox, tmp + fsync + rename, each with a manifest.
 */
#include "connectors/connector.h"
#include "connectors/builtin.h"
#include "base/clock.h"
#include "base/log.h"
#include "connectors/files/ocf.h"
#include "codec/schema.h"
#include "codec/guard.h"

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

#define FACILITY           "FILES"
#define HEADER_WRITER_FP   "cpsync-writer-fingerprint"
#define HEADER_SCHEMA_FP   "cpsync-schema-fingerprint"
#define PROGRESS_NAME      ".progress"
#define LEDGER_NAME        ".ledger"
#define SINK_BLOCK_BYTES   (64 * 1024)
#define SINK_BLOCK_RECORDS 1000
#define ENTITY_MAX         64

static const struct cps_setting_decl files_settings[] = {
    {"inbox", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE | CPS_SETTING_REQUIRED,
     "directory the source picks up Avro container files from"},
    {"done_dir", CPS_SETTING_STRING, "", 0, 0, CPS_SETTING_SOURCE,
     "where processed files and their receipts go; empty = <inbox>/done"},
    {"rejected_dir", CPS_SETTING_STRING, "", 0, 0, CPS_SETTING_SOURCE,
     "where unreadable or broken files and their reasons go; empty = <inbox>/rejected"},
    {"stable_ms", CPS_SETTING_INT, "2000", 0, 86400000, CPS_SETTING_SOURCE,
     "a file unmodified for this long is complete (*.tmp and dot files are never read)"},
    {"max_file_bytes", CPS_SETTING_INT, "268435456", 1024, INT64_C(17179869184), CPS_SETTING_SOURCE,
     "larger inbox files are rejected"},
    {"file.*.entity", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE,
     "entity of the files whose name starts with the given prefix (longest prefix wins); "
     "otherwise the writer schema's name (cpsync.Person: person)"},
    {"outbox", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SINK | CPS_SETTING_REQUIRED,
     "directory the sink writes Avro container files and manifests to"},
    {"roll_records", CPS_SETTING_INT, "1000", 1, 100000000, CPS_SETTING_SINK,
     "a file is closed and published after this many records"},
    {"roll_ms", CPS_SETTING_INT, "60000", 1, 86400000, CPS_SETTING_SINK,
     "a file is closed and published when it is this old (checked at put and flush)"},
    {"codec", CPS_SETTING_STRING, "null", 0, 0, CPS_SETTING_SINK,
     "block codec of written files: null or deflate"},
    {"schema_dir", CPS_SETTING_STRING, "", 0, 0, CPS_SETTING_SINK,
     "schema catalog the sink takes record schemas from; empty = $CPSYNC_SCHEMA_DIR or the "
     "source tree's schemas/"},
};

/* ---------------------------------------------------------------- sha256 */

struct sha256 {
	uint32_t h[8];
	uint64_t n;
	uint8_t block[64];
	size_t fill;
};

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(s->h, h0, sizeof(h0));
	s->n = 0;
	s->fill = 0;
}

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
		              sha_k[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->n += len;
	while (len > 0) {
		size_t take = 64 - s->fill < len ? 64 - s->fill : len;

		memcpy(s->block + s->fill, p, take);
		s->fill += take;
		p += take;
		len -= take;
		if (s->fill == 64) {
			sha256_block(s, s->block);
			s->fill = 0;
		}
	}
}

/* Writes 64 lowercase hex digits and a NUL into hex. */
static void sha256_final_hex(struct sha256 *s, char hex[65])
{
	uint64_t bits = s->n * 8;
	uint8_t pad = 0x80, len[8];

	sha256_update(s, &pad, 1);
	pad = 0;
	while (s->fill != 56)
		sha256_update(s, &pad, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, len, 8);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 8 * i, 9, "%08" PRIx32, s->h[i]);
}

/* ------------------------------------------------------------- utilities */

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* "2026-01-02T03:04:05.678Z" */
static void iso_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes dir/name durably: dir/.name.tmp, fsync, rename, fsync dir. */
static int write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
                             char *errstr, size_t errstr_size)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "creating '%s': %s",
		                       tmp, strerror(errno));
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "writing '%s': %s",
		                       tmp, strerror(e));
	}
	close(fd);
	if (rename(tmp, path) < 0 || fsync_dir(dir) < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "publishing '%s': %s", path, strerror(errno));
	return CPS_OK;
}

static int write_json_atomic(const char *dir, const char *name, json_t *j, char *errstr,
                             size_t errstr_size)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (!text)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = write_file_atomic(dir, name, text, strlen(text), errstr, errstr_size);
	free(text);
	return rc;
}

static int make_dir(const char *dir, char *errstr, size_t errstr_size)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "creating '%s': %s", dir,
		                       strerror(errno));
	return CPS_OK;
}

/* ---------------------------------------------------------------- source */

struct entity_prefix {
	char *prefix, *entity;
};

struct files_source {
	struct cps_conn base;
	char *inbox, *done, *rejected;
	int64_t stable_ms, max_file_bytes;
	struct entity_prefix *prefixes;
	size_t n_prefixes;
	char (*ledger)[65];
	size_t n_ledger, cap_ledger;

	/* the file in flight (one at a time) */
	bool have_file, eof, broken, resumed;
	char name[CPS_STREAM_MAX];
	char sha[65];
	char reason[256];
	char entity[ENTITY_MAX];
	bool has_entity;
	char writer_fp[17];
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

	uint64_t received, n_committed, errors;
	int64_t last_msg_ms;
	char last_error[256];
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
	if (s->n_ledger == s->cap_ledger) {
		size_t cap = s->cap_ledger ? 2 * s->cap_ledger : 64;
		void *p = realloc(s->ledger, cap * sizeof(*s->ledger));

		if (!p)
			return -1;
		s->ledger = p;
		s->cap_ledger = cap;
	}
	memcpy(s->ledger[s->n_ledger++], sha, 65);
	return 0;
}

/* done/.ledger: one "<sha256> <file name>" line per processed file. */
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
	n = snprintf(line, sizeof(line), "%s %s\n", s->sha, s->name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "appending to '%s': %s", path, strerror(e));
	}
	close(fd);
	if (ledger_remember(s, s->sha) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}

/* inbox/.progress: {"file", "sha256", "committed"} of the file in flight. */
static int progress_write(struct files_source *s, char *errstr, size_t errstr_size)
{
	json_t *j = json_pack("{s:s, s:s, s:I}", "file", s->name, "sha256", s->sha, "committed",
	                      (json_int_t)s->committed);
	int rc;

	if (!j)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = write_json_atomic(s->inbox, PROGRESS_NAME, j, errstr, errstr_size);
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
	    !strcmp(json_string_value(json_object_get(j, "file")), s->name) &&
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
	fsync_dir(s->inbox);
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
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "moving '%s' to '%s': %s", from, to, strerror(errno));
	if (fsync_dir(dir) < 0 || fsync_dir(s->inbox) < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "syncing '%s': %s",
		                       dir, strerror(errno));
	return CPS_OK;
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
	return write_file_atomic(s->rejected, rname, text,
	                         (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1, errstr,
	                         errstr_size);
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
	size_t best = 0;
	avro_schema_t schema = cps_ocf_reader_schema(s->reader);

	s->has_entity = false;
	for (size_t i = 0; i < s->n_prefixes; i++) {
		size_t n = strlen(s->prefixes[i].prefix);

		if (n > best && !strncmp(s->name, s->prefixes[i].prefix, n)) {
			best = n;
			snprintf(s->entity, sizeof(s->entity), "%s", s->prefixes[i].entity);
			s->has_entity = true;
		}
	}
	if (!s->has_entity && avro_typeof(schema) == AVRO_RECORD) {
		const char *n = avro_schema_name(schema);

		snprintf(s->entity, sizeof(s->entity), "%s", n ? n : "");
		for (char *p = s->entity; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		s->has_entity = s->entity[0] != '\0';
	}
}

/* Opens inbox/<name>: 1 when it is now the file in flight, 0 when it was
 * dealt with (rejected, duplicate, gone). */
static int open_file(struct files_source *s, const char *name, char *errstr, size_t errstr_size)
{
	char path[PATH_MAX], why[CPS_ERRSTR_SIZE], moved[CPS_STREAM_MAX + 16];
	struct cps_schema *writer = NULL;
	struct sha256 sha;
	bool in_progress;
	int fd, rc;

	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(path, sizeof(path), "%s/%s", s->inbox, name);
	cps_buf_reset(&s->image);
	s->image.limit = (size_t)s->max_file_bytes + 1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0
		                       : cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                                         "opening '%s': %s", path, strerror(errno));
	rc = cps_buf_read_fd(&s->image, fd);
	close(fd);
	if (rc < 0) {
		snprintf(why, sizeof(why),
		         "file cannot be read or is larger than %" PRId64 " bytes",
		         s->max_file_bytes);
		rc = reject_file(s, name, why, errstr, errstr_size);
		return rc < 0 ? rc : 0;
	}
	sha256_init(&sha);
	sha256_update(&sha, s->image.data, s->image.len);
	sha256_final_hex(&sha, s->sha);
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
	cps_schema_free(writer);
	pick_entity(s);
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

/* The oldest complete file of the inbox into name; false when none. */
static bool oldest_complete(struct files_source *s, char *name, size_t name_size)
{
	DIR *d = opendir(s->inbox);
	struct dirent *de;
	int64_t now = cps_wall_ms(), best_mtime = INT64_MAX;
	bool found = false;

	if (!d)
		return false;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		size_t n = strlen(de->d_name);
		struct stat st;
		int64_t mtime;

		if (de->d_name[0] == '.' || (n >= 4 && !strcmp(de->d_name + n - 4, ".tmp")) ||
		    n >= CPS_STREAM_MAX)
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->inbox, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		if (now - mtime < s->stable_ms)
			continue;
		if (mtime < best_mtime || (mtime == best_mtime && strcmp(de->d_name, name) < 0)) {
			best_mtime = mtime;
			snprintf(name, name_size, "%s", de->d_name);
			found = true;
		}
	}
	closedir(d);
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
		iso_time(cps_wall_ms(), at, sizeof(at));
		receipt = json_pack(
		    "{s:s, s:s, s:I, s:I, s:s?, s:s, s:s, s:b, s:s}", "file", s->name, "sha256",
		    s->sha, "bytes", (json_int_t)s->image.len, "records", (json_int_t)s->records,
		    "entity", s->has_entity ? s->entity : NULL, "writer_fingerprint", s->writer_fp,
		    "codec", cps_ocf_codec_name(cps_ocf_reader_codec(s->reader)), "resumed",
		    s->resumed, "processed_at", at);
		if (!receipt)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		snprintf(rname, sizeof(rname), "%s.receipt.json", s->name);
		rc = write_json_atomic(s->done, rname, receipt, errstr, errstr_size);
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
		m->source_ts_ms = -1;
		m->headers = &s->header;
		m->n_headers = 1;
		s->last_index = index;
		batch->n++;
	}
	return CPS_OK;
}

static int files_source_poll(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
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
		sleep_ms(deadline - cps_mono_ms() < 50 ? deadline - cps_mono_ms() : 50);
	}
out:
	for (size_t i = 0; i < batch->n; i++)
		s->msgs[i].value = s->arena.data + s->value_offs[i];
	s->received += batch->n;
	if (batch->n)
		s->last_msg_ms = cps_wall_ms();
	if (rc < 0) {
		s->errors++;
		snprintf(s->last_error, sizeof(s->last_error), "%s", errstr ? errstr : "");
		return rc;
	}
	return CPS_OK;
}

static int files_source_commit(struct cps_conn *c, const struct cps_position *pos, size_t n,
                               char *errstr, size_t errstr_size)
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
	s->n_committed += (uint64_t)(committed - s->committed);
	s->committed = committed;
	rc = progress_write(s, errstr, errstr_size);
	if (rc == CPS_OK && s->eof && s->committed >= s->last_index)
		rc = finish_file(s, errstr, errstr_size);
	if (rc != CPS_OK) {
		s->errors++;
		snprintf(s->last_error, sizeof(s->last_error), "%s", errstr ? errstr : "");
	}
	return rc;
}

static void files_source_close(struct cps_conn *c)
{
	struct files_source *s = (struct files_source *)c;

	if (!s)
		return;
	close_current(s);
	cps_buf_release(&s->image);
	cps_buf_release(&s->arena);
	for (size_t i = 0; i < s->n_prefixes; i++) {
		free(s->prefixes[i].prefix);
		free(s->prefixes[i].entity);
	}
	free(s->prefixes);
	free(s->ledger);
	free(s->msgs);
	free(s->value_offs);
	free(s->inbox);
	free(s->done);
	free(s->rejected);
	free(s);
}

static void files_source_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct files_source *s = (struct files_source *)c;

	st->lag = s->have_file && s->last_index >= s->committed ? s->last_index - s->committed : -1;
	st->received = s->received;
	st->committed = s->n_committed;
	st->errors = s->errors;
	st->last_msg_ms = s->last_msg_ms;
	snprintf(st->last_error, sizeof(st->last_error), "%s", s->last_error);
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

static int files_source_open(const char *platform, const struct cps_settings *settings,
                             struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct files_source *s = calloc(1, sizeof(*s));
	const struct cps_setting *kv;
	size_t it = 0;
	int rc;

	*out = NULL;
	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_init(&s->image, 0);
	cps_buf_init(&s->arena, 0);
	s->last_msg_ms = -1;
	s->committed = s->last_index = -1;
	s->inbox = strdup(cps_settings_get(settings, "inbox"));
	s->done = s->inbox ? dir_or_default(settings, "done_dir", s->inbox, "done") : NULL;
	s->rejected =
	    s->inbox ? dir_or_default(settings, "rejected_dir", s->inbox, "rejected") : NULL;
	s->stable_ms = cps_settings_get_int(settings, "stable_ms", 2000);
	s->max_file_bytes = cps_settings_get_int(settings, "max_file_bytes", 268435456);
	if (!s->inbox || !s->done || !s->rejected) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	while ((kv = cps_settings_next(settings, "file.", &it))) {
		size_t n = strlen(kv->key);
		struct entity_prefix *p;

		if (n < 13 || strcmp(kv->key + n - 7, ".entity") != 0)
			continue;
		p = realloc(s->prefixes, (s->n_prefixes + 1) * sizeof(*p));
		if (!p) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out_free;
		}
		s->prefixes = p;
		p = &s->prefixes[s->n_prefixes++];
		p->prefix = strndup(kv->key + 5, n - 12);
		p->entity = strdup(kv->value);
		if (!p->prefix || !p->entity) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out_free;
		}
	}
	s->header.name = HEADER_WRITER_FP;
	s->header.value = s->writer_fp;
	s->header.value_len = 16;
	if (access(s->inbox, R_OK | W_OK | X_OK) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "inbox '%s': %s", s->inbox,
		                     strerror(errno));
		goto out_free;
	}
	rc = make_dir(s->done, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = make_dir(s->rejected, errstr, errstr_size);
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

/* ------------------------------------------------------------------ sink */

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
	struct sha256 sha;
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
	uint64_t enqueued, delivered, failed, errors;
	int64_t last_msg_ms;
	char last_error[256];
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
	if (write_all(f->fd, f->out.data, f->out.len) < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "writing '%s': %s",
		                       f->tmp_path, strerror(errno));
	sha256_update(&f->sha, f->out.data, f->out.len);
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
	sha256_init(&f->sha);
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
		f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
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
	if (rename(f->tmp_path, path) < 0 || fsync_dir(k->outbox) < 0) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "publishing '%s': %s",
		                     path, strerror(errno));
		goto out;
	}
	sha256_final_hex(&f->sha, hex);
	snprintf(fp, sizeof(fp), "%016" PRIx64, f->schema->fingerprint);
	iso_time(f->first_ms, first, sizeof(first));
	iso_time(f->last_ms, last, sizeof(last));
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
	rc = write_json_atomic(k->outbox, mname, manifest, errstr, errstr_size);
	json_decref(manifest);
	if (rc == CPS_OK) {
		k->delivered += (uint64_t)f->records;
		CPS_LOG(CPS_LOG_INFO, FACILITY, "wrote '%s': %" PRId64 " records", f->name,
		        f->records);
	}
out:
	if (rc != CPS_OK)
		k->failed += (uint64_t)f->records;
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
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct cps_header *h = &r->headers[i];
		char hex[17];

		if (strcmp(h->name, HEADER_SCHEMA_FP) != 0)
			continue;
		if (!h->value || h->value_len != 16)
			return NULL;
		memcpy(hex, h->value, 16);
		hex[16] = '\0';
		return cps_catalog_by_fingerprint(k->catalog, strtoull(hex, NULL, 16));
	}
	return cps_catalog_by_entity(k->catalog, r->entity);
}

static int files_sink_put(struct cps_conn *c, const struct cps_sink_record *recs, size_t n,
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
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "record %zu has no usable entity", i);
			break;
		}
		schema = record_schema(k, r);
		if (!schema) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "no schema for a '%s' record in the catalog", r->entity);
			break;
		}
		if (cps_guard_check(schema->avro, r->value, r->value_len, NULL, why, sizeof(why)) !=
		    CPS_OK) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "'%s' record is not a %s: %s",
			                r->entity, schema->name, why);
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
				rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                     "out of memory");
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
		k->enqueued++;
		k->last_msg_ms = f->last_ms;
		if (f->pending.len >= SINK_BLOCK_BYTES || f->pending_count >= SINK_BLOCK_RECORDS)
			rc = out_file_write_block(k, f, errstr, errstr_size);
		if (rc == CPS_OK && f->records >= k->roll_records)
			rc = roll_at(k, fi, errstr, errstr_size);
	}
	if (rc != CPS_OK) {
		k->errors++;
		snprintf(k->last_error, sizeof(k->last_error), "%s", errstr ? errstr : "");
	}
	return rc;
}

static int files_sink_flush(struct cps_conn *c, int timeout_ms, char *errstr, size_t errstr_size)
{
	struct files_sink *k = (struct files_sink *)c;
	int rc = roll_aged(k, true, errstr, errstr_size);

	if (rc != CPS_OK) {
		k->errors++;
		snprintf(k->last_error, sizeof(k->last_error), "%s", errstr ? errstr : "");
	}
	return rc;
}

static void files_sink_close(struct cps_conn *c)
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

static void files_sink_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct files_sink *k = (struct files_sink *)c;
	int64_t open_records = 0;

	for (size_t i = 0; i < k->n_files; i++)
		open_records += k->files[i].records;
	st->lag = open_records;
	st->enqueued = k->enqueued;
	st->delivered = k->delivered;
	st->failed = k->failed;
	st->errors = k->errors;
	st->last_msg_ms = k->last_msg_ms;
	snprintf(st->last_error, sizeof(st->last_error), "%s", k->last_error);
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

static int files_sink_open(const char *platform, const struct cps_settings *settings,
                           struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct files_sink *k = calloc(1, sizeof(*k));
	const char *dir = cps_settings_get(settings, "schema_dir");
	const char *codec = cps_settings_get(settings, "codec");
	char deflt[PATH_MAX];
	int rc;

	*out = NULL;
	if (!k)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	k->last_msg_ms = -1;
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
	if (!dir || !*dir) {
		dir = getenv("CPSYNC_SCHEMA_DIR");
		if (!dir || !*dir) {
			snprintf(deflt, sizeof(deflt), "%s/schemas", CPSYNC_SOURCE_DIR);
			dir = deflt;
		}
	}
	rc = cps_catalog_load_dir(dir, &k->catalog, errstr, errstr_size);
	if (rc != CPS_OK) {
		rc = CPS_ERR_FATAL;
		goto out_free;
	}
	if (access(k->outbox, W_OK | X_OK) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "outbox '%s': %s",
		                     k->outbox, strerror(errno));
		goto out_free;
	}
	remove_stale_tmp(k->outbox);
	*out = &k->base;
	return CPS_OK;
out_free:
	files_sink_close(&k->base);
	return rc;
}

const struct cps_connector_ops cps_files_connector = {
    .version = CPS_CONNECTOR_API_VERSION,
    .type = "files",
    .settings = files_settings,
    .n_settings = CPS_ARRAY_SIZE(files_settings),
    .source_open = files_source_open,
    .source_poll = files_source_poll,
    .source_commit = files_source_commit,
    .source_close = files_source_close,
    .source_describe = files_source_describe,
    .sink_open = files_sink_open,
    .sink_put = files_sink_put,
    .sink_flush = files_sink_flush,
    .sink_close = files_sink_close,
    .sink_describe = files_sink_describe,
};
