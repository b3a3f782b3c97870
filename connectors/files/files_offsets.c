/*
 * The files source's offsets (connector.h: offsets_get): the ledger
 * position, read from the inbox's files as the source leaves them — the
 * file in flight and its committed record (inbox/.progress), the files done
 * (done/.ledger lines) and the files waiting. No reset: the sha256 ledger is
 * what keeps a file from being applied twice, so there is no position to move.
 */
#include "connectors/files/files_int.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Lines of done/.ledger (0 when there is none yet). */
static int64_t ledger_lines(const char *done)
{
	char path[PATH_MAX], line[CPS_STREAM_MAX + 80];
	int64_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/.ledger", done);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strlen(line) >= 64 && strspn(line, "0123456789abcdef") == 64;
	fclose(f);
	return n;
}

/* Files waiting in the inbox: names not starting with '.' nor ending .tmp. */
static int64_t inbox_waiting(const char *inbox)
{
	DIR *d = opendir(inbox);
	struct dirent *de;
	int64_t n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char path[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.' || (len > 4 && !strcmp(de->d_name + len - 4, ".tmp")))
			continue;
		snprintf(path, sizeof(path), "%s/%s", inbox, de->d_name);
		if (de->d_type == DT_REG ||
		    (de->d_type == DT_UNKNOWN && stat(path, &st) == 0 && S_ISREG(st.st_mode)))
			n++;
	}
	closedir(d);
	return n;
}

int files_offsets_get(const char *platform, const struct cps_settings *settings,
                      struct cps_offsets *out, char *errstr, size_t errstr_size)
{
	const char *inbox = cps_settings_get(settings, "inbox");
	const char *done_dir = cps_settings_get(settings, "done_dir");
	char done[PATH_MAX], path[PATH_MAX];
	struct cps_offset_entry e;
	json_t *j;

	(void)platform;
	if (done_dir && *done_dir)
		snprintf(done, sizeof(done), "%s", done_dir);
	else
		snprintf(done, sizeof(done), "%s/done", inbox);
	snprintf(path, sizeof(path), "%s/.progress", inbox);
	j = json_load_file(path, 0, NULL);
	if (j && json_is_string(json_object_get(j, "file")) &&
	    json_is_integer(json_object_get(j, "committed"))) {
		cps_offset_entry_init(&e, "file_in_flight",
		                      json_string_value(json_object_get(j, "file")));
		e.offset = json_integer_value(json_object_get(j, "committed"));
		if (json_is_string(json_object_get(j, "sha256")))
			snprintf(e.text, sizeof(e.text), "sha256:%.16s",
			         json_string_value(json_object_get(j, "sha256")));
		if (cps_offsets_add(out, &e) != CPS_OK) {
			json_decref(j);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
	}
	json_decref(j);
	cps_offset_entry_init(&e, "files_done", "done");
	e.offset = ledger_lines(done);
	e.lag = inbox_waiting(inbox);
	if (e.lag >= 0)
		e.end = e.offset + e.lag;
	if (cps_offsets_add(out, &e) != CPS_OK)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}
