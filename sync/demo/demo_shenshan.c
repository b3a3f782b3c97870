/*
 * The Shenshan zone as files for `cpsync demo`: the generator's Shenshan
 * records collected per entity and published as Avro Object Container Files
 * in the zone's inbox (written under a dot-name .tmp, fsync'd, renamed into
 * place, directory fsync'd), the way the zone's own export job delivers them
 * to the files connector. Files carry records only: a delete is not written.
 */
#include "demo/demo.h"

#include "codec/avro_json.h"
#include "base/buf.h"
#include "codec/codec.h"
#include "base/common.h"
#include "connectors/files/ocf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_RECORDS 1000
#define BLOCK_BYTES   ((size_t)1 << 20)
#define FILE_RECORDS  100000 /* a file is published at this many records anyway */

struct out_file {
	struct cps_buf image; /* header and sealed blocks */
	struct cps_buf block; /* records of the open block */
	int64_t block_count, records;
	uint8_t sync[CPS_OCF_SYNC_SIZE];
};

struct cps_demo_shenshan {
	char *inbox;
	struct cps_codec *codecs[CPS_DEMO_ENTITIES];
	struct out_file files[CPS_DEMO_ENTITIES];
	unsigned seq;
	uint64_t files_written, skipped_deletes;
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cps_demo_shenshan_open(const char *inbox, struct cps_catalog *catalog,
                           struct cps_demo_shenshan **out, char *errstr, size_t errstr_size)
{
	struct cps_demo_shenshan *s = calloc(1, sizeof(*s));
	int rc = CPS_OK;

	*out = NULL;
	if (!s || !(s->inbox = strdup(inbox))) {
		free(s);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	if (access(inbox, W_OK) != 0) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "demo shenshan: inbox '%s': %s", inbox, strerror(errno));
		goto out_close;
	}
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
		struct cps_schema *schema =
		    cps_catalog_by_entity(catalog, cps_demo_entity_names[e]);

		cps_buf_init(&s->files[e].image, (size_t)1 << 30);
		cps_buf_init(&s->files[e].block, 0);
		if (!schema) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "demo shenshan: the catalog has no '%s' schema",
			                cps_demo_entity_names[e]);
			goto out_close;
		}
		rc = cps_codec_new(schema, NULL, &s->codecs[e], errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_close;
	}
	*out = s;
	return CPS_OK;

out_close:
	cps_demo_shenshan_close(s);
	return rc;
}

/* Appends the open block to the file image. */
static int seal_block(struct out_file *f, char *errstr, size_t errstr_size)
{
	int rc;

	if (f->block_count == 0)
		return CPS_OK;
	rc = cps_ocf_write_block(&f->image, CPS_OCF_NULL, f->sync, f->block_count, f->block.data,
	                         f->block.len, errstr, errstr_size);
	cps_buf_reset(&f->block);
	f->block_count = 0;
	return rc;
}

int cps_demo_shenshan_put(struct cps_demo_shenshan *s, const struct cps_demo_msg *m, char *errstr,
                          size_t errstr_size)
{
	struct cps_codec *codec = s->codecs[m->entity];
	struct out_file *f = &s->files[m->entity];
	char err[CPS_ERRSTR_SIZE];
	int rc;

	if (!m->record) {
		s->skipped_deletes++;
		return CPS_OK;
	}
	if (f->records == 0 && f->image.len == 0) {
		struct cps_schema *schema = cps_codec_schema(codec);
		char *json = json_dumps(schema->json, JSON_COMPACT);

		if (getrandom(f->sync, sizeof(f->sync), 0) != (ssize_t)sizeof(f->sync))
			for (size_t i = 0; i < sizeof(f->sync); i++)
				f->sync[i] = (uint8_t)(wall_ms() >> (i % 8) ^ (int64_t)i * 131);
		if (!json)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		rc = cps_ocf_write_header(&f->image, json, CPS_OCF_NULL, f->sync);
		free(json);
		if (rc != CPS_OK)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "demo shenshan: writing a file header failed");
	}
	if (cps_value_from_json(m->record, cps_codec_value(codec), err, sizeof(err)) != CPS_OK ||
	    cps_codec_encode(codec, cps_codec_value(codec), &f->block, err, sizeof(err)) != CPS_OK)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "demo shenshan: encoding a %s record failed: %s",
		                  cps_demo_entity_names[m->entity], err);
	f->block_count++;
	f->records++;
	if (f->block_count >= BLOCK_RECORDS || f->block.len >= BLOCK_BYTES) {
		rc = seal_block(f, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	if (f->records >= FILE_RECORDS)
		return cps_demo_shenshan_flush(s, errstr, errstr_size);
	return CPS_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes one entity's file: tmp, fsync, rename, fsync the directory. */
static int publish(struct cps_demo_shenshan *s, int e, char *errstr, size_t errstr_size)
{
	struct out_file *f = &s->files[e];
	char name[128], stamp[32], tmp[PATH_MAX], final_path[PATH_MAX];
	int64_t now = wall_ms();
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	int fd, dfd, rc;

	rc = seal_block(f, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	snprintf(name, sizeof(name), "shenshan-%s-%s%03dZ-%06u.avro", cps_demo_entity_names[e],
	         stamp, (int)(now % 1000), ++s->seq);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", s->inbox, name);
	snprintf(final_path, sizeof(final_path), "%s/%s", s->inbox, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "demo shenshan: creating '%s': %s", tmp, strerror(errno));
	if (write_all(fd, f->image.data, f->image.len) < 0 || fsync(fd) < 0) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "demo shenshan: writing '%s': %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return rc;
	}
	close(fd);
	if (rename(tmp, final_path) < 0) {
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                "demo shenshan: publishing '%s': %s", final_path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	dfd = open(s->inbox, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	s->files_written++;
	cps_buf_reset(&f->image);
	f->records = 0;
	return CPS_OK;
}

int cps_demo_shenshan_flush(struct cps_demo_shenshan *s, char *errstr, size_t errstr_size)
{
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
		if (s->files[e].records > 0) {
			int rc = publish(s, e, errstr, errstr_size);

			if (rc != CPS_OK)
				return rc;
		}
	}
	return CPS_OK;
}

size_t cps_demo_shenshan_pending(const struct cps_demo_shenshan *s)
{
	size_t n = 0;

	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		n += (size_t)s->files[e].records;
	return n;
}

void cps_demo_shenshan_close(struct cps_demo_shenshan *s)
{
	if (!s)
		return;
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
		cps_codec_free(s->codecs[e]);
		cps_buf_release(&s->files[e].image);
		cps_buf_release(&s->files[e].block);
	}
	free(s->inbox);
	free(s);
}
