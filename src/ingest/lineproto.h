/* lineproto.h - InfluxDB line protocol v1 (POST /write) into point batches.
 *
 * One line: `measurement[,tag_key=tag_value...] field_key=field_value[,...] [timestamp]`.
 * Field `value` becomes a point of series `measurement`; any other field `f` a
 * point of series `measurement.f`; tags become `tag_key=tag_value` tags of the
 * canonical series key (base/serieskey.h). The grammar, escapes and every choice
 * (string fields are skipped, booleans are 1/0, ...) are atop lineproto.c and in
 * docs/PROTOCOLS.md.
 *
 * A request body is all or nothing: lineproto_parse() first checks every line and
 * emits no point unless the whole body parses; then it fills batches of at most
 * BATCH_POINTS_MAX points and LINEPROTO_BATCH_KEY_BYTES_MAX key bytes and hands
 * each to emit.
 * Ownership: the parser is caller-allocated and owns scratch sized by its limits.
 * Threads: a parser is used by one thread at a time; nothing global. */
#ifndef SL_LINEPROTO_H
#define SL_LINEPROTO_H

#include "base/batch.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/err.h"
#include "base/serieskey.h"

#include <stddef.h>
#include <stdint.h>

/* Longest line (bytes, without its newline). A longer line is an error naming
 * it. Bounds the work and scratch of one line; ceiling keeps columns in u32. */
#define LINEPROTO_LINE_BYTES_MAX_DEFAULT (64u << 10)
#define LINEPROTO_LINE_BYTES_MAX_CEILING (16u << 20)
static_assert(LINEPROTO_LINE_BYTES_MAX_DEFAULT <= LINEPROTO_LINE_BYTES_MAX_CEILING,
              "default > ceiling");

/* Lines per request (blank and comment lines count too). More is an error before
 * anything is written. Bounds the time one request holds the apply queue; the
 * HTTP body limit (--http-body-bytes-max) bounds the bytes. */
#define LINEPROTO_LINES_MAX_DEFAULT (1u << 20)
#define LINEPROTO_LINES_MAX_CEILING (64u << 20)
static_assert(LINEPROTO_LINES_MAX_DEFAULT <= LINEPROTO_LINES_MAX_CEILING, "default > ceiling");

/* Tags per line (after the measurement). More is an error. Same figure as the
 * frame limit (--tags-per-point-max); ceiling: a series key holds u16 tags. */
#define LINEPROTO_TAGS_MAX_DEFAULT 64u
#define LINEPROTO_TAGS_MAX_CEILING 65535u
static_assert(LINEPROTO_TAGS_MAX_DEFAULT <= LINEPROTO_TAGS_MAX_CEILING, "default > ceiling");

/* Fields per line. More is an error. Each numeric field is one point. */
#define LINEPROTO_FIELDS_MAX 1024u

/* Key bytes in one emitted batch. A line's tags are repeated in the key of each of
 * its fields, so 64 KiB lines of 1,024 fields could otherwise make gigabytes of keys
 * from a 16 MiB body; a batch is emitted before its keys pass this (a single key
 * is at most ~128 KiB, so every batch holds at least one point). */
#define LINEPROTO_BATCH_KEY_BYTES_MAX (16u << 20)

typedef enum lineproto_precision {
    LINEPROTO_NS = 0, /* timestamps are nanoseconds (the default) */
    LINEPROTO_US,
    LINEPROTO_MS,
    LINEPROTO_S,
} lineproto_precision;

/* "ns" | "us" | "u" | "ms" | "s" -> precision (InfluxDB v1 also accepts "n"); SL_EINVAL else. */
int lineproto_precision_parse(const char *s, size_t n, lineproto_precision *out);

typedef struct lineproto_limits {
    uint32_t line_bytes_max; /* 1..LINEPROTO_LINE_BYTES_MAX_CEILING */
    uint32_t lines_max;      /* 1..LINEPROTO_LINES_MAX_CEILING */
    uint32_t tags_max;       /* 0..LINEPROTO_TAGS_MAX_CEILING */
} lineproto_limits;

void lineproto_limits_default(lineproto_limits *l);

/* Parser state. Fields are private to lineproto.c. */
typedef struct lineproto_parser {
    lineproto_limits limits;  /* validated copy */
    sk_view *tags;            /* [tags_max + 1] this line's tags (views into text) */
    sk_view *scratch;         /* [tags_max + 1] for serieskey_build */
    struct lp_fields *fields; /* [LINEPROTO_FIELDS_MAX] this line's fields */
    buf text;                 /* unescaped measurement, tags and field keys of one line */
    buf name;                 /* series name `measurement.field` being built */
    buf key;                  /* canonical key being built */
} lineproto_parser;

/* Validates limits (SL_EINVAL) and allocates scratch (-ENOMEM); on failure
 * nothing is left to free. */
int lineproto_parser_init(lineproto_parser *lp, const lineproto_limits *limits);
void lineproto_parser_free(lineproto_parser *lp); /* zeroed parser is a no-op */

/* Receives a full batch (and the last, partial one). Takes ownership of *b's
 * contents exactly as ingest_write_wait() does (b is left empty and reusable), or
 * leaves them; the parser resets b either way. A negative return stops parsing
 * and is returned by lineproto_parse (batches already emitted stay emitted). */
typedef int (*lineproto_emit_fn)(point_batch *b, void *arg);

/* Parses body[0..n) with timestamps in precision; lines without a timestamp get
 * now_ns (the request's server time, the same for every line). b is the empty
 * batch to fill; its producer_id is set on every batch emitted. Returns the
 * number of points emitted (>= 0; a body of only blank, comment or string-field
 * lines emits none), or:
 *   SL_EPARSE  a line does not parse; d->msg "line 3: expected '=' after field key
 *              at column 17", d->offset = that byte's offset in body;
 *   SL_ELIMIT  over a limit (line length, line count, tags, fields), same form;
 *   -ENOMEM    ("line N: out of memory");
 *   or what emit returned, with d->msg "storing points failed after K of them:
 *   <reason>" (no line number: not the body's fault; K points were emitted).
 * A d->msg starting "line " means the body is at fault and nothing was emitted.
 * Borrows body for the call. */
long lineproto_parse(lineproto_parser *lp, const uint8_t *body, size_t n,
                     lineproto_precision precision, int64_t now_ns, point_batch *b,
                     lineproto_emit_fn emit, void *arg, sl_diag *d);

#endif
