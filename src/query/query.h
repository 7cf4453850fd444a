/* query.h - the query language (spec/query.md) and historical execution.
 *
 *   AVG:cpu:[host=prod AND NOT region=eu]:[1h]:1m
 *
 * query_parse() turns text into a plan: aggregate, series name, tag expression,
 * time range (resolved against now_ns), optional group-by-time bucket. Errors say
 * what and where: d->offset is the 1-based column, d->msg e.g.
 * "expected ']' at column 17". query_history() resolves the matching series from
 * the storage's tag postings (never a scan of all series) and aggregates them,
 * using block summaries where whole blocks are covered; a (series, timestamp)
 * counts once. Any thread. */
#ifndef SL_QUERY_H
#define SL_QUERY_H

#include "base/buf.h"
#include "base/err.h"

#include <stdbool.h>
#include <stdint.h>

struct storage;

typedef struct query query; /* parsed; immutable; free with query_free */

/* Longest query text accepted (bytes); longer is SL_EPARSE. Bounds the copy each live
 * query keeps and the GET /query parameter buffer. Ceiling: column numbers fit u32. */
#define QUERY_TEXT_BYTES_MAX 4096u

int query_parse(const char *text, size_t n, int64_t now_ns, query **out, sl_diag *d);
void query_free(query *q);

typedef struct query_limits {
    uint32_t series_max;  /* matching series past this -> SL_ELIMIT with a clear message */
    uint32_t buckets_max; /* group-by-time buckets past this -> SL_ELIMIT; default 100,000 */
} query_limits;

typedef struct query_result {
    double value;            /* the aggregate; NaN when there is no value */
    uint64_t count;          /* points aggregated (each (series, ts) once) */
    uint32_t bucket_count;   /* group-by-time buckets, 0 without group-by */
    int64_t *bucket_start_ns;/* [bucket_count] */
    double *bucket_value;    /* [bucket_count], NaN when the bucket is empty */
    uint64_t *bucket_points; /* [bucket_count] */
} query_result;

/* Parses and runs text against st. The ABI's u_query_history maps any error and an
 * empty AVG to 0.0; the HTTP API shows them distinctly. */
int query_history(struct storage *st, const char *text, size_t n, const query_limits *lim,
                  query_result *out, sl_diag *d);
void query_result_free(query_result *r);
/* {"value":V,"count":N} or with "buckets":[{"start":T,"value":V,"count":N}...];
 * NaN -> null. */
void query_result_json(const query_result *r, buf *out);

#endif
