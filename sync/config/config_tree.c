/*
 * The node tree of a loaded configuration: building it (new nodes, adding
 * and removing children, intermediate maps for defaults) and reading it
 * (children by key, nodes by dotted path, typed values below a node).
 * Loading, validation and the getters on a whole config build on these.
 */
#include "config/config_int.h"
#include "base/common.h"

#include <stdlib.h>
#include <string.h>

struct cps_config_node *cps_config_node_new(enum cps_config_node_kind kind, int line)
{
	struct cps_config_node *n = calloc(1, sizeof(*n));

	if (n) {
		n->kind = kind;
		n->line = line;
	}
	return n;
}

void cps_config_node_free(struct cps_config_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->count; i++)
		cps_config_node_free(n->children[i]);
	free(n->children);
	free(n->key);
	free(n->value);
	free(n);
}

/* Takes ownership of child (frees it on failure). */
int cps_config_node_add(struct cps_config_node *parent, struct cps_config_node *child)
{
	if (cps_grow(&parent->children, &parent->cap, parent->count + 1,
	             sizeof(*parent->children)) != 0) {
		cps_config_node_free(child);
		return -1;
	}
	parent->children[parent->count++] = child;
	return 0;
}

void cps_config_node_remove_at(struct cps_config_node *parent, size_t i)
{
	cps_config_node_free(parent->children[i]);
	memmove(parent->children + i, parent->children + i + 1,
	        (parent->count - i - 1) * sizeof(*parent->children));
	parent->count--;
}

const struct cps_config_node *cps_config_node_child(const struct cps_config_node *map,
                                                    const char *key)
{
	if (!map || map->kind != CPS_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (!strcmp(map->children[i]->key, key))
			return map->children[i];
	return NULL;
}

struct cps_config_node *cps_config_node_child_mut(struct cps_config_node *map, const char *key,
                                                  size_t len)
{
	if (!map || map->kind != CPS_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (strlen(map->children[i]->key) == len &&
		    !memcmp(map->children[i]->key, key, len))
			return map->children[i];
	return NULL;
}

/* A new empty map child named `name`, carrying the parent's line; NULL
 * when memory is out. */
struct cps_config_node *cps_config_node_add_map(struct cps_config_node *parent, const char *name)
{
	struct cps_config_node *c = cps_config_node_new(CPS_NODE_MAP, parent->line);

	if (!c)
		return NULL;
	if (!(c->key = strdup(name))) {
		cps_config_node_free(c);
		return NULL;
	}
	if (cps_config_node_add(parent, c) < 0)
		return NULL;
	return c;
}

/* ---- lookups ---------------------------------------------------------- */

const struct cps_config_node *cps_config_node_find(const struct cps_config_node *from,
                                                   const char *path)
{
	if (!from || !path)
		return NULL;
	if (!*path)
		return from;
	if (from->kind != CPS_NODE_MAP)
		return NULL;
	for (size_t i = 0; i < from->count; i++) {
		const struct cps_config_node *c = from->children[i];
		size_t n = strlen(c->key);

		if (strncmp(path, c->key, n))
			continue;
		if (!path[n])
			return c;
		if (path[n] == '.') {
			const struct cps_config_node *r = cps_config_node_find(c, path + n + 1);
			if (r)
				return r;
		}
	}
	return NULL;
}

const char *cps_config_node_string(const struct cps_config_node *from, const char *path,
                                   const char *def)
{
	const struct cps_config_node *n = cps_config_node_find(from, path);

	return n && n->kind == CPS_NODE_SCALAR ? n->value : def;
}

long long cps_config_node_int(const struct cps_config_node *from, const char *path, long long def)
{
	const struct cps_config_node *n = cps_config_node_find(from, path);
	long long v;

	if (!n || n->kind != CPS_NODE_SCALAR)
		return def;
	if (cps_config_parse_int(n->value, &v) || cps_config_parse_duration_ms(n->value, &v))
		return v;
	return def;
}

bool cps_config_node_bool(const struct cps_config_node *from, const char *path, bool def)
{
	const struct cps_config_node *n = cps_config_node_find(from, path);
	int b;

	if (!n || n->kind != CPS_NODE_SCALAR || (b = cps_config_parse_bool(n->value)) < 0)
		return def;
	return b;
}
