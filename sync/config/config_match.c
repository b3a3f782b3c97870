/*
 * Matching dotted paths against a declared key table: exact and "*"
 * wildcard matches, prefixes of declared keys, which values are secret,
 * and the "did you mean" suggestion for an unknown key (edit distance).
 */
#include "config/config_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* One component of a dotted pattern: [*p, end); advances *p past the dot. */
bool cps_config_next_comp(const char **p, const char **start, size_t *len)
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
		if (!cps_config_next_comp(&p, &c, &len) || !comp_matches(c, len, comps[i]))
			return 0;
	}
	return p ? 2 : 1;
}

const struct cps_config_key *cps_config_match_exact(const struct cps_config_key *keys, size_t nkeys,
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

bool cps_config_match_prefix(const struct cps_config_key *keys, size_t nkeys,
                             const char *const *comps, int depth)
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

bool cps_config_key_secret(const struct cps_config_key *k, const char *last_comp)
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

	while (cps_config_next_comp(&p, &c, &len)) {
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
			return cps_config_key_secret(&keys[i], last);
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
const char *cps_config_suggest(const struct cps_config_key *keys, size_t nkeys,
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
			ok = cps_config_next_comp(&p, &c, &len) && comp_matches(c, len, comps[d]);
		if (!ok || !cps_config_next_comp(&p, &c, &len) || (len == 1 && *c == '*') ||
		    len >= name_size)
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
