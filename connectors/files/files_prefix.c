/*
 * Settings per file-name prefix, "file.<prefix><suffix>" (the source's
 * file.<prefix>.entity, the effective time's file.<prefix>.effective_field):
 * for a file, the setting of the longest prefix of its name wins.
 */
#include "connectors/files/files_int.h"

#include <stdlib.h>
#include <string.h>

int files_prefixes_load(struct files_prefixes *p, const struct cps_settings *settings,
                        const char *suffix)
{
	const struct cps_setting *kv;
	size_t it = 0, n_suffix = strlen(suffix);

	while ((kv = cps_settings_next(settings, "file.", &it))) {
		size_t n = strlen(kv->key);
		struct files_prefix *v;

		if (n <= strlen("file.") + n_suffix || strcmp(kv->key + n - n_suffix, suffix) != 0)
			continue;
		v = realloc(p->v, (p->n + 1) * sizeof(*v));
		if (!v)
			return -1;
		p->v = v;
		v = &p->v[p->n++];
		v->prefix = strndup(kv->key + strlen("file."), n - strlen("file.") - n_suffix);
		v->value = strdup(kv->value ? kv->value : "");
		if (!v->prefix || !v->value)
			return -1;
	}
	return 0;
}

const char *files_prefixes_find(const struct files_prefixes *p, const char *name)
{
	const char *value = NULL;
	size_t best = 0;

	for (size_t i = 0; i < p->n; i++) {
		size_t n = strlen(p->v[i].prefix);

		if (n > best && !strncmp(name, p->v[i].prefix, n)) {
			best = n;
			value = p->v[i].value;
		}
	}
	return value;
}

void files_prefixes_release(struct files_prefixes *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].prefix);
		free(p->v[i].value);
	}
	free(p->v);
	p->v = NULL;
	p->n = 0;
}
