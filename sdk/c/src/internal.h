/* internal.h - what the C SDK's files share and workflows do not see.
 * The SDK's own symbols carry the slung__ prefix (STYLE.md rule 2). */
#ifndef SLUNG_INTERNAL_H
#define SLUNG_INTERNAL_H

#include "slung.h"

/* Deepest nesting of an unknown JSON field that an event may carry; deeper is
 * SLUNG_EBADEVENT. Bounds the parser's recursion (guest stack) whatever the host sends. */
#define SLUNG_JSON_DEPTH_MAX 64

/* A parsed event and the memory behind its pointers (one malloc'd block each). */
typedef struct slung__event_store {
    slung_event ev;      /* what the callback sees; points into the fields below */
    char *strings;       /* unescaped tag strings, NUL-terminated, back to back */
    const char **tags;   /* ev.tag_count pointers into strings */
    uint64_t *producers; /* ev.producer_count ids */
} slung__event_store;

/* Parses the event JSON p[0..n) (query.md). On success the caller owns *out and frees
 * it with slung__event_store_free(); on failure nothing is left to free. Returns 0,
 * SLUNG_EBADEVENT or SLUNG_ENOMEM. */
int slung__event_parse(const uint8_t *p, size_t n, slung__event_store *out);
void slung__event_store_free(slung__event_store *s);

#endif
