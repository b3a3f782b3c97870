/*
 * The policy of 深民〔2021〕80号 as checks on unified records (config
 * `policy`, deploy/policy.default.yaml): the 低保 and 特困 standards per
 * region and period, and which checks run. A finding names its check, the
 * record, the fields at fault and the rule's text. Pure: no I/O, no clock;
 * the records a check needs besides the changed one come through a lookup,
 * the day comes in as an argument. Records are typed (codec/record.h).
 */
#ifndef CPS_POLICY_H
#define CPS_POLICY_H

#include "codec/record.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cps_config;

enum cps_policy_check {
	CPS_POLICY_GRADUAL_EXIT_NOT_SIX_MONTHS, /* 渐退期 is 6 months */
	CPS_POLICY_EXITED_DURING_GRADUAL_EXIT,  /* no exit before the 渐退期 ends */
	CPS_POLICY_INCOME_ABOVE_STANDARD_ACTIVE, /* above the 低保 standard: 渐退期, not ACTIVE */
	CPS_POLICY_TEKUN_STANDARD_TOO_LOW,       /* 特困 ≥ 1.6 × 低保 */
	CPS_POLICY_VERIFICATION_COUNTS_EXCLUDED, /* 基础养老金 and uncounted items are not income */
	CPS_POLICY_VERIFICATION_TOTAL_MISMATCH, /* the total is the sum of the counted items */
	CPS_POLICY_VERIFICATION_PER_CAPITA,     /* (total − employment costs) / members */
	CPS_POLICY_DECEASED_ENROLLED,           /* no active enrolment of a deceased person */
	CPS_POLICY_SINGLE_PERSON_NOT_ELIGIBLE, /* 单人保: seriously ill or disabled 1–2, 低保边缘 */
	CPS_POLICY_TEMPORARY_WRONG_REGION,     /* 临时救助 where the emergency happens */
	CPS_POLICY_PERMIT_HOLDER_WRONG_REGION, /* residence-permit holders apply where they live */
	CPS_POLICY_CHECKS
};

/* "GRADUAL_EXIT_NOT_SIX_MONTHS", …; NULL out of range. */
const char *cps_policy_check_code(enum cps_policy_check c);
/* The check named `code`; -1 when unknown. */
int cps_policy_check_parse(const char *code);

/* The standards in force for a region from a day on (money in fen). */
struct cps_policy_standard {
	char *name;
	char **regions; /* region-code prefixes: "4403" (Shenzhen), "441521" (Shenshan) */
	size_t n_regions;
	int32_t from_days; /* in force from this date (days since 1970-01-01) */
	int64_t dibao_fen; /* 最低生活保障标准, monthly */
	int64_t tekun_fen; /* 特困人员基本生活标准, monthly */
};

struct cps_policy_check_conf {
	int enabled;
	char *category; /* the alert's category: ELIGIBILITY_CHANGE or DATA_INCONSISTENCY */
	char *severity; /* LOW, MEDIUM, HIGH, URGENT */
	char *text;     /* the rule as the policy states it */
};

struct cps_policy {
	struct cps_policy_standard *standards;
	size_t n_standards;
	struct cps_policy_check_conf checks[CPS_POLICY_CHECKS];
};

/* From the configuration's `policy` section (every check enabled with its
 * declared category, severity and text unless the section says otherwise). */
int cps_policy_from_config(const struct cps_config *cfg, struct cps_policy **out, char *errstr,
                           size_t errstr_size);
/* From JSON of the same shape as the YAML section (policy case files). */
int cps_policy_from_json(json_t *policy, struct cps_policy **out, char *errstr, size_t errstr_size);
void cps_policy_free(struct cps_policy *p);

/* The standard in force for `region` on `day`: the longest matching prefix,
 * then the latest `from` not after the day; NULL when none is. */
const struct cps_policy_standard *cps_policy_standard_for(const struct cps_policy *p,
                                                          const char *region, int32_t day);

/* One typed record and its type. */
struct cps_policy_record {
	const struct cps_rtype *type;
	const struct cps_tval *value;
};

/* What a check may read besides the changed record. Each callback fills
 * *out and returns 1, or returns 0 when there is no such record. */
struct cps_policy_lookup {
	int (*person)(void *ctx, const char *national_id, struct cps_policy_record *out);
	int (*household)(void *ctx, const char *household_id, struct cps_policy_record *out);
	void *ctx;
};

/* Appends to `findings` (a JSON array) what the enabled checks find in the
 * unified record `rec` of `entity` under key `key`, on `day`:
 * {"check", "entity", "key", "fields": [...], "text", "category", "severity",
 *  "detail"}. Details never carry personal data (no names, IDs or incomes;
 * public standards only). Returns CPS_OK or CPS_ERR_FATAL (out of memory). */
int cps_policy_evaluate(const struct cps_policy *p, const char *entity, const char *key,
                        const struct cps_policy_record *rec, const struct cps_policy_lookup *lk,
                        int32_t day, json_t *findings);

/* The standards as JSON, in the policy's order: [{"name", "regions": [...],
 * "from": "YYYY-MM-DD", "dibao_fen", "tekun_fen"}], and in *canonical (the
 * caller frees it; may be NULL) their compact text with hex its SHA-256.
 * NULL when out of memory. */
json_t *cps_policy_standards_json(const struct cps_policy *p, char **canonical, char hex[65]);

/* The findings on the standards themselves (特困 below 1.6 × 低保), as
 * cps_policy_evaluate gives them, with entity "standard" and the
 * standard's name as key. */
int cps_policy_check_standards(const struct cps_policy *p, json_t *findings);

#endif
