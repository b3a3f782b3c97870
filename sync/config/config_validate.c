/*
 * Validation of a configuration tree against a declared key table: every
 * key known, every value of its type and range, empty values dropped so
 * that defaults apply; then defaults, required keys and relative paths.
 * Also the validation of one section against a connector's own table.
 */
#include "config/config_int.h"

#include "base/common.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct validator {
	const char *label;
	const char *dir;
	const struct cps_config_key *keys;
	size_t nkeys;
	const char *comps[CPS_CONFIG_MAX_DEPTH + 8];
	int depth;
	char *errstr;
	size_t errstr_size;
};

static void join_path(const struct validator *v, int depth, char *out, size_t size)
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < depth && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "." : "", v->comps[i]);
}

static const char *kind_name(enum cps_config_node_kind k)
{
	static const char *const names[] = {[CPS_NODE_NULL] = "nothing",
	                                    [CPS_NODE_SCALAR] = "a scalar",
	                                    [CPS_NODE_MAP] = "a mapping",
	                                    [CPS_NODE_SEQ] = "a list"};

	return (size_t)k < CPS_ARRAY_SIZE(names) ? names[k] : "a scalar";
}

static int type_error(struct validator *v, const struct cps_config_node *n, const char *path,
                      bool secret, const char *expected)
{
	if (n->kind != CPS_NODE_SCALAR)
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
		                  "%s:%d: key '%s': expected %s, got %s", v->label, n->line, path,
		                  expected, kind_name(n->kind));
	if (secret)
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
		                  "%s:%d: key '%s': expected %s, got a value not shown (secret)",
		                  v->label, n->line, path, expected);
	return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
	                  "%s:%d: key '%s': expected %s, got '%.64s'", v->label, n->line, path,
	                  expected, n->value);
}

/* "a,b" as one scalar -> a sequence, trimmed, empty items dropped. */
static int split_list(struct cps_config_node *n)
{
	char *text = n->value, *save = NULL;

	n->value = NULL;
	n->kind = CPS_NODE_SEQ;
	for (char *tok = strtok_r(text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		char *end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = 0;
		if (!*tok)
			continue;
		struct cps_config_node *item = cps_config_node_new(CPS_NODE_SCALAR, n->line);
		if (!item || !(item->value = strdup(tok)) || cps_config_node_add(n, item) < 0) {
			if (item && !item->value)
				cps_config_node_free(item);
			free(text);
			return -1;
		}
	}
	free(text);
	return 0;
}

/* Checks one declared leaf. Returns 1 when the node is empty and must be
 * removed (so that the default applies). */
static int check_leaf(struct validator *v, struct cps_config_node *n,
                      const struct cps_config_key *k, const char *path)
{
	bool secret = cps_config_key_secret(k, v->comps[v->depth - 1]);
	long long iv;

	if (n->kind == CPS_NODE_NULL) {
		if (k->type == CPS_CFG_MAP) {
			n->kind = CPS_NODE_MAP;
			return 0;
		}
		if (k->type == CPS_CFG_LIST) {
			n->kind = CPS_NODE_SEQ;
			return 0;
		}
		return 1;
	}
	switch (k->type) {
	case CPS_CFG_STRING:
		if (n->kind != CPS_NODE_SCALAR)
			return type_error(v, n, path, secret, "a string");
		return 0;
	case CPS_CFG_INT:
	case CPS_CFG_DURATION_MS: {
		bool dur = k->type == CPS_CFG_DURATION_MS;
		const char *what =
		    dur ? "a duration (milliseconds, or 250ms, 5s, 2m, 1h)" : "an integer";
		if (n->kind != CPS_NODE_SCALAR ||
		    !(dur ? cps_config_parse_duration_ms(n->value, &iv)
		          : cps_config_parse_int(n->value, &iv)))
			return type_error(v, n, path, secret, what);
		if (k->min < k->max && (iv < k->min || iv > k->max)) {
			if (secret)
				return cps_seterr(
				    CPS_ERR_INVALID, v->errstr, v->errstr_size,
				    "%s:%d: key '%s': value is out of range %lld..%lld", v->label,
				    n->line, path, k->min, k->max);
			return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
			                  "%s:%d: key '%s': %s is out of range %lld..%lld%s",
			                  v->label, n->line, path, n->value, k->min, k->max,
			                  dur ? " ms" : "");
		}
		return 0;
	}
	case CPS_CFG_BOOL:
		if (n->kind != CPS_NODE_SCALAR || cps_config_parse_bool(n->value) < 0)
			return type_error(v, n, path, secret, "true or false");
		return 0;
	case CPS_CFG_ENUM:
		if (n->kind != CPS_NODE_SCALAR || !cps_config_in_allowed(k->allowed, n->value)) {
			char exp[256];
			snprintf(exp, sizeof(exp), "one of %s", k->allowed);
			return type_error(v, n, path, secret, exp);
		}
		return 0;
	case CPS_CFG_LIST:
		if (n->kind == CPS_NODE_SCALAR && split_list(n) < 0)
			return cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size,
			                  "out of memory");
		if (n->kind != CPS_NODE_SEQ)
			return type_error(v, n, path, secret, "a list of strings");
		for (size_t i = 0; i < n->count; i++) {
			struct cps_config_node *it = n->children[i];
			char ipath[600];

			snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
			if (it->kind != CPS_NODE_SCALAR)
				return type_error(v, it, ipath, secret, "a string");
			if (k->allowed && !cps_config_in_allowed(k->allowed, it->value)) {
				char exp[256];
				snprintf(exp, sizeof(exp), "one of %s", k->allowed);
				return type_error(v, it, ipath, secret, exp);
			}
		}
		return 0;
	case CPS_CFG_MAP:
		if (n->kind != CPS_NODE_MAP)
			return type_error(v, n, path, secret, "a mapping");
		return 0;
	}
	return 0;
}

/* Validates the children of map node `map`, whose path is comps[0..depth). */
static int validate_map(struct validator *v, struct cps_config_node *map)
{
	char path[512];
	int rc;

	if (v->depth >= CPS_CONFIG_MAX_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
		                  "%s:%d: nested too deeply", v->label, map->line);
	for (size_t i = 0; i < map->count;) {
		struct cps_config_node *c = map->children[i];
		const struct cps_config_key *k;

		v->comps[v->depth++] = c->key;
		join_path(v, v->depth, path, sizeof(path));
		k = cps_config_match_exact(v->keys, v->nkeys, v->comps, v->depth);
		if (k) {
			rc = check_leaf(v, c, k, path);
			v->depth--;
			if (rc < 0)
				return rc;
			if (rc == 1) {
				cps_config_node_remove_at(map, i);
				continue;
			}
		} else if (cps_config_match_prefix(v->keys, v->nkeys, v->comps, v->depth)) {
			if (c->kind == CPS_NODE_NULL)
				c->kind = CPS_NODE_MAP;
			if (c->kind != CPS_NODE_MAP) {
				rc = type_error(v, c, path, false, "a mapping");
				v->depth--;
				return rc;
			}
			rc = validate_map(v, c);
			v->depth--;
			if (rc < 0)
				return rc;
		} else {
			char name[128];
			const char *s = cps_config_suggest(v->keys, v->nkeys, v->comps, v->depth,
			                                   name, sizeof(name));
			v->depth--;
			if (s) {
				char full[700];
				join_path(v, v->depth, full, sizeof(full));
				return cps_seterr(
				    CPS_ERR_INVALID, v->errstr, v->errstr_size,
				    "%s:%d: unknown key '%s' (did you mean '%s%s%s'?)", v->label,
				    c->line, path, full, *full ? "." : "", s);
			}
			return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
			                  "%s:%d: unknown key '%s'", v->label, c->line, path);
		}
		i++;
	}
	return CPS_OK;
}

/* A default (or required-ness, or path resolution) for key k below `node`,
 * whose own path is comps[0..depth); `rest` is what is left of k->path. */
static int apply_key(struct validator *v, struct cps_config_node *node, const char *rest,
                     const struct cps_config_key *k)
{
	const char *c, *p = rest;
	size_t len;
	char path[512];

	if (!cps_config_next_comp(&p, &c, &len) || node->kind != CPS_NODE_MAP)
		return CPS_OK;
	if (len == 1 && *c == '*') {
		if (!p) /* a free-form leaf has no default */
			return CPS_OK;
		for (size_t i = 0; i < node->count; i++) {
			int rc;
			v->comps[v->depth++] = node->children[i]->key;
			rc = apply_key(v, node->children[i], p, k);
			v->depth--;
			if (rc < 0)
				return rc;
		}
		return CPS_OK;
	}
	struct cps_config_node *child = cps_config_node_child_mut(node, c, len);
	char name[128];
	snprintf(name, sizeof(name), "%.*s", (int)len, c);
	v->comps[v->depth++] = name;
	int rc = CPS_OK;
	if (p) { /* an intermediate map */
		if (!child) {
			child = cps_config_node_add_map(node, name);
			if (!child) {
				rc = cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size,
				                "out of memory");
				goto out;
			}
		}
		rc = apply_key(v, child, p, k);
		goto out;
	}
	if (!child) {
		const char *def = k->def;
		char host[256];

		if (k->flags & CPS_CFG_REQUIRED) {
			join_path(v, v->depth, path, sizeof(path));
			rc = cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
			                "%s:%d: key '%s' is required", v->label, node->line, path);
			goto out;
		}
		if (k->flags & CPS_CFG_DEF_HOSTNAME) {
			if (gethostname(host, sizeof(host)) < 0)
				snprintf(host, sizeof(host), "localhost");
			host[sizeof(host) - 1] = 0;
			def = host;
		}
		if (!def && k->type != CPS_CFG_LIST && k->type != CPS_CFG_MAP)
			goto out;
		child = cps_config_node_new(k->type == CPS_CFG_MAP ? CPS_NODE_MAP : CPS_NODE_SCALAR,
		                            node->line);
		if (!child || !(child->key = strdup(name)) ||
		    (child->kind == CPS_NODE_SCALAR && !(child->value = strdup(def ? def : ""))) ||
		    (k->type == CPS_CFG_LIST && split_list(child) < 0)) {
			cps_config_node_free(child);
			rc = cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size, "out of memory");
			goto out;
		}
		if (cps_config_node_add(node, child) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size, "out of memory");
			goto out;
		}
	}
	if ((k->flags & CPS_CFG_PATH) && child->kind == CPS_NODE_SCALAR && child->value[0] &&
	    child->value[0] != '/' && v->dir && strcmp(v->dir, ".")) {
		char *joined;
		if (asprintf(&joined, "%s/%s", v->dir, child->value) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size, "out of memory");
			goto out;
		}
		free(child->value);
		child->value = joined;
	}
out:
	v->depth--;
	return rc;
}

int cps_config_validate_tree(struct cps_config_node *root, const char *label, const char *dir,
                             const struct cps_config_key *keys, size_t nkeys, char *errstr,
                             size_t errstr_size)
{
	struct validator v = {
	    .label = label,
	    .dir = dir,
	    .keys = keys,
	    .nkeys = nkeys,
	    .errstr = errstr,
	    .errstr_size = errstr_size,
	};
	int rc;

	rc = validate_map(&v, root);
	v.depth = 0;
	for (size_t i = 0; rc == CPS_OK && i < v.nkeys; i++) {
		rc = apply_key(&v, root, v.keys[i].path, &v.keys[i]);
		v.depth = 0;
	}
	return rc;
}

int cps_config_validate_section(struct cps_config *cfg, const char *section_path,
                                const struct cps_config_key *keys, size_t nkeys, char *errstr,
                                size_t errstr_size)
{
	struct validator v = {
	    .label = cfg->file,
	    .dir = cfg->dir,
	    .keys = keys,
	    .nkeys = nkeys,
	    .errstr = errstr,
	    .errstr_size = errstr_size,
	};
	struct cps_config_node *node = cfg->root;
	char copy[512];
	char *save = NULL;

	/* walk (and create) the section; names in section_path hold no dots
	 * inside keys, as sections are declared names or platform names */
	snprintf(copy, sizeof(copy), "%s", section_path ? section_path : "");
	for (char *tok = strtok_r(copy, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		struct cps_config_node *c = cps_config_node_child_mut(node, tok, strlen(tok));
		if (!c) {
			c = cps_config_node_add_map(node, tok);
			if (!c)
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "out of memory");
		}
		if (c->kind == CPS_NODE_NULL)
			c->kind = CPS_NODE_MAP;
		if (c->kind != CPS_NODE_MAP)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "%s:%d: key '%s': expected a mapping, got %s", cfg->file,
			                  c->line, section_path, kind_name(c->kind));
		if (v.depth >= CPS_CONFIG_MAX_DEPTH)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "section path too deep");
		v.comps[v.depth++] = c->key;
		node = c;
	}
	/* the section's names are now comps[0..base): match a copy of the
	 * table whose paths carry the section as a prefix, so that errors name
	 * the full path; defaults are applied from the section down */
	struct cps_config_key *full = calloc(nkeys ? nkeys : 1, sizeof(*full));
	char **paths = calloc(nkeys ? nkeys : 1, sizeof(*paths));
	int base = v.depth, rc = CPS_OK;

	if (!full || !paths)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; rc == CPS_OK && i < nkeys; i++) {
		full[i] = keys[i];
		if (asprintf(&paths[i], "%s%s%s", section_path ? section_path : "",
		             section_path && *section_path ? "." : "", keys[i].path) < 0) {
			paths[i] = NULL;
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		full[i].path = paths[i];
	}
	if (rc == CPS_OK) {
		v.keys = full;
		rc = validate_map(&v, node);
	}
	for (size_t i = 0; rc == CPS_OK && i < nkeys; i++) {
		v.depth = base;
		rc = apply_key(&v, node, keys[i].path, &keys[i]);
	}
	for (size_t i = 0; paths && i < nkeys; i++)
		free(paths[i]);
	free(paths);
	free(full);
	return rc;
}
