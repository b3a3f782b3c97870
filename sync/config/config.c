/*
 * Configuration loading (see config.h): the file is read, parsed into a
 * node tree (config_yaml.c) and validated against cps_config_keys, which
 * fills in the defaults (config_validate.c). Also the getters on a loaded
 * configuration and the platforms the engine runs.
 */
#include "config/config_int.h"

#include "base/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- load ------------------------------------------------------------- */

int cps_config_load_string(const char *text, size_t len, const char *label, const char *dir,
                           struct cps_config **out, char *errstr, size_t errstr_size)
{
	struct cps_config *cfg;
	int rc;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->file = strdup(label ? label : "config")) ||
	    !(cfg->dir = strdup(dir ? dir : "."))) {
		cps_config_free(cfg);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	rc = cps_config_parse_yaml(text, len, cfg->file, &cfg->root, errstr, errstr_size);
	if (rc != CPS_OK)
		goto fail;
	rc = cps_config_validate_tree(cfg->root, cfg->file, cfg->dir, cps_config_keys,
	                              cps_config_keys_count, errstr, errstr_size);
	if (rc != CPS_OK)
		goto fail;
	*out = cfg;
	return CPS_OK;
fail:
	cps_config_free(cfg);
	return rc;
}

int cps_config_load(const char *path, struct cps_config **out, char *errstr, size_t errstr_size)
{
	struct cps_buf b;
	char *dir, *slash;
	int rc;

	*out = NULL;
	cps_buf_init(&b, CPS_CONFIG_MAX_FILE_BYTES);
	if (cps_buf_read_file(&b, path) < 0) {
		int e = errno;
		cps_buf_release(&b);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "cannot read config file '%s': %s", path,
		                  e ? strerror(e) : "larger than 4 MiB");
	}
	dir = strdup(path);
	if (!dir) {
		cps_buf_release(&b);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		strcpy(dir, ".");
	rc = cps_config_load_string(b.data ? (const char *)b.data : "", b.len, path, dir, out,
	                            errstr, errstr_size);
	free(dir);
	cps_buf_release(&b);
	return rc;
}

void cps_config_free(struct cps_config *cfg)
{
	if (!cfg)
		return;
	cps_config_node_free(cfg->root);
	free(cfg->file);
	free(cfg->dir);
	free(cfg);
}

const char *cps_config_file(const struct cps_config *cfg)
{
	return cfg->file;
}

const char *cps_config_dir(const struct cps_config *cfg)
{
	return cfg->dir;
}

const struct cps_config_node *cps_config_root(const struct cps_config *cfg)
{
	return cfg ? cfg->root : NULL;
}

/* ---- lookups ---------------------------------------------------------- */

const struct cps_config_node *cps_config_find(const struct cps_config *cfg, const char *path)
{
	return cps_config_node_find(cps_config_root(cfg), path);
}

const char *cps_config_get_string(const struct cps_config *cfg, const char *path)
{
	return cps_config_node_string(cps_config_root(cfg), path, NULL);
}

long long cps_config_get_int(const struct cps_config *cfg, const char *path)
{
	return cps_config_node_int(cps_config_root(cfg), path, 0);
}

bool cps_config_get_bool(const struct cps_config *cfg, const char *path)
{
	return cps_config_node_bool(cps_config_root(cfg), path, false);
}

const struct cps_config_node *cps_config_get_list(const struct cps_config *cfg, const char *path)
{
	const struct cps_config_node *n = cps_config_find(cfg, path);

	return n && n->kind == CPS_NODE_SEQ ? n : NULL;
}

const struct cps_config_node *cps_config_get_map(const struct cps_config *cfg, const char *path)
{
	const struct cps_config_node *n = cps_config_find(cfg, path);

	return n && n->kind == CPS_NODE_MAP ? n : NULL;
}

/* ---- platforms ---------------------------------------------------------- */

size_t cps_config_platform_count(const struct cps_config *cfg)
{
	const struct cps_config_node *p = cps_config_get_map(cfg, "platforms");

	return p ? p->count : 0;
}

static void fill_platform(const struct cps_config_node *n, struct cps_config_platform *out)
{
	static const struct cps_config_node empty = {.kind = CPS_NODE_MAP};

	out->name = n->key;
	out->connector = cps_config_node_string(n, "connector", "");
	out->enabled = cps_config_node_bool(n, "enabled", true);
	out->freshness_target_s = cps_config_node_int(n, "freshness_target_s", 0);
	out->source = cps_config_node_child(n, "source");
	out->sink = cps_config_node_child(n, "sink");
	if (!out->source)
		out->source = &empty;
	if (!out->sink)
		out->sink = &empty;
	out->line = n->line;
}

int cps_config_platform_at(const struct cps_config *cfg, size_t i, struct cps_config_platform *out)
{
	const struct cps_config_node *p = cps_config_get_map(cfg, "platforms");

	if (!p || i >= p->count)
		return CPS_ERR_INVALID;
	fill_platform(p->children[i], out);
	return CPS_OK;
}

int cps_config_platform_find(const struct cps_config *cfg, const char *name,
                             struct cps_config_platform *out)
{
	const struct cps_config_node *n =
	    cps_config_node_child(cps_config_get_map(cfg, "platforms"), name);

	if (!n)
		return CPS_ERR_INVALID;
	fill_platform(n, out);
	return CPS_OK;
}
