/*
 * The files connector (type "files"): Avro Object Container File exchange
 * with the Shenshan zone. Source (files_source.c): complete files in an
 * inbox, record by record, with done/ + receipts, rejected/ + reasons, a
 * sha256 ledger against duplicates and a progress file for crash resume.
 * Sink (files_sink.c): one rolling file per entity in an outbox, tmp + fsync
 * + rename, each with a manifest. This file: the settings and the table.
 */
#include "connectors/builtin.h"
#include "connectors/files/files_int.h"

#include <stdint.h>

static const struct cps_setting_decl files_settings[] = {
    {"inbox", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE | CPS_SETTING_REQUIRED,
     "directory the source picks up Avro container files from"},
    {"done_dir", CPS_SETTING_STRING, "", 0, 0, CPS_SETTING_SOURCE,
     "where processed files and their receipts go; empty = <inbox>/done"},
    {"rejected_dir", CPS_SETTING_STRING, "", 0, 0, CPS_SETTING_SOURCE,
     "where unreadable or broken files and their reasons go; empty = <inbox>/rejected"},
    {"stable_ms", CPS_SETTING_INT, "2000", 0, 86400000, CPS_SETTING_SOURCE,
     "a file unmodified for this long is complete (*.tmp and dot files are never read)"},
    {"max_file_bytes", CPS_SETTING_INT, "268435456", 1024, INT64_C(17179869184), CPS_SETTING_SOURCE,
     "larger inbox files are rejected"},
    {"file.*.entity", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE,
     "entity of the files whose name starts with the given prefix (longest prefix wins); otherwise the writer schema's name (cpsync.Person: person)"},
    {"effective_field", CPS_SETTING_STRING, "", 0, 0, CPS_SETTING_SOURCE,
     "record field whose value is when the record's fact became true (a long: timestamp-millis or epoch milliseconds, or a date; null: the fallbacks), instead of the file's time; a file whose writer schema lacks it is rejected; empty = none"},
    {"file.*.effective_field", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SOURCE,
     "effective_field for the files whose name starts with the given prefix (longest prefix wins)"},
    {"outbox", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SINK | CPS_SETTING_REQUIRED,
     "directory the sink writes Avro container files and manifests to"},
    {"roll_records", CPS_SETTING_INT, "1000", 1, 100000000, CPS_SETTING_SINK,
     "a file is closed and published after this many records"},
    {"roll_ms", CPS_SETTING_INT, "60000", 1, 86400000, CPS_SETTING_SINK,
     "a file is closed and published when it is this old (checked at put and flush)"},
    {"codec", CPS_SETTING_STRING, "null", 0, 0, CPS_SETTING_SINK,
     "block codec of written files: null or deflate"},
    {"max_dead_letters", CPS_SETTING_INT, "100", 0, 1000000000, CPS_SETTING_SOURCE,
     "a file with more records that would be dead letters than this is rejected whole, with one reason, before any record is read"},
    {"schema_dir", CPS_SETTING_STRING, "", 0, 0, CPS_SETTING_SOURCE | CPS_SETTING_SINK,
     "schema catalog: a source refuses files whose writer schema is not in it, a sink takes record schemas from it; empty = $CPSYNC_SCHEMA_DIR or the source tree's schemas/"},
};

const struct cps_connector_ops cps_files_connector = {
    .version = CPS_CONNECTOR_API_VERSION,
    .type = "files",
    .settings = files_settings,
    .n_settings = CPS_ARRAY_SIZE(files_settings),
    .source_open = files_source_open,
    .source_poll = files_source_poll,
    .source_commit = files_source_commit,
    .source_close = files_source_close,
    .source_describe = files_source_describe,
    .offsets_get = files_offsets_get,
    .sweep_read = files_sweep_read,
    .sink_open = files_sink_open,
    .sink_put = files_sink_put,
    .sink_flush = files_sink_flush,
    .sink_close = files_sink_close,
    .sink_describe = files_sink_describe,
};
