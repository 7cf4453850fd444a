/* serieskey.h - the canonical identity of a series (spec/ingest.md).
 *
 * A series is its name plus its tag SET: the same tags in any order are the same
 * series; empty tags are skipped; a tag repeated in one point counts once. The
 * text form for people is "name,tag1,tag2" with tags sorted bytewise. Because
 * names and tags may themselves hold ',' the text form is ambiguous, so the
 * server keys everything by this length-prefixed binary form instead:
 *
 *   u16le name_len | name | u16le tag_count | ( u16le tag_len | tag )*
 *
 * with tags sorted bytewise (memcmp, shorter first on a tie), unique, non-empty.
 * Two keys are the same series iff their bytes are equal. Built by ingest and
 * write_event; parsed by storage (index) and query (matching). */
#ifndef SL_SERIESKEY_H
#define SL_SERIESKEY_H

#include "base/buf.h"
#include "base/err.h"

#include <stddef.h>
#include <stdint.h>

/* Largest canonical key: a u16 name plus SERIESKEY_TAGS_MAX u16 tags would not fit
 * in memory comfortably, so the ingest limits (tags per point) bound it first. */
#define SERIESKEY_TAGS_MAX 65535u

typedef struct sk_view {
    const uint8_t *p; /* borrowed bytes */
    uint32_t n;
} sk_view;

/* Builds the canonical key from a name and tags (any order, may repeat, may be
 * empty). Appends to out. scratch must hold tag_count entries (caller-provided so
 * the hot path does not allocate). Returns 0, or SL_ELIMIT if a length exceeds u16. */
int serieskey_build(buf *out, sk_view name, const sk_view *tags, uint32_t tag_count,
                    sk_view *scratch);

/* Validating reader over a canonical key (keys from disk are input). */
typedef struct sk_iter {
    const uint8_t *p;   /* next tag's length field */
    const uint8_t *end; /* end of key */
    uint32_t left;      /* tags not yet returned */
} sk_iter;

/* Reads the name and prepares to iterate tags; SL_ECORRUPT if malformed. */
int serieskey_open(const uint8_t *key, size_t n, sk_view *name, uint32_t *tag_count, sk_iter *it);
/* 1 and *tag set, 0 at the end, SL_ECORRUPT if malformed. */
int serieskey_next_tag(sk_iter *it, sk_view *tag);

/* Appends the human form "name,tag1,tag2" to out. */
int serieskey_format(buf *out, const uint8_t *key, size_t n);

#endif
