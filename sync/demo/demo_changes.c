/*
 * The trickle of changes after the initial load (cps_demo_gen_change): moves
 * and new phone numbers, income changes with their verifications, enrolment
 * status changes, new and handled alerts, deaths and deletes, each learnt by
 * one platform first and by the other sometimes later, as real platforms do.
 */
#include "demo/demo_int.h"

#include "base/common.h"

#include <stdio.h>
#include <string.h>

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
		cps_demo_format_address(g, c->district, c->address, sizeof(c->address));
	} else {
		cps_demo_format_phone(g, c->phone);
	}
	c->eff_ms = now;
	rc = cps_demo_emit_person(g, p, first, emit, arg);
	if (!rc && chance(g, 400)) {
		struct contact *o = &p->v[1 - first];
		int64_t eff = now - rnd_range(g, HOUR_MS, 3 * DAY_MS);

		o->district = c->district;
		memcpy(o->address, c->address, sizeof(o->address));
		memcpy(o->phone, c->phone, sizeof(o->phone));
		if (eff > o->eff_ms)
			o->eff_ms = eff;
		rc = cps_demo_emit_person(g, p, 1 - first, emit, arg);
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
	e->ge_end = cps_demo_six_months_end(today);
	e->reason = "家庭人均收入超过低保标准";
}

static int raise_alert(struct cps_demo_gen *g, int kind, int hi, int64_t now, cps_demo_emit_fn emit,
                       void *arg)
{
	struct alert *a = cps_demo_alert_new(g, kind, now);

	cps_demo_alert_subject(g, a, hi);
	return cps_demo_emit_alert(g, a, emit, arg);
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
	h->income_fen[VIEW_LOCAL] = cps_demo_per_capita(g, h);
	h->eff_ms[VIEW_LOCAL] = now;
	if (h->local == CPS_DEMO_CITY) {
		int y, m, d;

		cps_demo_civil_from_days(today, &y, &m, &d);
		h->verification_seq++;
		snprintf(h->verification_id, sizeof(h->verification_id), "HD%04d-%s-%06d-%d", y,
		         cps_demo_districts[h->district].code, hi % 1000000, h->verification_seq);
		h->verified_ms = now;
		h->purpose = chance(g, 200) ? 2 : 1;
		rc = cps_demo_emit_verification(g, h, emit, arg);
		if (rc)
			return rc;
	}
	rc = cps_demo_emit_household(g, h, VIEW_LOCAL, emit, arg);
	if (!rc && chance(g, 500)) {
		h->income_fen[VIEW_PROVINCE] = h->income_fen[VIEW_LOCAL];
		h->eff_ms[VIEW_PROVINCE] = now + rnd_range(g, 1000, 60000);
		rc = cps_demo_emit_household(g, h, VIEW_PROVINCE, emit, arg);
	}
	e = household_enrolment(g, hi, PRG_DIBAO);
	/* above the standard: a 6-month gradual exit (深民〔2021〕80号); a few
	 * reviews are missed on purpose, leaving the enrolment ACTIVE for the
	 * policy check INCOME_ABOVE_STANDARD_ACTIVE to find */
	if (!rc && e && e->status == ST_ACTIVE && h->income_fen[VIEW_LOCAL] > STD &&
	    !chance(g, MISSED_REVIEW_X10)) {
		start_gradual_exit(e, today);
		e->eff_ms = now;
		rc = cps_demo_emit_enrolment(g, e, rnd_range(g, 1000, HOUR_MS), emit, arg);
		if (!rc)
			rc = raise_alert(g, AK_INCOME_ABOVE, hi, now, emit, arg);
	} else if (!rc && h->income_fen[VIEW_LOCAL] * 2 < STD && chance(g, 500)) {
		rc = raise_alert(g, AK_INCOME_DROP, hi, now, emit, arg);
	}
	return rc;
}

/* An enrolment moves on: applied -> active or rejected, gradual exit ->
 * exited when its 6 months are over. A gradual exit starts only when the
 * household's income rises above the standard (change_income). */
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
		} else if (e->status == ST_GRADUAL_EXIT &&
		           (today > e->ge_end || chance(g, EARLY_EXIT_X10))) {
			/* after its last day; rarely before, against the policy
			 * (EXITED_DURING_GRADUAL_EXIT), for stewards to find */
			e->status = ST_EXITED;
			e->end = e->ge_end < today ? e->ge_end : today;
			e->amount_fen = 0;
			e->reason = "渐退期满";
		} else {
			continue;
		}
		e->eff_ms = now;
		return cps_demo_emit_enrolment(g, e, rnd_range(g, 1000, HOUR_MS), emit, arg);
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
		return cps_demo_emit_alert(g, a, emit, arg);
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
	rc = cps_demo_emit_person(g, p, VIEW_PROVINCE, emit, arg);
	if (!rc) {
		struct alert *a = cps_demo_alert_new(g, AK_DEATH, now);

		cps_demo_alert_subject(g, a, p->household);
		a->subject = (int)(p - g->persons);
		rc = cps_demo_emit_alert(g, a, emit, arg);
	}
	if (!rc && chance(g, 500)) {
		p->v[VIEW_LOCAL].deceased = true;
		p->v[VIEW_LOCAL].eff_ms = now - rnd_range(g, HOUR_MS, DAY_MS);
		rc = cps_demo_emit_person(g, p, VIEW_LOCAL, emit, arg);
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
		return cps_demo_emit_delete(emit, arg, CPS_DEMO_PROVINCE, CPS_DEMO_ALERT, a->id,
		                            now);
	}
	for (int tries = 0; tries < 32 && g->n_enrolments; tries++) {
		struct enrolment *e = &g->enrolments[rnd_range(g, 0, (int64_t)g->n_enrolments - 1)];

		if (e->deleted || e->status != ST_REJECTED)
			continue;
		e->deleted = true;
		return cps_demo_emit_delete(emit, arg, g->households[e->household].local,
		                            CPS_DEMO_ENROLMENT, e->id, now);
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
		int kind = (int)rnd_range(g, 0, cps_demo_n_alert_kinds - 1);

		if (kind == AK_DEATH || kind == AK_INCOME_ABOVE)
			kind = AK_HOTLINE_REPORT;
		return raise_alert(g, kind, (int)rnd_range(g, 0, (int64_t)g->n_households - 1),
		                   now_ms, emit, arg);
	}
	if (r < 93)
		return change_alert(g, now_ms, emit, arg);
	if (r < 96)
		return change_death(g, now_ms, emit, arg);
	return change_delete(g, now_ms, emit, arg);
}
