/* parse.h — strict parsers for the values found in CSV fields.
 *
 * Owns the text-to-value rules of ingest: integers, decimal numbers,
 * timestamps and the UTF-8 check.  Every parser accepts the WHOLE string
 * (leading and trailing ASCII spaces and tabs are allowed, nothing else) and
 * returns 0 on success, -1 on failure, leaving *out unchanged on failure.
 * Pure code: no locale, no time zone, no allocation. */
#ifndef MKT_PARSE_H
#define MKT_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Decimal integer with optional sign; fails on overflow of int64. */
int mkt_parse_int64(const char *s, int64_t *out);

/* Decimal number: [sign] digits [. digits] [e [sign] digits] (".5" and "5."
 * allowed).  Finite results only: no "nan", "inf", hex floats, or values that
 * overflow a double.  Empty or blank fails. */
int mkt_parse_double(const char *s, double *out);

/* Seconds since 1970-01-01 00:00:00 UTC.  Accepted forms:
 *   1767261600                  integer unix seconds (optional sign)
 *   2026-01-01 10:00:00         also with 'T' instead of the space
 *   2026-01-01T10:00:00Z        a trailing "Z" or " UTC" means UTC (the only zone)
 *   2026-01-01 10:00:00.250     fractional seconds are accepted and dropped
 *   2026-01-01 10:00            no seconds
 *   2026-01-01                  midnight
 *   12/1/2010 8:26              M/D/YYYY H:MM (Online Retail), also H:MM:SS
 * Fields are range-checked (month 1-12, day within its month, leap years,
 * hour 0-23, minute and second 0-59).  Years have exactly four digits. */
int mkt_parse_timestamp(const char *s, int64_t *out);

/* Days from 1970-01-01 to the given proleptic Gregorian date (may be < 0). */
int64_t mkt_days_from_civil(int64_t year, int month, int day);

/* 1 if s[0..len) is valid UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF), else 0.  NUL bytes are valid UTF-8 here. */
int mkt_utf8_valid(const char *s, size_t len);

#endif
