/*
 * Private to the demo generator (demo_records.c, demo_population.c,
 * demo_changes.c): the population a seed builds — persons as the province
 * and as their local platform hold them, households, enrolments, alerts —
 * the codes their records use, the seeded random draws, and what each file
 * offers the others. demo.c and the transports see only demo.h.
 */
#ifndef CPS_DEMO_INT_H
#define CPS_DEMO_INT_H

#include "demo/demo.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAY_MS  86400000LL
#define HOUR_MS 3600000LL
/* Business times of the initial load lie before 2025-01-01T00:00:00Z. */
#define BASE_MS   1735689600000LL
#define BASE_DAYS ((int)(BASE_MS / DAY_MS))
#define STD       ((int64_t)CPS_DEMO_DIBAO_STANDARD_FEN)
/* Deliberate breaches of the policy, per mille of the chances to commit
 * them, so that stewards have findings to see: a review that misses an
 * income above the standard, an exit before the gradual exit ends, a
 * verification that counts the basic pension as income, 单人保 for someone
 * disabled at grade 3 only. */
#define MISSED_REVIEW_X10   50
#define EARLY_EXIT_X10      2
#define PENSION_COUNTED_X10 20
#define MISENROLLED_X10     100
/* The same breaches already in the initial load, so that a new demo shows
 * findings of several kinds at once rather than only as changes accrue:
 * of the households just above the standard, some whose review was missed
 * (still ACTIVE) or whose gradual exit ended early (EXITED); of the 低保边缘
 * households with nobody seriously ill or disabled at grade 1-2, some whose
 * head was enrolled alone (单人保) all the same. */
#define INITIAL_MISSED_REVIEW_X10 100
#define INITIAL_EARLY_EXIT_X10    100
#define UNQUALIFIED_SINGLE_X10    40
/* Residence-permit holders (registered in another district than where they
 * live, enrolled where they live), a 单人保 of one, or less often the
 * household's own enrolment, granted by the district of registration
 * instead (a breach); temporary assistance for an emergency outside the
 * home district, granted where it happened, now and then by a third
 * district (a breach). */
#define PERMIT_HOUSEHOLD_X10       150
#define PERMIT_WRONG_REGION_X10    300
#define PERMIT_HH_WRONG_REGION_X10 40
#define EMERGENCY_ELSEWHERE_X10    500
#define TEMP_WRONG_REGION_X10      200
#define SHENSHAN_DISTRICT          (cps_demo_n_districts - 1)

/* The two views of a person or household a platform pair holds. */
enum { VIEW_PROVINCE, VIEW_LOCAL, VIEWS };

/* Codes of the records' Avro enums, in schema order: indexes into the
 * symbol tables of demo_records.c. */
enum { REL_HEAD, REL_SPOUSE, REL_CHILD, REL_PARENT, REL_GRANDPARENT, REL_GRANDCHILD, REL_SIBLING };
enum { CAT_DIBAO, CAT_TEKUN, CAT_DIBAO_EDGE, CAT_AT_RISK, CAT_HARDSHIP, CAT_OTHER, CAT_NONE };
enum { PRG_DIBAO, PRG_TEKUN, PRG_EDGE, PRG_TEMPORARY, PRG_SINGLE };
enum { ST_APPLIED, ST_ACTIVE, ST_GRADUAL_EXIT, ST_EXITED, ST_REJECTED };
enum { AS_OPEN, AS_INVESTIGATING, AS_ASSISTED, AS_REFERRED, AS_CLOSED };
/* The programme symbols ("DIBAO", …): also part of an enrolment's id. */
extern const char *const cps_demo_programme_sym[];

/* Verification item kinds used here. */
enum { INC_NONE, INC_WAGES, INC_BUSINESS, INC_TRANSFER };

/* What raises an alert: trigger, category, department, subject, severity. */
struct alert_kind {
	const char *trigger, *category, *department;
	bool person;
	int severity;
};
/* The kinds, indexed by AK_* where one is named (demo_records.c). */
extern const struct alert_kind cps_demo_alert_kinds[];
extern const size_t cps_demo_n_alert_kinds;
enum { AK_INCOME_DROP = 4, AK_INCOME_ABOVE = 5, AK_DEATH = 7, AK_HOTLINE_REPORT = 10 };

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
	bool permit;     /* registered (户籍) in another district: a residence permit */
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
	bool pension_counted;      /* its verifications count the basic pension (a breach) */
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
	int granting;                              /* district that grants (审批地) */
	int emergency; /* district of the emergency (临时救助); -1 = null */
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

/* ---- seeded randomness (the only source: same seed, same data) ---------- */

static inline uint64_t rnd(struct cps_demo_gen *g)
{
	uint64_t z = (g->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline int64_t rnd_range(struct cps_demo_gen *g, int64_t lo, int64_t hi)
{
	if (hi <= lo)
		return lo;
	return lo + (int64_t)(rnd(g) % (uint64_t)(hi - lo + 1));
}

static inline bool chance(struct cps_demo_gen *g, int percent_x10)
{
	return (int)(rnd(g) % 1000) < percent_x10;
}

/* Shenzhen proper, where the city is the local platform (not Shenshan). */
static inline bool is_local_district(int district)
{
	return (size_t)district != SHENSHAN_DISTRICT;
}

/* ---- the records and their messages (demo_records.c) --------------------- */

/* The household's per capita counted income net of the employment
 * deduction (fen, rounded half up), as a verification computes it. */
int64_t cps_demo_per_capita(const struct cps_demo_gen *g, const struct household *h);

/* Each builds the record (`view`: VIEW_PROVINCE or VIEW_LOCAL) and emits it
 * as its platform's message; they return what `emit` returns. */
int cps_demo_emit_person(struct cps_demo_gen *g, const struct person *p, int view,
                         cps_demo_emit_fn emit, void *arg);
int cps_demo_emit_household(struct cps_demo_gen *g, const struct household *h, int view,
                            cps_demo_emit_fn emit, void *arg);
/* The granting platform publishes; the province mirrors `mirror_lag` ms later. */
int cps_demo_emit_enrolment(struct cps_demo_gen *g, const struct enrolment *e, int64_t mirror_lag,
                            cps_demo_emit_fn emit, void *arg);
int cps_demo_emit_verification(struct cps_demo_gen *g, const struct household *h,
                               cps_demo_emit_fn emit, void *arg);
int cps_demo_emit_alert(struct cps_demo_gen *g, const struct alert *a, cps_demo_emit_fn emit,
                        void *arg);
/* A tombstone of `key` on the platform's entity topic. */
int cps_demo_emit_delete(cps_demo_emit_fn emit, void *arg, int platform, int entity,
                         const char *key, int64_t eff_ms);

/* ---- the population (demo_population.c) ---------------------------------- */

/* Days since 1970-01-01 of a civil date, and back. */
int cps_demo_days_from_civil(int y, int m, int d);
void cps_demo_civil_from_days(int z, int *y, int *m, int *d);
/* The last day of a six-month window starting on `start` (days). */
int cps_demo_six_months_end(int start);

/* A random address in `district` / a random mobile number. */
void cps_demo_format_address(struct cps_demo_gen *g, int district, char *out, size_t size);
void cps_demo_format_phone(struct cps_demo_gen *g, char out[12]);

/* A new open alert of `kind` (the oldest is forgotten once the ring is
 * full); cps_demo_alert_subject then gives it a subject in `household`, the
 * region and an id. */
struct alert *cps_demo_alert_new(struct cps_demo_gen *g, int kind, int64_t raised_ms);
void cps_demo_alert_subject(struct cps_demo_gen *g, struct alert *a, int household);

#endif
