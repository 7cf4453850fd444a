/* query_internal.h - the parsed form of a query, shared by the files of src/query.
 *
 * A query is one allocation: the struct, its nodes, then a copy of the query text,
 * so the series name and tags are views into q->text. The tag expression is a small
 * tree stored in q->nodes[] (children by index), built left to right without
 * precedence (spec/query.md), parentheses grouping. root < 0 means `[]`: every
 * series of that name matches.
 * Invariants: (1) node_count <= QUERY_NODES_MAX; (2) every child index is smaller
 * than its parent's index (children are built first), so evaluation recursion depth
 * is bounded by node_count; (3) range is normalised: t0_ns <= t1_ns.
 * Threads: immutable after query_parse(); any thread. See parse.c (grammar),
 * match.c (tag sets), agg.c (values), exec.c (historical), live.c (live). */
#ifndef SL_QUERY_INTERNAL_H
#define SL_QUERY_INTERNAL_H

#include "query/query.h"
#include "storage/storage.h"

#include <stdbool.h>
#include <stdint.h>

/* Tag operands in one expression: the original server's limit, kept (spec/query.md).
 * More is a parse error naming the column of the 33rd tag. */
#define QUERY_TAGS_MAX 32u
/* Words and parentheses in one tag expression (operators included). Bounds the tree
 * and the parser's work; more is a parse error. 32 tags need at most 31 binary
 * operators, leaving room for NOTs and parentheses. */
#define QUERY_TOKENS_MAX 128u
/* Nested parentheses. Bounds the parser's recursion (and so its stack). */
#define QUERY_DEPTH_MAX 16u
/* Tree nodes: one per tag or operator token at most. */
#define QUERY_NODES_MAX QUERY_TOKENS_MAX

typedef enum q_agg {
    Q_AVG = 0,
    Q_MIN,
    Q_MAX,
    Q_SUM,
    Q_COUNT,
    Q_LAST,
    Q_FIRST,
    Q_STDDEV, /* population standard deviation */
    Q_PCT,    /* approximate percentile q->pct (agg.c) */
} q_agg;

typedef enum q_node_kind {
    QN_TAG = 0, /* the point's tag set holds tag bytes exactly */
    QN_NOT,     /* unary: !left */
    QN_AND,     /* left && right */
    QN_OR,      /* left || right */
    QN_ANDNOT,  /* binary NOT: left && !right */
} q_node_kind;

typedef struct q_node {
    q_node_kind kind; /* what this node tests */
    int16_t left;     /* child index (QN_NOT and binary), -1 otherwise */
    int16_t right;    /* child index (binary), -1 otherwise */
    uint32_t tag_off; /* QN_TAG: offset of the tag in q->text */
    uint32_t tag_len; /* QN_TAG: its length */
} q_node;

typedef enum q_range_kind {
    Q_RANGE_ALL = 0, /* no RANGE: all time */
    Q_RANGE_SPAN,    /* [5min]: historical = [now - span, now]; live = sliding window */
    Q_RANGE_FIXED,   /* [a,b]: inclusive, normalised */
} q_range_kind;

struct query {
    q_agg agg;           /* the aggregate */
    double pct;          /* Q_PCT: the percentile, 0 < pct < 100 */
    uint32_t name_off;   /* series name: offset in text */
    uint32_t name_len;   /* and length (>= 1) */
    int32_t root;        /* root node index; -1 = `[]` matches every series of the name */
    uint32_t node_count; /* nodes in use */
    uint32_t tag_count;  /* QN_TAG nodes */
    q_range_kind range;  /* which RANGE form was given */
    int64_t t0_ns;       /* inclusive start (resolved against now_ns); INT64_MIN for ALL */
    int64_t t1_ns;       /* inclusive end; INT64_MAX for ALL */
    bool t1_is_now;      /* the end bound was the word `now` (live: open-ended) */
    int64_t span_ns;     /* Q_RANGE_SPAN: the span */
    int64_t bucket_ns;   /* group-by-time bucket; 0 = none */
    uint32_t text_len;   /* bytes in text */
    const char *text;    /* copy of the query text, NUL-terminated, after nodes[] */
    q_node nodes[];      /* [node_count]; the text follows them in the same allocation */
};

/* ---- match.c ---- */

/* True if the tag set of a canonical series key satisfies q's expression. Tags of a
 * key are sorted and unique (base/serieskey.h). The key's name is not compared.
 * A malformed key never matches. */
bool qmatch__key(const query *q, const uint8_t *key, size_t n);
/* A tag every matching series must carry, for indexing live queries: 1 and
 * *off and *len set, or 0 when the expression requires none (e.g. OR, NOT, `[]`). */
int qmatch__required_tag(const query *q, uint32_t *off, uint32_t *len);

/* ---- agg.c ---- */

/* Summaries are storage's storage_agg, started and merged with storage_agg_init
 * and storage_agg_merge (storage.h): first and last are the values at the smallest
 * and largest timestamps (a tie keeps the later arrival for last and the earlier for
 * first). Points are added with storage_agg_add. */

/* The value of agg over a summary; NaN when a has no points. */
double qagg__value(const query *q, const storage_agg *a);

/* A bounded uniform sample for approximate percentiles: exact while count <= cap
 * (QAGG_SAMPLE_MAX), then a reservoir sample (Vitter's algorithm R) with a fixed
 * seed so answers are reproducible. */
#define QAGG_SAMPLE_MAX 8192u
typedef struct qagg_sample {
    double *v;     /* [cap] */
    uint32_t cap;  /* values allocated */
    uint32_t len;  /* values held */
    uint64_t seen; /* values offered */
    uint64_t rng;  /* xorshift state */
} qagg_sample;
int qagg__sample_init(qagg_sample *s, uint32_t cap); /* 0 or -ENOMEM */
void qagg__sample_free(qagg_sample *s);
void qagg__sample_add(qagg_sample *s, double v);
/* Percentile pct (0..100) by nearest rank over the sample (sorts it); NaN if empty. */
double qagg__sample_pct(qagg_sample *s, double pct);

/* Writes the JSON name of a parsed query's aggregate (for messages). */
const char *qagg__name(const query *q);

#endif
