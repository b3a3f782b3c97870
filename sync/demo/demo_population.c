/*
 * The demo population (see demo_int.h), built from a seed: households of
 * Shenzhen and the Shenshan zone with their members, incomes and assets,
 * the enrolments their incomes call for, a few alerts, and the province's
 * slightly different view of each. Also the calendar and the random
 * addresses and phone numbers the trickle of changes (demo_changes.c) uses.
 */
#include "demo/demo_int.h"

#include "base/common.h"
#include "base/pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- calendar ------------------------------------------------------------ */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
int cps_demo_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

void cps_demo_civil_from_days(int z, int *y, int *m, int *d)
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
int cps_demo_six_months_end(int start)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d, last;

	cps_demo_civil_from_days(start, &y, &m, &d);
	m += 6;
	if (m > 12) {
		m -= 12;
		y++;
	}
	last = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	if (d > last)
		d = last;
	return cps_demo_days_from_civil(y, m, d) - 1;
}

/* ---- random addresses and phone numbers ---------------------------------- */

void cps_demo_format_address(struct cps_demo_gen *g, int district, char *out, size_t size)
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

void cps_demo_format_phone(struct cps_demo_gen *g, char out[12])
{
	static const char *const prefixes[] = {"130", "131", "132", "133", "135", "136", "137",
	                                       "138", "139", "150", "151", "152", "153", "155",
	                                       "156", "158", "159", "180", "181", "182", "183",
	                                       "185", "186", "187", "188", "189"};

	snprintf(out, 12, "%s%08d", prefixes[rnd_range(g, 0, CPS_ARRAY_SIZE(prefixes) - 1)],
	         (int)rnd_range(g, 0, 99999999));
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
	p->birth_days = cps_demo_days_from_civil(year, month, day);
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
		cps_demo_format_phone(g, p->v[VIEW_LOCAL].phone);
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

/* A Shenzhen district other than `not` (Shenshan excluded). */
static int other_district(struct cps_demo_gen *g, int not )
{
	int d = (int)rnd_range(g, 0, (int64_t)SHENSHAN_DISTRICT - 2);

	return d >= not ? d + 1 : d;
}

static int add_enrolment(struct cps_demo_gen *g, int household, int person, int programme,
                         struct enrolment **out)
{
	struct enrolment *e;
	const char *subject = person >= 0 ? g->persons[person].id : g->households[household].id;

	if (cps_grow(&g->enrolments, &g->cap_enrolments, g->n_enrolments + 1,
	             sizeof(*g->enrolments)) != 0)
		return CPS_ERR_FATAL;
	e = &g->enrolments[g->n_enrolments++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s:%s", subject, cps_demo_programme_sym[programme]);
	e->household = household;
	e->person = person;
	e->programme = programme;
	e->start = e->ge_start = e->ge_end = e->end = -1;
	e->granting = g->households[household].district; /* where the subject lives */
	e->emergency = -1;
	*out = e;
	return CPS_OK;
}

/* A 单人保 for a seriously ill or disabled member of an edge household
 * (grade 3 now and then, against the policy); where there is none, now and
 * then the head all the same (a breach). */
static int enrol_single_person(struct cps_demo_gen *g, int hi, int applied, int64_t eff)
{
	struct household *h = &g->households[hi];
	struct enrolment *e;
	int rc, who = -1;

	for (int i = 0; i < h->n && who < 0; i++) {
		const struct person *p = &g->persons[h->first + i];

		if (p->v[VIEW_LOCAL].grade == 1 || p->v[VIEW_LOCAL].grade == 2 || p->ill ||
		    (p->v[VIEW_LOCAL].grade == 3 && chance(g, MISENROLLED_X10)))
			who = h->first + i;
	}
	if (who < 0 && chance(g, UNQUALIFIED_SINGLE_X10))
		who = h->first;
	if (who < 0)
		return CPS_OK;
	if ((rc = add_enrolment(g, hi, who, PRG_SINGLE, &e)))
		return rc;
	/* a permit holder is enrolled where they live, now and then by the
	 * district of registration (against the policy) */
	if (g->persons[who].permit && chance(g, PERMIT_WRONG_REGION_X10))
		e->granting = g->persons[who].reg_district;
	e->status = ST_ACTIVE;
	e->applied = applied + (int)rnd_range(g, 0, 60);
	e->start = e->applied + (int)rnd_range(g, 10, 40);
	e->amount_fen = STD;
	e->eff_ms = eff;
	return CPS_OK;
}

/* One-off temporary assistance, granted where the emergency happened. */
static int enrol_temporary(struct cps_demo_gen *g, int hi)
{
	const struct household *h = &g->households[hi];
	struct enrolment *e;
	int rc;

	if ((rc = add_enrolment(g, hi, -1, PRG_TEMPORARY, &e)))
		return rc;
	e->status = ST_EXITED;
	e->applied = BASE_DAYS - (int)rnd_range(g, 10, 700);
	e->start = e->end = e->applied + (int)rnd_range(g, 3, 20);
	e->amount_fen = rnd_range(g, 1000, 8000) * 100;
	e->reason = "一次性临时救助已发放";
	e->emergency = h->district;
	if (is_local_district(h->district) && chance(g, EMERGENCY_ELSEWHERE_X10))
		e->emergency = other_district(g, h->district);
	e->granting = e->emergency;
	/* now and then neither where it happened nor at home (a breach) */
	if (is_local_district(h->district) && chance(g, TEMP_WRONG_REGION_X10)) {
		do
			e->granting = other_district(g, e->emergency);
		while (e->granting == h->district);
	}
	e->eff_ms = (int64_t)e->start * DAY_MS + rnd_range(g, 8 * HOUR_MS, 18 * HOUR_MS);
	return CPS_OK;
}

/* A 低保 household whose income has risen just above the standard: in its
 * 6-month gradual exit; now and then (breaches) still ACTIVE because its
 * review was missed, or EXITED before the gradual exit ended. */
static void above_standard(struct cps_demo_gen *g, const struct household *h, struct enrolment *e)
{
	e->amount_fen = STD / 5 * h->n;
	e->reason = "家庭人均收入超过低保标准";
	if (h->income_fen[VIEW_LOCAL] > STD && chance(g, INITIAL_MISSED_REVIEW_X10)) {
		e->status = ST_ACTIVE;
		e->reason = NULL;
		return;
	}
	e->status = ST_GRADUAL_EXIT;
	e->ge_start = BASE_DAYS - (int)rnd_range(g, 1, 150);
	e->ge_end = cps_demo_six_months_end(e->ge_start);
	if (chance(g, INITIAL_EARLY_EXIT_X10)) {
		e->status = ST_EXITED;
		e->end = e->ge_start + (int)rnd_range(g, 0, BASE_DAYS - e->ge_start);
		e->amount_fen = 0;
		e->reason = "渐退期未满即停保";
	}
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
		above_standard(g, h, e);
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
		/* a permit household applies where it lives; now and then its
		 * district of registration grants instead (a breach) */
		if (head->permit && e->status != ST_REJECTED && e->status != ST_EXITED &&
		    chance(g, PERMIT_HH_WRONG_REGION_X10))
			e->granting = head->reg_district;
	}
	h->monitoring_since =
	    e && e->start >= 0 ? e->start : BASE_DAYS - (int)rnd_range(g, 30, 700);
	if (h->category == CAT_DIBAO_EDGE && (rc = enrol_single_person(g, hi, applied, eff)))
		return rc;
	if (chance(g, 60))
		rc = enrol_temporary(g, hi);
	return rc;
}

struct alert *cps_demo_alert_new(struct cps_demo_gen *g, int kind, int64_t raised_ms)
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
	a->severity = cps_demo_alert_kinds[kind].severity;
	a->status = AS_OPEN;
	return a;
}

/* Gives a new alert its subject, region and id. */
void cps_demo_alert_subject(struct cps_demo_gen *g, struct alert *a, int household)
{
	const struct household *h = &g->households[household];
	int y, m, d;

	a->district = h->district;
	a->household = household;
	a->subject = cps_demo_alert_kinds[a->kind].person
	                 ? h->first + (int)rnd_range(g, 0, h->n - 1)
	                 : household;
	cps_demo_civil_from_days((int)(a->raised_ms / DAY_MS), &y, &m, &d);
	snprintf(a->id, sizeof(a->id), "YJ%04d%02d%02d%s%06u", y, m, d,
	         cps_demo_districts[a->district].code, ++g->alert_seq % 1000000);
}

/* The members' contact details as the province holds them: usually the
 * local ones a little later, sometimes an address, a phone or a disability
 * assessment only one side has. */
static void province_contact_views(struct cps_demo_gen *g, const struct household *h)
{
	for (int i = 0; i < h->n; i++) {
		struct person *p = &g->persons[h->first + i];
		struct contact *loc = &p->v[VIEW_LOCAL], *prov = &p->v[VIEW_PROVINCE];

		loc->eff_ms = h->eff_ms[VIEW_LOCAL] - rnd_range(g, 0, 30 * DAY_MS);
		*prov = *loc;
		prov->eff_ms = loc->eff_ms + rnd_range(g, HOUR_MS, 3 * DAY_MS);
		if (chance(g, 50)) { /* contact details differ, at different times */
			bool province_newer = chance(g, 350);

			if (chance(g, 700))
				cps_demo_format_address(g, loc->district, prov->address,
				                        sizeof(prov->address));
			else
				cps_demo_format_phone(g, prov->phone);
			prov->eff_ms = loc->eff_ms +
			               (province_newer ? 1 : -1) * rnd_range(g, 10, 200) * DAY_MS;
		}
		if (chance(g, 20)) /* a disability assessment only one side has */
			prov->grade = loc->grade ? (loc->grade % 4) + 1 : (int)rnd_range(g, 3, 4);
	}
}

/* A monitoring alert for some households, perhaps already handled. */
static void maybe_initial_alert(struct cps_demo_gen *g, int hi)
{
	int kind, r2;
	struct alert *a;

	if (!chance(g, 120))
		return;
	kind = (int)rnd_range(g, 0, cps_demo_n_alert_kinds - 1);
	r2 = (int)rnd_range(g, 0, 99);
	if (kind == AK_DEATH)
		kind = 0; /* the dead stay out of the initial load */
	a = cps_demo_alert_new(g, kind, BASE_MS - rnd_range(g, DAY_MS, 300 * DAY_MS));
	cps_demo_alert_subject(g, a, hi);
	a->status = r2 < 30   ? AS_OPEN
	            : r2 < 55 ? AS_INVESTIGATING
	            : r2 < 80 ? AS_ASSISTED
	            : r2 < 90 ? AS_REFERRED
	                      : AS_CLOSED;
	if (a->status != AS_OPEN)
		a->handled_ms = a->raised_ms + rnd_range(g, HOUR_MS, 20 * DAY_MS);
}

static int build_household(struct cps_demo_gen *g, struct id_set *ids, int hi, size_t size)
{
	struct household *h = &g->households[hi];
	const char *surname = cps_demo_surnames[rnd_range(g, 0, (int64_t)cps_demo_n_surnames - 1)];
	int head_year, r = (int)rnd_range(g, 0, 99), rc, reg;
	bool head_male = chance(g, 600), permit;
	char address[160];

	h->district = chance(g, 100) ? (int)SHENSHAN_DISTRICT
	                             : (int)rnd_range(g, 0, (int64_t)SHENSHAN_DISTRICT - 1);
	h->local = is_local_district(h->district) ? CPS_DEMO_CITY : CPS_DEMO_SHENSHAN;
	h->rural = !is_local_district(h->district) && chance(g, 800);
	permit = is_local_district(h->district) && chance(g, PERMIT_HOUSEHOLD_X10);
	reg = permit ? other_district(g, h->district) : h->district;
	h->first = (int)g->n_persons;
	h->n = (int)size;
	snprintf(h->id, sizeof(h->id), "H%s%04d%05d", cps_demo_districts[h->district].code,
	         (int)rnd_range(g, 2016, 2024), hi % 100000);
	if (size == 1)
		head_year = r < 55 ? (int)rnd_range(g, 1935, 1960) : (int)rnd_range(g, 1961, 1995);
	else
		head_year = (int)rnd_range(g, 1945, 1992);
	cps_demo_format_address(g, h->district, address, sizeof(address));
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
		rc = make_person(g, ids, p, hi, permit ? reg : h->district, relation, year, male,
		                 sn);
		if (rc)
			return rc;
		/* registered elsewhere, living here: a residence permit */
		p->v[VIEW_LOCAL].district = h->district;
		p->permit = permit && p->reg_district != h->district;
		memcpy(p->v[VIEW_LOCAL].address, address, sizeof(address));
		g->n_persons++;
	}
	h->pension_counted = chance(g, PENSION_COUNTED_X10);
	h->deposits_fen = chance(g, 800) ? rnd_range(g, 0, 80000) * 100 : 0;
	h->vehicle_fen = chance(g, 80) ? rnd_range(g, 20000, 90000) * 100 : 0;
	h->eff_ms[VIEW_LOCAL] = BASE_MS - rnd_range(g, DAY_MS, 365 * DAY_MS);
	h->income_fen[VIEW_LOCAL] = cps_demo_per_capita(g, h);
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
	province_contact_views(g, h);
	maybe_initial_alert(g, hi);
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
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "demo: %zu people is more than 1000000", people);
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
			cps_seterr(rc, errstr, errstr_size, "demo: building household %zu failed",
			           g->n_households);
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
