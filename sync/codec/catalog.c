/*
 * The schema catalog (see schema.h): every *.avsc of a directory and of its
 * immediate subdirectories, built with each other's definitions at hand (so
 * files may refer to each other in any order), looked up by entity, full
 * name, fingerprint or registry id; ids from dir/schema-ids.json. Older
 * versions kept for old data (dir/writers/) are loaded last, each checked to
 * be readable as the current schema of its name.
 */
#include "codec/schema.h"
#include "codec/schema_int.h"

#include "base/common.h"
#include "codec/evolution.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_NAME "schema-ids.json"
#define WRITERS_DIR   "writers"

struct cps_catalog {
	struct cps_schema **items;
	size_t n, cap;
};

/* ---- the catalog ---- */

void cps_catalog_free(struct cps_catalog *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		cps_schema_free(c->items[i]);
	free(c->items);
	free(c);
}

/* Takes ownership of `s` in every case (it is freed on error). Not thread-safe:
 * add schemas before sharing the catalog, or under the caller's lock. */
int cps_catalog_add(struct cps_catalog *c, struct cps_schema *s, char *errstr, size_t errstr_size)
{
	if (cps_grow(&c->items, &c->cap, c->n + 1, sizeof(*c->items)) != 0) {
		cps_schema_free(s);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	c->items[c->n++] = s;
	return CPS_OK;
}

size_t cps_catalog_count(struct cps_catalog *c)
{
	return c ? c->n : 0;
}

struct cps_schema *cps_catalog_at(struct cps_catalog *c, size_t i)
{
	return c && i < c->n ? c->items[i] : NULL;
}

struct cps_schema *cps_catalog_by_name(struct cps_catalog *c, const char *full_name_)
{
	for (size_t i = 0; c && full_name_ && i < c->n; i++)
		if (!c->items[i]->writer_only && c->items[i]->name &&
		    !strcmp(c->items[i]->name, full_name_))
			return c->items[i];
	return NULL;
}

/* Does the file base name (without .avsc) equal `entity`? */
static int base_name_is(const char *path, const char *entity)
{
	const char *base, *slash;
	size_t len = strlen(entity);

	if (!path)
		return 0;
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	return !strncmp(base, entity, len) && !strcmp(base + len, ".avsc");
}

/* Does the lowercased short name of the record equal `entity`? */
static int short_name_is(const char *name, const char *entity)
{
	const char *dot = strrchr(name, '.'), *p = dot ? dot + 1 : name;

	for (; *p && *entity; p++, entity++)
		if ((*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p) != *entity)
			return 0;
	return !*p && !*entity;
}

struct cps_schema *cps_catalog_by_entity(struct cps_catalog *c, const char *entity)
{
	if (!c || !entity || !*entity)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (!c->items[i]->writer_only && base_name_is(c->items[i]->path, entity))
			return c->items[i];
	for (size_t i = 0; i < c->n; i++)
		if (!c->items[i]->writer_only && c->items[i]->name &&
		    short_name_is(c->items[i]->name, entity))
			return c->items[i];
	return NULL;
}

struct cps_schema *cps_catalog_by_fingerprint(struct cps_catalog *c, uint64_t fp)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (c->items[i]->fingerprint == fp)
			return c->items[i];
	return NULL;
}

struct cps_schema *cps_catalog_by_id(struct cps_catalog *c, int32_t id)
{
	for (size_t i = 0; c && id != 0 && i < c->n; i++)
		if (c->items[i]->id == id)
			return c->items[i];
	return NULL;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls > lx && !strcmp(s + ls - lx, suffix);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the paths of dir's *.avsc files (sorted) to `files`, and, when
 * `subdirs` is not NULL, the paths of its subdirectories to `subdirs`. */
static int list_dir(const char *dir, struct strlist *files, struct strlist *subdirs, char *errstr,
                    size_t errstr_size)
{
	struct strlist f = {0}, d = {0};
	struct dirent *e;
	DIR *dp = opendir(dir);
	int rc = CPS_OK;

	if (!dp)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s: cannot open schema directory: %s", dir, strerror(errno));
	while ((e = readdir(dp))) {
		struct stat st;
		char *p;

		if (e->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", dir, e->d_name) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			break;
		}
		if (stat(p, &st) == 0) {
			if (S_ISREG(st.st_mode) && has_suffix(e->d_name, ".avsc"))
				rc = cps_schema_strlist_add(&f, p);
			else if (S_ISDIR(st.st_mode) && subdirs)
				rc = cps_schema_strlist_add(&d, p);
		}
		free(p);
		if (rc) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			break;
		}
	}
	closedir(dp);
	if (f.n)
		qsort(f.v, f.n, sizeof(*f.v), cmp_str);
	if (d.n)
		qsort(d.v, d.n, sizeof(*d.v), cmp_str);
	for (size_t i = 0; rc == CPS_OK && i < f.n; i++)
		if (cps_schema_strlist_add(files, f.v[i]))
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; rc == CPS_OK && i < d.n; i++)
		if (cps_schema_strlist_add(subdirs, d.v[i]))
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_schema_strlist_release(&f);
	cps_schema_strlist_release(&d);
	return rc;
}

/* Gives one schema (or the schemas of one name) the id a manifest names. */
typedef int (*manifest_apply_fn)(struct cps_catalog *c, const char *path, const char *dir,
                                 const char *entry, int32_t id, char *errstr, size_t errstr_size);

/* Reads dir/schema-ids.json ({"<entry>": id, …}) when it exists and applies
 * each valid id; `what` names its keys in the error ("full name"). */
static int read_manifest(struct cps_catalog *c, const char *dir, const char *what,
                         manifest_apply_fn apply, char *errstr, size_t errstr_size)
{
	char *path;
	json_t *json = NULL, *v;
	const char *entry;
	int rc = CPS_OK;

	if (asprintf(&path, "%s/%s", dir, MANIFEST_NAME) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (access(path, F_OK) != 0)
		goto out; /* no manifest: no ids */
	if (!(json = cps_schema_load_json_file(path, errstr, errstr_size, &rc)))
		goto out;
	if (!json_is_object(json)) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "%s: not a JSON object of %s to id", path, what);
		goto out;
	}
	json_object_foreach (json, entry, v) {
		json_int_t id = json_integer_value(v);

		if (!json_is_integer(v) || id <= 0 || id > INT32_MAX) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "%s: id of \"%s\" is not an integer from 1 to 2147483647",
			                path, entry);
			goto out;
		}
		if ((rc = apply(c, path, dir, entry, (int32_t)id, errstr, errstr_size)))
			goto out;
	}
out:
	json_decref(json);
	free(path);
	return rc;
}

/* schema-ids.json: every schema of that name (identical copies) gets the id. */
static int apply_name_id(struct cps_catalog *c, const char *path, const char *dir, const char *key,
                         int32_t id, char *errstr, size_t errstr_size)
{
	struct cps_schema *s = cps_catalog_by_name(c, key), *other;

	(void)dir;
	if (!s)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s: no schema named \"%s\"", path, key);
	other = cps_catalog_by_id(c, id);
	if (other && other != s)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s: id %lld given to both \"%s\" and \"%s\"", path,
		                  (long long)id, other->name, key);
	for (size_t i = 0; i < c->n; i++)
		if (c->items[i]->name && !strcmp(c->items[i]->name, key))
			c->items[i]->id = id;
	return CPS_OK;
}

/* Builds one older version from writers/ (self-contained, or referring to
 * current types) and checks that the current schema of its name reads it. */
static int add_writer(struct cps_catalog *c, const char *path, const struct definitions *defs,
                      char *errstr, size_t errstr_size)
{
	char why[CPS_ERRSTR_SIZE];
	struct cps_schema *s, *current;
	json_t *doc;
	int rc;

	if (!(doc = cps_schema_load_json_file(path, errstr, errstr_size, &rc)))
		return rc;
	rc = cps_schema_build(doc, path, defs, &s, errstr, errstr_size);
	json_decref(doc);
	if (rc)
		return rc;
	s->writer_only = 1;
	current = cps_catalog_by_name(c, s->name);
	if (!current)
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "%s: an older version of \"%s\", which no current schema defines",
		                path, s->name);
	else if (current->fingerprint == s->fingerprint)
		rc = cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "%s: identical to the current \"%s\" (%s): keep only older versions in %s/",
		    path, s->name, current->path, WRITERS_DIR);
	else if (cps_schema_check_compatible(s, current, why, sizeof(why)) != CPS_OK)
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "%s: data written with it cannot be read as the current \"%s\": %s",
		                path, s->name, why);
	if (rc) {
		cps_schema_free(s);
		return rc;
	}
	return cps_catalog_add(c, s, errstr, errstr_size);
}

static struct cps_schema *writer_by_file(struct cps_catalog *c, const char *file)
{
	for (size_t i = 0; i < c->n; i++) {
		const char *slash = c->items[i]->path ? strrchr(c->items[i]->path, '/') : NULL;

		if (c->items[i]->writer_only && slash && !strcmp(slash + 1, file))
			return c->items[i];
	}
	return NULL;
}

/* writers/schema-ids.json: the id of one older version, by file name. */
static int apply_file_id(struct cps_catalog *c, const char *path, const char *wdir,
                         const char *file, int32_t id, char *errstr, size_t errstr_size)
{
	struct cps_schema *s = writer_by_file(c, file), *other;

	if (!s)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s: no file \"%s\" in %s",
		                  path, file, wdir);
	if ((other = cps_catalog_by_id(c, id)) && other != s)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s: id %lld of \"%s\" is already the id of %s", path,
		                  (long long)id, file, other->path ? other->path : other->name);
	s->id = id;
	return CPS_OK;
}

/* Loads dir/writers/ into a catalog of the current schemas. */
static int load_writers(struct cps_catalog *c, const char *wdir, const struct definitions *defs,
                        char *errstr, size_t errstr_size)
{
	struct strlist files = {0};
	int rc = list_dir(wdir, &files, NULL, errstr, errstr_size);

	for (size_t i = 0; rc == CPS_OK && i < files.n; i++)
		rc = add_writer(c, files.v[i], defs, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = read_manifest(c, wdir, "file name", apply_file_id, errstr, errstr_size);
	cps_schema_strlist_release(&files);
	return rc;
}

static int is_writers_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	return !strcmp(slash ? slash + 1 : path, WRITERS_DIR);
}

int cps_catalog_load_dir(const char *dir, struct cps_catalog **out, char *errstr,
                         size_t errstr_size)
{
	struct strlist files = {0}, subdirs = {0};
	struct definitions defs = {0};
	struct cps_catalog *c = NULL;
	json_t **docs = NULL;
	int rc;

	*out = NULL;
	if ((rc = list_dir(dir, &files, &subdirs, errstr, errstr_size)))
		goto out;
	for (size_t i = 0; i < subdirs.n; i++)
		if (!is_writers_dir(subdirs.v[i]) &&
		    (rc = list_dir(subdirs.v[i], &files, NULL, errstr, errstr_size)))
			goto out;
	if (!(c = calloc(1, sizeof(*c))) || (files.n && !(docs = calloc(files.n, sizeof(*docs))))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	/* Every file's JSON first, so that files may refer to each other in any order. */
	for (size_t i = 0; i < files.n; i++) {
		if (!(docs[i] = cps_schema_load_json_file(files.v[i], errstr, errstr_size, &rc)))
			goto out;
		if (cps_schema_definitions_collect(&defs, docs[i], "", 0, 1)) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < files.n; i++) {
		struct cps_schema *s, *same;

		if ((rc = cps_schema_build(docs[i], files.v[i], &defs, &s, errstr, errstr_size)))
			goto out;
		same = cps_catalog_by_name(c, s->name);
		if (same && same->fingerprint != s->fingerprint) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "%s: schema \"%s\" is already defined differently in %s",
			                files.v[i], s->name, same->path);
			cps_schema_free(s);
			goto out;
		}
		if ((rc = cps_catalog_add(c, s, errstr, errstr_size)))
			goto out;
	}
	if ((rc = read_manifest(c, dir, "full name", apply_name_id, errstr, errstr_size)))
		goto out;
	for (size_t i = 0; i < subdirs.n; i++)
		if (is_writers_dir(subdirs.v[i]) &&
		    (rc = load_writers(c, subdirs.v[i], &defs, errstr, errstr_size)))
			goto out;
	*out = c;
	c = NULL;
out:
	for (size_t i = 0; docs && i < files.n; i++)
		json_decref(docs[i]);
	free(docs);
	cps_schema_definitions_release(&defs);
	cps_schema_strlist_release(&files);
	cps_schema_strlist_release(&subdirs);
	cps_catalog_free(c);
	return rc;
}
