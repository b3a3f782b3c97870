/*
 * Reading typed records (codec/record.h) by field name for the policy
 * checks, and the civil calendar (Howard Hinnant's days_from_civil) for
 * the 6-month gradual exit.
 */
#include "policy/policy_int.h"

#include <string.h>

const struct cps_tval *cps_pr_get(const struct cps_policy_record *r, const char *field,
                                  const struct cps_rtype **type)
{
	const struct cps_rfield *f;
	const struct cps_tval *v;
	const struct cps_rtype *t;

	if (!r || !r->type || !r->value || r->type->kind != CPS_RK_RECORD)
		return NULL;
	if (!(f = cps_rtype_field(r->type, field)) || f->index >= r->value->u.list.n)
		return NULL;
	v = &r->value->u.list.v[f->index];
	t = f->type;
	if (t->kind == CPS_RK_UNION) {
		if (v->branch < 0 || (size_t)v->branch >= t->n)
			return NULL;
		t = t->branches[v->branch];
	}
	if (v->kind == CPS_RK_NULL)
		return NULL;
	if (type)
		*type = t;
	return v;
}

bool cps_pr_str(const struct cps_policy_record *r, const char *field, char *buf, size_t size)
{
	const struct cps_tval *v = cps_pr_get(r, field, NULL);
	size_t n;

	if (!v || v->kind != CPS_RK_STRING || size == 0)
		return false;
	n = v->u.b.len < size - 1 ? v->u.b.len : size - 1;
	memcpy(buf, v->u.b.ptr, n);
	buf[n] = 0;
	return true;
}

const char *cps_pr_enum(const struct cps_policy_record *r, const char *field)
{
	const struct cps_rtype *t;
	const struct cps_tval *v = cps_pr_get(r, field, &t);

	if (!v || v->kind != CPS_RK_ENUM || v->u.i < 0 || (size_t)v->u.i >= t->n)
		return NULL;
	return t->symbols[v->u.i];
}

bool cps_pr_int(const struct cps_policy_record *r, const char *field, int64_t *out)
{
	const struct cps_tval *v = cps_pr_get(r, field, NULL);

	if (!v || (v->kind != CPS_RK_BOOLEAN && v->kind != CPS_RK_INT && v->kind != CPS_RK_LONG))
		return false;
	*out = v->u.i;
	return true;
}

bool cps_pr_fen(const struct cps_policy_record *r, const char *field, int64_t *out)
{
	const struct cps_rtype *t;
	const struct cps_tval *v = cps_pr_get(r, field, &t);
	int64_t x;
	int scale;

	if (!v || v->logical != CPS_LOGICAL_DECIMAL)
		return false;
	x = v->u.i;
	for (scale = t->scale; scale < 2; scale++)
		x *= 10;
	for (; scale > 2; scale--)
		x = (x >= 0 ? x + 5 : x - 5) / 10;
	*out = x;
	return true;
}

bool cps_pr_item(const struct cps_policy_record *r, const char *field, size_t i,
                 struct cps_policy_record *out)
{
	const struct cps_rtype *t;
	const struct cps_tval *v = cps_pr_get(r, field, &t);

	if (!v || v->kind != CPS_RK_ARRAY || i >= v->u.list.n)
		return false;
	out->type = t->items;
	out->value = &v->u.list.v[i];
	return true;
}

/* ---- the civil calendar ---------------------------------------------------- */

int32_t cps_days_from_civil(int y, unsigned m, unsigned d)
{
	int era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int32_t)doe - 719468;
}

void cps_civil_from_days(int32_t days, int *y, unsigned *m, unsigned *d)
{
	int32_t z = days + 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)yoe + era * 400 + (*m <= 2);
}

static unsigned month_days(int y, unsigned m)
{
	static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

int32_t cps_add_months(int32_t day, int months)
{
	int y;
	unsigned m, d;
	int total;

	cps_civil_from_days(day, &y, &m, &d);
	total = y * 12 + (int)m - 1 + months;
	y = total >= 0 ? total / 12 : (total - 11) / 12;
	m = (unsigned)(total - y * 12) + 1;
	if (d > month_days(y, m))
		d = month_days(y, m);
	return cps_days_from_civil(y, m, d);
}
