/*
 * The configuration: one YAML file, loaded into a tree of nodes that keep
 * their line numbers, with ${ENV_VAR} and ${ENV_VAR:-default} substituted in
 * scalars, then validated against a declared key table (config_keys.c, the
 * way librdkafka declares rd_kafka_properties[]); absent keys get their
 * declared defaults. docs/CONFIG.md is generated from the table.
 * A loaded configuration is read-only and may be shared between threads.
 */
#ifndef CPS_CONFIG_H
#define CPS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* ---- the declared keys ------------------------------------------------ */

enum cps_config_type {
	CPS_CFG_STRING,      /* any scalar */
	CPS_CFG_INT,         /* decimal integer, within [min, max] */
	CPS_CFG_BOOL,        /* true/false (also yes/no, on/off) */
	CPS_CFG_ENUM,        /* one of `allowed` ("a|b|c") */
	CPS_CFG_DURATION_MS, /* integer milliseconds, or with a unit: 250ms, 5s, 2m, 1h */
	CPS_CFG_LIST,        /* a sequence of strings (or "a,b" as one scalar); items in
			      * `allowed` when it is set */
	CPS_CFG_MAP,         /* a free-form mapping, validated by whoever reads it */
};

enum cps_config_flags {
	CPS_CFG_SECRET = 1 << 0,       /* the value never appears in an error or log */
	CPS_CFG_SECRET_NAMED = 1 << 1, /* secret when the key's own name contains
					 * "password" or "secret" (kafka.properties.*) */
	CPS_CFG_REQUIRED = 1 << 2,     /* must be present */
	CPS_CFG_PATH = 1 << 3,         /* a relative path resolves against the directory
					 * of the config file */
	CPS_CFG_DEF_HOSTNAME = 1 << 4, /* the default is this machine's host name */
};

struct cps_config_key {
	const char *path; /* dotted; "*" matches any one key of a free-form map */
	enum cps_config_type type;
	const char *def;     /* the default as text (lists: "a,b"); NULL: none */
	long long min, max;  /* INT and DURATION_MS bounds, when min < max */
	const char *allowed; /* ENUM and LIST: the allowed values, "a|b|c" */
	unsigned flags;      /* enum cps_config_flags */
	const char *doc;     /* one or two sentences for docs/CONFIG.md */
};

/* The keys of cpsync itself (config_keys.c). */
extern const struct cps_config_key cps_config_keys[];
extern const size_t cps_config_keys_count;

/* ---- the tree ----------------------------------------------------------- */

enum cps_config_node_kind {
	CPS_NODE_NULL, /* an empty value ("key:" or "~") before validation */
	CPS_NODE_SCALAR,
	CPS_NODE_MAP,
	CPS_NODE_SEQ,
};

/* One node; read-only for users. A map's children carry their key in
 * `key`, in file order; a sequence's children have key NULL. */
struct cps_config_node {
	enum cps_config_node_kind kind;
	int line;    /* 1-based line in the file (a filled-in default: its parent's) */
	char *key;   /* the key in the parent mapping, or NULL */
	char *value; /* SCALAR: the text after ${ENV} substitution */
	struct cps_config_node **children;
	size_t count, cap;
};

struct cps_config;

/* Loads, substitutes, validates and fills in defaults. On success *out is
 * the caller's (cps_config_free). Errors name "FILE:LINE: key 'a.b': …" and
 * never show the value of a secret key. CPS_ERR_INVALID for a bad file,
 * CPS_ERR_FATAL when it cannot be read. */
int cps_config_load(const char *path, struct cps_config **out, char *errstr, size_t errstr_size);
/* Same, from text in memory; `label` stands for the file name in errors and
 * relative paths resolve against `dir` (NULL: the current directory). */
int cps_config_load_string(const char *text, size_t len, const char *label, const char *dir,
                           struct cps_config **out, char *errstr, size_t errstr_size);
void cps_config_free(struct cps_config *cfg);

/* The file as given to cps_config_load, and its directory. */
const char *cps_config_file(const struct cps_config *cfg);
const char *cps_config_dir(const struct cps_config *cfg);
const struct cps_config_node *cps_config_root(const struct cps_config *cfg);

/* The node at a dotted path below `from` (a map key may itself contain
 * dots: "kafka.properties.linger.ms" finds the key "linger.ms"); NULL when
 * absent. */
const struct cps_config_node *cps_config_node_find(const struct cps_config_node *from,
                                                   const char *path);
const struct cps_config_node *cps_config_find(const struct cps_config *cfg, const char *path);
/* A map's child by exact key, or NULL. */
const struct cps_config_node *cps_config_node_child(const struct cps_config_node *map,
                                                    const char *key);

/* Typed getters: absent declared keys already hold their default after
 * load, so these return the default; `def` is used only for undeclared,
 * absent keys. Durations come back in milliseconds. */
const char *cps_config_node_string(const struct cps_config_node *from, const char *path,
                                   const char *def);
long long cps_config_node_int(const struct cps_config_node *from, const char *path, long long def);
bool cps_config_node_bool(const struct cps_config_node *from, const char *path, bool def);

const char *cps_config_get_string(const struct cps_config *cfg, const char *path);
long long cps_config_get_int(const struct cps_config *cfg, const char *path);
bool cps_config_get_bool(const struct cps_config *cfg, const char *path);
/* A LIST key: a SEQ node whose children are scalars (->value), possibly
 * empty; NULL only for an undeclared absent key. */
const struct cps_config_node *cps_config_get_list(const struct cps_config *cfg, const char *path);
/* A map (free-form or not): iterate children[0..count), each with ->key.
 * NULL when absent or not a map. */
const struct cps_config_node *cps_config_get_map(const struct cps_config *cfg, const char *path);

/* Whether the value at this declared path must never be shown ("secret"). */
bool cps_config_key_is_secret(const struct cps_config_key *keys, size_t nkeys, const char *path);

/* Validates the subtree at `section_path` (e.g. "platforms.city.source")
 * against a connector's own key table (paths relative to the section) and
 * fills in its defaults, with errors in the same form as the load's. An
 * absent section counts as empty. Call before the loaded config is shared
 * between threads. */
int cps_config_validate_section(struct cps_config *cfg, const char *section_path,
                                const struct cps_config_key *keys, size_t nkeys, char *errstr,
                                size_t errstr_size);

/* ---- platforms: what the engine runs ----------------------------------------- */

struct cps_config_platform {
	const char *name;
	const char *connector; /* kafka|postgres|files|demo */
	bool enabled;
	long long freshness_target_s;
	const struct cps_config_node *source; /* a MAP node, possibly empty */
	const struct cps_config_node *sink;   /* a MAP node, possibly empty */
	int line;
};

size_t cps_config_platform_count(const struct cps_config *cfg);
/* The i-th platform in file order; CPS_ERR_INVALID when i is out of range. */
int cps_config_platform_at(const struct cps_config *cfg, size_t i, struct cps_config_platform *out);
int cps_config_platform_find(const struct cps_config *cfg, const char *name,
                             struct cps_config_platform *out);

/* The `rules` section (rules.<entity>.default / .fields.<field>) is declared
 * in config_keys.c and validated key by key like any other; what the rules
 * mean, and the checks across keys, belong to the reconciler
 * (reconcile/rules.h), which reads the section as a tree
 * (cps_config_get_map(cfg, "rules")). */

/* ---- documentation ----------------------------------------------------- */

/* Writes docs/CONFIG.md: the reference of cps_config_keys as Markdown. */
void cps_config_write_doc(FILE *f);
/* One Markdown table of a key table (connectors document their sections). */
void cps_config_write_keys_table(FILE *f, const struct cps_config_key *keys, size_t nkeys,
                                 const char *prefix);

#endif
