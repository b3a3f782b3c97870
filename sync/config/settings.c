/*
 * Connector settings: the flat (key, value) list and its validation against
 * the keys a connector declares as data. See settings.h.
 */
#include "config/settings.h"

#include "base/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cps_settings_init(struct cps_settings *s)
{
	s->items = NULL;
	s->n = 0;
	s->cap = 0;
}

void cps_settings_release(struct cps_settings *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].key);
		free(s->items[i].value);
	}
	free(s->items);
	cps_settings_init(s);
}

static struct cps_setting *find(const struct cps_settings *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i].key, key) == 0)
			return &s->items[i];
	return NULL;
}

int cps_settings_set(struct cps_settings *s, const char *key, const char *value)
{
	struct cps_setting *kv = find(s, key);
	char *v = strdup(value ? value : "");

	if (!v)
		return -1;
	if (kv) {
		free(kv->value);
		kv->value = v;
		return 0;
	}
	if (cps_grow(&s->items, &s->cap, s->n + 1, sizeof(*s->items)) != 0)
		goto out_free_value;
	s->items[s->n].key = strdup(key);
	if (!s->items[s->n].key)
		goto out_free_value;
	s->items[s->n].value = v;
	s->n++;
	return 0;

out_free_value:
	free(v);
	return -1;
}

int cps_settings_copy(struct cps_settings *dst, const struct cps_settings *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (cps_settings_set(dst, src->items[i].key, src->items[i].value) < 0)
			return -1;
	return 0;
}

const char *cps_settings_get(const struct cps_settings *s, const char *key)
{
	const struct cps_setting *kv = s ? find(s, key) : NULL;

	return kv ? kv->value : NULL;
}

int cps_setting_parse_int(const char *text, int64_t *out)
{
	char *end;
	long long v;

	if (!text || !*text || isspace((unsigned char)*text))
		return CPS_ERR_INVALID;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || *end)
		return CPS_ERR_INVALID;
	*out = v;
	return CPS_OK;
}

int cps_setting_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	if (!text)
		return CPS_ERR_INVALID;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(yes); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return CPS_OK;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return CPS_OK;
		}
	}
	return CPS_ERR_INVALID;
}

int64_t cps_settings_get_int(const struct cps_settings *s, const char *key, int64_t def)
{
	int64_t v;

	if (cps_setting_parse_int(cps_settings_get(s, key), &v) != CPS_OK)
		return def;
	return v;
}

bool cps_settings_get_bool(const struct cps_settings *s, const char *key, bool def)
{
	bool v;

	if (cps_setting_parse_bool(cps_settings_get(s, key), &v) != CPS_OK)
		return def;
	return v;
}

const struct cps_setting *cps_settings_next(const struct cps_settings *s, const char *prefix,
                                            size_t *it)
{
	size_t plen = prefix ? strlen(prefix) : 0;

	while (s && *it < s->n) {
		const struct cps_setting *kv = &s->items[(*it)++];

		if (strncmp(kv->key, prefix ? prefix : "", plen) == 0)
			return kv;
	}
	return NULL;
}

bool cps_setting_name_matches(const char *pattern, const char *key)
{
	const char *star = strchr(pattern, '*');
	size_t klen = strlen(key), head, tail;

	if (!star)
		return strcmp(pattern, key) == 0;
	head = (size_t)(star - pattern);
	tail = strlen(star + 1);
	/* the star stands for at least one character */
	if (klen < head + tail + 1)
		return false;
	return strncmp(pattern, key, head) == 0 && strcmp(star + 1, key + klen - tail) == 0;
}

bool cps_setting_is_secret(const char *key)
{
	static const char *const words[] = {"password", "secret", "token", "key", "credential"};
	char lower[256];
	size_t i;

	for (i = 0; key[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)tolower((unsigned char)key[i]);
	lower[i] = '\0';
	for (i = 0; i < CPS_ARRAY_SIZE(words); i++)
		if (strstr(lower, words[i]))
			return true;
	return false;
}

static const struct cps_setting_decl *decl_for(const struct cps_setting_decl *decls, size_t n,
                                               const char *key)
{
	/* exact names first, so "topics" is never taken for a pattern */
	for (size_t i = 0; i < n; i++)
		if (!strchr(decls[i].name, '*') && strcmp(decls[i].name, key) == 0)
			return &decls[i];
	for (size_t i = 0; i < n; i++)
		if (strchr(decls[i].name, '*') && cps_setting_name_matches(decls[i].name, key))
			return &decls[i];
	return NULL;
}

static int check_value(const struct cps_setting_decl *d, const char *key, const char *value,
                       char *errstr, size_t errstr_size)
{
	int64_t iv;
	bool bv;

	switch (d->type) {
	case CPS_SETTING_STRING:
		return CPS_OK;
	case CPS_SETTING_INT:
		if (cps_setting_parse_int(value, &iv) != CPS_OK)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "setting '%s' is not an integer", key);
		if ((d->min || d->max) && (iv < d->min || iv > d->max))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "setting '%s' is out of range [%lld, %lld]", key,
			                  (long long)d->min, (long long)d->max);
		return CPS_OK;
	case CPS_SETTING_BOOL:
		if (cps_setting_parse_bool(value, &bv) != CPS_OK)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "setting '%s' is not a boolean (true or false)", key);
		return CPS_OK;
	case CPS_SETTING_LIST: {
		const char *p = value;

		if (!*p)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "setting '%s' is an empty list", key);
		for (;;) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);

			while (len && isspace((unsigned char)*p)) {
				p++;
				len--;
			}
			if (len == 0)
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "setting '%s' has an empty list element", key);
			if (!comma)
				break;
			p = comma + 1;
		}
		return CPS_OK;
	}
	}
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "setting '%s' has an unknown declared type", key);
}

int cps_settings_validate(const struct cps_settings *s, const struct cps_setting_decl *decls,
                          size_t n_decls, unsigned side, char *errstr, size_t errstr_size)
{
	for (size_t i = 0; s && i < s->n; i++) {
		const struct cps_setting_decl *d = decl_for(decls, n_decls, s->items[i].key);
		int rc;

		if (!d)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "unknown setting '%s'", s->items[i].key);
		rc = check_value(d, s->items[i].key, s->items[i].value, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	for (size_t i = 0; i < n_decls; i++) {
		const struct cps_setting_decl *d = &decls[i];

		if (!(d->flags & CPS_SETTING_REQUIRED) || !(d->flags & side) ||
		    strchr(d->name, '*'))
			continue;
		if (!cps_settings_get(s, d->name))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "missing required setting '%s'", d->name);
	}
	return CPS_OK;
}

int cps_settings_apply_defaults(struct cps_settings *s, const struct cps_setting_decl *decls,
                                size_t n_decls)
{
	for (size_t i = 0; i < n_decls; i++) {
		if (!decls[i].def || strchr(decls[i].name, '*'))
			continue;
		if (!cps_settings_get(s, decls[i].name) &&
		    cps_settings_set(s, decls[i].name, decls[i].def) < 0)
			return -1;
	}
	return 0;
}
