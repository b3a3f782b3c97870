/*
 * Configuration loading (see config.h): libyaml's document API builds a
 * node tree with line numbers, ${ENV} references are substituted while the
 * tree is built, then every key is checked against a declared table and the
 * missing ones get their defaults. Also the Markdown reference writer.
 */
#ifndef _GNU_SOURCE
#endif
#include "config/config.h"

#include "base/buf.h"
#include "base/common.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_FILE_BYTES ((size_t)4 << 20)
#define MAX_DEPTH      64
#define MAX_NODES      100000

struct cps_config {
	char *file;
	char *dir;
	struct cps_config_node *root;
};

/* ---- nodes ------------------------------------------------------------ */

static struct cps_config_node *node_new(enum cps_config_node_kind kind, int line)
{
	struct cps_config_node *n = calloc(1, sizeof(*n));

	if (n) {
		n->kind = kind;
		n->line = line;
	}
	return n;
}

static void node_free(struct cps_config_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->count; i++)
		node_free(n->children[i]);
	free(n->children);
	free(n->key);
	free(n->value);
	free(n);
}

/* Takes ownership of child (frees it on failure). */
static int node_add(struct cps_config_node *parent, struct cps_config_node *child)
{
	if (parent->count == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		void *p = realloc(parent->children, cap * sizeof(*parent->children));
		if (!p) {
			node_free(child);
			return -1;
		}
		parent->children = p;
		parent->cap = cap;
	}
	parent->children[parent->count++] = child;
	return 0;
}

static void node_remove_at(struct cps_config_node *parent, size_t i)
{
	node_free(parent->children[i]);
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

static struct cps_config_node *child_mut(struct cps_config_node *map, const char *key, size_t len)
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
static struct cps_config_node *add_map_child(struct cps_config_node *parent, const char *name)
{
	struct cps_config_node *c = node_new(CPS_NODE_MAP, parent->line);

	if (!c)
		return NULL;
	if (!(c->key = strdup(name))) {
		node_free(c);
		return NULL;
	}
	if (node_add(parent, c) < 0)
		return NULL;
	return c;
}

/* ---- ${ENV} substitution ------------------------------------------------ */

struct loader {
	const char *label;
	char *errstr;
	size_t errstr_size;
	yaml_document_t *doc;
	size_t nodes;
};

static bool env_name_char(char c, bool first)
{
	return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

/* Writes the substituted text of s[0..len) to b. `where` names the key for
 * errors ("log.level"); the value itself is never quoted in an error. */
static int env_substitute(struct loader *ld, const char *s, size_t len, int line, const char *where,
                          struct cps_buf *b)
{
	size_t i = 0;

	while (i < len) {
		if (s[i] != '$' || i + 1 >= len || (s[i + 1] != '{' && s[i + 1] != '$')) {
			if (cps_buf_append_byte(b, (uint8_t)s[i]) < 0)
				goto out_of_memory;
			i++;
			continue;
		}
		if (s[i + 1] == '$') { /* "$$" is a literal '$' */
			if (cps_buf_append_byte(b, '$') < 0)
				goto out_of_memory;
			i += 2;
			continue;
		}
		size_t name = i + 2, j = name;
		while (j < len && env_name_char(s[j], j == name))
			j++;
		if (j == name || j >= len || (s[j] != '}' && s[j] != ':'))
			return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
			                  "%s:%d: key '%s': malformed ${...} reference (expected "
			                  "${NAME} or ${NAME:-default})",
			                  ld->label, line, where);
		char var[256];
		size_t nlen = j - name;
		if (nlen >= sizeof(var))
			return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
			                  "%s:%d: key '%s': environment variable name too long",
			                  ld->label, line, where);
		memcpy(var, s + name, nlen);
		var[nlen] = 0;
		const char *val = getenv(var);
		if (s[j] == ':') {
			if (j + 1 >= len || s[j + 1] != '-')
				return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
				                  "%s:%d: key '%s': malformed ${...} reference "
				                  "(expected ${NAME:-default})",
				                  ld->label, line, where);
			size_t def = j + 2, end = def;
			while (end < len && s[end] != '}')
				end++;
			if (end >= len)
				return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
				                  "%s:%d: key '%s': unterminated ${...} reference",
				                  ld->label, line, where);
			if (val && *val) {
				if (cps_buf_append(b, val, strlen(val)) < 0)
					goto out_of_memory;
			} else if (cps_buf_append(b, s + def, end - def) < 0) {
				goto out_of_memory;
			}
			i = end + 1;
			continue;
		}
		if (!val)
			return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
			                  "%s:%d: key '%s': environment variable '%s' is not set",
			                  ld->label, line, where, var);
		if (cps_buf_append(b, val, strlen(val)) < 0)
			goto out_of_memory;
		i = j + 1;
	}
	return CPS_OK;
out_of_memory:
	return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size, "%s:%d: key '%s': value too large",
	                  ld->label, line, where);
}

/* ---- YAML to tree ----------------------------------------------------- */

static bool is_null_scalar(const yaml_node_t *yn)
{
	const char *v = (const char *)yn->data.scalar.value;

	if (yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

/* `path` is the dotted path of yn, for errors. */
static int convert(struct loader *ld, yaml_node_t *yn, const char *path, int depth,
                   struct cps_config_node **out)
{
	struct cps_config_node *n = NULL;
	int line = (int)yn->start_mark.line + 1;
	int rc;

	*out = NULL;
	if (depth > MAX_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
		                  "%s:%d: key '%s': nested deeper than %d levels", ld->label, line,
		                  path, MAX_DEPTH);
	if (++ld->nodes > MAX_NODES)
		return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
		                  "%s:%d: more than %d values (aliases expanding?)", ld->label,
		                  line, MAX_NODES);

	switch (yn->type) {
	case YAML_SCALAR_NODE: {
		struct cps_buf b;

		if (is_null_scalar(yn)) {
			n = node_new(CPS_NODE_NULL, line);
			break;
		}
		cps_buf_init(&b, MAX_FILE_BYTES);
		rc = env_substitute(ld, (const char *)yn->data.scalar.value, yn->data.scalar.length,
		                    line, path, &b);
		if (rc == CPS_OK && !(n = node_new(CPS_NODE_SCALAR, line)))
			rc = CPS_ERR_FATAL;
		if (rc == CPS_OK) {
			n->value = b.data ? (char *)b.data : strdup("");
			b.data = NULL;
		}
		cps_buf_release(&b);
		if (rc != CPS_OK)
			return rc;
		break;
	}
	case YAML_SEQUENCE_NODE: {
		size_t idx = 0;

		if (!(n = node_new(CPS_NODE_SEQ, line)))
			break;
		for (yaml_node_item_t *it = yn->data.sequence.items.start;
		     it < yn->data.sequence.items.top; it++, idx++) {
			struct cps_config_node *c;
			char sub[512];

			snprintf(sub, sizeof(sub), "%s[%zu]", path, idx);
			rc = convert(ld, yaml_document_get_node(ld->doc, *it), sub, depth + 1, &c);
			if (rc != CPS_OK || node_add(n, c) < 0)
				goto fail;
		}
		break;
	}
	case YAML_MAPPING_NODE:
		if (!(n = node_new(CPS_NODE_MAP, line)))
			break;
		for (yaml_node_pair_t *p = yn->data.mapping.pairs.start;
		     p < yn->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
			struct cps_config_node *c;
			char sub[512];
			int kline = (int)k->start_mark.line + 1;

			if (k->type != YAML_SCALAR_NODE) {
				cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size,
				           "%s:%d: key under '%s' is not a plain name", ld->label,
				           kline, *path ? path : "(top level)");
				goto fail;
			}
			const char *key = (const char *)k->data.scalar.value;
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
			if (child_mut(n, key, strlen(key))) {
				cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size, "%s:%d: duplicate key '%s'",
				           ld->label, kline, sub);
				goto fail;
			}
			rc = convert(ld, yaml_document_get_node(ld->doc, p->value), sub, depth + 1,
			             &c);
			if (rc != CPS_OK)
				goto fail;
			/* a key's line is where the key is written */
			c->line = kline;
			if (!(c->key = strdup(key))) {
				node_free(c);
				goto fail;
			}
			if (node_add(n, c) < 0)
				goto fail;
		}
		break;
	default:
		return cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size, "%s:%d: empty yaml node", ld->label,
		                  line);
	}
	if (!n)
		return cps_seterr(CPS_ERR_FATAL, ld->errstr, ld->errstr_size, "out of memory");
	*out = n;
	return CPS_OK;
fail:
	node_free(n);
	if (ld->errstr && ld->errstr_size && !*ld->errstr)
		cps_seterr(CPS_ERR_INVALID, ld->errstr, ld->errstr_size, "out of memory");
	return CPS_ERR_INVALID;
}

static int parse_yaml(const char *text, size_t len, const char *label,
                      struct cps_config_node **root, char *errstr, size_t errstr_size)
{
	struct loader ld = {.label = label, .errstr = errstr, .errstr_size = errstr_size};
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *top;
	int rc = CPS_OK;

	*root = NULL;
	if (errstr && errstr_size)
		errstr[0] = 0;
	if (!yaml_parser_initialize(&parser))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s:%zu: yaml syntax error: %s%s%s", label,
		                parser.problem_mark.line + 1,
		                parser.problem ? parser.problem : "unknown problem",
		                parser.context ? " " : "", parser.context ? parser.context : "");
		goto out_parser;
	}
	ld.doc = &doc;
	top = yaml_document_get_root_node(&doc);
	if (!top) {
		*root = node_new(CPS_NODE_MAP, 1);
	} else if (top->type != YAML_MAPPING_NODE &&
	           !(top->type == YAML_SCALAR_NODE && is_null_scalar(top))) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s:%zu: the file must be a mapping of keys",
		                label, top->start_mark.line + 1);
	} else if (top->type == YAML_SCALAR_NODE) {
		*root = node_new(CPS_NODE_MAP, 1);
	} else {
		rc = convert(&ld, top, "", 0, root);
	}
	if (rc == CPS_OK && !*root)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (top && rc == CPS_OK) {
		if (!yaml_parser_load(&parser, &extra)) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s:%zu: yaml syntax error: %s", label,
			                parser.problem_mark.line + 1,
			                parser.problem ? parser.problem : "unknown problem");
		} else {
			if (yaml_document_get_root_node(&extra))
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "%s: more than one yaml document in the file",
				                label);
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
	if (rc != CPS_OK) {
		node_free(*root);
		*root = NULL;
	}
out_parser:
	yaml_parser_delete(&parser);
	return rc;
}

/* ---- key table matching ----------------------------------------------- */

/* One component of a dotted pattern: [*p, end); advances *p past the dot. */
static bool next_comp(const char **p, const char **start, size_t *len)
{
	const char *s = *p, *dot;

	if (!s)
		return false;
	dot = strchr(s, '.');
	*start = s;
	*len = dot ? (size_t)(dot - s) : strlen(s);
	*p = dot ? dot + 1 : NULL;
	return true;
}

static bool comp_matches(const char *pc, size_t plen, const char *actual)
{
	return (plen == 1 && pc[0] == '*') || (strlen(actual) == plen && !memcmp(pc, actual, plen));
}

/* 1: the pattern is exactly comps[0..depth); 2: it is longer and starts
 * with them; 0: neither. */
static int pattern_match(const char *pattern, const char *const *comps, int depth)
{
	const char *p = pattern, *c;
	size_t len;

	for (int i = 0; i < depth; i++) {
		if (!next_comp(&p, &c, &len) || !comp_matches(c, len, comps[i]))
			return 0;
	}
	return p ? 2 : 1;
}

static const struct cps_config_key *find_exact(const struct cps_config_key *keys, size_t nkeys,
                                               const char *const *comps, int depth)
{
	const struct cps_config_key *wild = NULL;

	for (size_t i = 0; i < nkeys; i++) {
		if (pattern_match(keys[i].path, comps, depth) != 1)
			continue;
		/* an exact name beats a wildcard in the last place */
		const char *last = strrchr(keys[i].path, '.');
		last = last ? last + 1 : keys[i].path;
		if (strcmp(last, "*"))
			return &keys[i];
		wild = &keys[i];
	}
	return wild;
}

static bool is_prefix(const struct cps_config_key *keys, size_t nkeys, const char *const *comps,
                      int depth)
{
	for (size_t i = 0; i < nkeys; i++)
		if (pattern_match(keys[i].path, comps, depth) == 2)
			return true;
	return false;
}

static bool contains_ci(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; *s; s++)
		if (!strncasecmp(s, word, n))
			return true;
	return false;
}

static bool key_secret(const struct cps_config_key *k, const char *last_comp)
{
	if (!k)
		return false;
	if (k->flags & CPS_CFG_SECRET)
		return true;
	return (k->flags & CPS_CFG_SECRET_NAMED) && last_comp &&
	       (contains_ci(last_comp, "password") || contains_ci(last_comp, "secret"));
}

/* Whether dotted `path` matches `pattern`; a final "*" takes the rest of
 * the path, dots included (free-form keys such as "sasl.password"). */
static bool path_matches(const char *pattern, const char *path, const char **last)
{
	const char *p = pattern, *c;
	size_t len;

	while (next_comp(&p, &c, &len)) {
		size_t plen = strcspn(path, ".");

		*last = path;
		if (len == 1 && *c == '*' && !p)
			return *path != 0;
		if (!(len == 1 && *c == '*') && (plen != len || memcmp(c, path, len)))
			return false;
		path += plen;
		if (!p)
			return !*path;
		if (*path != '.')
			return false;
		path++;
	}
	return false;
}

bool cps_config_key_is_secret(const struct cps_config_key *keys, size_t nkeys, const char *path)
{
	for (size_t i = 0; path && i < nkeys; i++) {
		const char *last = path;

		if (path_matches(keys[i].path, path, &last))
			return key_secret(&keys[i], last);
	}
	return false;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[65];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The declared sibling name closest to comps[depth-1], or NULL. */
static const char *suggest(const struct cps_config_key *keys, size_t nkeys,
                           const char *const *comps, int depth, char *name, size_t name_size)
{
	size_t best = SIZE_MAX, limit = strlen(comps[depth - 1]) / 3;
	bool found = false;

	if (limit < 2)
		limit = 2;
	for (size_t i = 0; i < nkeys; i++) {
		const char *p = keys[i].path, *c;
		size_t len;
		bool ok = true;

		for (int d = 0; d < depth - 1 && ok; d++)
			ok = next_comp(&p, &c, &len) && comp_matches(c, len, comps[d]);
		if (!ok || !next_comp(&p, &c, &len) || (len == 1 && *c == '*') || len >= name_size)
			continue;
		char cand[128];
		memcpy(cand, c, len);
		cand[len] = 0;
		size_t dist = edit_distance(comps[depth - 1], cand);
		if (dist <= limit && dist < best && dist < strlen(cand)) {
			best = dist;
			snprintf(name, name_size, "%s", cand);
			found = true;
		}
	}
	return found ? name : NULL;
}

/* ---- validation ------------------------------------------------------- */

struct validator {
	const char *label;
	const char *dir;
	const struct cps_config_key *keys;
	size_t nkeys;
	const char *comps[MAX_DEPTH + 8];
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
	switch (k) {
	case CPS_NODE_MAP:
		return "a mapping";
	case CPS_NODE_SEQ:
		return "a list";
	case CPS_NODE_NULL:
		return "nothing";
	default:
		return "a scalar";
	}
}

static int type_error(struct validator *v, const struct cps_config_node *n, const char *path,
                      bool secret, const char *expected)
{
	if (n->kind != CPS_NODE_SCALAR)
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size, "%s:%d: key '%s': expected %s, got %s",
		                  v->label, n->line, path, expected, kind_name(n->kind));
	if (secret)
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
		                  "%s:%d: key '%s': expected %s, got a value not shown (secret)",
		                  v->label, n->line, path, expected);
	return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size, "%s:%d: key '%s': expected %s, got '%.64s'",
	                  v->label, n->line, path, expected, n->value);
}

static bool parse_int(const char *s, long long *out)
{
	char *end;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return !errno && !*end;
}

static bool parse_duration_ms(const char *s, long long *out)
{
	long long v = 0, mult = 1;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (LLONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (!*p || !strcmp(p, "ms"))
		mult = 1;
	else if (!strcmp(p, "s"))
		mult = 1000;
	else if (!strcmp(p, "m"))
		mult = 60000;
	else if (!strcmp(p, "h"))
		mult = 3600000;
	else
		return false;
	if (v > LLONG_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

static int parse_bool(const char *s)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
	                                                                       "off"};

	for (size_t i = 0; i < 3; i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -1;
}

static bool in_allowed(const char *allowed, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = allowed; p && *p;) {
		size_t len = strcspn(p, "|");
		if (len == n && !memcmp(p, v, n))
			return true;
		p += len;
		if (*p == '|')
			p++;
	}
	return false;
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
		struct cps_config_node *item = node_new(CPS_NODE_SCALAR, n->line);
		if (!item || !(item->value = strdup(tok)) || node_add(n, item) < 0) {
			if (item && !item->value)
				node_free(item);
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
	bool secret = key_secret(k, v->comps[v->depth - 1]);
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
		    !(dur ? parse_duration_ms(n->value, &iv) : parse_int(n->value, &iv)))
			return type_error(v, n, path, secret, what);
		if (k->min < k->max && (iv < k->min || iv > k->max)) {
			if (secret)
				return cps_seterr(CPS_ERR_INVALID, 
				    v->errstr, v->errstr_size,
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
		if (n->kind != CPS_NODE_SCALAR || parse_bool(n->value) < 0)
			return type_error(v, n, path, secret, "true or false");
		return 0;
	case CPS_CFG_ENUM:
		if (n->kind != CPS_NODE_SCALAR || !in_allowed(k->allowed, n->value)) {
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
			if (k->allowed && !in_allowed(k->allowed, it->value)) {
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

	if (v->depth >= MAX_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size, "%s:%d: nested too deeply", v->label,
		                  map->line);
	for (size_t i = 0; i < map->count;) {
		struct cps_config_node *c = map->children[i];
		const struct cps_config_key *k;

		v->comps[v->depth++] = c->key;
		join_path(v, v->depth, path, sizeof(path));
		k = find_exact(v->keys, v->nkeys, v->comps, v->depth);
		if (k) {
			rc = check_leaf(v, c, k, path);
			v->depth--;
			if (rc < 0)
				return rc;
			if (rc == 1) {
				node_remove_at(map, i);
				continue;
			}
		} else if (is_prefix(v->keys, v->nkeys, v->comps, v->depth)) {
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
			const char *s =
			    suggest(v->keys, v->nkeys, v->comps, v->depth, name, sizeof(name));
			v->depth--;
			if (s) {
				char full[700];
				join_path(v, v->depth, full, sizeof(full));
				return cps_seterr(CPS_ERR_INVALID, 
				    v->errstr, v->errstr_size,
				    "%s:%d: unknown key '%s' (did you mean '%s%s%s'?)", v->label,
				    c->line, path, full, *full ? "." : "", s);
			}
			return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size, "%s:%d: unknown key '%s'",
			                  v->label, c->line, path);
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

	if (!next_comp(&p, &c, &len) || node->kind != CPS_NODE_MAP)
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
	struct cps_config_node *child = child_mut(node, c, len);
	char name[128];
	snprintf(name, sizeof(name), "%.*s", (int)len, c);
	v->comps[v->depth++] = name;
	int rc = CPS_OK;
	if (p) { /* an intermediate map */
		if (!child) {
			child = add_map_child(node, name);
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
			rc = cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size, "%s:%d: key '%s' is required",
			                v->label, node->line, path);
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
		child =
		    node_new(k->type == CPS_CFG_MAP ? CPS_NODE_MAP : CPS_NODE_SCALAR, node->line);
		if (!child || !(child->key = strdup(name)) ||
		    (child->kind == CPS_NODE_SCALAR && !(child->value = strdup(def ? def : ""))) ||
		    (k->type == CPS_CFG_LIST && split_list(child) < 0)) {
			node_free(child);
			rc = cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size,
			                     "out of memory");
			goto out;
		}
		if (node_add(node, child) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size,
			                     "out of memory");
			goto out;
		}
	}
	if ((k->flags & CPS_CFG_PATH) && child->kind == CPS_NODE_SCALAR && child->value[0] &&
	    child->value[0] != '/' && v->dir && strcmp(v->dir, ".")) {
		char *joined;
		if (asprintf(&joined, "%s/%s", v->dir, child->value) < 0) {
			rc = cps_seterr(CPS_ERR_FATAL, v->errstr, v->errstr_size,
			                     "out of memory");
			goto out;
		}
		free(child->value);
		child->value = joined;
	}
out:
	v->depth--;
	return rc;
}

static int validate_tree(struct validator *v, struct cps_config_node *section)
{
	int base = v->depth, rc;

	rc = validate_map(v, section);
	v->depth = base;
	for (size_t i = 0; rc == CPS_OK && i < v->nkeys; i++) {
		rc = apply_key(v, section, v->keys[i].path, &v->keys[i]);
		v->depth = base;
	}
	return rc;
}

/* ---- rules: checks across keys ---------------------------------------- */

static const char *const rule_kinds[] = {"precedence", "latest", "manual"};
static const char *const disagree_kinds[] = {"accept", "flag", "conflict"};

const char *cps_rule_kind_name(enum cps_rule_kind kind)
{
	return (size_t)kind < CPS_ARRAY_SIZE(rule_kinds) ? rule_kinds[kind] : "?";
}

const char *cps_rule_disagree_name(enum cps_rule_disagree d)
{
	return (size_t)d < CPS_ARRAY_SIZE(disagree_kinds) ? disagree_kinds[d] : "?";
}

static int name_index(const char *const *names, size_t n, const char *v)
{
	for (size_t i = 0; v && i < n; i++)
		if (!strcmp(names[i], v))
			return (int)i;
	return -1;
}

static void fill_rule(const struct cps_config_node *entity, const struct cps_config_node *entry,
                      struct cps_config_rule *out)
{
	const struct cps_config_node *def = cps_config_node_child(entity, "default");
	const struct cps_config_node *r, *d, *p;

	r = entry ? cps_config_node_child(entry, "rule") : NULL;
	d = entry ? cps_config_node_child(entry, "on_disagree") : NULL;
	p = entry ? cps_config_node_child(entry, "platforms") : NULL;
	if (!r)
		r = cps_config_node_child(def, "rule");
	if (!d)
		d = cps_config_node_child(def, "on_disagree");
	if (!p)
		p = cps_config_node_child(def, "platforms");
	out->kind = (enum cps_rule_kind)name_index(rule_kinds, 3, r ? r->value : "latest");
	out->on_disagree =
	    (enum cps_rule_disagree)name_index(disagree_kinds, 3, d ? d->value : "accept");
	out->platforms = p;
	out->version = cps_config_node_int(entity, "version", 1);
	out->field_specific = entry != NULL;
}

static int check_rule_entry(struct validator *v, const struct cps_config_node *platforms,
                            const struct cps_config_node *entity,
                            const struct cps_config_node *entry, const char *path)
{
	struct cps_config_rule r;
	const struct cps_config_node *own = cps_config_node_child(entry, "platforms");

	fill_rule(entity, entry, &r);
	if (r.kind == CPS_RULE_PRECEDENCE && (!r.platforms || r.platforms->count == 0))
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
		                  "%s:%d: key '%s.platforms': rule 'precedence' needs at least one "
		                  "platform",
		                  v->label, entry->line, path);
	for (size_t i = 0; own && i < own->count; i++) {
		const char *name = own->children[i]->value;
		if (cps_config_node_child(platforms, name))
			continue;
		return cps_seterr(CPS_ERR_INVALID, v->errstr, v->errstr_size,
		                  "%s:%d: key '%s.platforms': unknown platform '%.64s' (not under "
		                  "'platforms')",
		                  v->label, own->children[i]->line, path, name);
	}
	return CPS_OK;
}

static int check_rules(struct validator *v, const struct cps_config_node *root)
{
	const struct cps_config_node *rules = cps_config_node_child(root, "rules");
	const struct cps_config_node *platforms = cps_config_node_child(root, "platforms");
	char path[512];
	int rc;

	for (size_t i = 0; rules && i < rules->count; i++) {
		const struct cps_config_node *e = rules->children[i];
		const struct cps_config_node *def = cps_config_node_child(e, "default");
		const struct cps_config_node *fields = cps_config_node_child(e, "fields");

		snprintf(path, sizeof(path), "rules.%s.default", e->key);
		if (def && (rc = check_rule_entry(v, platforms, e, def, path)) < 0)
			return rc;
		for (size_t j = 0; fields && j < fields->count; j++) {
			snprintf(path, sizeof(path), "rules.%s.fields.%s", e->key,
			         fields->children[j]->key);
			rc = check_rule_entry(v, platforms, e, fields->children[j], path);
			if (rc < 0)
				return rc;
		}
	}
	return CPS_OK;
}

/* ---- load ------------------------------------------------------------- */

int cps_config_load_string(const char *text, size_t len, const char *label, const char *dir,
                           struct cps_config **out, char *errstr, size_t errstr_size)
{
	struct cps_config *cfg;
	struct validator v = {
	    .keys = cps_config_keys,
	    .nkeys = cps_config_keys_count,
	    .errstr = errstr,
	    .errstr_size = errstr_size,
	};
	int rc;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->file = strdup(label ? label : "config")) ||
	    !(cfg->dir = strdup(dir ? dir : "."))) {
		cps_config_free(cfg);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	rc = parse_yaml(text, len, cfg->file, &cfg->root, errstr, errstr_size);
	if (rc != CPS_OK)
		goto fail;
	v.label = cfg->file;
	v.dir = cfg->dir;
	rc = validate_tree(&v, cfg->root);
	if (rc == CPS_OK)
		rc = check_rules(&v, cfg->root);
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
	cps_buf_init(&b, MAX_FILE_BYTES);
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
	node_free(cfg->root);
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
		struct cps_config_node *c = child_mut(node, tok, strlen(tok));
		if (!c) {
			c = add_map_child(node, tok);
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
		if (v.depth >= MAX_DEPTH)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "section path too deep");
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

const struct cps_config_node *cps_config_find(const struct cps_config *cfg, const char *path)
{
	return cps_config_node_find(cps_config_root(cfg), path);
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
	if (parse_int(n->value, &v) || parse_duration_ms(n->value, &v))
		return v;
	return def;
}

bool cps_config_node_bool(const struct cps_config_node *from, const char *path, bool def)
{
	const struct cps_config_node *n = cps_config_node_find(from, path);
	int b;

	if (!n || n->kind != CPS_NODE_SCALAR || (b = parse_bool(n->value)) < 0)
		return def;
	return b;
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

/* ---- platforms and rules ------------------------------------------------ */

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

size_t cps_config_rule_entity_count(const struct cps_config *cfg)
{
	const struct cps_config_node *r = cps_config_get_map(cfg, "rules");

	return r ? r->count : 0;
}

const char *cps_config_rule_entity_at(const struct cps_config *cfg, size_t i)
{
	const struct cps_config_node *r = cps_config_get_map(cfg, "rules");

	return r && i < r->count ? r->children[i]->key : NULL;
}

int cps_config_rule_get(const struct cps_config *cfg, const char *entity, const char *field,
                        struct cps_config_rule *out)
{
	const struct cps_config_node *e =
	    cps_config_node_child(cps_config_get_map(cfg, "rules"), entity);
	const struct cps_config_node *entry = NULL;

	if (!e)
		return CPS_ERR_INVALID;
	if (field)
		entry = cps_config_node_child(cps_config_node_child(e, "fields"), field);
	fill_rule(e, entry, out);
	return CPS_OK;
}

/* ---- documentation ---------------------------------------------------- */

static const char *type_doc(enum cps_config_type t)
{
	switch (t) {
	case CPS_CFG_STRING:
		return "string";
	case CPS_CFG_INT:
		return "integer";
	case CPS_CFG_BOOL:
		return "boolean";
	case CPS_CFG_ENUM:
		return "enum";
	case CPS_CFG_DURATION_MS:
		return "duration";
	case CPS_CFG_LIST:
		return "list of strings";
	case CPS_CFG_MAP:
		return "map";
	}
	return "?";
}

static void write_allowed(FILE *f, const char *allowed)
{
	for (const char *p = allowed; *p;) {
		size_t len = strcspn(p, "|");
		fprintf(f, "%s`%.*s`", p == allowed ? "" : ", ", (int)len, p);
		p += len;
		if (*p == '|')
			p++;
	}
}

void cps_config_write_keys_table(FILE *f, const struct cps_config_key *keys, size_t nkeys,
                                 const char *prefix)
{
	fprintf(f, "| Key | Type | Default | Range / values | Description |\n");
	fprintf(f, "|---|---|---|---|---|\n");
	for (size_t i = 0; i < nkeys; i++) {
		const struct cps_config_key *k = &keys[i];

		fprintf(f, "| `%s%s%s` | %s | ", prefix ? prefix : "", prefix ? "." : "", k->path,
		        type_doc(k->type));
		if (k->flags & CPS_CFG_DEF_HOSTNAME)
			fprintf(f, "the host name");
		else if (k->def && *k->def)
			fprintf(f, "`%s`", k->def);
		else if (k->def)
			fprintf(f, "empty");
		else
			fprintf(f, "—");
		fprintf(f, " | ");
		if ((k->type == CPS_CFG_INT || k->type == CPS_CFG_DURATION_MS) && k->min < k->max)
			fprintf(f, "%lld .. %lld%s", k->min, k->max,
			        k->type == CPS_CFG_DURATION_MS ? " ms" : "");
		else if (k->allowed)
			write_allowed(f, k->allowed);
		fprintf(f, " | %s", k->doc);
		if (k->flags & CPS_CFG_REQUIRED)
			fprintf(f, " Required.");
		if (k->flags & CPS_CFG_SECRET)
			fprintf(f, " Secret: never shown in errors or logs.");
		if (k->flags & CPS_CFG_SECRET_NAMED)
			fprintf(f, " Values of keys whose name contains `password` or `secret` "
			           "are secret.");
		if (k->flags & CPS_CFG_PATH)
			fprintf(f, " A relative path is relative to the config file's "
			           "directory.");
		fprintf(f, " |\n");
	}
}

void cps_config_write_doc(FILE *f)
{
	fprintf(f, "# cpsync configuration reference\n\n");
	fprintf(f, "<!-- Generated by `cpsync config-doc` from sync/config/config_keys.c; do not edit. "
	           "The test config.doc_current fails when this file is out of date. -->\n\n");
	fprintf(f,
	        "cpsync reads one YAML file (`cpsync check-config FILE` "
	        "validates one without starting anything). A complete, commented example is "
	        "`deploy/cpsync.example.yaml`.\n\n"
	        "- Every key below is checked before anything starts: an unknown key, a value of "
	        "the wrong type, out of range or not among the allowed values is an error naming "
	        "`FILE:LINE` and the key. Values of secret keys are never shown.\n"
	        "- A dotted key `a.b` is written as nested mappings (`a:` then `  b:`). `*` stands "
	        "for any name of a free-form map (platform names, entities, fields, librdkafka "
	        "properties).\n"
	        "- Any scalar may use `${NAME}` (the environment variable NAME; an error when it "
	        "is not set) or `${NAME:-default}` (the default when NAME is unset or empty); "
	        "`$$` is a literal `$`.\n"
	        "- Durations are integer milliseconds or a number with a unit: `250ms`, `5s`, "
	        "`2m`, `1h`. A list may be a YAML sequence or one comma-separated string. An empty "
	        "value (`key:`) means the default.\n"
	        "- Each platform's `source` and `sink` keys are its connector's: see \"Connector "
	        "settings\" at the end.\n");
	for (size_t i = 0; i < cps_config_keys_count;) {
		const char *p = cps_config_keys[i].path;
		size_t len = strcspn(p, ".");
		size_t j = i;

		while (j < cps_config_keys_count && strcspn(cps_config_keys[j].path, ".") == len &&
		       !strncmp(cps_config_keys[j].path, p, len))
			j++;
		fprintf(f, "\n## `%.*s`\n\n", (int)len, p);
		cps_config_write_keys_table(f, cps_config_keys + i, j - i, NULL);
		i = j;
	}
}
