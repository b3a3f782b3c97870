/*
 * The terminal renderer of the API commands (cli_status.c, cli_conflicts.c,
 * cli_records.c, cli_dlq.c, cli_connectors.c): JSON values as short texts,
 * cells cut to a display width (UTF-8 aware, control characters as spaces)
 * and tables whose columns are aligned to their widest cell.
 */
#ifndef CPS_CLI_TABLE_H
#define CPS_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#define CPS_TABLE_MAX_CELL 48 /* display columns of a table cell before it is cut */

struct cps_table {
	size_t ncol, nrow, cap;
	char **cells; /* nrow * ncol, row 0 = the header */
};

/* A table whose first row is `header` (ncol texts, copied). */
int cps_table_init(struct cps_table *t, const char *const *header, size_t ncol);
/* Adds a row of `ncol` texts; takes ownership of each (NULL = "-"), even
 * when it fails. Each becomes a cell (cps_table_cell). */
int cps_table_add(struct cps_table *t, char **texts);
/* Prints the rows, columns two spaces apart, the last one unpadded. */
void cps_table_print(struct cps_table *t, FILE *f);
void cps_table_release(struct cps_table *t);

/* `s` as a cell: at most CPS_TABLE_MAX_CELL display columns (cut with "…"),
 * control characters as spaces. Caller frees. */
char *cps_table_cell(const char *s);

/* The texts of JSON values; each returns a string the caller frees (NULL
 * only when out of memory). */

/* Any JSON value: strings bare, null (or absent) "-", the rest compact JSON.
 * An Avro JSON union branch {"string": "x"} shows as its value. */
char *cps_cli_value_text(const json_t *v);
/* The member `name` of object `o`, as cps_cli_value_text. */
char *cps_cli_member_text(const json_t *o, const char *name);
/* An integer, else "-". */
char *cps_cli_fmt_int(const json_t *v);
/* An integer of seconds as an age: 90s, 5m, 3h, 2d; else "-". */
char *cps_cli_fmt_age(const json_t *v);
/* An array of strings joined with ",", "-" when empty. */
char *cps_cli_fmt_join(const json_t *arr);

/* "yes" when `v` is JSON true, else "no". */
char *cps_cli_fmt_yesno(const json_t *v);

/* How a column of cps_cli_print_items shows its member. */
enum cps_cli_fmt {
	CPS_CLI_TEXT,  /* cps_cli_value_text */
	CPS_CLI_INT,   /* cps_cli_fmt_int */
	CPS_CLI_AGE,   /* cps_cli_fmt_age */
	CPS_CLI_JOIN,  /* cps_cli_fmt_join */
	CPS_CLI_YESNO, /* cps_cli_fmt_yesno */
};

/* One column of a table of JSON objects (or one line of a single object's
 * fields): its header, the member it shows and how. */
struct cps_cli_column {
	const char *head;
	const char *member;
	enum cps_cli_fmt fmt;
};

#define CPS_CLI_MAX_COLUMNS 16 /* columns of a cps_cli_print_items table */

/* Prints the objects of the array `items` as a table on stdout, a row each,
 * the `ncol` (at most CPS_CLI_MAX_COLUMNS) columns `cols`; prints nothing
 * when out of memory. */
void cps_cli_print_items(const json_t *items, const struct cps_cli_column *cols, size_t ncol);

/* Prints "name        text" (text NULL = "-") and frees `text`. */
void cps_cli_print_kv(const char *name, char *text);
/* Prints the `n` members `fields` of object `o` one a line, as
 * cps_cli_print_kv with the column's head as the name. */
void cps_cli_print_fields(const json_t *o, const struct cps_cli_column *fields, size_t n);

#endif
