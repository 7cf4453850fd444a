/* live.c - live queries: an index from (series name, tag) to registered queries, and
 * the per-query state that folds matching points into the next event.
 *
 * INDEX. Each query is filed in exactly one bucket of a hash table:
 *   (name, T)  when its expression requires tag T (qmatch__required_tag: e.g. the
 *              first positive tag of an AND chain), else
 *   (name)     the name's catch-all bucket (`[]`, OR, leading NOT...).
 * For a point with name N and tags t1..tk, live_feed() looks up (N), then (N, ti) for
 * each tag, and evaluates only the queries found there; a query sits in one bucket so
 * it is evaluated at most once per point. A name with no queries costs one lookup.
 * Consecutive points of the same series reuse the previous point's match list.
 *
 * FOLDING (spec/query.md "Live queries"; choices in docs/PROTOCOLS.md):
 *   no RANGE / two-time RANGE: points since the last poll fold into one storage_agg;
 *     the event's timestamp and tags are those of the point with the largest timestamp
 *     (ties: the later arrival). Two-time ranges drop points outside [t0, t1]; an upper
 *     bound written `now` is open-ended for a live query.
 *   span RANGE [S]: panes. The span is cut into np = ceil(S / w) panes of width
 *     w = ceil(S / LIVE_WINDOW_PANES) ns, aligned to multiples of w since the epoch.
 *     The window is the np panes ending with the pane of the newest point: timestamps
 *     in [(P - np + 1) * w, newest] where P = floor(newest / w): the last S before the
 *     newest point with its start rounded up to a pane boundary (so between S - w and
 *     S long when S is a multiple of LIVE_WINDOW_PANES ns, as 5min or 1h are). Each pane is a
 * storage_agg, so SUM/COUNT/AVG/MIN/MAX/STDDEV/FIRST/LAST are exact over the window in constant
 * memory (np <= 60 summaries). A late point whose pane is inside the window updates that pane; an
 * older one no longer falls in any window and is ignored (it still reaches storage). P<n> without a
 * span also keeps a bounded sample of the values since the last poll (LIVE_SAMPLE_MAX); P<n> over a
 * span is refused (panes cannot merge percentiles). Producers: at most LIVE_PRODUCERS_MAX ids per
 * event (window: ids whose latest point is in the window); further contributors still count in the
 * value but are not listed.
 *
 * Invariants: (1) a registered query is in exactly one bucket and one slot; (2)
 * pending is set iff a point changed the state since the last poll; (3) a query
 * marked dead is in no bucket and no slot and is freed by its last waiter.
 * Threads: every field is guarded by r->mu. live_feed (apply thread) holds it for one
 * batch; live_poll waits on the query's condition variable (CLOCK_MONOTONIC) for at
 * most timeout_ms, capped at LIVE_POLL_TIMEOUT_MS_MAX. */
#include "query/live.h"

#include "base/clock.h"
#include "base/common.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "query/query_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

/* Distinct producer ids listed in one event. Bounds per-query memory (16 bytes
 * each); contributors past it still count in the value but are not listed. */
#define LIVE_PRODUCERS_MAX 64u
/* Values kept per pending event of a live percentile query (P<n> without a span):
 * exact up to this many points between polls, then a uniform reservoir sample (agg.c).
 * 4 KiB per such query, allocated at its first point. */
#define LIVE_SAMPLE_MAX 512u
/* Panes per sliding window: the window's time resolution is span / this. Each pane
 * is one summary (80 bytes with its index), so a window costs 4.7 KiB whatever the rate. */
#define LIVE_WINDOW_PANES 60u
/* Default and ceiling for live_registry_new(queries_max). Registration past the
 * configured number is SL_ELIMIT; the ceiling keeps handles' slot part in 24 bits. */
#define LIVE_QUERIES_MAX_DEFAULT 100000u
#define LIVE_QUERIES_MAX_CEILING (1u << 24)
/* Longest single wait in live_poll; longer requests are cut to this. */
#define LIVE_POLL_TIMEOUT_MS_MAX 60000u
static_assert(LIVE_QUERIES_MAX_DEFAULT <= LIVE_QUERIES_MAX_CEILING, "default > ceiling");

typedef struct lbucket lbucket;

typedef struct lprod {
    uint64_t id;  /* producer (connection) id; 0 = write_event */
    int64_t pane; /* span windows: newest pane this producer fed */
} lprod;

typedef struct lpane {
    int64_t idx;     /* pane number (floor(ts / w)); meaningful while agg.count > 0 */
    storage_agg agg; /* the points of that pane */
} lpane;

typedef struct lq {
    uint64_t handle;     /* (generation << 32) | (slot + 1) */
    query *q;            /* owned */
    lbucket *bucket;     /* the one bucket holding this query */
    int64_t t0_ns;       /* accepted range start (fixed ranges); INT64_MIN otherwise */
    int64_t t1_ns;       /* accepted range end; INT64_MAX when open-ended (`now`) or none */
    bool pending;        /* an event is ready */
    storage_agg acc;     /* no span: points since the last poll */
    int64_t newest_ts;   /* largest timestamp folded (since last poll; window: ever) */
    bool has_newest;     /* newest_ts and newest_key are set */
    uint8_t *newest_key; /* canonical key of that point (for its tags) */
    uint32_t newest_len; /* bytes used */
    uint32_t newest_cap; /* bytes allocated */
    lprod *prods;        /* [prod_cap] grown on a new producer, up to LIVE_PRODUCERS_MAX */
    uint32_t prod_count; /* entries used */
    uint32_t prod_cap;   /* entries allocated */
    qagg_sample sample;  /* P<n> without span: values since the last poll (v NULL until the
                          * first point; at most LIVE_SAMPLE_MAX values) */
    lpane *panes;        /* [pane_count] span only, ring indexed by idx mod pane_count */
    uint32_t pane_count; /* np */
    int64_t pane_w;      /* pane width ns */
    int64_t head;        /* newest pane index, once has_head */
    bool has_head;       /* a point has reached the window */
    pthread_cond_t cv;   /* signalled when pending becomes true or the query dies */
    uint32_t waiters;    /* threads inside live_poll on this query */
    bool dead;           /* unregistered while waited on; last waiter frees */
} lq;

struct lbucket {
    lbucket *next;     /* hash chain */
    uint64_t hash;     /* of (kind, name, tag) */
    uint32_t name_len; /* bytes of name at key */
    uint32_t tag_len;  /* bytes of tag after it */
    uint8_t kind;      /* 0 = name catch-all, 1 = (name, tag) */
    uint32_t refs;     /* kind 0: queries filed under this name in any bucket */
    lq **qs;           /* queries in this bucket */
    uint32_t count;    /* entries used in qs */
    uint32_t cap;      /* entries allocated in qs */
    uint8_t key[];     /* name then tag */
};

struct live_registry {
    pthread_mutex_t mu;   /* guards everything below and every query's state */
    uint32_t queries_max; /* registration limit */
    uint32_t count;       /* registered queries */
    lq **slots;           /* [slot_cap] registered query by slot */
    uint32_t slot_cap;    /* entries allocated in slots, free_slots and matched */
    uint32_t *free_slots; /* stack of free slot numbers */
    uint32_t free_count;  /* entries used in free_slots */
    uint32_t slot_used;   /* slots handed out at least once */
    uint32_t generation;  /* handle generations, never 0 */
    lbucket **table;      /* hash table, table_cap power of two */
    uint32_t table_cap;   /* chains in table */
    uint32_t buckets;     /* buckets in table */
    lq **matched;         /* feed scratch: queries matching the current series */
    uint32_t matched_cap; /* entries allocated in matched (= slot_cap) */
};

/* ---- hash table ---- */

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t key_hash(uint8_t kind, const uint8_t *name, uint32_t name_len, const uint8_t *tag,
                         uint32_t tag_len) {
    uint64_t h = 0xcbf29ce484222325ull;
    uint8_t hdr[5] = {kind, (uint8_t)name_len, (uint8_t)(name_len >> 8), (uint8_t)(name_len >> 16),
                      (uint8_t)(name_len >> 24)};
    h = hash_bytes(h, hdr, sizeof(hdr));
    h = hash_bytes(h, name, name_len);
    return hash_bytes(h, tag, tag_len);
}

static lbucket *bucket_find(const live_registry *r, uint64_t h, uint8_t kind, const uint8_t *name,
                            uint32_t name_len, const uint8_t *tag, uint32_t tag_len) {
    if (r->table_cap == 0) return NULL;
    for (lbucket *b = r->table[h & (r->table_cap - 1)]; b; b = b->next) {
        if (b->hash == h && b->kind == kind && b->name_len == name_len && b->tag_len == tag_len &&
            memcmp(b->key, name, name_len) == 0 &&
            (tag_len == 0 || memcmp(b->key + name_len, tag, tag_len) == 0))
            return b;
    }
    return NULL;
}

static int table_grow(live_registry *r) {
    uint32_t cap = r->table_cap ? r->table_cap * 2 : 64;
    lbucket **t = mem_calloc(MEM_LIVE, cap, sizeof(*t));
    if (!t) return -ENOMEM;
    for (uint32_t i = 0; i < r->table_cap; i++) {
        lbucket *b = r->table[i];
        while (b) {
            lbucket *next = b->next;
            b->next = t[b->hash & (cap - 1)];
            t[b->hash & (cap - 1)] = b;
            b = next;
        }
    }
    mem_free(MEM_LIVE, r->table);
    r->table = t;
    r->table_cap = cap;
    return 0;
}

static lbucket *bucket_get(live_registry *r, uint8_t kind, const uint8_t *name, uint32_t name_len,
                           const uint8_t *tag, uint32_t tag_len) {
    uint64_t h = key_hash(kind, name, name_len, tag, tag_len);
    lbucket *b = bucket_find(r, h, kind, name, name_len, tag, tag_len);
    if (b) return b;
    if (r->buckets >= r->table_cap && table_grow(r) < 0) return NULL;
    b = mem_alloc(MEM_LIVE, sizeof(*b) + name_len + tag_len);
    if (!b) return NULL;
    memset(b, 0, sizeof(*b));
    b->hash = h;
    b->kind = kind;
    b->name_len = name_len;
    b->tag_len = tag_len;
    memcpy(b->key, name, name_len);
    if (tag_len) memcpy(b->key + name_len, tag, tag_len);
    b->next = r->table[h & (r->table_cap - 1)];
    r->table[h & (r->table_cap - 1)] = b;
    r->buckets++;
    return b;
}

static void bucket_drop_if_empty(live_registry *r, lbucket *b) {
    if (b->count > 0 || b->refs > 0) return;
    lbucket **pp = &r->table[b->hash & (r->table_cap - 1)];
    while (*pp != b)
        pp = &(*pp)->next;
    *pp = b->next;
    r->buckets--;
    mem_free(MEM_LIVE, b->qs);
    mem_free(MEM_LIVE, b);
}

static int bucket_push(lbucket *b, lq *l) {
    if (b->count == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 4;
        lq **qs = mem_realloc(MEM_LIVE, b->qs, (size_t)cap * sizeof(*qs));
        if (!qs) return -ENOMEM;
        b->qs = qs;
        b->cap = cap;
    }
    b->qs[b->count++] = l;
    return 0;
}

/* O(bucket size): removal is rare next to feeding. */
static void bucket_remove(lbucket *b, lq *l) {
    for (uint32_t i = 0; i < b->count; i++) {
        if (b->qs[i] == l) {
            b->qs[i] = b->qs[--b->count];
            return;
        }
    }
    SL_ASSERT(!"query missing from its bucket");
}

/* ---- registry ---- */

int live_registry_new(uint32_t queries_max, live_registry **out) {
    *out = NULL;
    if (queries_max == 0) queries_max = LIVE_QUERIES_MAX_DEFAULT;
    if (queries_max > LIVE_QUERIES_MAX_CEILING) return SL_EINVAL;
    live_registry *r = mem_calloc(MEM_LIVE, 1, sizeof(*r));
    if (!r) return -ENOMEM;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        mem_free(MEM_LIVE, r);
        return -ENOMEM;
    }
    r->queries_max = queries_max;
    r->generation = 1;
    *out = r;
    return 0;
}

static void lq_free(lq *l) {
    pthread_cond_destroy(&l->cv);
    query_free(l->q);
    mem_free(MEM_LIVE, l->panes);
    mem_free(MEM_LIVE, l->newest_key);
    mem_free(MEM_LIVE, l->prods);
    qagg__sample_free(&l->sample);
    mem_free(MEM_LIVE, l);
}

void live_registry_free(live_registry *r) {
    if (!r) return;
    for (uint32_t i = 0; i < r->slot_used; i++) {
        if (r->slots[i]) {
            SL_ASSERT(r->slots[i]->waiters == 0); /* stop pollers before freeing */
            lq_free(r->slots[i]);
        }
    }
    for (uint32_t i = 0; i < r->table_cap; i++) {
        lbucket *b = r->table[i];
        while (b) {
            lbucket *next = b->next;
            mem_free(MEM_LIVE, b->qs);
            mem_free(MEM_LIVE, b);
            b = next;
        }
    }
    mem_free(MEM_LIVE, r->table);
    mem_free(MEM_LIVE, r->slots);
    mem_free(MEM_LIVE, r->free_slots);
    mem_free(MEM_LIVE, r->matched);
    pthread_mutex_destroy(&r->mu);
    mem_free(MEM_LIVE, r);
}

uint32_t live_count(const live_registry *r) {
    live_registry *m = (live_registry *)r; /* the lock is not part of the value */
    pthread_mutex_lock(&m->mu);
    uint32_t n = r->count;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static int lq_new(const query *q, lq **out) {
    *out = NULL;
    lq *l = mem_calloc(MEM_LIVE, 1, sizeof(*l));
    if (!l) return -ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int prc = pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (prc != 0) {
        mem_free(MEM_LIVE, l);
        return -ENOMEM;
    }
    storage_agg_init(&l->acc);
    l->head = INT64_MIN;
    l->t0_ns = INT64_MIN;
    l->t1_ns = INT64_MAX;
    if (q->range == Q_RANGE_FIXED) {
        l->t0_ns = q->t0_ns;
        l->t1_ns = q->t1_is_now ? INT64_MAX : q->t1_ns;
    } else if (q->range == Q_RANGE_SPAN) {
        int64_t s = q->span_ns;
        l->pane_w = s / LIVE_WINDOW_PANES + (s % LIVE_WINDOW_PANES != 0);
        l->pane_count = (uint32_t)(s / l->pane_w + (s % l->pane_w != 0));
        SL_ASSERT(l->pane_count >= 1);
        SL_ASSERT(l->pane_count <= LIVE_WINDOW_PANES);
        l->panes = mem_calloc(MEM_LIVE, l->pane_count, sizeof(*l->panes));
        if (!l->panes) {
            pthread_cond_destroy(&l->cv);
            mem_free(MEM_LIVE, l);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < l->pane_count; i++)
            l->panes[i].idx = INT64_MIN;
    }
    *out = l;
    return 0;
}

static int slot_take(live_registry *r, uint32_t *slot) {
    if (r->free_count > 0) {
        *slot = r->free_slots[--r->free_count];
        return 0;
    }
    if (r->slot_used == r->slot_cap) {
        uint32_t cap = r->slot_cap ? r->slot_cap * 2 : 64;
        lq **s = mem_realloc(MEM_LIVE, r->slots, (size_t)cap * sizeof(*s));
        if (!s) return -ENOMEM;
        r->slots = s;
        uint32_t *f = mem_realloc(MEM_LIVE, r->free_slots, (size_t)cap * sizeof(*f));
        if (!f) return -ENOMEM;
        r->free_slots = f;
        lq **m = mem_realloc(MEM_LIVE, r->matched, (size_t)cap * sizeof(*m));
        if (!m) return -ENOMEM;
        r->matched = m;
        r->matched_cap = cap;
        r->slot_cap = cap;
    }
    *slot = r->slot_used++;
    r->slots[*slot] = NULL;
    return 0;
}

int live_register(live_registry *r, const char *text, size_t n, uint64_t *handle, sl_diag *d) {
    *handle = 0;
    query *q = NULL;
    int rc = query_parse(text, n, clock_realtime_ns(), &q, d);
    if (rc < 0) return rc;
    if (q->agg == Q_PCT && q->range == Q_RANGE_SPAN) {
        rc = sl_diag_set(d, SL_EPARSE, 1,
                         "percentiles over a sliding window are for historical queries only "
                         "at column 1");
        goto fail_query;
    }
    if (q->bucket_ns != 0) {
        rc = sl_diag_set(d, SL_EPARSE, 1,
                         "group-by-time is for historical queries only, not live ones at column 1");
        goto fail_query;
    }
    lq *l;
    if ((rc = lq_new(q, &l)) < 0) {
        sl_diag_set(d, rc, 0, "out of memory registering a live query");
        goto fail_query;
    }
    l->q = q;
    const uint8_t *name = (const uint8_t *)q->text + q->name_off;
    uint32_t tag_off;
    uint32_t tag_len;
    bool by_tag = qmatch__required_tag(q, &tag_off, &tag_len) == 1;

    pthread_mutex_lock(&r->mu);
    if (r->count >= r->queries_max) {
        pthread_mutex_unlock(&r->mu);
        rc = sl_diag_set(d, SL_ELIMIT, 0, "too many live queries (limit %u, --live-queries-max)",
                         r->queries_max);
        lq_free(l);
        return rc;
    }
    uint32_t slot = 0;
    lbucket *nb = bucket_get(r, 0, name, q->name_len, NULL, 0);
    lbucket *b = nb;
    if (nb && by_tag)
        b = bucket_get(r, 1, name, q->name_len, (const uint8_t *)q->text + tag_off, tag_len);
    if (!b || slot_take(r, &slot) < 0) goto fail_nomem;
    if (bucket_push(b, l) < 0) {
        r->free_slots[r->free_count++] = slot;
        goto fail_nomem;
    }
    nb->refs++;
    l->bucket = b;
    r->generation = r->generation == UINT32_MAX ? 1 : r->generation + 1;
    l->handle = (uint64_t)r->generation << 32 | (uint64_t)(slot + 1);
    r->slots[slot] = l;
    r->count++;
    *handle = l->handle;
    pthread_mutex_unlock(&r->mu);
    return 0;
fail_nomem:
    if (nb) {
        if (b && b != nb) bucket_drop_if_empty(r, b);
        bucket_drop_if_empty(r, nb);
    }
    pthread_mutex_unlock(&r->mu);
    lq_free(l);
    return sl_diag_set(d, -ENOMEM, 0, "out of memory registering a live query");
fail_query:
    query_free(q);
    return rc;
}

/* Caller holds r->mu. */
static lq *lookup(live_registry *r, uint64_t handle) {
    uint64_t slot1 = handle & 0xffffffffu;
    if (slot1 == 0 || slot1 > r->slot_used) return NULL;
    lq *l = r->slots[slot1 - 1];
    return l && l->handle == handle ? l : NULL;
}

int live_unregister(live_registry *r, uint64_t handle) {
    pthread_mutex_lock(&r->mu);
    lq *l = lookup(r, handle);
    if (!l) {
        pthread_mutex_unlock(&r->mu);
        return SL_ENOTFOUND;
    }
    uint32_t slot = (uint32_t)(handle & 0xffffffffu) - 1;
    r->slots[slot] = NULL;
    r->free_slots[r->free_count++] = slot;
    r->count--;
    lbucket *b = l->bucket;
    bucket_remove(b, l);
    const query *q = l->q;
    uint64_t h = key_hash(0, (const uint8_t *)q->text + q->name_off, q->name_len, NULL, 0);
    lbucket *nb =
        bucket_find(r, h, 0, (const uint8_t *)q->text + q->name_off, q->name_len, NULL, 0);
    SL_ASSERT(nb != NULL);
    SL_ASSERT(nb->refs > 0);
    nb->refs--;
    if (b != nb) bucket_drop_if_empty(r, b);
    bucket_drop_if_empty(r, nb);
    l->bucket = NULL;
    bool free_now = l->waiters == 0;
    if (!free_now) {
        l->dead = true;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&r->mu);
    if (free_now) lq_free(l);
    return 0;
}

static int check_fail(const char *what) {
    log_error("live", "registry check failed: %s", what);
    return SL_ECORRUPT;
}

int live_registry_check(live_registry *r) {
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    uint32_t in_slots = 0;
    uint64_t in_buckets = 0;
    uint64_t refs = 0;
    uint32_t buckets = 0;
    for (uint32_t i = 0; i < r->slot_used && rc == 0; i++) {
        lq *l = r->slots[i];
        if (!l) continue;
        in_slots++;
        if ((l->handle & 0xffffffffu) != (uint64_t)i + 1)
            rc = check_fail("handle/slot mismatch");
        else if (!l->bucket)
            rc = check_fail("registered query in no bucket");
        else if (l->dead)
            rc = check_fail("registered query marked dead");
    }
    for (uint32_t i = 0; i < r->table_cap && rc == 0; i++) {
        for (lbucket *b = r->table[i]; b && rc == 0; b = b->next) {
            buckets++;
            in_buckets += b->count;
            refs += b->refs;
            if ((b->hash & (r->table_cap - 1)) != i) rc = check_fail("bucket in the wrong chain");
            for (uint32_t j = 0; j < b->count && rc == 0; j++)
                if (b->qs[j]->bucket != b) rc = check_fail("query filed in two buckets");
            if (rc == 0 && b->kind == 1 && b->refs != 0) rc = check_fail("refs on a tag bucket");
            if (rc == 0 && b->count == 0 && b->refs == 0) rc = check_fail("empty bucket kept");
        }
    }
    if (rc == 0 && in_slots != r->count) rc = check_fail("slot count differs from count");
    if (rc == 0 && in_buckets != r->count) rc = check_fail("bucket entries differ from count");
    if (rc == 0 && refs != r->count) rc = check_fail("name references differ from count");
    if (rc == 0 && buckets != r->buckets) rc = check_fail("bucket count differs");
    if (rc == 0 && r->count + r->free_count != r->slot_used) rc = check_fail("slots leaked");
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ---- folding ---- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void note_producer(lq *l, uint64_t id, int64_t pane, int64_t oldest_live_pane) {
    for (uint32_t i = 0; i < l->prod_count; i++) {
        if (l->prods[i].id == id) {
            if (pane > l->prods[i].pane) l->prods[i].pane = pane;
            return;
        }
    }
    if (l->prod_count < LIVE_PRODUCERS_MAX) {
        if (l->prod_count == l->prod_cap) {
            /* Grows only when a new producer appears (a few times per query). */
            uint32_t cap = SL_MIN(l->prod_cap ? l->prod_cap * 2 : 4, LIVE_PRODUCERS_MAX);
            lprod *p = mem_realloc(MEM_LIVE, l->prods, (size_t)cap * sizeof(*p));
            if (!p) return; /* not listed; its points still count */
            l->prods = p;
            l->prod_cap = cap;
        }
        l->prods[l->prod_count++] = (lprod){id, pane};
        return;
    }
    /* Full: reuse an entry that has left the window (spans only). */
    for (uint32_t i = 0; i < l->prod_count; i++) {
        if (l->prods[i].pane < oldest_live_pane) {
            l->prods[i] = (lprod){id, pane};
            return;
        }
    }
}

static void note_newest(lq *l, int64_t ts, const uint8_t *key, uint32_t key_len) {
    if (l->has_newest && ts < l->newest_ts) return;
    if (key_len > l->newest_cap) {
        uint8_t *k = mem_realloc(MEM_LIVE, l->newest_key, key_len);
        if (!k) return; /* keeps the older tags; the value is still right */
        l->newest_key = k;
        l->newest_cap = key_len;
    }
    memcpy(l->newest_key, key, key_len);
    l->newest_len = key_len;
    l->newest_ts = ts;
    l->has_newest = true;
}

/* First pane index of the window (saturated near the start of time). */
static int64_t window_oldest(const lq *l) {
    int64_t np = (int64_t)l->pane_count;
    return l->head < INT64_MIN + np ? INT64_MIN : l->head - np + 1;
}

/* Returns true if the point changed the query's state. */
static bool fold(lq *l, int64_t ts, double v, const uint8_t *key, uint32_t key_len, uint64_t prod) {
    if (ts < l->t0_ns || ts > l->t1_ns) return false;
    if (!l->panes) {
        if (l->q->agg == Q_PCT) {
            /* First point: allocate once; on failure the point counts but is not sampled. */
            if (l->sample.v == NULL) (void)qagg__sample_init(&l->sample, LIVE_SAMPLE_MAX);
            if (l->sample.v != NULL) qagg__sample_add(&l->sample, v);
        }
        storage_agg_add(&l->acc, ts, v);
        note_newest(l, ts, key, key_len);
        note_producer(l, prod, 0, INT64_MIN);
        return true;
    }
    int64_t idx = floor_div(ts, l->pane_w);
    if (!l->has_head || idx > l->head) {
        l->head = idx;
        l->has_head = true;
    }
    int64_t oldest = window_oldest(l);
    if (idx < oldest) return false; /* before the window: belongs to no current window */
    /* The ring slot of a pane is idx mod pane_count (non-negative), stable as it slides. */
    int64_t np = (int64_t)l->pane_count;
    lpane *p = &l->panes[((idx % np) + np) % np];
    if (p->idx != idx || p->agg.count == 0) {
        p->idx = idx;
        storage_agg_init(&p->agg);
    }
    storage_agg_add(&p->agg, ts, v);
    note_newest(l, ts, key, key_len);
    note_producer(l, prod, idx, oldest);
    return true;
}

static bool name_eq(const lbucket *b, sk_view name) {
    return b->name_len == name.n && memcmp(b->key, name.p, name.n) == 0;
}

/* Fills r->matched with the queries matching one series key; returns how many. */
static uint32_t match_key(live_registry *r, const uint8_t *key, uint32_t key_len) {
    sk_view name;
    uint32_t tag_count;
    sk_iter it;
    if (serieskey_open(key, key_len, &name, &tag_count, &it) < 0) return 0;
    uint64_t h = key_hash(0, name.p, name.n, NULL, 0);
    lbucket *nb = bucket_find(r, h, 0, name.p, name.n, NULL, 0);
    if (!nb) return 0;
    SL_ASSERT(name_eq(nb, name));
    uint32_t m = 0;
    for (uint32_t i = 0; i < nb->count; i++)
        if (qmatch__key(nb->qs[i]->q, key, key_len)) r->matched[m++] = nb->qs[i];
    sk_view tag;
    while (serieskey_next_tag(&it, &tag) > 0) {
        uint64_t th = key_hash(1, name.p, name.n, tag.p, tag.n);
        lbucket *tb = bucket_find(r, th, 1, name.p, name.n, tag.p, tag.n);
        if (!tb) continue;
        for (uint32_t i = 0; i < tb->count; i++)
            if (qmatch__key(tb->qs[i]->q, key, key_len)) r->matched[m++] = tb->qs[i];
    }
    SL_ASSERT(m <= r->count);
    return m;
}

void live_feed(live_registry *r, const point_batch *b) {
    pthread_mutex_lock(&r->mu);
    if (r->count == 0) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    uint32_t m = 0;
    uint32_t prev_off = UINT32_MAX;
    uint32_t prev_len = 0;
    uint32_t prev_id = 0;
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t key_len;
        const uint8_t *key = point_batch_key(b, i, &key_len);
        uint32_t sid = b->series_id ? b->series_id[i] : 0;
        bool same =
            (b->key_off[i] == prev_off && key_len == prev_len) || (sid != 0 && sid == prev_id);
        if (!same) {
            m = match_key(r, key, key_len);
            prev_off = b->key_off[i];
            prev_len = key_len;
            prev_id = sid;
        }
        for (uint32_t j = 0; j < m; j++) {
            lq *l = r->matched[j];
            if (fold(l, b->ts_ns[i], b->value[i], key, key_len, b->producer_id) && !l->pending) {
                l->pending = true;
                if (l->waiters) pthread_cond_signal(&l->cv);
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---- events ---- */

static void event_json(lq *l, buf *out) {
    storage_agg a;
    int64_t oldest = INT64_MIN;
    if (l->panes) {
        storage_agg_init(&a);
        oldest = window_oldest(l);
        for (uint32_t i = 0; i < l->pane_count; i++)
            if (l->panes[i].agg.count > 0 && l->panes[i].idx >= oldest)
                storage_agg_merge(&a, &l->panes[i].agg);
    } else {
        a = l->acc;
    }
    buf_puts(out, "{\"timestamp\":");
    buf_json_i64(out, l->newest_ts);
    buf_puts(out, ",\"value\":");
    double value = qagg__value(l->q, &a);
    if (l->q->agg == Q_PCT) value = l->sample.v ? qagg__sample_pct(&l->sample, l->q->pct) : NAN;
    buf_json_f64(out, value);
    buf_puts(out, ",\"tags\":[");
    sk_view name;
    uint32_t tag_count;
    sk_iter it;
    if (l->has_newest &&
        serieskey_open(l->newest_key, l->newest_len, &name, &tag_count, &it) == 0) {
        sk_view tag;
        bool first = true;
        while (serieskey_next_tag(&it, &tag) > 0) {
            if (!first) buf_putc(out, ',');
            buf_json_str(out, tag.p, tag.n);
            first = false;
        }
    }
    buf_puts(out, "],\"producers\":[");
    bool first = true;
    for (uint32_t i = 0; i < l->prod_count; i++) {
        if (l->prods[i].pane < oldest) continue;
        if (!first) buf_putc(out, ',');
        buf_json_u64(out, l->prods[i].id);
        first = false;
    }
    buf_puts(out, "]}");
}

static void event_clear(lq *l) {
    l->pending = false;
    if (l->panes) return; /* the window persists; it only slides */
    storage_agg_init(&l->acc);
    l->has_newest = false;
    l->prod_count = 0;
    l->sample.len = 0;
    l->sample.seen = 0;
}

int live_poll(live_registry *r, uint64_t handle, uint32_t timeout_ms, buf *out) {
    if (timeout_ms > LIVE_POLL_TIMEOUT_MS_MAX) timeout_ms = LIVE_POLL_TIMEOUT_MS_MAX;
    pthread_mutex_lock(&r->mu);
    lq *l = lookup(r, handle);
    if (!l) {
        pthread_mutex_unlock(&r->mu);
        return SL_ENOTFOUND;
    }
    if (!l->pending && timeout_ms > 0) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        l->waiters++;
        while (!l->pending && !l->dead) {
            if (pthread_cond_timedwait(&l->cv, &r->mu, &dl) == ETIMEDOUT) break;
        }
        l->waiters--;
        if (l->dead) {
            bool last = l->waiters == 0;
            pthread_mutex_unlock(&r->mu);
            if (last) lq_free(l);
            return SL_ENOTFOUND;
        }
    }
    int rc = 0;
    if (l->pending) {
        event_json(l, out);
        event_clear(l);
        rc = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}
