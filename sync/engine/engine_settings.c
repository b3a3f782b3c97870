/*
 * Configuration maps as connector settings: cps_engine_flatten_settings
 * (nested keys joined with '.', sequences as comma lists) and the removal of
 * a key the engine takes for itself (a source's framing).
 */
#include "engine/engine_int.h"
#include "base/buf.h"

#include <stdlib.h>
#include <string.h>

static int flatten_node(const struct cps_config_node *n, struct cps_buf *key,
                        struct cps_settings *out)
{
	size_t mark = key->len;
	int rc = 0;

	switch (n->kind) {
	case CPS_NODE_NULL:
		return cps_settings_set(out, (const char *)key->data, "");
	case CPS_NODE_SCALAR:
		return cps_settings_set(out, (const char *)key->data, n->value ? n->value : "");
	case CPS_NODE_SEQ: {
		struct cps_buf list;

		cps_buf_init(&list, 0);
		for (size_t i = 0; i < n->count && rc == 0; i++) {
			const struct cps_config_node *item = n->children[i];

			if (item->kind != CPS_NODE_SCALAR)
				continue;
			rc = cps_buf_printf(&list, "%s%s", i ? "," : "", item->value);
		}
		if (rc == 0)
			rc = cps_settings_set(out, (const char *)key->data,
			                      list.data ? (const char *)list.data : "");
		cps_buf_release(&list);
		return rc;
	}
	case CPS_NODE_MAP:
		for (size_t i = 0; i < n->count && rc == 0; i++) {
			key->len = mark;
			key->data[mark] = '\0';
			rc = cps_buf_printf(key, "%s%s", mark ? "." : "", n->children[i]->key);
			if (rc == 0)
				rc = flatten_node(n->children[i], key, out);
		}
		key->len = mark;
		key->data[mark] = '\0';
		return rc;
	}
	return 0;
}

int cps_engine_flatten_settings(const struct cps_config_node *map, const char *prefix,
                                struct cps_settings *out)
{
	struct cps_buf key;
	int rc;

	if (!map)
		return 0;
	cps_buf_init(&key, 0);
	if (cps_buf_reserve(&key, 64) < 0)
		return -1;
	key.data[0] = '\0';
	if (prefix && cps_buf_printf(&key, "%s", prefix) < 0) {
		cps_buf_release(&key);
		return -1;
	}
	rc = flatten_node(map, &key, out);
	cps_buf_release(&key);
	return rc;
}

/* Removes `key` from `s` (settings have no delete of their own). */
void cps_engine_settings_remove(struct cps_settings *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->items[i].key, key)) {
			free(s->items[i].key);
			free(s->items[i].value);
			memmove(&s->items[i], &s->items[i + 1],
			        (s->n - i - 1) * sizeof(s->items[0]));
			s->n--;
			return;
		}
}
