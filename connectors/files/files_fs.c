/*
 * Durable file-system steps shared by the files source and sink: whole
 * writes, fsync of a directory, a file or JSON document published
 * atomically (tmp, fsync, rename, fsync dir), ISO times for receipts
 * and manifests, file names masked for what cpsync writes about them, and
 * the schema catalog both sides load.
 */
#include "connectors/files/files_int.h"
#include "base/pii.h"
#include "codec/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void files_sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *files_mask_name(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s", name);
	cps_mask_national_ids_in(buf);
	return buf;
}

/* "2026-01-02T03:04:05.678Z" */
void files_iso_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

int files_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int files_write_all(int fd, const void *p, size_t n)
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
int files_write_file_atomic(const char *dir, const char *name, const void *data, size_t len,
                            char *errstr, size_t errstr_size)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "creating '%s': %s", tmp,
		                  strerror(errno));
	if (files_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "writing '%s': %s", tmp,
		                  strerror(e));
	}
	close(fd);
	if (rename(tmp, path) < 0 || files_fsync_dir(dir) < 0)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "publishing '%s': %s",
		                  path, strerror(errno));
	return CPS_OK;
}

int files_write_json_atomic(const char *dir, const char *name, json_t *j, char *errstr,
                            size_t errstr_size)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	if (!text)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = files_write_file_atomic(dir, name, text, strlen(text), errstr, errstr_size);
	free(text);
	return rc;
}

int files_make_dir(const char *dir, char *errstr, size_t errstr_size)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "creating '%s': %s", dir,
		                  strerror(errno));
	return CPS_OK;
}

int files_load_catalog(const struct cps_settings *settings, struct cps_catalog **out, char *errstr,
                       size_t errstr_size)
{
	const char *dir = cps_settings_get(settings, "schema_dir");
	char deflt[PATH_MAX];

	if (!dir || !*dir) {
		dir = getenv("CPSYNC_SCHEMA_DIR");
		if (!dir || !*dir) {
			snprintf(deflt, sizeof(deflt), "%s/schemas", CPSYNC_SOURCE_DIR);
			dir = deflt;
		}
	}
	return cps_catalog_load_dir(dir, out, errstr, errstr_size) == CPS_OK ? CPS_OK
	                                                                     : CPS_ERR_FATAL;
}
