/*
 * The demo data generator (see demo.h): a population of persons in
 * households of Shenzhen and the Shenshan zone built from a seed, the
 * records each platform holds about them (with the disagreements real
 * platforms have), an initial load and a trickle of changes, and the thread
 * that delivers them: to the platforms' topics with an idempotent producer,
 * or to the city's database (demo_city.c) and the Shenshan inbox
 * (demo_shenshan.c) when those are given.
 */
#include "demo/demo.h"

#include "base/buf.h"
#include "codec/codec.h"
#include "base/common.h"
#include "codec/framing.h"
#include "base/pii.h"
#include "codec/avro_json.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const cps_demo_platform_names[CPS_DEMO_PLATFORMS] = {"province", "city", "shenshan"};
const char *const cps_demo_entity_names[CPS_DEMO_ENTITIES] = {"person", "household", "enrolment",
                                                              "verification", "alert"};

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL
/* Business times of the initial load lie before 2025-01-01T00:00:00Z. */
#define BASE_MS           1735689600000LL
#define BASE_DAYS         ((int)(BASE_MS / DAY_MS))
#define STD               ((int64_t)CPS_DEMO_DIBAO_STANDARD_FEN)
#define SHENSHAN_DISTRICT (cps_demo_n_districts - 1)

/* The two views of a person or household a platform pair holds. */
enum { VIEW_PROVINCE, VIEW_LOCAL, VIEWS };

/* Avro enum symbols, in schema order where the index matters. */
static const char *const relation_sym[] = {"HEAD",    "SPOUSE",       "CHILD",
                                           "PARENT",  "GRANDPARENT",  "GRANDCHILD",
                                           "SIBLING", "CHILD_IN_LAW", "OTHER"};
enum { REL_HEAD, REL_SPOUSE, REL_CHILD, REL_PARENT, REL_GRANDPARENT, REL_GRANDCHILD, REL_SIBLING };
static const char *const labour_sym[] = {"FULL", "PARTIAL", "NONE", "NOT_WORKING_AGE", "UNKNOWN"};
enum { LAB_FULL, LAB_PARTIAL, LAB_NONE, LAB_NOT_WORKING_AGE, LAB_UNKNOWN };
static const char *const category_sym[] = {
    "DIBAO", "TEKUN", "DIBAO_EDGE", "AT_RISK", "EXPENDITURE_HARDSHIP", "OTHER_LOW_INCOME", "NONE"};
enum { CAT_DIBAO, CAT_TEKUN, CAT_DIBAO_EDGE, CAT_AT_RISK, CAT_HARDSHIP, CAT_OTHER, CAT_NONE };
static const char *const programme_sym[] = {"DIBAO",
                                            "TEKUN_SUPPORT",
                                            "DIBAO_EDGE",
                                            "TEMPORARY_ASSISTANCE",
                                            "SINGLE_PERSON_DIBAO",
                                            "SPECIAL_ASSISTANCE"};
enum { PRG_DIBAO, PRG_TEKUN, PRG_EDGE, PRG_TEMPORARY, PRG_SINGLE };
static const char *const estatus_sym[] = {"APPLIED", "ACTIVE", "GRADUAL_EXIT", "EXITED",
                                          "REJECTED"};
enum { ST_APPLIED, ST_ACTIVE, ST_GRADUAL_EXIT, ST_EXITED, ST_REJECTED };
static const char *const astatus_sym[] = {"OPEN", "INVESTIGATING", "ASSISTED", "REFERRED",
                                          "CLOSED_NO_NEED"};
enum { AS_OPEN, AS_INVESTIGATING, AS_ASSISTED, AS_REFERRED, AS_CLOSED };
static const char *const severity_sym[] = {"LOW", "MEDIUM", "HIGH", "URGENT"};

/* Verification item kinds used here. */
enum { INC_NONE, INC_WAGES, INC_BUSINESS, INC_TRANSFER };

/* What raises an alert: trigger, category, department, subject, severity. */
struct alert_kind {
	const char *trigger, *category, *department;
	bool person;
	int severity;
};
static const struct alert_kind alert_kinds[] = {
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
enum { AK_INCOME_ABOVE = 5, AK_DEATH = 7 };

/* A person's facts as one platform holds them. */
struct contact {
	int district;      /* residence */
	char address[160]; /* "" = null */
	char phone[12];    /* "" = null */
	int grade;         /* 0 = not disabled, 1-4 */
	bool deceased;
	int64_t eff_ms;
};

struct person {
	char id[19];
	char name[16];
	bool male;
	int birth_year, birth_days;
	int reg_district;
	int relation;
	int household;
	bool ill;
	int income_kind; /* INC_* counted income */
	int64_t income_fen;
	int64_t pension_fen; /* BASIC_PENSION, not counted; 0 = none */
	struct contact v[VIEWS];
};

struct household {
	char id[17]; /* "H440305202100123" */
	int district;
	bool rural;
	int first, n; /* members: persons[first .. first+n) */
	int local;    /* CPS_DEMO_CITY or CPS_DEMO_SHENSHAN */
	int64_t deposits_fen, vehicle_fen;
	int64_t income_fen[VIEWS]; /* per capita as each view holds it */
	int64_t eff_ms[VIEWS];
	int category;
	int monitoring_since;     /* days; -1 = null */
	char verification_id[32]; /* "" = none yet */
	int purpose;
	int64_t verified_ms;
	int verification_seq;
};

struct enrolment {
	char id[48];
	int household;
	int person; /* -1 = household subject */
	int programme, status;
	int applied, start, ge_start, ge_end, end; /* days; -1 = null */
	int64_t amount_fen;
	const char *reason;
	int64_t eff_ms;
	bool deleted;
};

struct alert {
	char id[32];
	int kind;
	int subject; /* person or household index, per alert_kinds[kind].person */
	int district;
	int severity, status;
	int64_t raised_ms, handled_ms; /* handled -1 = null */
	int household;                 /* the household concerned (the person's, for a person) */
	bool deleted;
};

struct cps_demo_gen {
	uint64_t rng;
	struct person *persons;
	size_t n_persons;
	struct household *households;
	size_t n_households;
	struct enrolment *enrolments;
	size_t n_enrolments, cap_enrolments;
	struct alert *alerts;
	size_t n_alerts, cap_alerts, next_alert; /* a ring once full */
	unsigned alert_seq;
	int64_t last_ms;
};

/* ---- randomness and calendar --------------------------------------------- */

static uint64_t rnd(struct cps_demo_gen *g)
{
	uint64_t z = (g->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static int64_t rnd_range(struct cps_demo_gen *g, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(rnd(g) % (uint64_t)(hi - lo + 1));
}

static bool chance(struct cps_demo_gen *g, int percent_x10)
{
	return (int)(rnd(g) % 1000) < percent_x10;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void civil_from_days(int z, int *y, int *m, int *d)
{
	z += 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	int doe = z - era * 146097;
	int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The last day of a six-month window starting on `start` (days). */
static int six_months_end(int start)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, last;

	civil_from_days(start, &y, &m, &d);
	m += 6;
	if (m > 12) {
		m -= 12;
		y++;
	}
	last = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	if (d > last)
		d = last;
	return days_from_civil(y, m, d) - 1;
}

/* ---- JSON helpers -------------------------------------------------------- */

/* A decimal(12,2) as Avro JSON bytes: the unscaled value's minimal
 * big-endian two's complement, one code point per byte. */
static json_t *decimal_json(int64_t fen)
{
	uint8_t be[8];
	char utf8[16];
	size_t start = 0, n = 0;

	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)((uint64_t)fen >> (56 - 8 * i));
	while (start < 7 && ((be[start] == 0x00 && !(be[start + 1] & 0x80)) ||
	                     (be[start] == 0xFF && (be[start + 1] & 0x80))))
		start++;
	for (size_t i = start; i < 8; i++) {
		if (be[i] < 0x80) {
			utf8[n++] = (char)be[i];
		} else {
			utf8[n++] = (char)(0xC0 | (be[i] >> 6));
			utf8[n++] = (char)(0x80 | (be[i] & 0x3F));
		}
	}
	return json_stringn(utf8, n);
}

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

static void format_address(struct cps_demo_gen *g, int district, char *out, size_t size)
{
	const struct cps_demo_district *dist = &cps_demo_districts[district];
	size_t n_streets = 0;

	while (dist->streets[n_streets])
		n_streets++;
	snprintf(out, size, "%s%s街道%s社区%d栋%d%02d", dist->name,
	         dist->streets[rnd_range(g, 0, (int64_t)n_streets - 1)],
	         cps_demo_communities[rnd_range(g, 0, (int64_t)cps_demo_n_communities - 1)],
	         (int)rnd_range(g, 1, 48), (int)rnd_range(g, 1, 33), (int)rnd_range(g, 1, 8));
}

static void format_phone(struct cps_demo_gen *g, char out[12])
{
	static const char *const prefixes[] = {"130", "131", "132", "133", "135", "136", "137",
	                                       "138", "139", "150", "151", "152", "153", "155",
	                                       "156", "158", "159", "180", "181", "182", "183",
	                                       "185", "186", "187", "188", "189"};

	snprintf(out, 12, "%s%08d", prefixes[rnd_range(g, 0, CPS_ARRAY_SIZE(prefixes) - 1)],
	         (int)rnd_range(g, 0, 99999999));
}

/* ---- the records --------------------------------------------------------- */

static bool is_local_district(int district)
{
	return (size_t)district != SHENSHAN_DISTRICT;
}

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
	    "has_residence_permit", 0, "disabled", c->grade > 0, "disability_grade",
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
	                 "per_capita_monthly_income", decimal_json(h->income_fen[view]),
	                 "monitoring_category", category_sym[h->category], "monitoring_since",
	                 opt_date(view == VIEW_PROVINCE ? h->monitoring_since : -1));
}

static json_t *enrolment_json(const struct cps_demo_gen *g, const struct enrolment *e)
{
	const struct household *h = &g->households[e->household];
	bool person = e->person >= 0;

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:i, s:s, s:o}",
	                 "enrolment_id", e->id, "subject_type", person ? "PERSON" : "HOUSEHOLD",
	                 "subject_id", person ? g->persons[e->person].id : h->id, "programme",
	                 programme_sym[e->programme], "status", estatus_sym[e->status],
	                 "applied_date", e->applied, "start_date", opt_date(e->start),
	                 "gradual_exit_start_date", opt_date(e->ge_start), "gradual_exit_end_date",
	                 opt_date(e->ge_end), "end_date", opt_date(e->end), "monthly_amount",
	                 decimal_json(e->amount_fen), "covered_members", person ? 1 : h->n,
	                 "granting_region_code", cps_demo_districts[h->district].code,
	                 "status_reason", opt_string(e->reason));
}

static json_t *item_json(const char *kind, const char *member, int64_t fen, bool counted,
                         const char *source)
{
	return json_pack("{s:s, s:o, s:o, s:b, s:s}", "kind", kind, "member_national_id",
	                 opt_string(member), "amount", decimal_json(fen), "counted", counted,
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

		if (p->v[VIEW_LOCAL].deceased || p->income_kind == INC_NONE)
			continue;
		*total += p->income_fen;
		if (p->income_kind == INC_WAGES)
			*deduction += p->income_fen / 5 < 30000 ? p->income_fen / 5 : 30000;
	}
}

static int64_t per_capita(const struct cps_demo_gen *g, const struct household *h)
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
	int64_t total, deduction, pc = per_capita(g, h);
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
			json_array_append_new(items, item_json("BASIC_PENSION", p->id,
			                                       p->pension_fen, false, "PROVINCE"));
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
	                 decimal_json(total), "employment_cost_deduction", decimal_json(deduction),
	                 "member_count", h->n, "per_capita_income", decimal_json(pc), "result",
	                 result, "verified_at", (json_int_t)h->verified_ms, "valid_until",
	                 opt_date(verified_day + 180));
}

static json_t *alert_json(const struct cps_demo_gen *g, const struct alert *a)
{
	const struct alert_kind *k = &alert_kinds[a->kind];

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

static int emit_delete(cps_demo_emit_fn emit, void *arg, int platform, int entity, const char *key,
                       int64_t eff_ms)
{
	struct cps_demo_msg m = {(enum cps_demo_platform)platform, (enum cps_demo_entity)entity,
	                         key, eff_ms, NULL};

	return emit(arg, &m);
}

static int emit_person(struct cps_demo_gen *g, const struct person *p, int view,
                       cps_demo_emit_fn emit, void *arg)
{
	int platform =
	    view == VIEW_PROVINCE ? CPS_DEMO_PROVINCE : g->households[p->household].local;

	return emit_record(emit, arg, platform, CPS_DEMO_PERSON, p->id, p->v[view].eff_ms,
	                   person_json(g, p, view));
}

static int emit_household(struct cps_demo_gen *g, const struct household *h, int view,
                          cps_demo_emit_fn emit, void *arg)
{
	int platform = view == VIEW_PROVINCE ? CPS_DEMO_PROVINCE : h->local;

	return emit_record(emit, arg, platform, CPS_DEMO_HOUSEHOLD, h->id, h->eff_ms[view],
	                   household_json(g, h, view));
}

/* The granting platform publishes; the province mirrors a little later. */
static int emit_enrolment(struct cps_demo_gen *g, const struct enrolment *e, int64_t mirror_lag,
                          cps_demo_emit_fn emit, void *arg)
{
	int rc = emit_record(emit, arg, g->households[e->household].local, CPS_DEMO_ENROLMENT,
	                     e->id, e->eff_ms, enrolment_json(g, e));

	if (rc == 0)
		rc = emit_record(emit, arg, CPS_DEMO_PROVINCE, CPS_DEMO_ENROLMENT, e->id,
		                 e->eff_ms + mirror_lag, enrolment_json(g, e));
	return rc;
}

static int emit_verification(struct cps_demo_gen *g, const struct household *h,
                             cps_demo_emit_fn emit, void *arg)
{
	return emit_record(emit, arg, CPS_DEMO_CITY, CPS_DEMO_VERIFICATION, h->verification_id,
	                   h->verified_ms, verification_json(g, h));
}

static int emit_alert(struct cps_demo_gen *g, const struct alert *a, cps_demo_emit_fn emit,
                      void *arg)
{
	return emit_record(emit, arg, CPS_DEMO_PROVINCE, CPS_DEMO_ALERT, a->id,
	                   a->handled_ms >= 0 ? a->handled_ms : a->raised_ms, alert_json(g, a));
}

/* ---- building the population --------------------------------------------- */

struct id_set {
	uint64_t *slots; /* 0 = empty */
	size_t mask;
};

static uint64_t id_hash(const char *id)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ULL;
	return h ? h : 1;
}

/* 1 when added, 0 when already there. */
static int id_set_add(struct id_set *s, const char *id)
{
	uint64_t h = id_hash(id);

	for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
		if (s->slots[i] == h)
			return 0;
		if (!s->slots[i]) {
			s->slots[i] = h;
			return 1;
		}
	}
}

static void make_name(struct cps_demo_gen *g, const char *surname, bool male, char *out,
                      size_t size)
{
	const char *const *given = male ? cps_demo_given_male : cps_demo_given_female;
	size_t n = male ? cps_demo_n_given_male : cps_demo_n_given_female;
	const char *a = given[rnd_range(g, 0, (int64_t)n - 1)];

	if (chance(g, 350))
		snprintf(out, size, "%s%s", surname, a);
	else
		snprintf(out, size, "%s%s%s", surname, a, given[rnd_range(g, 0, (int64_t)n - 1)]);
}

static int make_person(struct cps_demo_gen *g, struct id_set *ids, struct person *p, int household,
                       int district, int relation, int year, bool male, const char *surname)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int month, day, age;

	memset(p, 0, sizeof(*p));
	if (year < 1935)
		year = 1935;
	if (year > 2015)
		year = 2015;
	for (int tries = 0;; tries++) {
		int seq;

		month = (int)rnd_range(g, 1, 12);
		day = (int)rnd_range(g, 1, mdays[month - 1]);
		seq = (int)rnd_range(g, 0, 499) * 2 + (male ? 1 : 0);
		if (cps_national_id_make(cps_demo_districts[district].code, year, month, day, seq,
		                         p->id) != CPS_OK)
			return CPS_ERR_FATAL;
		if (id_set_add(ids, p->id))
			break;
		if (tries > 1000)
			return CPS_ERR_FATAL;
	}
	p->male = male;
	p->birth_year = year;
	p->birth_days = days_from_civil(year, month, day);
	p->reg_district = district;
	p->relation = relation;
	p->household = household;
	make_name(g, surname, male, p->name, sizeof(p->name));
	age = 2025 - year;
	p->ill = chance(g, age >= 60 ? 80 : 20);
	p->v[VIEW_LOCAL].district = district;
	if (chance(g, 60)) {
		int r = (int)rnd_range(g, 0, 99);

		p->v[VIEW_LOCAL].grade = r < 15 ? 1 : r < 40 ? 2 : r < 70 ? 3 : 4;
	}
	if (age >= 16 && chance(g, 850))
		format_phone(g, p->v[VIEW_LOCAL].phone);
	/* incomes */
	if (age >= 60) {
		p->pension_fen = rnd_range(g, 20000, 60000);
		if (chance(g, 200)) {
			p->income_kind = INC_TRANSFER;
			p->income_fen = rnd_range(g, 80000, 250000);
		}
	} else if (age >= 18 && p->v[VIEW_LOCAL].grade != 1 && p->v[VIEW_LOCAL].grade != 2) {
		bool partial = p->ill || p->v[VIEW_LOCAL].grade == 3;

		if (!partial && chance(g, 100)) {
			p->income_kind = INC_BUSINESS;
			p->income_fen = rnd_range(g, -20000, 200000);
		} else if (chance(g, partial ? 400 : 700)) {
			p->income_kind = INC_WAGES;
			p->income_fen =
			    partial ? rnd_range(g, 50000, 200000) : rnd_range(g, 150000, 480000);
		}
	}
	return CPS_OK;
}

static int add_enrolment(struct cps_demo_gen *g, int household, int person, int programme,
                         struct enrolment **out)
{
	struct enrolment *e;
	const char *subject = person >= 0 ? g->persons[person].id : g->households[household].id;

	if (g->n_enrolments == g->cap_enrolments) {
		size_t cap = g->cap_enrolments ? g->cap_enrolments * 2 : 256;
		struct enrolment *n = realloc(g->enrolments, cap * sizeof(*n));

		if (!n)
			return CPS_ERR_FATAL;
		g->enrolments = n;
		g->cap_enrolments = cap;
	}
	e = &g->enrolments[g->n_enrolments++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s:%s", subject, programme_sym[programme]);
	e->household = household;
	e->person = person;
	e->programme = programme;
	e->start = e->ge_start = e->ge_end = e->end = -1;
	*out = e;
	return CPS_OK;
}

/* Enrolments and monitoring category of a household from its income. */
static int enrol_household(struct cps_demo_gen *g, int hi)
{
	struct household *h = &g->households[hi];
	struct person *head = &g->persons[h->first];
	int64_t pc = h->income_fen[VIEW_LOCAL];
	struct enrolment *e;
	int64_t eff = h->eff_ms[VIEW_LOCAL] + rnd_range(g, HOUR_MS, 10 * DAY_MS);
	int applied = BASE_DAYS - (int)rnd_range(g, 60, 1800);
	int rc = CPS_OK;

	h->category = CAT_OTHER;
	if (h->n == 1 && pc == 0 &&
	    (2025 - head->birth_year >= 60 || head->v[VIEW_LOCAL].grade == 1)) {
		if ((rc = add_enrolment(g, hi, -1, PRG_TEKUN, &e)))
			return rc;
		e->status = ST_ACTIVE;
		e->amount_fen = STD * 16 / 10 + rnd_range(g, 0, 500) * 100;
		h->category = CAT_TEKUN;
	} else if (pc < STD) {
		if ((rc = add_enrolment(g, hi, -1, PRG_DIBAO, &e)))
			return rc;
		e->status = chance(g, 60) ? ST_APPLIED : ST_ACTIVE;
		e->amount_fen = e->status == ST_APPLIED ? 0 : (STD - pc) * h->n;
		h->category = CAT_DIBAO;
	} else if (pc < STD * 115 / 100 && chance(g, 400)) {
		if ((rc = add_enrolment(g, hi, -1, PRG_DIBAO, &e)))
			return rc;
		e->status = ST_GRADUAL_EXIT;
		e->amount_fen = STD / 5 * h->n;
		e->ge_start = BASE_DAYS - (int)rnd_range(g, 1, 150);
		e->ge_end = six_months_end(e->ge_start);
		e->reason = "家庭人均收入超过低保标准";
		h->category = CAT_DIBAO;
	} else if (pc < STD * 3 / 2) {
		if ((rc = add_enrolment(g, hi, -1, PRG_EDGE, &e)))
			return rc;
		e->status = ST_ACTIVE;
		e->amount_fen = rnd_range(g, 200, 500) * 100;
		h->category = CAT_DIBAO_EDGE;
	} else {
		int r = (int)rnd_range(g, 0, 99);

		h->category = r < 40   ? CAT_AT_RISK
		              : r < 60 ? CAT_HARDSHIP
		              : r < 90 ? CAT_OTHER
		                       : CAT_NONE;
		e = NULL;
		if (chance(g, 40)) {
			if ((rc = add_enrolment(g, hi, -1, PRG_DIBAO, &e)))
				return rc;
			e->status = ST_REJECTED;
			e->end = applied + (int)rnd_range(g, 10, 40);
			e->reason = "家庭人均收入超过低保标准";
		}
	}
	if (e) {
		e->applied = applied;
		if (e->status != ST_APPLIED && e->status != ST_REJECTED)
			e->start = applied + (int)rnd_range(g, 10, 40);
		e->eff_ms = eff;
	}
	h->monitoring_since =
	    e && e->start >= 0 ? e->start : BASE_DAYS - (int)rnd_range(g, 30, 700);
	/* single-person dibao for a seriously disabled or ill member of an edge family */
	if (h->category == CAT_DIBAO_EDGE) {
		for (int i = 0; i < h->n; i++) {
			struct person *p = &g->persons[h->first + i];

			if (p->v[VIEW_LOCAL].grade == 1 || p->v[VIEW_LOCAL].grade == 2 || p->ill) {
				if ((rc = add_enrolment(g, hi, h->first + i, PRG_SINGLE, &e)))
					return rc;
				e->status = ST_ACTIVE;
				e->applied = applied + (int)rnd_range(g, 0, 60);
				e->start = e->applied + (int)rnd_range(g, 10, 40);
				e->amount_fen = STD;
				e->eff_ms = eff;
				break;
			}
		}
	}
	/* one-off temporary assistance, granted where the emergency happened */
	if (chance(g, 60)) {
		if ((rc = add_enrolment(g, hi, -1, PRG_TEMPORARY, &e)))
			return rc;
		e->status = ST_EXITED;
		e->applied = BASE_DAYS - (int)rnd_range(g, 10, 700);
		e->start = e->end = e->applied + (int)rnd_range(g, 3, 20);
		e->amount_fen = rnd_range(g, 1000, 8000) * 100;
		e->reason = "一次性临时救助已发放";
		e->eff_ms = (int64_t)e->start * DAY_MS + rnd_range(g, 8 * HOUR_MS, 18 * HOUR_MS);
	}
	return CPS_OK;
}

static struct alert *new_alert(struct cps_demo_gen *g, int kind, int64_t raised_ms)
{
	struct alert *a;

	if (g->n_alerts < g->cap_alerts) {
		a = &g->alerts[g->n_alerts++];
	} else { /* full: the oldest alert is forgotten */
		a = &g->alerts[g->next_alert];
		g->next_alert = (g->next_alert + 1) % g->cap_alerts;
	}
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->raised_ms = raised_ms;
	a->handled_ms = -1;
	a->severity = alert_kinds[kind].severity;
	a->status = AS_OPEN;
	return a;
}

/* Gives a new alert its subject, region and id. */
static void alert_subject(struct cps_demo_gen *g, struct alert *a, int household)
{
	const struct household *h = &g->households[household];
	int y, m, d;

	a->district = h->district;
	a->household = household;
	a->subject =
	    alert_kinds[a->kind].person ? h->first + (int)rnd_range(g, 0, h->n - 1) : household;
	civil_from_days((int)(a->raised_ms / DAY_MS), &y, &m, &d);
	snprintf(a->id, sizeof(a->id), "YJ%04d%02d%02d%s%06u", y, m, d,
	         cps_demo_districts[a->district].code, ++g->alert_seq % 1000000);
}

static int build_household(struct cps_demo_gen *g, struct id_set *ids, int hi, size_t size)
{
	struct household *h = &g->households[hi];
	const char *surname = cps_demo_surnames[rnd_range(g, 0, (int64_t)cps_demo_n_surnames - 1)];
	int head_year, r = (int)rnd_range(g, 0, 99), rc;
	bool head_male = chance(g, 600);
	char address[160];

	h->district = chance(g, 100) ? (int)SHENSHAN_DISTRICT
	                             : (int)rnd_range(g, 0, (int64_t)SHENSHAN_DISTRICT - 1);
	h->local = is_local_district(h->district) ? CPS_DEMO_CITY : CPS_DEMO_SHENSHAN;
	h->rural = !is_local_district(h->district) && chance(g, 800);
	h->first = (int)g->n_persons;
	h->n = (int)size;
	snprintf(h->id, sizeof(h->id), "H%s%04d%05d", cps_demo_districts[h->district].code,
	         (int)rnd_range(g, 2016, 2024), hi % 100000);
	if (size == 1)
		head_year = r < 55 ? (int)rnd_range(g, 1935, 1960) : (int)rnd_range(g, 1961, 1995);
	else
		head_year = (int)rnd_range(g, 1945, 1992);
	format_address(g, h->district, address, sizeof(address));
	for (size_t i = 0; i < size; i++) {
		struct person *p = &g->persons[g->n_persons];
		int relation, year;
		bool male;
		const char *sn = surname;

		if (i == 0) {
			relation = REL_HEAD, year = head_year, male = head_male;
		} else if (i == 1 && chance(g, 850)) {
			relation = REL_SPOUSE, male = !head_male;
			year = head_year + (int)rnd_range(g, -5, 5);
			sn = cps_demo_surnames[rnd_range(g, 0, (int64_t)cps_demo_n_surnames - 1)];
		} else if (head_year <= 1965 && chance(g, 400)) {
			relation = REL_GRANDCHILD, male = chance(g, 500);
			year =
			    (int)rnd_range(g, head_year + 45 > 2000 ? head_year + 45 : 2000, 2015);
		} else if (head_year + 20 <= 2015) {
			relation = REL_CHILD, male = chance(g, 500);
			year = (int)rnd_range(g, head_year + 20,
			                      head_year + 40 < 2015 ? head_year + 40 : 2015);
		} else if (head_year - 20 >= 1935) {
			relation = REL_PARENT, male = chance(g, 500);
			year = (int)rnd_range(g, head_year - 35 > 1935 ? head_year - 35 : 1935,
			                      head_year - 20);
		} else {
			relation = REL_SIBLING, male = chance(g, 500);
			year = head_year + (int)rnd_range(g, -8, 8);
		}
		rc = make_person(g, ids, p, hi, h->district, relation, year, male, sn);
		if (rc)
			return rc;
		memcpy(p->v[VIEW_LOCAL].address, address, sizeof(address));
		g->n_persons++;
	}
	h->deposits_fen = chance(g, 800) ? rnd_range(g, 0, 80000) * 100 : 0;
	h->vehicle_fen = chance(g, 80) ? rnd_range(g, 20000, 90000) * 100 : 0;
	h->eff_ms[VIEW_LOCAL] = BASE_MS - rnd_range(g, DAY_MS, 365 * DAY_MS);
	h->income_fen[VIEW_LOCAL] = per_capita(g, h);
	if (h->local == CPS_DEMO_CITY) {
		h->verification_seq = 1;
		snprintf(h->verification_id, sizeof(h->verification_id), "HD%04d-%s-%06d", 2024,
		         cps_demo_districts[h->district].code, hi % 1000000);
		h->verified_ms = h->eff_ms[VIEW_LOCAL];
		h->purpose = 1;
	}
	/* the province's view: usually the same, sometimes an older income */
	h->eff_ms[VIEW_PROVINCE] = h->eff_ms[VIEW_LOCAL] + rnd_range(g, HOUR_MS, 5 * DAY_MS);
	h->income_fen[VIEW_PROVINCE] = h->income_fen[VIEW_LOCAL];
	if (chance(g, 60)) {
		h->eff_ms[VIEW_PROVINCE] = h->eff_ms[VIEW_LOCAL] - rnd_range(g, 30, 200) * DAY_MS;
		h->income_fen[VIEW_PROVINCE] =
		    h->income_fen[VIEW_LOCAL] * rnd_range(g, 70, 95) / 100 + rnd_range(g, 1, 9999);
	}
	rc = enrol_household(g, hi);
	if (rc)
		return rc;
	/* persons: contact details and their province views */
	for (int i = 0; i < h->n; i++) {
		struct person *p = &g->persons[h->first + i];
		struct contact *loc = &p->v[VIEW_LOCAL], *prov = &p->v[VIEW_PROVINCE];

		loc->eff_ms = h->eff_ms[VIEW_LOCAL] - rnd_range(g, 0, 30 * DAY_MS);
		*prov = *loc;
		prov->eff_ms = loc->eff_ms + rnd_range(g, HOUR_MS, 3 * DAY_MS);
		if (chance(g, 50)) { /* contact details differ, at different times */
			bool province_newer = chance(g, 350);

			if (chance(g, 700))
				format_address(g, loc->district, prov->address,
				               sizeof(prov->address));
			else
				format_phone(g, prov->phone);
			prov->eff_ms = loc->eff_ms +
			               (province_newer ? 1 : -1) * rnd_range(g, 10, 200) * DAY_MS;
		}
		if (chance(g, 20)) /* a disability assessment only one side has */
			prov->grade = loc->grade ? (loc->grade % 4) + 1 : (int)rnd_range(g, 3, 4);
	}
	/* a monitoring alert for some */
	if (chance(g, 120)) {
		int kind = (int)rnd_range(g, 0, CPS_ARRAY_SIZE(alert_kinds) - 1);
		struct alert *a;
		int r2 = (int)rnd_range(g, 0, 99);

		if (kind == AK_DEATH)
			kind = 0; /* the dead stay out of the initial load */
		a = new_alert(g, kind, BASE_MS - rnd_range(g, DAY_MS, 300 * DAY_MS));
		alert_subject(g, a, hi);
		a->status = r2 < 30   ? AS_OPEN
		            : r2 < 55 ? AS_INVESTIGATING
		            : r2 < 80 ? AS_ASSISTED
		            : r2 < 90 ? AS_REFERRED
		                      : AS_CLOSED;
		if (a->status != AS_OPEN)
			a->handled_ms = a->raised_ms + rnd_range(g, HOUR_MS, 20 * DAY_MS);
	}
	return CPS_OK;
}

static size_t draw_size(struct cps_demo_gen *g)
{
	int r = (int)rnd_range(g, 0, 99);

	return r < 25 ? 1 : r < 50 ? 2 : r < 72 ? 3 : r < 87 ? 4 : r < 95 ? 5 : 6;
}

int cps_demo_gen_new(const struct cps_demo_conf *conf, struct cps_demo_gen **out, char *errstr,
                     size_t errstr_size)
{
	size_t people = conf->people ? conf->people : CPS_DEMO_DEFAULT_PEOPLE;
	struct cps_demo_gen *g;
	struct id_set ids = {0};
	size_t slots = 16;
	int rc = CPS_OK;

	*out = NULL;
	if (people > 1000000)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "demo: %zu people is more than 1000000",
		                  people);
	g = calloc(1, sizeof(*g));
	while (slots < people * 4)
		slots *= 2;
	if (g) {
		g->rng = conf->seed ^ 0x6370737964656D6FULL; /* "cpsydemo" */
		g->persons = calloc(people, sizeof(*g->persons));
		g->households = calloc(people, sizeof(*g->households));
		g->cap_alerts = people / 2 + 16;
		g->alerts = calloc(g->cap_alerts, sizeof(*g->alerts));
		ids.slots = calloc(slots, sizeof(*ids.slots));
		ids.mask = slots - 1;
	}
	if (!g || !g->persons || !g->households || !g->alerts || !ids.slots) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	while (g->n_persons < people) {
		size_t size = draw_size(g);

		if (size > people - g->n_persons)
			size = people - g->n_persons;
		rc = build_household(g, &ids, (int)g->n_households, size);
		if (rc) {
			cps_seterr(rc, errstr, errstr_size,
			                "demo: building household %zu failed", g->n_households);
			goto out;
		}
		g->n_households++;
	}
	g->last_ms = BASE_MS;
	*out = g;
	g = NULL;
out:
	free(ids.slots);
	cps_demo_gen_free(g);
	return rc;
}

void cps_demo_gen_free(struct cps_demo_gen *g)
{
	if (!g)
		return;
	free(g->persons);
	free(g->households);
	free(g->enrolments);
	free(g->alerts);
	free(g);
}

int cps_demo_gen_initial(struct cps_demo_gen *g, cps_demo_emit_fn emit, void *arg)
{
	int rc = 0;
	size_t e = 0, a = 0;

	for (size_t hi = 0; hi < g->n_households && !rc; hi++) {
		struct household *h = &g->households[hi];

		for (int i = 0; i < h->n && !rc; i++) {
			rc = emit_person(g, &g->persons[h->first + i], VIEW_LOCAL, emit, arg);
			if (!rc)
				rc = emit_person(g, &g->persons[h->first + i], VIEW_PROVINCE, emit,
				                 arg);
		}
		if (!rc && h->verification_id[0])
			rc = emit_verification(g, h, emit, arg);
		if (!rc)
			rc = emit_household(g, h, VIEW_LOCAL, emit, arg);
		if (!rc)
			rc = emit_household(g, h, VIEW_PROVINCE, emit, arg);
		for (; !rc && e < g->n_enrolments && g->enrolments[e].household == (int)hi; e++)
			rc = emit_enrolment(g, &g->enrolments[e], 2 * HOUR_MS, emit, arg);
		for (; !rc && a < g->n_alerts && g->alerts[a].household == (int)hi; a++)
			rc = emit_alert(g, &g->alerts[a], emit, arg);
	}
	return rc;
}

/* ---- the trickle --------------------------------------------------------- */

static struct person *pick_living_person(struct cps_demo_gen *g)
{
	for (int tries = 0; tries < 64; tries++) {
		struct person *p = &g->persons[rnd_range(g, 0, (int64_t)g->n_persons - 1)];

		if (!p->v[VIEW_LOCAL].deceased && !p->v[VIEW_PROVINCE].deceased)
			return p;
	}
	return NULL;
}

/* A move or a new phone number: one platform learns it first; sometimes the
 * other one records it too, with its own (earlier) effective time. */
static int change_contact(struct cps_demo_gen *g, int64_t now, bool move, cps_demo_emit_fn emit,
                          void *arg)
{
	struct person *p = pick_living_person(g);
	int first, rc;
	struct contact *c;

	if (!p)
		return 0;
	first = chance(g, 700) ? VIEW_LOCAL : VIEW_PROVINCE;
	c = &p->v[first];
	if (move) {
		if (is_local_district(c->district) && chance(g, 300))
			c->district = (int)rnd_range(g, 0, (int64_t)SHENSHAN_DISTRICT - 1);
		format_address(g, c->district, c->address, sizeof(c->address));
	} else {
		format_phone(g, c->phone);
	}
	c->eff_ms = now;
	rc = emit_person(g, p, first, emit, arg);
	if (!rc && chance(g, 400)) {
		struct contact *o = &p->v[1 - first];
		int64_t eff = now - rnd_range(g, HOUR_MS, 3 * DAY_MS);

		o->district = c->district;
		memcpy(o->address, c->address, sizeof(o->address));
		memcpy(o->phone, c->phone, sizeof(o->phone));
		if (eff > o->eff_ms)
			o->eff_ms = eff;
		rc = emit_person(g, p, 1 - first, emit, arg);
	}
	return rc;
}

static struct enrolment *household_enrolment(struct cps_demo_gen *g, int hi, int programme)
{
	for (size_t i = 0; i < g->n_enrolments; i++)
		if (g->enrolments[i].household == hi && g->enrolments[i].programme == programme &&
		    g->enrolments[i].person < 0 && !g->enrolments[i].deleted)
			return &g->enrolments[i];
	return NULL;
}

static void start_gradual_exit(struct enrolment *e, int today)
{
	e->status = ST_GRADUAL_EXIT;
	e->ge_start = today;
	e->ge_end = six_months_end(today);
	e->reason = "家庭人均收入超过低保标准";
}

static int raise_alert(struct cps_demo_gen *g, int kind, int hi, int64_t now, cps_demo_emit_fn emit,
                       void *arg)
{
	struct alert *a = new_alert(g, kind, now);

	alert_subject(g, a, hi);
	return emit_alert(g, a, emit, arg);
}

/* A review verification with a changed income: the city verifies (the
 * zone reports its own), the province learns it only sometimes. */
static int change_income(struct cps_demo_gen *g, int64_t now, cps_demo_emit_fn emit, void *arg)
{
	int hi = (int)rnd_range(g, 0, (int64_t)g->n_households - 1);
	struct household *h = &g->households[hi];
	struct person *p = &g->persons[h->first + rnd_range(g, 0, h->n - 1)];
	struct enrolment *e;
	int today = (int)(now / DAY_MS), rc;

	if (p->v[VIEW_LOCAL].deceased)
		return 0;
	if (p->income_kind == INC_NONE && 2025 - p->birth_year >= 18 && 2025 - p->birth_year < 60) {
		p->income_kind = INC_WAGES;
		p->income_fen = rnd_range(g, 150000, 400000);
	} else if (p->income_kind != INC_NONE) {
		p->income_fen = p->income_fen * rnd_range(g, 50, 160) / 100;
		if (chance(g, 150))
			p->income_kind = INC_NONE, p->income_fen = 0; /* lost the job */
	}
	h->income_fen[VIEW_LOCAL] = per_capita(g, h);
	h->eff_ms[VIEW_LOCAL] = now;
	if (h->local == CPS_DEMO_CITY) {
		int y, m, d;

		civil_from_days(today, &y, &m, &d);
		h->verification_seq++;
		snprintf(h->verification_id, sizeof(h->verification_id), "HD%04d-%s-%06d-%d", y,
		         cps_demo_districts[h->district].code, hi % 1000000, h->verification_seq);
		h->verified_ms = now;
		h->purpose = chance(g, 200) ? 2 : 1;
		rc = emit_verification(g, h, emit, arg);
		if (rc)
			return rc;
	}
	rc = emit_household(g, h, VIEW_LOCAL, emit, arg);
	if (!rc && chance(g, 500)) {
		h->income_fen[VIEW_PROVINCE] = h->income_fen[VIEW_LOCAL];
		h->eff_ms[VIEW_PROVINCE] = now + rnd_range(g, 1000, 60000);
		rc = emit_household(g, h, VIEW_PROVINCE, emit, arg);
	}
	e = household_enrolment(g, hi, PRG_DIBAO);
	if (!rc && e && e->status == ST_ACTIVE && h->income_fen[VIEW_LOCAL] >= STD) {
		start_gradual_exit(e, today);
		e->eff_ms = now;
		rc = emit_enrolment(g, e, rnd_range(g, 1000, HOUR_MS), emit, arg);
		if (!rc)
			rc = raise_alert(g, AK_INCOME_ABOVE, hi, now, emit, arg);
	} else if (!rc && h->income_fen[VIEW_LOCAL] * 2 < STD && chance(g, 500)) {
		rc = raise_alert(g, 4 /* INCOME_DROP */, hi, now, emit, arg);
	}
	return rc;
}

/* An enrolment moves on: applied -> active or rejected, active dibao ->
 * gradual exit, gradual exit -> exited. */
static int change_status(struct cps_demo_gen *g, int64_t now, cps_demo_emit_fn emit, void *arg)
{
	int today = (int)(now / DAY_MS);

	if (!g->n_enrolments)
		return 0;
	for (int tries = 0; tries < 16; tries++) {
		struct enrolment *e = &g->enrolments[rnd_range(g, 0, (int64_t)g->n_enrolments - 1)];

		if (e->deleted)
			continue;
		if (e->status == ST_APPLIED) {
			if (chance(g, 800)) {
				e->status = ST_ACTIVE;
				e->start = today;
				e->amount_fen =
				    (STD - g->households[e->household].income_fen[VIEW_LOCAL]) *
				    g->households[e->household].n;
				if (e->amount_fen < 100)
					e->amount_fen = 100;
			} else {
				e->status = ST_REJECTED;
				e->end = today;
				e->reason = "家庭财产超过规定标准";
			}
		} else if (e->status == ST_ACTIVE && e->programme == PRG_DIBAO) {
			start_gradual_exit(e, today);
		} else if (e->status == ST_GRADUAL_EXIT) {
			e->status = ST_EXITED;
			e->end = e->ge_end < today ? e->ge_end : today;
			e->amount_fen = 0;
			e->reason = "渐退期满";
		} else {
			continue;
		}
		e->eff_ms = now;
		return emit_enrolment(g, e, rnd_range(g, 1000, HOUR_MS), emit, arg);
	}
	return 0;
}

static int change_alert(struct cps_demo_gen *g, int64_t now, cps_demo_emit_fn emit, void *arg)
{
	if (!g->n_alerts)
		return 0;
	for (int tries = 0; tries < 16; tries++) {
		struct alert *a = &g->alerts[rnd_range(g, 0, (int64_t)g->n_alerts - 1)];

		if (a->deleted || a->status >= AS_ASSISTED)
			continue;
		a->status = a->status == AS_OPEN ? AS_INVESTIGATING
		                                 : (int)rnd_range(g, AS_ASSISTED, AS_CLOSED);
		a->handled_ms = now;
		return emit_alert(g, a, emit, arg);
	}
	return 0;
}

/* The province hears of a death first; the city confirms it only later
 * (the field's manual rule keeps a conflict open meanwhile). */
static int change_death(struct cps_demo_gen *g, int64_t now, cps_demo_emit_fn emit, void *arg)
{
	struct person *p = pick_living_person(g);
	int rc;

	if (!p || 2025 - p->birth_year < 60)
		return 0;
	p->v[VIEW_PROVINCE].deceased = true;
	p->v[VIEW_PROVINCE].eff_ms = now;
	rc = emit_person(g, p, VIEW_PROVINCE, emit, arg);
	if (!rc) {
		struct alert *a = new_alert(g, AK_DEATH, now);

		alert_subject(g, a, p->household);
		a->subject = (int)(p - g->persons);
		rc = emit_alert(g, a, emit, arg);
	}
	if (!rc && chance(g, 500)) {
		p->v[VIEW_LOCAL].deceased = true;
		p->v[VIEW_LOCAL].eff_ms = now - rnd_range(g, HOUR_MS, DAY_MS);
		rc = emit_person(g, p, VIEW_LOCAL, emit, arg);
	}
	return rc;
}

/* The province withdraws an alert raised in error, or the granting
 * platform deletes a rejected application. */
static int change_delete(struct cps_demo_gen *g, int64_t now, cps_demo_emit_fn emit, void *arg)
{
	if (chance(g, 600) && g->n_alerts) {
		struct alert *a = &g->alerts[rnd_range(g, 0, (int64_t)g->n_alerts - 1)];

		if (a->deleted)
			return 0;
		a->deleted = true;
		return emit_delete(emit, arg, CPS_DEMO_PROVINCE, CPS_DEMO_ALERT, a->id, now);
	}
	for (int tries = 0; tries < 32 && g->n_enrolments; tries++) {
		struct enrolment *e = &g->enrolments[rnd_range(g, 0, (int64_t)g->n_enrolments - 1)];

		if (e->deleted || e->status != ST_REJECTED)
			continue;
		e->deleted = true;
		return emit_delete(emit, arg, g->households[e->household].local, CPS_DEMO_ENROLMENT,
		                   e->id, now);
	}
	return 0;
}

int cps_demo_gen_change(struct cps_demo_gen *g, int64_t now_ms, cps_demo_emit_fn emit, void *arg)
{
	int r = (int)rnd_range(g, 0, 99);

	if (now_ms <= g->last_ms)
		now_ms = g->last_ms + 1;
	g->last_ms = now_ms;
	if (r < 25)
		return change_contact(g, now_ms, true, emit, arg);
	if (r < 40)
		return change_contact(g, now_ms, false, emit, arg);
	if (r < 60)
		return change_income(g, now_ms, emit, arg);
	if (r < 72)
		return change_status(g, now_ms, emit, arg);
	if (r < 84) {
		int kind = (int)rnd_range(g, 0, CPS_ARRAY_SIZE(alert_kinds) - 1);

		if (kind == AK_DEATH || kind == AK_INCOME_ABOVE)
			kind = 10; /* HOTLINE_REPORT */
		return raise_alert(g, kind, (int)rnd_range(g, 0, (int64_t)g->n_households - 1),
		                   now_ms, emit, arg);
	}
	if (r < 93)
		return change_alert(g, now_ms, emit, arg);
	if (r < 96)
		return change_death(g, now_ms, emit, arg);
	return change_delete(g, now_ms, emit, arg);
}

/* ---- the running demo ---------------------------------------------------- */

struct cps_demo {
	struct cps_catalog *catalog;
	char *bootstrap;
	char *topics[CPS_DEMO_PLATFORMS][CPS_DEMO_ENTITIES];
	enum cps_framing framing[CPS_DEMO_PLATFORMS];
	unsigned trickle_per_s;
	bool no_trickle;
	struct cps_demo_gen *gen;
	struct cps_codec *codecs[CPS_DEMO_ENTITIES];
	rd_kafka_t *rk;
	struct cps_buf buf;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;                   /* under lock */
	bool failed;                 /* under lock */
	struct cps_demo_stats stats; /* under lock */
	/* trickle byte budget (demo thread only) */
	int64_t minute_start_ms;
	size_t minute_bytes;
	/* the city's and the zone's own transports; NULL = Kafka */
	struct cps_demo_city *city;
	struct cps_demo_shenshan *shenshan;
	uint64_t city_uncommitted; /* demo thread only */
	int shenshan_flush_ms;
	int64_t shenshan_flushed_ms; /* demo thread only */
};

#define CITY_COMMIT_ROWS 500 /* rows of one city transaction in the initial load */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool demo_stopping(struct cps_demo *d)
{
	bool stop;

	pthread_mutex_lock(&d->lock);
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop;
}

static void demo_fail(struct cps_demo *d, const char *why)
{
	pthread_mutex_lock(&d->lock);
	d->failed = true;
	snprintf(d->stats.last_error, sizeof(d->stats.last_error), "%s", why);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	fprintf(stderr, "demo: %s\n", why);
}

/* @locality a librdkafka thread (inside rd_kafka_poll/flush of the demo thread) */
static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	struct cps_demo *d = opaque;
	int platform = (int)(intptr_t)rkm->_private;

	(void)rk;
	if (platform < 0 || platform >= CPS_DEMO_PLATFORMS)
		return;
	pthread_mutex_lock(&d->lock);
	if (rkm->err) {
		d->stats.failed[platform]++;
		snprintf(d->stats.last_error, sizeof(d->stats.last_error),
		         "delivery to '%s' failed: %s", rd_kafka_topic_name(rkm->rkt),
		         rd_kafka_err2str(rkm->err));
	} else {
		d->stats.delivered[platform]++;
	}
	pthread_mutex_unlock(&d->lock);
}

/* Commits the city's transaction. @locality the demo thread */
static int city_commit(struct cps_demo *d)
{
	char err[CPS_ERRSTR_SIZE];

	if (!d->city || !d->city_uncommitted)
		return 0;
	if (cps_demo_city_commit(d->city, err, sizeof(err)) != CPS_OK) {
		demo_fail(d, err);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.delivered[CPS_DEMO_CITY] += d->city_uncommitted;
	pthread_mutex_unlock(&d->lock);
	d->city_uncommitted = 0;
	return 0;
}

/* Publishes the zone's pending files. @locality the demo thread */
static int shenshan_flush(struct cps_demo *d)
{
	char err[CPS_ERRSTR_SIZE];

	if (!d->shenshan)
		return 0;
	d->shenshan_flushed_ms = wall_ms();
	if (cps_demo_shenshan_flush(d->shenshan, err, sizeof(err)) != CPS_OK) {
		demo_fail(d, err);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.delivered[CPS_DEMO_SHENSHAN] = d->stats.produced[CPS_DEMO_SHENSHAN];
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* One message of the city or the zone on its own transport. @locality the
 * demo thread */
static int emit_local(struct cps_demo *d, const struct cps_demo_msg *m)
{
	char err[CPS_ERRSTR_SIZE];
	int rc;

	if (m->platform == CPS_DEMO_CITY)
		rc = cps_demo_city_put(d->city, m, err, sizeof(err));
	else
		rc = cps_demo_shenshan_put(d->shenshan, m, err, sizeof(err));
	if (rc != CPS_OK) {
		demo_fail(d, err);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.produced[m->platform]++;
	if (m->platform == CPS_DEMO_SHENSHAN)
		d->stats.delivered[CPS_DEMO_SHENSHAN] =
		    d->stats.produced[CPS_DEMO_SHENSHAN] - cps_demo_shenshan_pending(d->shenshan);
	pthread_mutex_unlock(&d->lock);
	if (m->platform == CPS_DEMO_CITY && ++d->city_uncommitted >= CITY_COMMIT_ROWS &&
	    city_commit(d) != 0)
		return CPS_ERR_FATAL;
	return demo_stopping(d) ? 1 : 0;
}

/* Encodes and produces one message. @locality the demo thread */
static int demo_emit(void *arg, const struct cps_demo_msg *m)
{
	struct cps_demo *d = arg;
	struct cps_codec *codec = d->codecs[m->entity];
	const char *topic = d->topics[m->platform][m->entity];
	char err[CPS_ERRSTR_SIZE], eff[24];
	rd_kafka_resp_err_t kerr;
	size_t key_len = strlen(m->key);

	if ((m->platform == CPS_DEMO_CITY && d->city) ||
	    (m->platform == CPS_DEMO_SHENSHAN && d->shenshan))
		return emit_local(d, m);
	cps_buf_reset(&d->buf);
	if (m->record) {
		struct cps_schema *schema = cps_codec_schema(codec);

		if (cps_value_from_json(m->record, cps_codec_value(codec), err, sizeof(err)) !=
		        CPS_OK ||
		    cps_codec_encode_framed(codec, d->framing[m->platform], schema->id,
		                            cps_codec_value(codec), &d->buf, err,
		                            sizeof(err)) != CPS_OK) {
			char why[CPS_ERRSTR_SIZE + 64];

			snprintf(why, sizeof(why), "encoding a %s record failed: %s",
			         cps_demo_entity_names[m->entity], err);
			demo_fail(d, why);
			return CPS_ERR_FATAL;
		}
	}
	snprintf(eff, sizeof(eff), "%lld", (long long)m->effective_ms);
	for (;;) {
		kerr = rd_kafka_producev(
		    d->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(m->key, key_len),
		    RD_KAFKA_V_VALUE(m->record ? d->buf.data : NULL, m->record ? d->buf.len : 0),
		    RD_KAFKA_V_HEADER("effective_time", eff, (ssize_t)strlen(eff)),
		    RD_KAFKA_V_OPAQUE((void *)(intptr_t)m->platform), RD_KAFKA_V_END);
		if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		if (demo_stopping(d))
			return 1;
		rd_kafka_poll(d->rk, 50);
	}
	if (kerr) {
		char why[512];

		snprintf(why, sizeof(why), "producing to '%s' failed: %s", topic,
		         rd_kafka_err2str(kerr));
		demo_fail(d, why);
		return CPS_ERR_FATAL;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.produced[m->platform]++;
	d->stats.bytes += key_len + (m->record ? d->buf.len : 0);
	pthread_mutex_unlock(&d->lock);
	d->minute_bytes += key_len + (m->record ? d->buf.len : 0);
	rd_kafka_poll(d->rk, 0);
	return demo_stopping(d) ? 1 : 0;
}

/* Sleeps until `deadline_ms` (wall clock) or a stop; true when stopping. */
static bool demo_sleep_until(struct cps_demo *d, int64_t deadline_ms)
{
	struct timespec ts;
	bool stop;

	ts.tv_sec = (time_t)(deadline_ms / 1000);
	ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
	pthread_mutex_lock(&d->lock);
	while (!d->stop && wall_ms() < deadline_ms)
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) != 0)
			break;
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop;
}

/* Flushes until everything is acknowledged or a stop. */
static bool demo_flush(struct cps_demo *d)
{
	while (rd_kafka_outq_len(d->rk) > 0) {
		if (demo_stopping(d))
			return false;
		rd_kafka_flush(d->rk, 100);
	}
	return true;
}

static void *demo_thread(void *arg)
{
	struct cps_demo *d = arg;
	int64_t interval_us = 1000000 / (d->trickle_per_s ? d->trickle_per_s : 1);
	int64_t next_us;
	uint64_t failed = 0;
	bool broken;
	int rc;

	rc = cps_demo_gen_initial(d->gen, demo_emit, d);
	if (rc < 0 || city_commit(d) != 0 || shenshan_flush(d) != 0 || !demo_flush(d))
		goto out;
	pthread_mutex_lock(&d->lock);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		failed += d->stats.failed[p];
	pthread_mutex_unlock(&d->lock);
	if (failed) {
		char why[128];

		snprintf(why, sizeof(why), "%llu messages of the initial load were not delivered",
		         (unsigned long long)failed);
		demo_fail(d, why);
		goto out;
	}
	pthread_mutex_lock(&d->lock);
	d->stats.loaded = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	fprintf(stderr, "demo: initial load acknowledged\n");
	if (d->no_trickle)
		goto out;
	d->minute_start_ms = wall_ms();
	d->minute_bytes = 0;
	next_us = wall_ms() * 1000;
	while (!demo_stopping(d)) {
		int64_t now = wall_ms();

		if (now - d->minute_start_ms >= 60000) {
			d->minute_start_ms = now;
			d->minute_bytes = 0;
		}
		if (d->minute_bytes >= CPS_DEMO_TRICKLE_BYTES_PER_MIN) {
			/* the budget of this minute is spent: wait for the next */
			if (demo_sleep_until(d, d->minute_start_ms + 60000))
				break;
			next_us = wall_ms() * 1000;
			continue;
		}
		rc = cps_demo_gen_change(d->gen, now, demo_emit, d);
		if (rc < 0 || city_commit(d) != 0)
			break;
		if (d->shenshan && wall_ms() - d->shenshan_flushed_ms >= d->shenshan_flush_ms &&
		    shenshan_flush(d) != 0)
			break;
		pthread_mutex_lock(&d->lock);
		d->stats.changes++;
		pthread_mutex_unlock(&d->lock);
		rd_kafka_poll(d->rk, 0);
		next_us += interval_us;
		if (next_us < (now - 1000) * 1000)
			next_us = now * 1000; /* fell behind by over a second: no burst */
		if (next_us > wall_ms() * 1000 && demo_sleep_until(d, next_us / 1000))
			break;
	}
out:
	/* what was generated before a stop still reaches the city and the zone */
	pthread_mutex_lock(&d->lock);
	broken = d->failed;
	pthread_mutex_unlock(&d->lock);
	if (!broken && city_commit(d) == 0)
		shenshan_flush(d);
	return NULL;
}

static void demo_free(struct cps_demo *d)
{
	if (!d)
		return;
	if (d->rk)
		rd_kafka_destroy(d->rk);
	cps_demo_city_close(d->city);
	cps_demo_shenshan_close(d->shenshan);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		cps_codec_free(d->codecs[e]);
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			free(d->topics[p][e]);
	cps_demo_gen_free(d->gen);
	cps_buf_release(&d->buf);
	free(d->bootstrap);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static int demo_producer(struct cps_demo *d, char *errstr, size_t errstr_size)
{
	static const char *const props[][2] = {
	    {"enable.idempotence", "true"}, {"acks", "all"},    {"linger.ms", "20"},
	    {"compression.type", "lz4"},    {"log_level", "4"},
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char why[512];

	if (!conf)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (rd_kafka_conf_set(conf, "bootstrap.servers", d->bootstrap, why, sizeof(why)))
		goto out_conf;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(props); i++)
		if (rd_kafka_conf_set(conf, props[i][0], props[i][1], why, sizeof(why)))
			goto out_conf;
	rd_kafka_conf_set_opaque(conf, d);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!d->rk) {
		rd_kafka_conf_destroy(conf);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "demo: creating the producer failed: %s", why);
	}
	return CPS_OK;
out_conf:
	rd_kafka_conf_destroy(conf);
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
	                       "demo: producer configuration refused: %s", why);
}

int cps_demo_start(const struct cps_demo_conf *conf, struct cps_demo **out, char *errstr,
                   size_t errstr_size)
{
	static const enum cps_framing default_framing[CPS_DEMO_PLATFORMS] = {
	    CPS_FRAMING_SINGLE_OBJECT, CPS_FRAMING_CONFLUENT, CPS_FRAMING_SINGLE_OBJECT};
	struct cps_demo *d;
	int rc;

	*out = NULL;
	if (!conf->bootstrap || !*conf->bootstrap || !conf->catalog)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "demo: a bootstrap and a catalog are required");
	d = calloc(1, sizeof(*d));
	if (!d)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	cps_buf_init(&d->buf, 0);
	d->catalog = conf->catalog;
	d->trickle_per_s = conf->trickle_per_s ? conf->trickle_per_s : CPS_DEMO_DEFAULT_TRICKLE;
	d->no_trickle = conf->no_trickle;
	d->bootstrap = strdup(conf->bootstrap);
	if (!d->bootstrap)
		goto out_oom;
	for (int p = 0; p < CPS_DEMO_PLATFORMS; p++) {
		d->framing[p] = default_framing[p];
		if (conf->framing[p] && cps_framing_from_name(conf->framing[p], &d->framing[p])) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "demo: unknown framing '%s' for %s",
			                conf->framing[p], cps_demo_platform_names[p]);
			goto out_free;
		}
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
			if (conf->topics[p][e])
				d->topics[p][e] = strdup(conf->topics[p][e]);
			else if (asprintf(&d->topics[p][e], "%s.%s", cps_demo_platform_names[p],
			                  cps_demo_entity_names[e]) < 0)
				d->topics[p][e] = NULL;
			if (!d->topics[p][e])
				goto out_oom;
		}
	}
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++) {
		struct cps_schema *s =
		    cps_catalog_by_entity(conf->catalog, cps_demo_entity_names[e]);

		if (!s) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "demo: the catalog has no '%s' schema",
			                cps_demo_entity_names[e]);
			goto out_free;
		}
		for (int p = 0; p < CPS_DEMO_PLATFORMS; p++)
			if (d->framing[p] == CPS_FRAMING_CONFLUENT && s->id <= 0) {
				rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                "demo: schema '%s' has no registry-free id for %s",
				                s->name, cps_demo_platform_names[p]);
				goto out_free;
			}
		rc = cps_codec_new(s, NULL, &d->codecs[e], errstr, errstr_size);
		if (rc)
			goto out_free;
	}
	rc = cps_demo_gen_new(conf, &d->gen, errstr, errstr_size);
	if (rc)
		goto out_free;
	if (conf->city_conninfo) {
		rc = cps_demo_city_open(conf->city_conninfo, conf->catalog, &d->city, errstr,
		                        errstr_size);
		if (rc)
			goto out_free;
	}
	if (conf->shenshan_inbox) {
		rc = cps_demo_shenshan_open(conf->shenshan_inbox, conf->catalog, &d->shenshan,
		                            errstr, errstr_size);
		if (rc)
			goto out_free;
		d->shenshan_flush_ms = conf->shenshan_flush_ms > 0 ? conf->shenshan_flush_ms : 2000;
	}
	rc = demo_producer(d, errstr, errstr_size);
	if (rc)
		goto out_free;
	if (pthread_create(&d->thread, NULL, demo_thread, d) != 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                     "demo: starting the thread failed");
		goto out_free;
	}
	d->thread_started = true;
	fprintf(stderr, "demo: producing %zu people (seed %llu) to '%s'\n",
	        conf->people ? conf->people : (size_t)CPS_DEMO_DEFAULT_PEOPLE,
	        (unsigned long long)conf->seed, d->bootstrap);
	*out = d;
	return CPS_OK;

out_oom:
	rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
out_free:
	demo_free(d);
	return rc;
}

int cps_demo_wait_loaded(struct cps_demo *d, int timeout_ms, char *errstr, size_t errstr_size)
{
	int64_t deadline = wall_ms() + timeout_ms;
	struct timespec ts = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
	int rc = CPS_OK;

	pthread_mutex_lock(&d->lock);
	while (!d->stats.loaded && !d->failed && !d->stop &&
	       pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
		;
	if (d->failed)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "demo: %s",
		                     d->stats.last_error);
	else if (!d->stats.loaded)
		rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                     "demo: the initial load was not acknowledged within %d ms",
		                     timeout_ms);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

void cps_demo_get_stats(struct cps_demo *d, struct cps_demo_stats *out)
{
	pthread_mutex_lock(&d->lock);
	*out = d->stats;
	pthread_mutex_unlock(&d->lock);
}

void cps_demo_stop(struct cps_demo *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->thread_started)
		pthread_join(d->thread, NULL);
	if (d->rk && rd_kafka_flush(d->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "demo: %d messages not acknowledged at stop\n",
		        rd_kafka_outq_len(d->rk));
	demo_free(d);
}
