/*
 * UTF-8 validation as jansson checks it (utf8_check_string), for the places
 * that must know a text will be accepted as a JSON string before handing it
 * over: the typed records' JSON form and the postgres rows' text values.
 */
#ifndef CPS_UTF8_H
#define CPS_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether s[0..len) is strict UTF-8: no overlong forms, no surrogates,
 * nothing past U+10FFFF; NUL is allowed. */
bool cps_utf8_valid(const uint8_t *s, size_t len);

#endif
