/*
 * The records of the demo population (see demo_int.h) as each platform holds
 * them: persons, households, enrolments, verifications and alerts as Avro
 * JSON of their entity schemas, the messages that carry them, and the
 * initial load (every record, household by household). The lowest file of
 * the generator: it reads the population, never changes or draws from it.
 */
#include "demo/demo_int.h"

#include "codec/record.h"

#include "base/common.h"

#include <stdio.h>
#include <string.h>

const char *const cps_demo_platform_names[CPS_DEMO_PLATFORMS] = {"province", "city", "shenshan"};
const char *const cps_demo_entity_names[CPS_DEMO_ENTITIES] = {"person", "household", "enrolment",
                                                              "verification", "alert"};

/* Avro enum symbols, in schema order where the index matters. */
static const char *const relation_sym[] = {"HEAD",    "SPOUSE",       "CHILD",
                                           "PARENT",  "GRANDPARENT",  "GRANDCHILD",
                                           "SIBLING", "CHILD_IN_LAW", "OTHER"};
static const char *const labour_sym[] = {"FULL", "PARTIAL", "NONE", "NOT_WORKING_AGE", "UNKNOWN"};
enum { LAB_FULL, LAB_PARTIAL, LAB_NONE, LAB_NOT_WORKING_AGE, LAB_UNKNOWN };
static const char *const category_sym[] = {
    "DIBAO", "TEKUN", "DIBAO_EDGE", "AT_RISK", "EXPENDITURE_HARDSHIP", "OTHER_LOW_INCOME", "NONE"};
const char *const cps_demo_programme_sym[] = {"DIBAO",
                                              "TEKUN_SUPPORT",
                                              "DIBAO_EDGE",
                                              "TEMPORARY_ASSISTANCE",
                                              "SINGLE_PERSON_DIBAO",
                                              "SPECIAL_ASSISTANCE"};
static const char *const estatus_sym[] = {"APPLIED", "ACTIVE", "GRADUAL_EXIT", "EXITED",
                                          "REJECTED"};
static const char *const astatus_sym[] = {"OPEN", "INVESTIGATING", "ASSISTED", "REFERRED",
                                          "CLOSED_NO_NEED"};
static const char *const severity_sym[] = {"LOW", "MEDIUM", "HIGH", "URGENT"};

const struct alert_kind cps_demo_alert_kinds[] = {
    {"MEDICAL_EXPENSE", "EXPENDITURE_HARDSHIP", "MEDICAL_SECURITY", true, 2},
    {"DISASTER", "EXPENDITURE_HARDSHIP", "EMERGENCY_MANAGEMENT", false, 3},
    {"ACCIDENT", "EXPENDITURE_HARDSHIP", "EMERGENCY_MANAGEMENT", true, 2},
    {"UNEMPLOYMENT", "INCOME_COLLAPSE", "HUMAN_RESOURCES_SOCIAL_SECURITY", false, 1},
    {"INCOME_DROP", "INCOME_COLLAPSE", "HUMAN_RESOURCES_SOCIAL_SECURITY", false, 1},
    {"INCOME_ABOVE_STANDARD", "ELIGIBILITY_CHANGE", "CIVIL_AFFAIRS", false, 0},
    {"DISABILITY_ASSESSED", "SPECIAL_ASSISTANCE_NEED", "DISABLED_PERSONS_FEDERATION", true, 1},
    {"DEATH", "ELIGIBILITY_CHANGE", "HEALTH", true, 1},
    {"SCHOOL_ENROLMENT", "SPECIAL_ASSISTANCE_NEED", "EDUCATION", true, 0},
    {"HOUSING_DIFFICULTY", "SPECIAL_ASSISTANCE_NEED", "HOUSING_URBAN_RURAL", false, 1},
    {"HOTLINE_REPORT", "POVERTY_RISK", "CIVIL_AFFAIRS", false, 2},
    {"FIELD_VISIT", "POVERTY_RISK", "RURAL_REVITALISATION", false, 1},
};
const size_t cps_demo_n_alert_kinds = CPS_ARRAY_SIZE(cps_demo_alert_kinds);

/* ---- JSON helpers -------------------------------------------------------- */

static json_t *opt_string(const char *s)
{
	return s && *s ? json_pack("{s:s}", "string", s) : json_null();
}

static json_t *opt_date(int days)
{
	return days >= 0 ? json_pack("{s:i}", "int", days) : json_null();
}

static json_t *opt_long(int64_t v)
{
	return v >= 0 ? json_pack("{s:I}", "long", (json_int_t)v) : json_null();
}

/* ---- the records --------------------------------------------------------- */

static json_t *person_json(const struct cps_demo_gen *g, const struct person *p, int view)
{
	const struct contact *c = &p->v[view];
	const struct household *h = &g->households[p->household];
	static const char *const grades[] = {"GRADE_1", "GRADE_2", "GRADE_3", "GRADE_4"};
	int age = 2025 - p->birth_year;
	int labour;

	if (age < 16 || age >= 60)
		labour = LAB_NOT_WORKING_AGE;
	else if (c->grade == 1 || c->grade == 2)
		labour = LAB_NONE;
	else if (c->grade == 3 || p->ill)
		labour = LAB_PARTIAL;
	else
		labour = p->id[15] == '7' ? LAB_UNKNOWN : LAB_FULL;
	return json_pack(
	    "{s:s, s:s, s:s, s:i, s:s, s:s, s:o, s:b, s:b, s:o, s:b, s:s, s:o, s:o, s:b}",
	    "national_id", p->id, "name", p->name, "gender", p->male ? "MALE" : "FEMALE",
	    "birth_date", p->birth_days, "registration_region_code",
	    cps_demo_districts[p->reg_district].code, "residence_region_code",
	    cps_demo_districts[c->district].code, "residence_address", opt_string(c->address),
	    "has_residence_permit", p->permit, "disabled", c->grade > 0, "disability_grade",
	    c->grade > 0 ? json_pack("{s:s}", "cpsync.DisabilityGrade", grades[c->grade - 1])
	                 : json_null(),
	    "seriously_ill", p->ill, "labour_capacity", labour_sym[labour], "phone",
	    opt_string(c->phone), "household_id", opt_string(h->id), "deceased", c->deceased);
}

static json_t *household_json(const struct cps_demo_gen *g, const struct household *h, int view)
{
	json_t *members = json_array();

	for (int i = 0; i < h->n; i++) {
		const struct person *p = &g->persons[h->first + i];

		json_array_append_new(members, json_pack("{s:s, s:s}", "national_id", p->id,
		                                         "relation", relation_sym[p->relation]));
	}
	return json_pack("{s:s, s:s, s:o, s:i, s:s, s:s, s:o, s:s, s:o}", "household_id", h->id,
	                 "head_national_id", g->persons[h->first].id, "members", members,
	                 "member_count", h->n, "region_code", cps_demo_districts[h->district].code,
	                 "household_type", h->rural ? "RURAL" : "URBAN",
	                 "per_capita_monthly_income", cps_decimal_json(h->income_fen[view]),
	                 "monitoring_category", category_sym[h->category], "monitoring_since",
	                 opt_date(view == VIEW_PROVINCE ? h->monitoring_since : -1));
}

static json_t *enrolment_json(const struct cps_demo_gen *g, const struct enrolment *e)
{
	const struct household *h = &g->households[e->household];
	bool person = e->person >= 0;

	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:i, s:s, s:o, s:o}",
	    "enrolment_id", e->id, "subject_type", person ? "PERSON" : "HOUSEHOLD", "subject_id",
	    person ? g->persons[e->person].id : h->id, "programme",
	    cps_demo_programme_sym[e->programme], "status", estatus_sym[e->status], "applied_date",
	    e->applied, "start_date", opt_date(e->start), "gradual_exit_start_date",
	    opt_date(e->ge_start), "gradual_exit_end_date", opt_date(e->ge_end), "end_date",
	    opt_date(e->end), "monthly_amount", cps_decimal_json(e->amount_fen), "covered_members",
	    person ? 1 : h->n, "granting_region_code", cps_demo_districts[e->granting].code,
	    "status_reason", opt_string(e->reason), "emergency_region_code",
	    opt_string(e->emergency >= 0 ? cps_demo_districts[e->emergency].code : NULL));
}

static json_t *item_json(const char *kind, const char *member, int64_t fen, bool counted,
                         const char *source)
{
	return json_pack("{s:s, s:o, s:o, s:b, s:s}", "kind", kind, "member_national_id",
	                 opt_string(member), "amount", cps_decimal_json(fen), "counted", counted,
	                 "source", source);
}

/* The household's counted income total and employment deduction (fen). */
static void household_income(const struct cps_demo_gen *g, const struct household *h,
                             int64_t *total, int64_t *deduction)
{
	*total = 0;
	*deduction = 0;
	for (int i = 0; i < h->n; i++) {
		const struct person *p = &g->persons[h->first + i];

		if (p->v[VIEW_LOCAL].deceased)
			continue;
		if (h->pension_counted)
			*total += p->pension_fen;
		if (p->income_kind == INC_NONE)
			continue;
		*total += p->income_fen;
		if (p->income_kind == INC_WAGES)
			*deduction += p->income_fen / 5 < 30000 ? p->income_fen / 5 : 30000;
	}
}

int64_t cps_demo_per_capita(const struct cps_demo_gen *g, const struct household *h)
{
	int64_t total, deduction, net;

	household_income(g, h, &total, &deduction);
	net = total - deduction;
	if (net < 0)
		net = 0;
	return (net * 2 + h->n) / (2 * h->n); /* rounded half up */
}

static json_t *verification_json(const struct cps_demo_gen *g, const struct household *h)
{
	static const char *const purposes[] = {"APPLICATION", "REVIEW", "SPOT_CHECK",
	                                       "ALERT_FOLLOW_UP"};
	static const char *const income_kinds[] = {"", "WAGES", "BUSINESS", "TRANSFER_INCOME"};
	static const char *const income_sources[] = {"", "CITY", "DECLARED", "PROVINCE"};
	json_t *items = json_array();
	int64_t total, deduction, pc = cps_demo_per_capita(g, h);
	const char *result;
	int verified_day = (int)(h->verified_ms / DAY_MS);

	household_income(g, h, &total, &deduction);
	for (int i = 0; i < h->n; i++) {
		const struct person *p = &g->persons[h->first + i];

		if (p->v[VIEW_LOCAL].deceased)
			continue;
		if (p->income_kind != INC_NONE)
			json_array_append_new(items, item_json(income_kinds[p->income_kind], p->id,
			                                       p->income_fen, true,
			                                       income_sources[p->income_kind]));
		if (p->pension_fen)
			json_array_append_new(items,
			                      item_json("BASIC_PENSION", p->id, p->pension_fen,
			                                h->pension_counted, "PROVINCE"));
	}
	if (h->deposits_fen)
		json_array_append_new(
		    items, item_json("DEPOSITS", NULL, h->deposits_fen, false, "MINISTRY"));
	if (h->vehicle_fen)
		json_array_append_new(items, item_json("VEHICLES", g->persons[h->first].id,
		                                       h->vehicle_fen, false, "CITY"));
	if (h->deposits_fen > 24 * STD * h->n || h->vehicle_fen > 8000000)
		result = "ABOVE_ASSET_LIMIT";
	else if (pc >= STD * 3 / 2)
		result = "ABOVE_INCOME_STANDARD";
	else
		result = "ELIGIBLE";
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:o, s:s, s:I, s:o}",
	                 "verification_id", h->verification_id, "household_id", h->id, "purpose",
	                 purposes[h->purpose], "items", items, "counted_income_total",
	                 cps_decimal_json(total), "employment_cost_deduction",
	                 cps_decimal_json(deduction), "member_count", h->n, "per_capita_income",
	                 cps_decimal_json(pc), "result", result, "verified_at",
	                 (json_int_t)h->verified_ms, "valid_until", opt_date(verified_day + 180));
}

static json_t *alert_json(const struct cps_demo_gen *g, const struct alert *a)
{
	const struct alert_kind *k = &cps_demo_alert_kinds[a->kind];

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "alert_id",
	                 a->id, "subject_type", k->person ? "PERSON" : "HOUSEHOLD", "subject_id",
	                 k->person ? g->persons[a->subject].id : g->households[a->subject].id,
	                 "category", k->category, "trigger", k->trigger, "source_department",
	                 k->department, "region_code", cps_demo_districts[a->district].code,
	                 "raised_at", (json_int_t)a->raised_ms, "severity",
	                 severity_sym[a->severity], "status", astatus_sym[a->status], "handled_at",
	                 opt_long(a->handled_ms));
}

/* ---- emitting ------------------------------------------------------------ */

static int emit_record(cps_demo_emit_fn emit, void *arg, int platform, int entity, const char *key,
                       int64_t eff_ms, json_t *record)
{
	struct cps_demo_msg m = {(enum cps_demo_platform)platform, (enum cps_demo_entity)entity,
	                         key, eff_ms, record};
	int rc;

	if (!record)
		return CPS_ERR_FATAL; /* out of memory building it */
	rc = emit(arg, &m);
	json_decref(record);
	return rc;
}

int cps_demo_emit_delete(cps_demo_emit_fn emit, void *arg, int platform, int entity,
                         const char *key, int64_t eff_ms)
{
	struct cps_demo_msg m = {(enum cps_demo_platform)platform, (enum cps_demo_entity)entity,
	                         key, eff_ms, NULL};

	return emit(arg, &m);
}

int cps_demo_emit_person(struct cps_demo_gen *g, const struct person *p, int view,
                         cps_demo_emit_fn emit, void *arg)
{
	int platform =
	    view == VIEW_PROVINCE ? CPS_DEMO_PROVINCE : g->households[p->household].local;

	return emit_record(emit, arg, platform, CPS_DEMO_PERSON, p->id, p->v[view].eff_ms,
	                   person_json(g, p, view));
}

int cps_demo_emit_household(struct cps_demo_gen *g, const struct household *h, int view,
                            cps_demo_emit_fn emit, void *arg)
{
	int platform = view == VIEW_PROVINCE ? CPS_DEMO_PROVINCE : h->local;

	return emit_record(emit, arg, platform, CPS_DEMO_HOUSEHOLD, h->id, h->eff_ms[view],
	                   household_json(g, h, view));
}

/* The granting platform publishes; the province mirrors a little later. */
int cps_demo_emit_enrolment(struct cps_demo_gen *g, const struct enrolment *e, int64_t mirror_lag,
                            cps_demo_emit_fn emit, void *arg)
{
	int rc = emit_record(emit, arg, g->households[e->household].local, CPS_DEMO_ENROLMENT,
	                     e->id, e->eff_ms, enrolment_json(g, e));

	if (rc == 0)
		rc = emit_record(emit, arg, CPS_DEMO_PROVINCE, CPS_DEMO_ENROLMENT, e->id,
		                 e->eff_ms + mirror_lag, enrolment_json(g, e));
	return rc;
}

int cps_demo_emit_verification(struct cps_demo_gen *g, const struct household *h,
                               cps_demo_emit_fn emit, void *arg)
{
	return emit_record(emit, arg, CPS_DEMO_CITY, CPS_DEMO_VERIFICATION, h->verification_id,
	                   h->verified_ms, verification_json(g, h));
}

int cps_demo_emit_alert(struct cps_demo_gen *g, const struct alert *a, cps_demo_emit_fn emit,
                        void *arg)
{
	return emit_record(emit, arg, CPS_DEMO_PROVINCE, CPS_DEMO_ALERT, a->id,
	                   a->handled_ms >= 0 ? a->handled_ms : a->raised_ms, alert_json(g, a));
}

/* The registers first, then what refers to them: the policy's checks of
 * an enrolment read its subject and household, and an enrolment checked
 * before the store has them is checked without them (a finding of the
 * initial load would be lost). */
int cps_demo_gen_initial_registers(struct cps_demo_gen *g, cps_demo_emit_fn emit, void *arg)
{
	int rc = 0;

	for (size_t hi = 0; hi < g->n_households && !rc; hi++) {
		struct household *h = &g->households[hi];

		for (int i = 0; i < h->n && !rc; i++) {
			rc = cps_demo_emit_person(g, &g->persons[h->first + i], VIEW_LOCAL, emit,
			                          arg);
			if (!rc)
				rc = cps_demo_emit_person(g, &g->persons[h->first + i],
				                          VIEW_PROVINCE, emit, arg);
		}
		if (!rc && h->verification_id[0])
			rc = cps_demo_emit_verification(g, h, emit, arg);
		if (!rc)
			rc = cps_demo_emit_household(g, h, VIEW_LOCAL, emit, arg);
		if (!rc)
			rc = cps_demo_emit_household(g, h, VIEW_PROVINCE, emit, arg);
	}
	return rc;
}

int cps_demo_gen_initial_enrolments(struct cps_demo_gen *g, cps_demo_emit_fn emit, void *arg)
{
	int rc = 0;

	for (size_t e = 0; !rc && e < g->n_enrolments; e++)
		rc = cps_demo_emit_enrolment(g, &g->enrolments[e], 2 * HOUR_MS, emit, arg);
	for (size_t a = 0; !rc && a < g->n_alerts; a++)
		rc = cps_demo_emit_alert(g, &g->alerts[a], emit, arg);
	return rc;
}

int cps_demo_gen_initial(struct cps_demo_gen *g, cps_demo_emit_fn emit, void *arg)
{
	int rc = cps_demo_gen_initial_registers(g, emit, arg);

	return rc ? rc : cps_demo_gen_initial_enrolments(g, emit, arg);
}
