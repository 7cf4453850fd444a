/* mem.h - tagged allocation (STYLE rule 11).
 *
 * Every heap allocation of the server goes through mem_* with a tag naming its
 * owner, so /metrics can show bytes in use per subsystem and tests can fail the
 * n-th allocation (fault.h). Each block carries a 16-byte header holding its
 * size and tag; mem_free needs no size. Counters are atomic: any thread.
 * mem_alloc returns NULL on failure (real or injected); callers must handle it. */
#ifndef SL_MEM_H
#define SL_MEM_H

#include <stddef.h>
#include <stdint.h>

typedef enum mem_tag {
    MEM_MISC = 0,
    MEM_NET,      /* connections, HTTP parsing, send queues */
    MEM_INGEST,   /* point batches, apply queue */
    MEM_STORAGE,  /* WAL buffers, memtables, segment readers */
    MEM_INDEX,    /* series index and postings */
    MEM_QUERY,    /* parsed queries, historical execution */
    MEM_LIVE,     /* live queries and their windows */
    MEM_WASM,     /* modules, instances, linear memories */
    MEM_WORKFLOW, /* workflow runtimes, logs, host buffers */
    MEM_TAG_COUNT
} mem_tag;

void *mem_alloc(mem_tag tag, size_t n);
void *mem_calloc(mem_tag tag, size_t count, size_t size); /* overflow-checked */
void *mem_realloc(mem_tag tag, void *p, size_t n);        /* p may be NULL */
void mem_free(mem_tag tag, void *p);                      /* NULL is a no-op */
char *mem_strndup(mem_tag tag, const char *s, size_t n);  /* NUL-terminated copy */

/* Bytes currently allocated under tag, and in total. Any thread. */
size_t mem_in_use(mem_tag tag);
size_t mem_in_use_total(void);
const char *mem_tag_name(mem_tag tag);

#endif
