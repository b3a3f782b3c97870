/*
 * Private to sync/config: what the files of the configuration module share
 * (the loaded configuration's struct, building the node tree, ${ENV}
 * substitution, YAML parsing, matching paths against a key table, reading
 * typed scalars, validation). Users of the module include config.h only.
 */
#ifndef CPS_CONFIG_INT_H
#define CPS_CONFIG_INT_H

#include "config/config.h"

#include "base/buf.h"

#define CPS_CONFIG_MAX_FILE_BYTES ((size_t)4 << 20)
#define CPS_CONFIG_MAX_DEPTH      64
#define CPS_CONFIG_MAX_NODES      100000

struct cps_config {
	char *file;
	char *dir;
	struct cps_config_node *root;
};

/* ---- the node tree (config_tree.c) ---------------------------------------- */

struct cps_config_node *cps_config_node_new(enum cps_config_node_kind kind, int line);
void cps_config_node_free(struct cps_config_node *n);
/* Takes ownership of child (frees it on failure). */
int cps_config_node_add(struct cps_config_node *parent, struct cps_config_node *child);
void cps_config_node_remove_at(struct cps_config_node *parent, size_t i);
/* A map's child whose key is key[0..len), writable; NULL when absent. */
struct cps_config_node *cps_config_node_child_mut(struct cps_config_node *map, const char *key,
                                                  size_t len);
/* A new empty map child named `name`, carrying the parent's line; NULL
 * when memory is out. */
struct cps_config_node *cps_config_node_add_map(struct cps_config_node *parent, const char *name);

/* ---- ${ENV} substitution (config_env.c) ------------------------------------ */

/* Writes the substituted text of s[0..len) to b. `label`:`line` and `where`
 * (the key, "log.level") name the place in errors; the value itself is never
 * quoted in an error. */
int cps_config_env_substitute(const char *s, size_t len, const char *label, int line,
                              const char *where, struct cps_buf *b, char *errstr,
                              size_t errstr_size);

/* ---- YAML to tree (config_yaml.c) ------------------------------------------ */

/* Parses one YAML document (a mapping, or empty) into *root, ${ENV}
 * substituted; `label` names the file in errors. */
int cps_config_parse_yaml(const char *text, size_t len, const char *label,
                          struct cps_config_node **root, char *errstr, size_t errstr_size);

/* ---- matching paths against a key table (config_match.c) ------------------- */

/* One component of a dotted pattern: [*start, *start + *len); advances *p
 * past the dot (to NULL after the last). False when *p is NULL. */
bool cps_config_next_comp(const char **p, const char **start, size_t *len);
/* The declared key that is exactly comps[0..depth) (an exact name beats a
 * wildcard in the last place), or NULL. */
const struct cps_config_key *cps_config_match_exact(const struct cps_config_key *keys, size_t nkeys,
                                                    const char *const *comps, int depth);
/* Whether some declared key is longer than comps[0..depth) and starts with it. */
bool cps_config_match_prefix(const struct cps_config_key *keys, size_t nkeys,
                             const char *const *comps, int depth);
/* Whether the value of key k, whose last path component is `last_comp`, is secret. */
bool cps_config_key_secret(const struct cps_config_key *k, const char *last_comp);
/* The declared sibling name closest to comps[depth-1] (written to name), or NULL. */
const char *cps_config_suggest(const struct cps_config_key *keys, size_t nkeys,
                               const char *const *comps, int depth, char *name, size_t name_size);

/* ---- typed scalars (config_values.c) --------------------------------------- */

bool cps_config_parse_int(const char *s, long long *out);
/* Integer milliseconds, or with a unit: 250ms, 5s, 2m, 1h. */
bool cps_config_parse_duration_ms(const char *s, long long *out);
/* 1 true/yes/on, 0 false/no/off (any case), -1 otherwise. */
int cps_config_parse_bool(const char *s);
/* Whether v is one of "a|b|c". */
bool cps_config_in_allowed(const char *allowed, const char *v);

/* ---- validation (config_validate.c) ---------------------------------------- */

/* Checks every key of the tree against `keys` and fills in the defaults;
 * errors name `label`, relative CPS_CFG_PATH values resolve against `dir`. */
int cps_config_validate_tree(struct cps_config_node *root, const char *label, const char *dir,
                             const struct cps_config_key *keys, size_t nkeys, char *errstr,
                             size_t errstr_size);

#endif
