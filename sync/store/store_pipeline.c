/*
 * One store transaction in libpq pipeline mode: BEGIN, every statement sent
 * without waiting, COMMIT, one sync, then every result checked in order.
 * What each sent query was is kept so a failure names its statement.
 */
#include "store/store.h"

#include "base/common.h"
#include "store/pgerr.h"
#include "store/store_conn_int.h"

#include <libpq-fe.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

/* Sends between two flushes of the pipeline. */
#define PIPELINE_FLUSH_EVERY 256

/* Sends what libpq holds, reading the server's replies meanwhile so that
 * neither side blocks on a full socket. */
static int pipeline_flush(struct cps_store *s)
{
	int r;

	while ((r = PQflush(s->conn)) == 1) {
		struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN | POLLOUT};

		if (poll(&p, 1, 30000) < 0 && errno != EINTR)
			return -1;
		if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(s->conn))
			return -1;
	}
	return r;
}

static int sent_push(struct cps_store *s, uint8_t id)
{
	if (cps_grow(&s->sent, &s->sent_cap, s->n_sent + 1, sizeof(*s->sent)) != 0)
		return -1;
	s->sent[s->n_sent++] = id;
	return 0;
}

static int send_plain(struct cps_store *s, enum stmt_id id, const char *sql)
{
	if (!PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0))
		return -1;
	return sent_push(s, (uint8_t)id);
}

int cps_store_pipeline_begin(struct cps_store *s, char *errstr, size_t errstr_size)
{
	char line[160];
	int rc = cps_store_prepare_all(s, errstr, errstr_size);

	if (rc)
		return rc;
	s->n_sent = 0;
	s->pipeline_xid = 0;
	s->serialization_failed = false;
	if (PQsetnonblocking(s->conn, 1) || !PQenterPipelineMode(s->conn) ||
	    send_plain(s, ST_BEGIN, "BEGIN")) {
		s->broken = 1;
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "store: cannot start a pipeline: %s",
		                  cps_pg_conn_message(s->conn, line, sizeof(line)));
	}
	return CPS_OK;
}

/* Queues one prepared statement. A failure leaves the connection unusable. */
int cps_store_pipeline_send(struct cps_store *s, enum stmt_id id, const char *const *values,
                            const int *lengths, const int *formats, char *errstr,
                            size_t errstr_size)
{
	char line[160];

	if (!PQsendQueryPrepared(s->conn, cps_store_stmts[id].name, cps_store_stmts[id].nparams,
	                         values, lengths, formats, 0) ||
	    sent_push(s, (uint8_t)id) ||
	    (s->n_sent % PIPELINE_FLUSH_EVERY == 0 && pipeline_flush(s) < 0)) {
		s->broken = 1;
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "store: sending %s failed: %s", cps_store_stmts[id].what,
		                  cps_pg_conn_message(s->conn, line, sizeof(line)));
	}
	return CPS_OK;
}

static const char *sent_what(uint8_t id)
{
	if (id == ST_BEGIN)
		return "begin";
	if (id == ST_COMMIT)
		return "commit";
	return cps_store_stmts[id].what;
}

/* COMMIT, one sync, then every result: the first failure is reported and
 * the transaction rolled back. `failed_before` aborts without committing
 * (a send failed part-way through building the batch). */
int cps_store_pipeline_end(struct cps_store *s, int failed_before, char *errstr, size_t errstr_size)
{
	int rc = failed_before;
	char line[160];
	PGresult *res;

	if (!s->broken && !failed_before && send_plain(s, ST_COMMIT, "COMMIT"))
		s->broken = 1;
	if (s->broken || !PQpipelineSync(s->conn) || pipeline_flush(s) < 0 ||
	    PQsetnonblocking(s->conn, 0)) {
		s->broken = 1;
		if (!rc)
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
			                "store: pipeline failed: %s",
			                cps_pg_conn_message(s->conn, line, sizeof(line)));
		return rc;
	}
	for (size_t i = 0; i < s->n_sent; i++) {
		ExecStatusType st;

		res = PQgetResult(s->conn);
		if (!res) {
			s->broken = 1;
			if (!rc)
				rc = cps_store_result_error(s, NULL, sent_what(s->sent[i]), errstr,
				                            errstr_size);
			return rc;
		}
		st = PQresultStatus(res);
		if (s->sent[i] == ST_CURRENT_XID && st == PGRES_TUPLES_OK && PQntuples(res) == 1)
			s->pipeline_xid = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		if (st == PGRES_FATAL_ERROR && !rc) {
			rc = cps_store_result_error(s, res, sent_what(s->sent[i]), errstr,
			                            errstr_size);
		}
		PQclear(res);
		/* each query's results end with NULL */
		while ((res = PQgetResult(s->conn)) != NULL)
			PQclear(res);
	}
	res = PQgetResult(s->conn);
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		s->broken = 1;
		if (!rc)
			rc = cps_store_result_error(s, res, "pipeline sync", errstr, errstr_size);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	if (!PQexitPipelineMode(s->conn)) {
		s->broken = 1;
		return rc ? rc
		          : cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "store: cannot leave pipeline mode: %s",
		                       cps_pg_conn_message(s->conn, line, sizeof(line)));
	}
	/* An error aborted the transaction, which waits for ROLLBACK. */
	if (rc && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	return rc;
}
