/*
 * The store's side of the policy's rechecks: which stored enrolments read a
 * person or household that a batch changed (010_policy_recheck.sql's
 * indexes), so the worker checks them again in the same batch; and the
 * findings of a record written outside a batch (`rules apply`), as a
 * batch's send_policy writes them; and the versions of the standards the
 * checks use (011_standards.sql).
 */
#include "store/store_conn_int.h"

#include "base/common.h"
#include "store/jsonb.h"
#include "store/pg_params.h"

#include <stdio.h>
#include <stdlib.h>

int cps_store_policy_dependents(struct cps_store *s, json_t *subjects, json_t *households,
                                int limit, json_t **out, char *errstr, size_t errstr_size)
{
	struct cps_pg_params p = {0};
	PGresult *res = NULL;
	int rc;

	*out = NULL;
	if (cps_pg_params_json(&p, 0, subjects, "[]") ||
	    cps_pg_params_json(&p, 1, households, "[]"))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	else {
		p.v[2] = cps_pg_params_int(&p, 0, limit);
		rc = cps_store_exec_prepared(s, ST_POLICY_DEPENDENTS, p.v, NULL, NULL, 0, &res,
		                             errstr, errstr_size);
	}
	cps_pg_params_clear(&p);
	if (rc)
		return rc;
	*out = json_array();
	for (int i = 0; *out && i < PQntuples(res); i++) {
		/* jsonb's escaping of U+0000 undone (a decimal's bytes): jsonb.h */
		json_t *rec = cps_jsonb_value(res, i, 2);

		if (!rec ||
		    json_array_append_new(*out, json_pack("[s,I,o]", PQgetvalue(res, i, 0),
		                                          (json_int_t)atoll(PQgetvalue(res, i, 1)),
		                                          rec)) < 0) {
			json_decref(*out);
			*out = NULL;
		}
	}
	PQclear(res);
	return *out ? CPS_OK : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_store_policy_write(struct cps_store *s, const struct cps_store_policy *pf, char *errstr,
                           size_t errstr_size)
{
	struct cps_pg_params p = {0};
	PGresult *res = NULL;
	int rc;

	p.v[0] = pf->entity;
	p.v[1] = pf->key;
	p.v[3] = cps_pg_params_int(&p, 0, pf->version);
	if (cps_pg_params_json(&p, 2, pf->findings, "[]"))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = cps_store_exec_prepared(s, ST_POLICY_CLOSE, p.v, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	PQclear(res);
	res = NULL;
	if (!rc && json_array_size(pf->findings))
		rc = cps_store_exec_prepared(s, ST_POLICY_OPEN, p.v, NULL, NULL, 0, &res, errstr,
		                             errstr_size);
	PQclear(res);
	cps_pg_params_clear(&p);
	return rc;
}

int cps_store_standards_put(struct cps_store *s, const char *hash, const char *standards,
                            const char *instance, int64_t *version, char *errstr,
                            size_t errstr_size)
{
	const char *v[3] = {hash, standards, instance ? instance : "cpsync"};
	PGresult *res = NULL;
	int rc = cps_store_exec_prepared(s, ST_STANDARDS_PUT, v, NULL, NULL, 0, &res, errstr,
	                                 errstr_size);

	*version = 0;
	if (!rc && PQntuples(res) == 1)
		*version = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

int cps_store_standards_list(struct cps_store *s, json_t **out, char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	int rc = cps_store_exec_prepared(s, ST_STANDARDS_LIST, NULL, NULL, NULL, 0, &res, errstr,
	                                 errstr_size);

	*out = NULL;
	if (rc)
		return rc;
	*out = json_array();
	for (int i = 0; *out && i < PQntuples(res); i++) {
		json_t *row = json_loads(PQgetvalue(res, i, 0), 0, NULL);

		if (json_array_append_new(*out, row) < 0) {
			json_decref(*out);
			*out = NULL;
		}
	}
	PQclear(res);
	return *out ? CPS_OK : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}
