/*
 * The checks of 深民〔2021〕80号 on one unified record (policy.h). An
 * enrolment is checked with its subject (a person or a household) and the
 * subject's household, read through the lookup; a verification by its own
 * figures; the standards by themselves. Details state the rule's terms and
 * public standards, never a name, an ID or an income.
 */
#include "policy/policy_int.h"

#include "base/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ID_MAX 64

struct eval {
	const struct cps_policy *p;
	const char *entity, *key;
	const struct cps_policy_record *rec;
	const struct cps_policy_lookup *lk;
	int32_t day;
	json_t *findings;
	int oom;
};

static bool eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* Records a finding of check c on the evaluated record: `fields` is a
 * NULL-terminated list, detail a printf format. */
static void found(struct eval *x, enum cps_policy_check c, const char *const *fields,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void found(struct eval *x, enum cps_policy_check c, const char *const *fields,
                  const char *fmt, ...)
{
	const struct cps_policy_check_conf *cc = &x->p->checks[c];
	json_t *f, *names = json_array();
	char detail[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (size_t i = 0; names && fields[i]; i++)
		if (json_array_append_new(names, json_string(fields[i])) < 0)
			x->oom = 1;
	f = names ? json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "check",
	                      cps_policy_check_code(c), "entity", x->entity, "key", x->key,
	                      "fields", names, "text", cc->text, "category", cc->category,
	                      "severity", cc->severity, "detail", detail)
	          : NULL;
	if (!f || json_array_append_new(x->findings, f) < 0)
		x->oom = 1;
}

static bool on(const struct eval *x, enum cps_policy_check c)
{
	return x->p->checks[c].enabled;
}

static void day_text(int32_t day, char *buf, size_t size)
{
	int y;
	unsigned m, d;

	cps_civil_from_days(day, &y, &m, &d);
	snprintf(buf, size, "%04d-%02u-%02u", y, m, d);
}

/* ---- enrolments -------------------------------------------------------------- */

/* An enrolment with what the checks read of it and its subject. */
struct enrolment {
	const char *status, *programme, *subject_type;
	char subject_id[ID_MAX], granting[16];
	int64_t ge_start, ge_end, end;
	bool has_ge_start, has_ge_end, has_end;
	struct cps_policy_record person, household; /* .value NULL when not found */
};

static void load_enrolment(struct eval *x, struct enrolment *e)
{
	const struct cps_policy_record *r = x->rec;
	char hid[ID_MAX];

	memset(e, 0, sizeof(*e));
	e->status = cps_pr_enum(r, "status");
	e->programme = cps_pr_enum(r, "programme");
	e->subject_type = cps_pr_enum(r, "subject_type");
	cps_pr_str(r, "subject_id", e->subject_id, sizeof(e->subject_id));
	cps_pr_str(r, "granting_region_code", e->granting, sizeof(e->granting));
	e->has_ge_start = cps_pr_int(r, "gradual_exit_start_date", &e->ge_start);
	e->has_ge_end = cps_pr_int(r, "gradual_exit_end_date", &e->ge_end);
	e->has_end = cps_pr_int(r, "end_date", &e->end);
	if (!x->lk)
		return;
	if (eq(e->subject_type, "PERSON") && x->lk->person &&
	    x->lk->person(x->lk->ctx, e->subject_id, &e->person) &&
	    cps_pr_str(&e->person, "household_id", hid, sizeof(hid)) && x->lk->household)
		x->lk->household(x->lk->ctx, hid, &e->household);
	if (eq(e->subject_type, "HOUSEHOLD") && x->lk->household) {
		char head[ID_MAX];

		if (x->lk->household(x->lk->ctx, e->subject_id, &e->household) &&
		    cps_pr_str(&e->household, "head_national_id", head, sizeof(head)) &&
		    x->lk->person)
			x->lk->person(x->lk->ctx, head, &e->person); /* the applicant */
	}
}

static bool in_force(const struct enrolment *e)
{
	return eq(e->status, "ACTIVE") || eq(e->status, "GRADUAL_EXIT");
}

/* The last day of the 6-month gradual exit that starts on `start` (the
 * schema's gradual_exit_end_date is a last day: 15 January → 14 July). */
static int32_t last_day(int64_t start)
{
	return cps_add_months((int32_t)start, 6) - 1;
}

static void check_gradual_exit(struct eval *x, const struct enrolment *e)
{
	static const char *const dates[] = {"gradual_exit_start_date", "gradual_exit_end_date",
	                                    NULL};
	static const char *const ended[] = {"status", "end_date", "gradual_exit_end_date", NULL};
	char want[16];

	if (on(x, CPS_POLICY_GRADUAL_EXIT_NOT_SIX_MONTHS)) {
		if (eq(e->status, "GRADUAL_EXIT") && (!e->has_ge_start || !e->has_ge_end))
			found(x, CPS_POLICY_GRADUAL_EXIT_NOT_SIX_MONTHS, dates,
			      "status GRADUAL_EXIT without its start and end dates");
		else if (e->has_ge_start && e->has_ge_end && e->ge_end != last_day(e->ge_start)) {
			day_text(last_day(e->ge_start), want, sizeof(want));
			found(
			    x, CPS_POLICY_GRADUAL_EXIT_NOT_SIX_MONTHS, dates,
			    "the gradual exit's last day is %lld days after its start; the last day "
			    "of 6 months from its start is %s",
			    (long long)(e->ge_end - e->ge_start), want);
		}
	}
	if (on(x, CPS_POLICY_EXITED_DURING_GRADUAL_EXIT) && eq(e->status, "EXITED") &&
	    e->has_ge_end && (!e->has_end || e->end < e->ge_end))
		found(x, CPS_POLICY_EXITED_DURING_GRADUAL_EXIT, ended,
		      e->has_end ? "exited %lld days before the gradual exit ends"
		                 : "exited without an end date during a gradual exit",
		      (long long)(e->ge_end - e->end));
}

static void check_income(struct eval *x, const struct enrolment *e)
{
	static const char *const fields[] = {"status", NULL};
	const struct cps_policy_standard *s;
	char region[16];
	int64_t income;

	if (!on(x, CPS_POLICY_INCOME_ABOVE_STANDARD_ACTIVE) || !eq(e->programme, "DIBAO") ||
	    !eq(e->status, "ACTIVE") || !e->household.value ||
	    !cps_pr_str(&e->household, "region_code", region, sizeof(region)) ||
	    !cps_pr_fen(&e->household, "per_capita_monthly_income", &income) ||
	    !(s = cps_policy_standard_for(x->p, region, x->day)) || income <= s->dibao_fen)
		return;
	found(x, CPS_POLICY_INCOME_ABOVE_STANDARD_ACTIVE, fields,
	      "the household's per-capita income is above the 低保 standard '%s' (%lld.%02lld "
	      "yuan) and the enrolment is ACTIVE, not in a gradual exit",
	      s->name, (long long)(s->dibao_fen / 100), (long long)(s->dibao_fen % 100));
}

static void check_subject(struct eval *x, const struct enrolment *e)
{
	static const char *const status[] = {"status", NULL};
	static const char *const subject[] = {"programme", "subject_id", NULL};
	const char *grade, *category;
	int64_t deceased = 0, ill = 0, disabled = 0;

	if (!e->person.value)
		return;
	cps_pr_int(&e->person, "deceased", &deceased);
	if (on(x, CPS_POLICY_DECEASED_ENROLLED) && eq(e->subject_type, "PERSON") && deceased &&
	    in_force(e))
		found(x, CPS_POLICY_DECEASED_ENROLLED, status,
		      "the enrolment is %s and its subject is recorded as deceased", e->status);
	if (!on(x, CPS_POLICY_SINGLE_PERSON_NOT_ELIGIBLE) ||
	    !eq(e->programme, "SINGLE_PERSON_DIBAO") || !(in_force(e) || eq(e->status, "APPLIED")))
		return;
	cps_pr_int(&e->person, "seriously_ill", &ill);
	cps_pr_int(&e->person, "disabled", &disabled);
	grade = cps_pr_enum(&e->person, "disability_grade");
	category = e->household.value ? cps_pr_enum(&e->household, "monitoring_category") : NULL;
	if (!eq(e->subject_type, "PERSON"))
		found(x, CPS_POLICY_SINGLE_PERSON_NOT_ELIGIBLE, subject,
		      "单人保 enrols one person, not a household");
	else if (!ill && !(disabled && (eq(grade, "GRADE_1") || eq(grade, "GRADE_2"))))
		found(x, CPS_POLICY_SINGLE_PERSON_NOT_ELIGIBLE, subject,
		      "the subject is neither seriously ill nor disabled at grade 1 or 2");
	else if (category && !eq(category, "DIBAO_EDGE"))
		found(x, CPS_POLICY_SINGLE_PERSON_NOT_ELIGIBLE, subject,
		      "the subject's household is %s, not 低保边缘 (DIBAO_EDGE)", category);
}

static void check_region(struct eval *x, const struct enrolment *e)
{
	static const char *const granting[] = {"granting_region_code", NULL};
	char residence[16] = "", emergency[16] = "";
	int64_t permit = 0;

	/* where the subject lives: a person's residence, a household's region */
	if (eq(e->subject_type, "PERSON") && e->person.value)
		cps_pr_str(&e->person, "residence_region_code", residence, sizeof(residence));
	else if (e->household.value)
		cps_pr_str(&e->household, "region_code", residence, sizeof(residence));
	if (eq(e->programme, "TEMPORARY_ASSISTANCE")) {
		cps_pr_str(x->rec, "emergency_region_code", emergency, sizeof(emergency));
		if (on(x, CPS_POLICY_TEMPORARY_WRONG_REGION) && e->granting[0] &&
		    (emergency[0] || residence[0]) && !eq(e->granting, emergency) &&
		    !eq(e->granting, residence))
			found(
			    x, CPS_POLICY_TEMPORARY_WRONG_REGION, granting,
			    "granted by %s, neither where the emergency happened (%s) nor the residence "
			    "(%s)",
			    e->granting, emergency[0] ? emergency : "unknown",
			    residence[0] ? residence : "unknown");
		return;
	}
	if (!e->person.value || !cps_pr_int(&e->person, "has_residence_permit", &permit) ||
	    !permit || !(in_force(e) || eq(e->status, "APPLIED")))
		return;
	if (on(x, CPS_POLICY_PERMIT_HOLDER_WRONG_REGION) && residence[0] && e->granting[0] &&
	    !eq(residence, e->granting))
		found(x, CPS_POLICY_PERMIT_HOLDER_WRONG_REGION, granting,
		      "a residence-permit holder living in %s, enrolled by %s", residence,
		      e->granting);
}

/* ---- verifications ------------------------------------------------------------ */

static bool counts_as_income(const char *kind)
{
	static const char *const income[] = {"WAGES", "BUSINESS", "PROPERTY_INCOME",
	                                     "TRANSFER_INCOME", "OTHER"};

	for (size_t i = 0; i < CPS_ARRAY_SIZE(income); i++)
		if (eq(kind, income[i]))
			return true;
	return false;
}

static void check_verification(struct eval *x)
{
	static const char *const items[] = {"items", NULL};
	static const char *const total_fields[] = {"counted_income_total", "items", NULL};
	static const char *const per_capita[] = {"per_capita_income", "counted_income_total",
	                                         "employment_cost_deduction", "member_count", NULL};
	struct cps_policy_record it;
	int64_t sum = 0, total, deduction = 0, members = 0, pc, amount, counted, net, want;
	const char *excluded = NULL, *included_uncounted = NULL;

	if (!cps_pr_fen(x->rec, "counted_income_total", &total))
		return;
	for (size_t i = 0; cps_pr_item(x->rec, "items", i, &it); i++) {
		const char *kind = cps_pr_enum(&it, "kind");

		if (!cps_pr_fen(&it, "amount", &amount) || !cps_pr_int(&it, "counted", &counted))
			continue;
		if (counted && !counts_as_income(kind))
			excluded = kind;
		if (counted)
			sum += amount;
		else if (!included_uncounted &&
		         (counts_as_income(kind) || eq(kind, "BASIC_PENSION")))
			included_uncounted = kind; /* checked against the total below */
	}
	if (on(x, CPS_POLICY_VERIFICATION_COUNTS_EXCLUDED) && excluded)
		found(x, CPS_POLICY_VERIFICATION_COUNTS_EXCLUDED, items,
		      "an item of kind %s is marked counted", excluded);
	if (total != sum) {
		bool via_uncounted = false;

		for (size_t i = 0; cps_pr_item(x->rec, "items", i, &it); i++)
			if (cps_pr_int(&it, "counted", &counted) && !counted &&
			    cps_pr_fen(&it, "amount", &amount) && total == sum + amount) {
				via_uncounted = true;
				included_uncounted = cps_pr_enum(&it, "kind");
			}
		if (via_uncounted && on(x, CPS_POLICY_VERIFICATION_COUNTS_EXCLUDED))
			found(x, CPS_POLICY_VERIFICATION_COUNTS_EXCLUDED, total_fields,
			      "the counted total includes an uncounted item of kind %s",
			      included_uncounted ? included_uncounted : "?");
		else if (!via_uncounted && on(x, CPS_POLICY_VERIFICATION_TOTAL_MISMATCH))
			found(x, CPS_POLICY_VERIFICATION_TOTAL_MISMATCH, total_fields,
			      "the counted total is not the sum of the counted items");
	}
	if (!on(x, CPS_POLICY_VERIFICATION_PER_CAPITA) ||
	    !cps_pr_fen(x->rec, "per_capita_income", &pc) ||
	    !cps_pr_int(x->rec, "member_count", &members) || members <= 0)
		return;
	cps_pr_fen(x->rec, "employment_cost_deduction", &deduction);
	net = total > deduction ? total - deduction : 0; /* costs deducted up to the income */
	want = (net * 2 + members) / (2 * members);      /* rounded half up */
	if (pc != want)
		found(
		    x, CPS_POLICY_VERIFICATION_PER_CAPITA, per_capita,
		    "the per-capita income is not (counted total − employment costs) / %lld members, "
		    "rounded to the fen",
		    (long long)members);
}

/* ---- entry points ------------------------------------------------------------- */

int cps_policy_evaluate(const struct cps_policy *p, const char *entity, const char *key,
                        const struct cps_policy_record *rec, const struct cps_policy_lookup *lk,
                        int32_t day, json_t *findings)
{
	struct eval x = {p, entity, key, rec, lk, day, findings, 0};
	struct enrolment e;

	if (!p || !rec || !rec->value)
		return CPS_OK;
	if (eq(entity, "enrolment")) {
		load_enrolment(&x, &e);
		check_gradual_exit(&x, &e);
		check_income(&x, &e);
		check_subject(&x, &e);
		check_region(&x, &e);
	} else if (eq(entity, "verification")) {
		check_verification(&x);
	}
	return x.oom ? CPS_ERR_FATAL : CPS_OK;
}

int cps_policy_check_standards(const struct cps_policy *p, json_t *findings)
{
	static const char *const fields[] = {"tekun_monthly", "dibao_monthly", NULL};

	for (size_t i = 0;
	     p && p->checks[CPS_POLICY_TEKUN_STANDARD_TOO_LOW].enabled && i < p->n_standards; i++) {
		const struct cps_policy_standard *s = &p->standards[i];
		struct eval x = {p, "standard", s->name, NULL, NULL, 0, findings, 0};

		/* 特困 ≥ 1.6 × 低保, in whole fen: 10 × tekun ≥ 16 × dibao */
		if (s->tekun_fen * 10 < s->dibao_fen * 16)
			found(&x, CPS_POLICY_TEKUN_STANDARD_TOO_LOW, fields,
			      "特困 %lld.%02lld yuan is below 1.6 × 低保 %lld.%02lld yuan",
			      (long long)(s->tekun_fen / 100), (long long)(s->tekun_fen % 100),
			      (long long)(s->dibao_fen / 100), (long long)(s->dibao_fen % 100));
		if (x.oom)
			return CPS_ERR_FATAL;
	}
	return CPS_OK;
}
