/*
 * The files connector against an independent Avro implementation
 * (python3-avro, tests/files/ocf_tool.py): inbox files with null and deflate
 * codecs handed out record by record; truncated, corrupt-record, non-Avro and
 * duplicate files; links, fifos and control characters in names refused
 * unread, created files 0600 and folders 0700; crash mid-file and resume;
 * outbox files and manifests read back by python3-avro.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/common.h"
#include "connectors/connector.h"
#include "codec/guard.h"
#include "codec/schema.h"

extern const struct cps_connector_ops cps_files_connector;

static char src_dir[1024], test_schema[1100], test_records[1100], persons[1100];

static const char *python(void)
{
	const char *p = getenv("CPSYNC_PYTHON3");
	return p && *p ? p : "/usr/bin/python3";
}

/* Runs tests/files/ocf_tool.py with args and parses its JSON output. */
static json_t *tool(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *tool(const char *fmt, ...)
{
	char args[4096], cmd[6000];
	struct cps_buf out;
	va_list ap;
	json_t *j;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s/tests/files/ocf_tool.py %s", python(), src_dir, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	cps_buf_init(&out, 0);
	assert_int_equal(cps_buf_read_fd(&out, fileno(p)), 0);
	assert_int_equal(pclose(p), 0);
	j = json_loads((const char *)out.data, 0, NULL);
	cps_buf_release(&out);
	assert_non_null(j);
	return j;
}

struct fx {
	char root[256], inbox[300], done[320], rejected[330], stage[300], catalog[300];
	struct cps_conn *src;
	char fp[17]; /* writer fingerprint of tests/files/test.avsc */
};

static int rm_rf(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static bool exists(const char *dir, const char *name)
{
	char path[700];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static json_t *load_json(const char *dir, const char *name)
{
	char path[700];
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	j = json_load_file(path, 0, NULL);
	assert_non_null(j);
	return j;
}

static char *slurp(const char *dir, const char *name)
{
	char path[700];
	struct cps_buf b;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cps_buf_init(&b, 0);
	assert_int_equal(cps_buf_read_file(&b, path), 0);
	return (char *)b.data;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[700];
	FILE *out;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	out = fopen(path, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(data, 1, len, out), len);
	assert_int_equal(fclose(out), 0);
}

static void open_source(struct fx *f)
{
	struct cps_settings s;
	char err[CPS_ERRSTR_SIZE];

	cps_settings_init(&s);
	cps_settings_set(&s, "inbox", f->inbox);
	cps_settings_set(&s, "schema_dir", f->catalog);
	cps_settings_set(&s, "stable_ms", "0");
	cps_settings_set(&s, "file.alerts_.entity", "alert");
	assert_int_equal(cps_connector_source_open(&cps_files_connector, "shenshan", &s, &f->src,
	                                           err, sizeof(err)),
	                 CPS_OK);
	cps_settings_release(&s);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cps_schema *schema;
	struct cps_buf text;
	char err[CPS_ERRSTR_SIZE];

	snprintf(f->root, sizeof(f->root), "/tmp/cps_files_XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->inbox, sizeof(f->inbox), "%s/inbox", f->root);
	snprintf(f->stage, sizeof(f->stage), "%s/stage", f->root);
	snprintf(f->done, sizeof(f->done), "%s/done", f->inbox);
	snprintf(f->rejected, sizeof(f->rejected), "%s/rejected", f->inbox);
	assert_int_equal(mkdir(f->inbox, 0755), 0);
	assert_int_equal(mkdir(f->stage, 0755), 0);
	/* the source's catalog: the test schema is a writer it admits */
	snprintf(f->catalog, sizeof(f->catalog), "%s/catalog", f->root);
	assert_int_equal(mkdir(f->catalog, 0755), 0);
	cps_buf_init(&text, 0);
	assert_int_equal(cps_buf_read_file(&text, test_schema), 0);
	write_file(f->catalog, "test.avsc", text.data, text.len);
	assert_int_equal(
	    cps_schema_parse((const char *)text.data, text.len, &schema, err, sizeof(err)), CPS_OK);
	snprintf(f->fp, sizeof(f->fp), "%016" PRIx64, schema->fingerprint);
	cps_schema_free(schema);
	cps_buf_release(&text);
	open_source(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	cps_source_close(f->src);
	rm_rf(f->root);
	free(f);
	return 0;
}

/* Writes the test records with python3-avro into stage/, then renames the
 * file into the inbox (as a writer should); returns the tool's JSON. */
static json_t *deliver(struct fx *f, const char *name, const char *codec, int per_block)
{
	char staged[600], final[600];
	json_t *j;

	snprintf(staged, sizeof(staged), "%s/%s", f->stage, name);
	snprintf(final, sizeof(final), "%s/%s", f->inbox, name);
	j = tool("write '%s' '%s' '%s' %s %d", test_schema, test_records, staged, codec, per_block);
	assert_int_equal(rename(staged, final), 0);
	return j;
}

static void hex_to_bytes(const char *hex, struct cps_buf *out)
{
	cps_buf_reset(out);
	for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
		unsigned v;

		sscanf(hex + i, "%2x", &v);
		cps_buf_append_byte(out, (uint8_t)v);
	}
}

/* Polls until `want` messages came (or 3 s); copies them out. */
struct got {
	size_t n;
	struct cps_buf value[16];
	struct cps_position pos[16];
	char origin[16][CPS_ORIGIN_MAX];
	char entity[16][32];
	char fp[16][17];
};

static void poll_n(struct fx *f, struct got *g, size_t want, size_t max)
{
	char err[CPS_ERRSTR_SIZE];

	memset(g, 0, sizeof(*g));
	for (int round = 0; round < 30 && g->n < want; round++) {
		struct cps_source_batch b;

		assert_int_equal(cps_source_poll(f->src, &b, max, 100, err, sizeof(err)), CPS_OK);
		for (size_t i = 0; i < b.n; i++) {
			const struct cps_source_msg *m = &b.msgs[i];

			assert_true(g->n < 16);
			cps_buf_init(&g->value[g->n], 0);
			cps_buf_append(&g->value[g->n], m->value, m->value_len);
			g->pos[g->n] = m->pos;
			snprintf(g->origin[g->n], CPS_ORIGIN_MAX, "%s", m->origin);
			snprintf(g->entity[g->n], 32, "%s", m->entity ? m->entity : "");
			assert_int_equal(m->n_headers, 1);
			assert_string_equal(m->headers[0].name, "cpsync-writer-fingerprint");
			assert_int_equal(m->headers[0].value_len, 16);
			memcpy(g->fp[g->n], m->headers[0].value, 16);
			g->n++;
		}
	}
	assert_int_equal(g->n, want);
}

static void got_release(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		cps_buf_release(&g->value[i]);
}

static void assert_quiet(struct fx *f)
{
	struct cps_source_batch b;
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(cps_source_poll(f->src, &b, 10, 50, err, sizeof(err)), CPS_OK);
	assert_int_equal(b.n, 0);
}

static void commit(struct fx *f, const char *stream, int64_t offset)
{
	struct cps_position p;
	char err[CPS_ERRSTR_SIZE];

	memset(&p, 0, sizeof(p));
	snprintf(p.stream, sizeof(p.stream), "%s", stream);
	p.offset = offset;
	assert_int_equal(cps_source_commit(f->src, &p, 1, err, sizeof(err)), CPS_OK);
}

/* Checks the records of `name` against python's binaries. */
static void check_records(struct got *g, json_t *written, const char *name, const char *entity,
                          const char *fp, size_t first)
{
	json_t *recs = json_object_get(written, "records");
	struct cps_buf want;

	cps_buf_init(&want, 0);
	for (size_t i = 0; i < g->n; i++) {
		char origin[CPS_ORIGIN_MAX];

		hex_to_bytes(json_string_value(json_array_get(recs, first + i)), &want);
		assert_int_equal(g->value[i].len, want.len);
		assert_memory_equal(g->value[i].data, want.data, want.len);
		assert_string_equal(g->pos[i].stream, name);
		assert_int_equal(g->pos[i].partition, 0);
		assert_int_equal(g->pos[i].offset, (int64_t)(first + i));
		snprintf(origin, sizeof(origin), "shenshan:%s#%zu", name, first + i);
		assert_string_equal(g->origin[i], origin);
		assert_string_equal(g->entity[i], entity);
		assert_string_equal(g->fp[i], fp);
	}
	cps_buf_release(&want);
}

static void check_done(struct fx *f, const char *name, json_t *written, json_int_t records,
                       bool resumed)
{
	char rname[300];
	json_t *receipt;
	char *ledger;

	assert_true(exists(f->done, name));
	assert_false(exists(f->inbox, name));
	assert_false(exists(f->inbox, ".progress"));
	snprintf(rname, sizeof(rname), "%s.receipt.json", name);
	receipt = load_json(f->done, rname);
	assert_string_equal(json_string_value(json_object_get(receipt, "sha256")),
	                    json_string_value(json_object_get(written, "sha256")));
	assert_int_equal(json_integer_value(json_object_get(receipt, "records")), records);
	assert_string_equal(json_string_value(json_object_get(receipt, "file")), name);
	assert_int_equal(json_is_true(json_object_get(receipt, "resumed")), resumed);
	assert_true(json_is_string(json_object_get(receipt, "processed_at")));
	json_decref(receipt);
	ledger = slurp(f->done, ".ledger");
	assert_non_null(strstr(ledger, json_string_value(json_object_get(written, "sha256"))));
	free(ledger);
}

/* python3-avro files, null and deflate codecs, several blocks: every record
 * byte for byte, in order, oldest file first; nothing more before the
 * commit; done/ + receipt + ledger after it. The entity comes from the
 * writer schema (cpsync.test.Person) or from a file name prefix. */
static void test_python_files_handed_out(void **state)
{
	struct fx *f = *state;
	json_t *a = deliver(f, "person_a.avro", "null", 2);
	json_t *b;
	struct got g;
	char path[600];
	struct timespec old[2] = {{1000, 0}, {1000, 0}};

	snprintf(path, sizeof(path), "%s/person_a.avro", f->inbox);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	b = deliver(f, "alerts_b.avro", "deflate", 2);

	poll_n(f, &g, 5, 3);
	check_records(&g, a, "person_a.avro", "person", f->fp, 0);
	got_release(&g);
	assert_quiet(f); /* the file waits for its commit */
	commit(f, "person_a.avro", 2);
	assert_quiet(f);
	assert_true(exists(f->inbox, ".progress"));
	commit(f, "person_a.avro", 4);
	check_done(f, "person_a.avro", a, 5, false);

	poll_n(f, &g, 5, 10);
	check_records(&g, b, "alerts_b.avro", "alert", f->fp, 0);
	got_release(&g);
	commit(f, "alerts_b.avro", 4);
	check_done(f, "alerts_b.avro", b, 5, false);
	assert_quiet(f);
	json_decref(a);
	json_decref(b);
}

/* Cut inside the last block: the records of the whole blocks are handed
 * out, then the file moves to rejected/ with a reason. */
static void test_truncated_file(void **state)
{
	struct fx *f = *state;
	json_t *w = deliver(f, "trunc.avro", "deflate", 2);
	char path[600], *reason;
	struct stat st;
	struct got g;

	snprintf(path, sizeof(path), "%s/trunc.avro", f->inbox);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 10), 0);
	poll_n(f, &g, 4, 10);
	check_records(&g, w, "trunc.avro", "person", f->fp, 0);
	got_release(&g);
	assert_quiet(f);
	assert_false(exists(f->rejected, "trunc.avro"));
	commit(f, "trunc.avro", 3);
	assert_true(exists(f->rejected, "trunc.avro"));
	reason = slurp(f->rejected, "trunc.avro.reason");
	assert_non_null(strstr(reason, "block 3: truncated"));
	free(reason);
	assert_false(exists(f->inbox, "trunc.avro"));
	assert_false(exists(f->done, "trunc.avro"));
	json_decref(w);
}

/* One record with an impossible enum index: it is handed out as it is (the
 * guard rejects it, the engine dead-letters it) and so are the others; the
 * file is done. */
static void test_corrupt_record(void **state)
{
	struct fx *f = *state;
	json_t *w;
	char staged[600], final[600];
	struct cps_buf file, rec;
	struct cps_schema *schema;
	char err[CPS_ERRSTR_SIZE], *text;
	struct got g;
	uint8_t *at;
	FILE *out;

	snprintf(staged, sizeof(staged), "%s/corrupt.avro", f->stage);
	snprintf(final, sizeof(final), "%s/corrupt.avro", f->inbox);
	w = tool("write '%s' '%s' '%s' null 0", test_schema, test_records, staged);
	cps_buf_init(&file, 0);
	cps_buf_init(&rec, 0);
	assert_int_equal(cps_buf_read_file(&file, staged), 0);
	hex_to_bytes(json_string_value(json_array_get(json_object_get(w, "records"), 2)), &rec);
	at = memmem(file.data, file.len, rec.data, rec.len);
	assert_non_null(at);
	*at = 0x7e; /* kind: index 63 of 3 */
	out = fopen(final, "wb");
	fwrite(file.data, 1, file.len, out);
	fclose(out);

	text = slurp(src_dir, "tests/files/test.avsc");
	assert_int_equal(cps_schema_parse(text, strlen(text), &schema, err, sizeof(err)), CPS_OK);
	free(text);
	poll_n(f, &g, 5, 10);
	for (size_t i = 0; i < 5; i++) {
		int rc = cps_guard_check(schema->avro, g.value[i].data, g.value[i].len, NULL, err,
		                         sizeof(err));

		assert_int_equal(rc, i == 2 ? CPS_ERR_INVALID : CPS_OK);
		assert_int_equal(g.pos[i].offset, (int64_t)i);
	}
	assert_int_equal(g.value[2].len, rec.len);
	assert_int_equal(g.value[2].data[0], 0x7e);
	assert_memory_equal(g.value[2].data + 1, rec.data + 1, rec.len - 1);
	got_release(&g);
	commit(f, "corrupt.avro", 4);
	assert_true(exists(f->done, "corrupt.avro"));
	cps_schema_free(schema);
	cps_buf_release(&file);
	cps_buf_release(&rec);
	json_decref(w);
}

/* A file that is not Avro at all, and one with a broken header: rejected/
 * with a reason, nothing handed out. Dot files and *.tmp are never read. */
static void test_unreadable_files(void **state)
{
	struct fx *f = *state;
	char path[600], *reason;
	FILE *out;

	snprintf(path, sizeof(path), "%s/notes.txt", f->inbox);
	out = fopen(path, "w");
	fputs("this is not an Avro file\n", out);
	fclose(out);
	snprintf(path, sizeof(path), "%s/header.avro", f->inbox);
	out = fopen(path, "wb");
	fwrite("Obj\x01\x04\x16"
	       "avro.sc",
	       1, 13, out);
	fclose(out);
	snprintf(path, sizeof(path), "%s/.hidden.avro", f->inbox);
	out = fopen(path, "w");
	fputs("x", out);
	fclose(out);
	snprintf(path, sizeof(path), "%s/partial.avro.tmp", f->inbox);
	out = fopen(path, "w");
	fputs("x", out);
	fclose(out);

	assert_quiet(f);
	assert_quiet(f);
	assert_true(exists(f->rejected, "notes.txt"));
	reason = slurp(f->rejected, "notes.txt.reason");
	assert_non_null(strstr(reason, "not an Avro object container file"));
	free(reason);
	assert_true(exists(f->rejected, "header.avro"));
	reason = slurp(f->rejected, "header.avro.reason");
	assert_non_null(strstr(reason, "truncated header"));
	free(reason);
	assert_true(exists(f->inbox, ".hidden.avro"));
	assert_true(exists(f->inbox, "partial.avro.tmp"));
}

/* The inbox is a boundary: a symbolic link (to a file outside it), a fifo and
 * a name with a newline are refused to rejected/ without being read, and
 * what the source creates is readable by its own user only. */
static void test_hostile_inbox(void **state)
{
	struct fx *f = *state;
	char target[600], link[600], fifo[600], evil[600], *reason;
	struct stat st;
	FILE *out;

	snprintf(target, sizeof(target), "%s/secret.txt", f->stage);
	out = fopen(target, "w");
	fputs("not for cpsync\n", out);
	fclose(out);
	snprintf(link, sizeof(link), "%s/link.avro", f->inbox);
	assert_int_equal(symlink(target, link), 0);
	snprintf(fifo, sizeof(fifo), "%s/pipe.avro", f->inbox);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(evil, sizeof(evil), "%s/evil\nname.avro", f->inbox);
	out = fopen(evil, "w");
	fputs("x", out);
	fclose(out);

	for (int i = 0; i < 4; i++)
		assert_quiet(f);
	assert_int_equal(lstat(link, &st), -1); /* moved, as a link: the target stays */
	snprintf(link, sizeof(link), "%s/link.avro", f->rejected);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(stat(target, &st), 0);
	reason = slurp(f->rejected, "link.avro.reason");
	assert_non_null(strstr(reason, "symbolic link"));
	free(reason);
	reason = slurp(f->rejected, "pipe.avro.reason");
	assert_non_null(strstr(reason, "not a regular file"));
	free(reason);
	reason = slurp(f->rejected, "evil\nname.avro.reason");
	assert_non_null(strstr(reason, "control character"));
	free(reason);

	assert_int_equal(stat(f->rejected, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(link, sizeof(link), "%s/pipe.avro.reason", f->rejected);
	assert_int_equal(stat(link, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* The same bytes again under another name: not handed out again, moved to
 * done/ as <name>.duplicate. */
static void test_duplicate_file(void **state)
{
	struct fx *f = *state;
	json_t *w = deliver(f, "first.avro", "null", 0);
	char from[600], to[600], cmd[1300];
	struct got g;

	poll_n(f, &g, 5, 10);
	got_release(&g);
	commit(f, "first.avro", 4);
	check_done(f, "first.avro", w, 5, false);
	snprintf(from, sizeof(from), "%s/first.avro", f->done);
	snprintf(to, sizeof(to), "%s/again.avro", f->inbox);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
	assert_quiet(f);
	assert_true(exists(f->done, "again.avro.duplicate"));
	assert_false(exists(f->inbox, "again.avro"));

	/* after a restart too (the ledger is on disk) */
	cps_source_close(f->src);
	open_source(f);
	snprintf(to, sizeof(to), "%s/third.avro", f->inbox);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
	assert_quiet(f);
	assert_true(exists(f->done, "third.avro.duplicate"));
	json_decref(w);
}

/* Crash mid-file: records handed out but not committed come again after a
 * reopen, committed ones never. */
static void test_crash_resume(void **state)
{
	struct fx *f = *state;
	json_t *w = deliver(f, "resume.avro", "deflate", 2);
	struct got g;

	poll_n(f, &g, 2, 2);
	check_records(&g, w, "resume.avro", "person", f->fp, 0);
	got_release(&g);
	commit(f, "resume.avro", 1);
	poll_n(f, &g, 2, 2); /* 2 and 3, never committed */
	check_records(&g, w, "resume.avro", "person", f->fp, 2);
	got_release(&g);
	cps_source_close(f->src); /* the crash */
	open_source(f);
	poll_n(f, &g, 3, 10);
	check_records(&g, w, "resume.avro", "person", f->fp, 2);
	got_release(&g);
	commit(f, "resume.avro", 4);
	check_done(f, "resume.avro", w, 5, true);
	json_decref(w);
}

/* The sink: roll by count, flush rolls the rest; files read back in
 * python3-avro with the records put; manifests agree. */
static void sink_round_trip(const char *codec)
{
	char root[] = "/tmp/cps_files_sink_XXXXXX", err[CPS_ERRSTR_SIZE];
	struct cps_settings s;
	struct cps_conn *sink;
	struct cps_catalog *catalog;
	struct cps_sink_record recs[3];
	struct cps_buf bin[3];
	json_t *enc, *want = json_load_file(persons, 0, NULL);
	size_t accepted, n_avro = 0, total = 0;
	char fp[17];
	struct dirent *de;
	DIR *d;

	assert_non_null(mkdtemp(root));
	assert_int_equal(
	    cps_catalog_load_dir(getenv("CPSYNC_SCHEMA_DIR"), &catalog, err, sizeof(err)), CPS_OK);
	snprintf(fp, sizeof(fp), "%016" PRIx64,
	         cps_catalog_by_entity(catalog, "person")->fingerprint);
	enc = tool("encode '%s/person.avsc' '%s'", getenv("CPSYNC_SCHEMA_DIR"), persons);
	memset(recs, 0, sizeof(recs));
	for (size_t i = 0; i < 3; i++) {
		cps_buf_init(&bin[i], 0);
		hex_to_bytes(json_string_value(json_array_get(json_object_get(enc, "records"), i)),
		             &bin[i]);
		recs[i].entity = "person";
		recs[i].value = bin[i].data;
		recs[i].value_len = bin[i].len;
	}
	cps_settings_init(&s);
	cps_settings_set(&s, "outbox", root);
	cps_settings_set(&s, "roll_records", "2");
	cps_settings_set(&s, "codec", codec);
	assert_int_equal(
	    cps_connector_sink_open(&cps_files_connector, "shenshan", &s, &sink, err, sizeof(err)),
	    CPS_OK);
	assert_int_equal(cps_sink_put(sink, recs, 3, &accepted, err, sizeof(err)), CPS_OK);
	assert_int_equal(accepted, 3);
	assert_int_equal(cps_sink_flush(sink, 1000, err, sizeof(err)), CPS_OK);

	d = opendir(root);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char path[600], mname[300];
		json_t *back, *manifest, *records;

		assert_false(n > 4 && !strcmp(de->d_name + n - 4, ".tmp"));
		if (n < 5 || strcmp(de->d_name + n - 5, ".avro") != 0)
			continue;
		assert_int_equal(strncmp(de->d_name, "person-", 7), 0);
		n_avro++;
		snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
		back = tool("read '%s'", path);
		snprintf(mname, sizeof(mname), "%s.manifest.json", de->d_name);
		manifest = load_json(root, mname);
		records = json_object_get(back, "records");
		assert_string_equal(json_string_value(json_object_get(back, "schema")),
		                    "cpsync.Person");
		assert_string_equal(json_string_value(json_object_get(back, "codec")), codec);
		assert_int_equal(json_integer_value(json_object_get(manifest, "records")),
		                 json_array_size(records));
		assert_string_equal(json_string_value(json_object_get(manifest, "sha256")),
		                    json_string_value(json_object_get(back, "sha256")));
		assert_string_equal(
		    json_string_value(json_object_get(manifest, "schema_fingerprint")), fp);
		assert_string_equal(json_string_value(json_object_get(manifest, "entity")),
		                    "person");
		assert_string_equal(json_string_value(json_object_get(manifest, "file")),
		                    de->d_name);
		/* each record read back is one of those put, all fields equal */
		for (size_t i = 0; i < json_array_size(records); i++) {
			json_t *r = json_array_get(records, i), *match = NULL;

			for (size_t k = 0; k < 3; k++)
				if (json_equal(
				        json_object_get(json_array_get(want, k), "national_id"),
				        json_object_get(r, "national_id")))
					match = json_array_get(want, k);
			assert_non_null(match);
			assert_true(json_equal(match, r));
		}
		total += json_array_size(records);
		json_decref(back);
		json_decref(manifest);
	}
	closedir(d);
	assert_int_equal(n_avro, 2);
	assert_int_equal(total, 3);

	/* a record that is not a Person is refused, not written */
	recs[0].value = "\x01";
	recs[0].value_len = 1;
	assert_int_equal(cps_sink_put(sink, recs, 1, &accepted, err, sizeof(err)), CPS_ERR_INVALID);
	assert_int_equal(accepted, 0);
	cps_sink_close(sink);
	cps_settings_release(&s);
	for (size_t i = 0; i < 3; i++)
		cps_buf_release(&bin[i]);
	json_decref(enc);
	json_decref(want);
	cps_catalog_free(catalog);
	rm_rf(root);
}

static void test_sink_null(void **state)
{
	sink_round_trip("null");
}

static void test_sink_deflate(void **state)
{
	sink_round_trip("deflate");
}

int main(void)
{
	const char *dir = getenv("CPSYNC_SOURCE_DIR");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_python_files_handed_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreadable_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_inbox, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash_resume, setup, teardown),
	    cmocka_unit_test(test_sink_null),
	    cmocka_unit_test(test_sink_deflate),
	};

	snprintf(src_dir, sizeof(src_dir), "%s", dir ? dir : CPSYNC_SOURCE_DIR);
	if (!getenv("CPSYNC_SCHEMA_DIR")) {
		char schemas[1100];

		snprintf(schemas, sizeof(schemas), "%s/schemas", src_dir);
		setenv("CPSYNC_SCHEMA_DIR", schemas, 1);
	}
	snprintf(test_schema, sizeof(test_schema), "%s/tests/files/test.avsc", src_dir);
	snprintf(test_records, sizeof(test_records), "%s/tests/files/test_records.json", src_dir);
	snprintf(persons, sizeof(persons), "%s/tests/files/persons.json", src_dir);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
