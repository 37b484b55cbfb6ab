/*
 * json_out.h: a small writer for JSON and CSV into a growable buffer, used
 * by the HTTP read API and the Grafana endpoints (query/api/).
 *
 * Output is valid JSON for every input: NaN and infinities become null,
 * doubles are printed with the fewest digits that read back bit-exactly,
 * strings are escaped (control characters as \u00XX) and invalid UTF-8 is
 * replaced by U+FFFD. Commas between members are placed automatically.
 *
 * Errors are sticky: after an allocation failure every call is a no-op and
 * hist_buf.failed is set; check it once at the end.
 */
#ifndef HIST_JSON_OUT_H
#define HIST_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist_buf.h"
#include "common/hist_tz.h"

#define HIST_JSON_MAX_DEPTH 32

/* Writes d with the fewest significant digits (up to 17) that parse back to
 * the same double; "null" for NaN and infinities. */
void json__buf_double(hist_buf *b, double d);
/* The same text by the printf search alone (what the fast path of
 * json__buf_double must equal; for tests). */
void json__buf_double_slow(hist_buf *b, double d);
void json__buf_i64(hist_buf *b, int64_t v);

/* The same texts into caller memory of at least HIST_FMT_MAX bytes (not
 * NUL-terminated); return the length. For writers of long number arrays
 * (with hist_buf_space() and hist_buf_commit()). */
#define HIST_FMT_MAX 40
size_t json__fmt_double(char *out, double d);
size_t json__fmt_i64(char *out, int64_t v);

/* Writes t (ns since the epoch) as RFC 3339 with as many fractional digits
 * as needed (0, 3, 6 or 9): "2026-01-02T03:04:05.123Z", or with the zone's
 * offset at t when tz is not NULL: "2026-06-01T06:00:00+02:00". */
void json__buf_rfc3339(hist_buf *b, const hist_tz *tz, int64_t t_ns);

/* A CSV field: quoted (with "" for ") when it holds , " CR or LF. */
void json__buf_csv_field(hist_buf *b, const char *s, char sep);

typedef struct {
    hist_buf buf;
    int depth;
    bool need_comma[HIST_JSON_MAX_DEPTH];
    bool after_key;
} hist_json;

void json__init(hist_json *j);
void json__free(hist_json *j);
void json__begin_object(hist_json *j);
void json__end_object(hist_json *j);
void json__begin_array(hist_json *j);
void json__end_array(hist_json *j);
void json__key(hist_json *j, const char *key);
void json__string(hist_json *j, const char *s);
void json__stringn(hist_json *j, const char *s, size_t n);
void json__int(hist_json *j, int64_t v);
void json__uint(hist_json *j, uint64_t v);
void json__double(hist_json *j, double v);
void json__bool(hist_json *j, bool v);
void json__null(hist_json *j);

/* Escapes s (n bytes) as a JSON string literal including the quotes. */
void json__buf_string(hist_buf *b, const char *s, size_t n);

#endif
