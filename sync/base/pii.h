/*
 * Personal data: masking helpers for anything that may reach a log line, a
 * metric label or an error text, and national ID (GB 11643) validation.
 * Every mask function writes a NUL-terminated result into a caller-owned
 * buffer (truncated to fit) and returns that buffer. Thread-safe.
 */
#ifndef CPS_PII_H
#define CPS_PII_H

#include <stddef.h>

/* A buffer size large enough for any masked national ID, phone or amount. */
#define CPS_MASK_SIZE 64

/* "440305199001011234" -> "440305***********4": the 6-digit region prefix,
 * one '*' per hidden character, the last character. Anything that does not
 * look like a 15- or 18-character ID becomes "***". */
const char *cps_mask_national_id(const char *id, char *out, size_t out_size);

/* Masks, in place, every national ID embedded in `text` (18 characters,
 * 17 digits and a check character that matches, not part of a longer run of
 * digits): "E:440305199001011234:DIBAO" -> "E:440305***********4:DIBAO".
 * For keys and identifiers built from a person's ID. Returns how many. */
size_t cps_mask_national_ids_in(char *text);

/* "张三丰" -> "张**": the first character, then one '*' per remaining
 * character (UTF-8 aware). Invalid UTF-8 becomes "***". */
const char *cps_mask_name(const char *name, char *out, size_t out_size);

/* "13812345678" -> "138******78": digits only; the first 3 and last 2 are
 * shown. Fewer than 7 digits becomes "***". */
const char *cps_mask_phone(const char *phone, char *out, size_t out_size);

/* Any amount (income, deposit, allowance) -> "***". */
const char *cps_mask_amount(const char *amount, char *out, size_t out_size);

/* A libpq conninfo, keyword/value ("host=h password=s") or URI
 * ("postgresql://u:s@h/db?password=s") form, with every password replaced
 * by "***". */
const char *cps_mask_conninfo(const char *conninfo, char *out, size_t out_size);

/* GB 11643 check: 18 characters, 17 digits then a check character 0-9 or
 * uppercase X (ISO 7064 MOD 11-2), a real birth date from 1900 to today, a
 * known province code (11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81,
 * 82) and a county part of the region prefix other than "000". Returns
 * CPS_OK or CPS_ERR_INVALID with a reason that never contains the ID. */
int cps_national_id_validate(const char *id, char *errstr, size_t errstr_size);

/* The check character ('0'-'9' or 'X') of the first 17 digits, or 0 when
 * they are not 17 digits. */
char cps_national_id_check_char(const char *first17);

/* Builds a valid ID for tests and demo data from a 6-digit region code, a
 * birth date and a 3-digit sequence (odd for men, even for women): writes
 * 18 characters and a NUL into out19. CPS_OK, or CPS_ERR_INVALID when an
 * input is out of range or the result would not validate. */
int cps_national_id_make(const char *region6, int year, int month, int day, int seq3,
                         char out19[19]);

#endif
