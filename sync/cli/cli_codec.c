/*
 * `cpsync decode` and `cpsync encode`: Avro bytes on stdin to Avro JSON on
 * stdout and back, through the guarded codec. Bad input: one line on
 * stderr ("cpsync: decode: <reason>") and exit status 1.
 */
#include "cli/cli.h"

#include "codec/avro_json.h"
#include "codec/codec.h"
#include "base/common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct codec_args {
	const char *schema_file;
	const char *entity;
	const char *schema_dir;
	const char *registry_url;
	const char *subject;
	const char *cacert; /* --cacert: the registry's CA */
	enum cps_framing framing;
	struct cps_guard_limits limits;
};

static void codec_usage(FILE *f, const char *verb)
{
	fprintf(
	    f,
	    "usage: cpsync %s (--schema FILE | --entity NAME) [--framing raw|confluent|single-object]\n"
	    "                 [--schemas DIR] [--registry URL] [--subject NAME] [--cacert FILE]\n"
	    "                 [--max-bytes N] [--max-items N] [--max-depth N]\n"
	    "%s\n"
	    "--entity names a schema of the schemas directory (person, household, enrolment,\n"
	    "verification, alert, ingest_event, person_event, …). Without --registry, Confluent\n"
	    "schema ids come from the schemas directory's schema-ids.json (registry-free mode).\n"
	    "--cacert names the PEM file of the CA that signs an https:// registry's certificate.\n",
	    verb,
	    !strcmp(verb, "decode")
	        ? "Reads one Avro message on stdin, writes its Avro JSON encoding on stdout."
	        : "Reads one Avro JSON value on stdin, writes the Avro message on stdout.");
}

static int parse_args(int argc, char **argv, const char *verb, struct codec_args *a)
{
	static const struct option opts[] = {
	    {"schema", required_argument, NULL, 's'},
	    {"entity", required_argument, NULL, 'e'},
	    {"framing", required_argument, NULL, 'f'},
	    {"schemas", required_argument, NULL, 'd'},
	    {"registry", required_argument, NULL, 'r'},
	    {"subject", required_argument, NULL, 'j'},
	    {"cacert", required_argument, NULL, 'c'},
	    {"max-bytes", required_argument, NULL, 'b'},
	    {"max-items", required_argument, NULL, 'i'},
	    {"max-depth", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->framing = CPS_FRAMING_RAW;
	cps_guard_limits_default(&a->limits);
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:e:f:d:r:j:c:b:i:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			a->schema_file = optarg;
			break;
		case 'e':
			a->entity = optarg;
			break;
		case 'd':
			a->schema_dir = optarg;
			break;
		case 'r':
			a->registry_url = optarg;
			break;
		case 'j':
			a->subject = optarg;
			break;
		case 'c':
			a->cacert = optarg;
			break;
		case 'b':
			a->limits.max_message_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'i':
			a->limits.max_items = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			a->limits.max_depth = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'f':
			if (cps_framing_from_name(optarg, &a->framing) != 0) {
				fprintf(stderr, "cpsync: %s: unknown framing '%s'\n", verb, optarg);
				return 2;
			}
			break;
		case 'h':
			codec_usage(stdout, verb);
			return 1;
		default:
			codec_usage(stderr, verb);
			return 2;
		}
	}
	if (!a->schema_file == !a->entity || optind != argc) {
		codec_usage(stderr, verb);
		return 2;
	}
	a->schema_dir = cps_cli_schema_dir(a->schema_dir);
	return 0;
}

/* Everything a codec command needs, released in one place. */
struct codec_session {
	struct cps_catalog *catalog;   /* the schemas directory, when loaded */
	struct cps_schema *own_schema; /* a --schema file loaded on its own */
	struct cps_schema *schema;
	struct cps_registry *registry;
	struct cps_codec *codec;
	struct cps_buf in, out;
};

static void session_release(struct codec_session *s)
{
	cps_codec_free(s->codec);
	cps_registry_free(s->registry);
	cps_schema_free(s->own_schema);
	cps_catalog_free(s->catalog);
	cps_buf_release(&s->in);
	cps_buf_release(&s->out);
}

/* Loads the schema, the catalog, the registry and the codec, then reads the
 * whole of stdin (up to the message limit) into s->in. */
static int session_open(struct codec_session *s, const struct codec_args *a, char *err,
                        size_t errsz)
{
	struct cps_registry_conf rconf = {
	    .url = a->registry_url, .timeout_ms = 5000, .ca_file = a->cacert};
	int rc;

	memset(s, 0, sizeof(*s));
	cps_buf_init(&s->in, a->limits.max_message_bytes + 1);
	cps_buf_init(&s->out, 0);
	if (a->schema_file) {
		struct cps_catalog *owner = NULL;

		rc = cps_cli_load_schema(a->schema_file, a->schema_dir, &s->schema, &owner, err,
		                         errsz);
		if (rc != CPS_OK)
			return rc;
		if (owner)
			s->catalog = owner;
		else
			s->own_schema = s->schema;
	}
	if (!s->catalog) {
		char cerr[CPS_ERRSTR_SIZE];

		/* The catalog resolves ids and fingerprints; with --schema it is optional. */
		rc = cps_catalog_load_dir(a->schema_dir, &s->catalog, cerr, sizeof(cerr));
		if (rc != CPS_OK && !a->schema_file)
			return cps_seterr(CPS_ERR_INVALID, err, errsz, "%s", cerr);
	}
	if (a->entity) {
		s->schema = cps_catalog_by_entity(s->catalog, a->entity);
		if (!s->schema)
			return cps_seterr(CPS_ERR_INVALID, err, errsz,
			                  "unknown entity '%s' (see 'cpsync schema list')",
			                  a->entity);
	}
	if (s->catalog || a->registry_url) {
		rc = cps_registry_new(&rconf, s->catalog, &s->registry, err, errsz);
		if (rc != CPS_OK && s->catalog)
			return rc;
	}
	rc = cps_codec_new(s->schema, &a->limits, &s->codec, err, errsz);
	if (rc != CPS_OK)
		return rc;
	if (cps_buf_read_fd(&s->in, STDIN_FILENO) != 0)
		return cps_seterr(CPS_ERR_INVALID, err, errsz,
		                  "input exceeds the limit of %zu bytes",
		                  a->limits.max_message_bytes);
	return CPS_OK;
}

/* Writes the Avro JSON of the message in s->in on stdout. */
static int decode(struct codec_session *s, const struct codec_args *a, char *err, size_t errsz)
{
	json_t *json;
	int rc;

	rc = cps_codec_decode_framed(s->codec, a->framing, s->catalog, s->registry, s->in.data,
	                             s->in.len, err, errsz);
	if (rc != CPS_OK)
		return rc;
	json = cps_value_to_json(cps_codec_value(s->codec), err, errsz);
	if (!json)
		return CPS_ERR_INVALID;
	if (json_dumpf(json, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) != 0)
		rc = cps_seterr(CPS_ERR_INVALID, err, errsz, "cannot write to stdout");
	else
		putchar('\n');
	json_decref(json);
	return rc;
}

/* The Confluent schema id of s->schema (under --subject, else its name). */
static int confluent_id(struct codec_session *s, const struct codec_args *a, int32_t *id, char *err,
                        size_t errsz)
{
	char subject[512];

	snprintf(subject, sizeof(subject), "%s", a->subject ? a->subject : s->schema->name);
	if (!s->registry)
		return cps_seterr(CPS_ERR_INVALID, err, errsz,
		                  "confluent framing needs a registry or schema ids");
	return cps_registry_id_for(s->registry, subject, s->schema, id, err, errsz);
}

/* Writes the Avro message of the Avro JSON in s->in on stdout. */
static int encode(struct codec_session *s, const struct codec_args *a, char *err, size_t errsz)
{
	json_error_t jerr;
	json_t *json;
	int32_t id = 0;
	int rc;

	/* Avro JSON carries bytes and decimals as strings that may hold U+0000. */
	json = json_loadb((const char *)s->in.data, s->in.len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	                  &jerr);
	if (!json) {
		/* jansson quotes the input after " near "; it may be personal data. */
		char *near = strstr(jerr.text, " near ");

		if (near)
			*near = 0;
		return cps_seterr(CPS_ERR_INVALID, err, errsz,
		                  "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
		                  jerr.text);
	}
	rc = cps_value_from_json(json, cps_codec_value(s->codec), err, errsz);
	if (rc == CPS_OK && a->framing == CPS_FRAMING_CONFLUENT)
		rc = confluent_id(s, a, &id, err, errsz);
	if (rc == CPS_OK)
		rc = cps_codec_encode_framed(s->codec, a->framing, id, cps_codec_value(s->codec),
		                             &s->out, err, errsz);
	if (rc == CPS_OK &&
	    (fwrite(s->out.data, 1, s->out.len, stdout) != s->out.len || fflush(stdout) != 0))
		rc = cps_seterr(CPS_ERR_INVALID, err, errsz, "cannot write to stdout");
	json_decref(json);
	return rc;
}

/* A codec command: its arguments, its session, `convert`, and a failure as
 * one line on stderr ("cpsync: VERB: <reason>", exit status 1). */
static int codec_command(int argc, char **argv, const char *verb,
                         int (*convert)(struct codec_session *s, const struct codec_args *a,
                                        char *err, size_t errsz))
{
	struct codec_session s;
	struct codec_args a;
	char err[CPS_ERRSTR_SIZE] = "";
	int rc = parse_args(argc, argv, verb, &a);

	if (rc)
		return rc == 1 ? 0 : rc;
	rc = session_open(&s, &a, err, sizeof(err));
	if (rc == CPS_OK)
		rc = convert(&s, &a, err, sizeof(err));
	if (rc != CPS_OK)
		fprintf(stderr, "cpsync: %s: %s\n", verb, err);
	session_release(&s);
	return rc == CPS_OK ? 0 : 1;
}

int cps_cli_decode(int argc, char **argv)
{
	return codec_command(argc, argv, "decode", decode);
}

int cps_cli_encode(int argc, char **argv)
{
	return codec_command(argc, argv, "encode", encode);
}
