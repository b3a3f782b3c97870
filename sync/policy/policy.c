/*
 * The policy's pieces (policy.h): the checks' codes and declared defaults
 * (category, severity, the rule's text after 深民〔2021〕80号), the
 * standards table and its lookup, and building a policy from JSON of the
 * configuration section's shape (policy_config.c converts the YAML to it).
 */
#include "policy/policy_int.h"

#include "base/common.h"
#include "base/sha256.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *code, *category, *severity, *text;
} declared[CPS_POLICY_CHECKS] = {
    [CPS_POLICY_GRADUAL_EXIT_NOT_SIX_MONTHS] =
        {"GRADUAL_EXIT_NOT_SIX_MONTHS", "DATA_INCONSISTENCY", "MEDIUM",
         "对家庭人均收入超过当地低保标准的,给予6个月的救助渐退期 (a gradual exit lasts 6 months)"},
    [CPS_POLICY_EXITED_DURING_GRADUAL_EXIT] =
        {"EXITED_DURING_GRADUAL_EXIT", "ELIGIBILITY_CHANGE", "HIGH",
         "给予6个月的救助渐退期,不再符合条件的按程序退出 (no exit before the gradual exit ends)"},
    [CPS_POLICY_INCOME_ABOVE_STANDARD_ACTIVE] =
        {"INCOME_ABOVE_STANDARD_ACTIVE", "ELIGIBILITY_CHANGE", "MEDIUM",
         "对家庭人均收入超过当地低保标准的,给予6个月的救助渐退期 (income above the standard: a gradual exit, not an active enrolment)"},
    [CPS_POLICY_TEKUN_STANDARD_TOO_LOW] =
        {"TEKUN_STANDARD_TOO_LOW", "DATA_INCONSISTENCY", "HIGH",
         "特困人员基本生活标准按不低于当地最低生活保障标准的1.6倍确定 (the 特困 standard is at least 1.6 × the 低保 standard)"},
    [CPS_POLICY_VERIFICATION_COUNTS_EXCLUDED] =
        {"VERIFICATION_COUNTS_EXCLUDED", "DATA_INCONSISTENCY", "HIGH",
         "城乡居民基本养老保险基础养老金不计入低保家庭、特困人员收入 (the basic pension and uncounted items are not income)"},
    [CPS_POLICY_VERIFICATION_TOTAL_MISMATCH] =
        {"VERIFICATION_TOTAL_MISMATCH", "DATA_INCONSISTENCY", "MEDIUM",
         "计入收入合计为计入家庭收入的核对项目之和 (the counted total is the sum of the counted items)"},
    [CPS_POLICY_VERIFICATION_PER_CAPITA] =
        {"VERIFICATION_PER_CAPITA", "DATA_INCONSISTENCY", "MEDIUM",
         "对于必要的就业成本等,在核算家庭收入时按规定适当扣减 (per capita = (counted total − employment costs) / members)"},
    [CPS_POLICY_DECEASED_ENROLLED] =
        {"DECEASED_ENROLLED", "ELIGIBILITY_CHANGE", "HIGH",
         "不再符合条件的按程序退出 (a deceased person's enrolment ends)"},
    [CPS_POLICY_SINGLE_PERSON_NOT_ELIGIBLE] =
        {"SINGLE_PERSON_NOT_ELIGIBLE", "ELIGIBILITY_CHANGE", "MEDIUM",
         "将低收入家庭中的重病、重残等特殊困难人员,参照“单人保”按程序纳入低保 (单人保: seriously ill or disabled at grade 1–2, in a 低保边缘 household)"},
    [CPS_POLICY_TEMPORARY_WRONG_REGION] =
        {"TEMPORARY_WRONG_REGION", "DATA_INCONSISTENCY", "LOW",
         "取消户籍地、居住地申请限制,由急难发生地实施临时救助 (temporary assistance is granted where the emergency happens)"},
    [CPS_POLICY_PERMIT_HOLDER_WRONG_REGION] =
        {"PERMIT_HOLDER_WRONG_REGION", "DATA_INCONSISTENCY", "LOW",
         "有序推进持有居住证人员在居住地申办社会救助 (residence-permit holders apply where they live)"},
};

const char *cps_policy_check_code(enum cps_policy_check c)
{
	return (size_t)c < CPS_POLICY_CHECKS ? declared[c].code : NULL;
}

int cps_policy_check_parse(const char *code)
{
	for (int i = 0; code && i < CPS_POLICY_CHECKS; i++)
		if (!strcmp(declared[i].code, code))
			return i;
	return -1;
}

void cps_policy_free(struct cps_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_standards; i++) {
		struct cps_policy_standard *s = &p->standards[i];

		free(s->name);
		for (size_t j = 0; j < s->n_regions; j++)
			free(s->regions[j]);
		free(s->regions);
	}
	free(p->standards);
	for (int i = 0; i < CPS_POLICY_CHECKS; i++) {
		free(p->checks[i].category);
		free(p->checks[i].severity);
		free(p->checks[i].text);
	}
	free(p);
}

const struct cps_policy_standard *cps_policy_standard_for(const struct cps_policy *p,
                                                          const char *region, int32_t day)
{
	const struct cps_policy_standard *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; p && region && i < p->n_standards; i++) {
		const struct cps_policy_standard *s = &p->standards[i];

		if (s->from_days > day)
			continue;
		for (size_t j = 0; j < s->n_regions; j++) {
			size_t len = strlen(s->regions[j]);

			if (strncmp(region, s->regions[j], len))
				continue;
			if (!best || len > best_len ||
			    (len == best_len && s->from_days > best->from_days)) {
				best = s;
				best_len = len;
			}
		}
	}
	return best;
}

/* ---- from JSON ----------------------------------------------------------------- */

/* "1365.00" (or "1365", "1365.5") in fen; false otherwise. */
static bool parse_fen(const char *s, int64_t *out)
{
	int64_t yuan = 0, fen = 0;
	int digits = 0, decimals = 0;

	for (; s && isdigit((unsigned char)*s) && digits < 13; s++, digits++)
		yuan = yuan * 10 + (*s - '0');
	if (!s || digits == 0)
		return false;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s) && decimals < 2; s++, decimals++)
			fen = fen * 10 + (*s - '0');
	if (*s)
		return false;
	*out = yuan * 100 + (decimals == 1 ? fen * 10 : fen);
	return true;
}

/* "2024-07-01" in days since 1970-01-01; false otherwise. */
static bool parse_day(const char *s, int32_t *out)
{
	int y, n = 0;
	unsigned m, d;

	if (!s || sscanf(s, "%4d-%2u-%2u%n", &y, &m, &d, &n) != 3 || s[n] || m < 1 || m > 12 ||
	    d < 1 || d > 31)
		return false;
	*out = cps_days_from_civil(y, m, d);
	return true;
}

static int standard_from_json(const char *name, json_t *j, struct cps_policy_standard *s,
                              char *errstr, size_t errstr_size)
{
	json_t *regions = json_object_get(j, "regions"), *r;
	size_t i;

	if (!(s->name = strdup(name)))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (!json_is_array(regions) || json_array_size(regions) == 0)
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "policy 'standards.%.64s.regions': a list of region-code prefixes is required",
		    name);
	if (!(s->regions = calloc(json_array_size(regions), sizeof(*s->regions))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_array_foreach (regions, i, r) {
		const char *code = json_string_value(r);
		size_t k = 0;

		while (code && isdigit((unsigned char)code[k]))
			k++;
		if (!code || k < 2 || k > 6 || code[k])
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "policy 'standards.%.64s.regions[%zu]': 2 to 6 digits of a region code",
			    name, i);
		if (!(s->regions[s->n_regions++] = strdup(code)))
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	if (!parse_day(json_string_value(json_object_get(j, "from")), &s->from_days))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "policy 'standards.%.64s.from': a date YYYY-MM-DD is required",
		                  name);
	if (!parse_fen(json_string_value(json_object_get(j, "dibao_monthly")), &s->dibao_fen) ||
	    !parse_fen(json_string_value(json_object_get(j, "tekun_monthly")), &s->tekun_fen))
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "policy 'standards.%.64s': dibao_monthly and tekun_monthly are yuan amounts like \"1365.00\"",
		    name);
	return CPS_OK;
}

/* A flag as JSON or YAML text gives it. */
static int flag_of(json_t *v, int dflt)
{
	const char *s = json_string_value(v);

	if (json_is_boolean(v))
		return json_is_true(v);
	if (s)
		return !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") ||
		       !strcmp(s, "1");
	return dflt;
}

static int check_from_json(struct cps_policy *p, const char *code, json_t *j, char *errstr,
                           size_t errstr_size)
{
	int c = cps_policy_check_parse(code);
	struct cps_policy_check_conf *cc;
	const char *v;

	if (c < 0)
		return cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "policy 'checks.%.64s': unknown check (cpsync config-doc lists them)", code);
	cc = &p->checks[c];
	cc->enabled = flag_of(json_object_get(j, "enabled"), cc->enabled);
	if ((v = json_string_value(json_object_get(j, "category")))) {
		free(cc->category);
		cc->category = strdup(v);
	}
	if ((v = json_string_value(json_object_get(j, "severity")))) {
		free(cc->severity);
		cc->severity = strdup(v);
	}
	if ((v = json_string_value(json_object_get(j, "text")))) {
		free(cc->text);
		cc->text = strdup(v);
	}
	if (!cc->category || !cc->severity || !cc->text)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}

static struct cps_policy *policy_new(size_t n_standards)
{
	struct cps_policy *p = calloc(1, sizeof(*p));

	if (!p || (n_standards && !(p->standards = calloc(n_standards, sizeof(*p->standards))))) {
		free(p);
		return NULL;
	}
	for (int i = 0; i < CPS_POLICY_CHECKS; i++) {
		p->checks[i].enabled = 1;
		p->checks[i].category = strdup(declared[i].category);
		p->checks[i].severity = strdup(declared[i].severity);
		p->checks[i].text = strdup(declared[i].text);
		if (!p->checks[i].category || !p->checks[i].severity || !p->checks[i].text) {
			cps_policy_free(p);
			return NULL;
		}
	}
	return p;
}

int cps_policy_from_json(json_t *policy, struct cps_policy **out, char *errstr, size_t errstr_size)
{
	json_t *standards = json_object_get(policy, "standards");
	json_t *checks = json_object_get(policy, "checks"), *j;
	struct cps_policy *p;
	const char *k;
	int rc = CPS_OK;

	*out = NULL;
	if (policy && !json_is_object(policy))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "policy: not an object");
	if (!(p = policy_new(json_object_size(standards))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_object_foreach (standards, k, j) {
		rc = standard_from_json(k, j, &p->standards[p->n_standards++], errstr, errstr_size);
		if (rc != CPS_OK)
			goto fail;
	}
	json_object_foreach (checks, k, j) {
		if ((rc = check_from_json(p, k, j, errstr, errstr_size)) != CPS_OK)
			goto fail;
	}
	*out = p;
	return CPS_OK;
fail:
	cps_policy_free(p);
	return rc;
}

/* One standard as JSON; NULL when out of memory. */
static json_t *standard_json(const struct cps_policy_standard *s)
{
	json_t *regions = json_array();
	char from[16];
	unsigned m, d;
	int y;

	for (size_t r = 0; regions && r < s->n_regions; r++) {
		if (json_array_append_new(regions, json_string(s->regions[r])) < 0) {
			json_decref(regions);
			return NULL;
		}
	}
	cps_civil_from_days(s->from_days, &y, &m, &d);
	snprintf(from, sizeof(from), "%04d-%02u-%02u", y, m, d);
	return json_pack("{s:s, s:o, s:s, s:I, s:I}", "name", s->name, "regions", regions, "from",
	                 from, "dibao_fen", (json_int_t)s->dibao_fen, "tekun_fen",
	                 (json_int_t)s->tekun_fen);
}

json_t *cps_policy_standards_json(const struct cps_policy *p, char **canonical, char hex[65])
{
	json_t *out = json_array();
	struct cps_sha256 h;
	char *text = NULL;

	for (size_t i = 0; out && p && i < p->n_standards; i++) {
		if (json_array_append_new(out, standard_json(&p->standards[i])) < 0) {
			json_decref(out);
			out = NULL;
		}
	}
	if (!out || !(text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS))) {
		json_decref(out);
		return NULL;
	}
	cps_sha256_init(&h);
	cps_sha256_update(&h, text, strlen(text));
	cps_sha256_final_hex(&h, hex);
	if (canonical)
		*canonical = text;
	else
		free(text);
	return out;
}
