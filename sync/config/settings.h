/*
 * Connector settings: a flat list of (key, value) strings, as the engine
 * flattens a config subtree ("brokers", "topic.cpsync.province.person.entity",
 * "properties.security.protocol"), plus the declarations each connector
 * publishes as data (name, type, default, range, doc) to validate them
 * before anything opens, with an error that names the bad key.
 */
#ifndef CPS_SETTINGS_H
#define CPS_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cps_setting {
	char *key;
	char *value;
};

/* Keys are unique; cps_settings_set replaces an existing value. */
struct cps_settings {
	struct cps_setting *items;
	size_t n;
	size_t cap;
};

enum cps_setting_type {
	CPS_SETTING_STRING, /* any text, may be empty */
	CPS_SETTING_INT,    /* decimal integer within [min, max] */
	CPS_SETTING_BOOL,   /* true/false/yes/no/on/off/1/0 */
	CPS_SETTING_LIST,   /* comma-separated, non-empty, no empty element */
};

/* Which side of a connector a declared key is for (flags, may be or-ed). */
#define CPS_SETTING_SOURCE   0x1u
#define CPS_SETTING_SINK     0x2u
#define CPS_SETTING_BOTH     (CPS_SETTING_SOURCE | CPS_SETTING_SINK)
#define CPS_SETTING_REQUIRED 0x4u /* must be present when opening that side */

/* One declared key. `name` may contain one '*' standing for a non-empty run
 * of any characters ("topic.*.entity", "properties.*"); such a pattern has no
 * default and cannot be required. */
struct cps_setting_decl {
	const char *name;
	enum cps_setting_type type;
	const char *def;  /* default value as text; NULL = none */
	int64_t min, max; /* for CPS_SETTING_INT; min == max == 0 means unbounded */
	unsigned flags;   /* CPS_SETTING_SOURCE / SINK / REQUIRED */
	const char *doc;
};

/* No allocation. */
void cps_settings_init(struct cps_settings *s);
/* Frees the contents; s may be reused after cps_settings_init. */
void cps_settings_release(struct cps_settings *s);
/* Copies key and value. -1 only when memory is out. */
int cps_settings_set(struct cps_settings *s, const char *key, const char *value);
/* Deep copy into an initialised, empty dst. -1 when memory is out. */
int cps_settings_copy(struct cps_settings *dst, const struct cps_settings *src);

/* The value of `key` (borrowed), or NULL when absent. */
const char *cps_settings_get(const struct cps_settings *s, const char *key);
/* The value of `key` as an integer / boolean, `def` when absent or unparsable
 * (cps_settings_validate has reported unparsable values before open). */
int64_t cps_settings_get_int(const struct cps_settings *s, const char *key, int64_t def);
bool cps_settings_get_bool(const struct cps_settings *s, const char *key, bool def);

/* Iteration over the keys starting with `prefix`, in insertion order:
 *   size_t it = 0; const struct cps_setting *kv;
 *   while ((kv = cps_settings_next(s, "properties.", &it))) ... */
const struct cps_setting *cps_settings_next(const struct cps_settings *s, const char *prefix,
                                            size_t *it);

/* Parsers shared with the validation; CPS_OK or CPS_ERR_INVALID. */
int cps_setting_parse_int(const char *text, int64_t *out);
int cps_setting_parse_bool(const char *text, bool *out);

/* True when `key` matches the declared `pattern` (see struct cps_setting_decl). */
bool cps_setting_name_matches(const char *pattern, const char *key);

/* Checks `s` against the declarations for one side (CPS_SETTING_SOURCE or
 * CPS_SETTING_SINK): every key must be declared (for either side: one config
 * subtree serves both), every value must parse and be in range, and every
 * key REQUIRED for `side` must be present. The error names the key, never
 * the value of a key that looks secret. */
int cps_settings_validate(const struct cps_settings *s, const struct cps_setting_decl *decls,
                          size_t n_decls, unsigned side, char *errstr, size_t errstr_size);

/* Adds each declared non-pattern default that `s` lacks. -1 when memory is out. */
int cps_settings_apply_defaults(struct cps_settings *s, const struct cps_setting_decl *decls,
                                size_t n_decls);

/* True when the key names a secret (contains "password", "secret", "token"
 * or "key" as in "ssl.key.pem"), whose value must never be printed. */
bool cps_setting_is_secret(const char *key);

#endif
