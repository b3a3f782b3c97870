/*
 * Comma-separated lists as settings and configuration values write them
 * ("a, b,c"), read one element at a time without copying: the Kafka topics
 * the engine creates and a sink's field allow-list both walk them.
 */
#ifndef CPS_COMMA_LIST_H
#define CPS_COMMA_LIST_H

#include <stdbool.h>
#include <stddef.h>

/* The next element of the list at *cursor: its start in *elem and its
 * length in *len, spaces around it trimmed (it may be empty: "a,,b").
 * Advances *cursor past it; false at the end of the list (an empty or NULL
 * *cursor). */
bool cps_comma_list_next(const char **cursor, const char **elem, size_t *len);

#endif
