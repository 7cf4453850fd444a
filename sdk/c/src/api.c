/* api.c - the C SDK's host calls and the module's exports (shared/spec/workflows.md).
 *
 * Region protocol: a Region is 12 bytes {u32 offset, u32 capacity, u32 length}.
 * Guest to host: a Region on our stack describes the caller's bytes for the duration
 * of one host call (the host copies what it keeps). Host to guest: the host calls our
 * `allocate` for the data and for the Region and returns the Region's address; we own
 * both and free them (take_region).
 *
 * Exports: `call` (runs the linker's constructors once, then slung_main), `allocate`
 * and `deallocate` (malloc/free of wasi-libc; `deallocate` needs no size), `memory`
 * (the linker exports it).
 * Invariants: (1) a Region we pass never outlives the call it is passed to; (2) every
 * non-zero Region address the host returns is freed exactly once here.
 * Threads: one (a workflow instance is single-threaded). */
#include "internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct region {
    uint32_t offset;   /* guest address of the first byte */
    uint32_t capacity; /* bytes available at offset */
    uint32_t length;   /* bytes in use */
} region;

_Static_assert(sizeof(region) == 12, "Region is 12 bytes (workflows.md)");

#define HOST_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

/* The host functions, with exactly the wasm types of the spec's table. */
HOST_IMPORT(u_query_live) int64_t u_query_live(const region *filter);
HOST_IMPORT(u_query_history) double u_query_history(const region *filter);
HOST_IMPORT(u_poll_handle) region *u_poll_handle(int64_t handle);
HOST_IMPORT(u_free_handle) int32_t u_free_handle(int64_t handle);
HOST_IMPORT(u_write_event)
int32_t u_write_event(const region *ts, const region *value, const region *tags);
HOST_IMPORT(u_writeback_ws) int32_t u_writeback_ws(int64_t producer, const region *data);
HOST_IMPORT(u_writeback_http)
region *u_writeback_http(const region *url, const region *body, int32_t method);

/* Made by wasm-ld: runs the C constructors (wasi-libc's and the workflow's). */
void __wasm_call_ctors(void);

__attribute__((export_name("allocate"))) void *slung__allocate(int32_t n);
__attribute__((export_name("deallocate"))) void slung__deallocate(void *p);
__attribute__((export_name("call"))) int32_t slung__call(void);

void *slung__allocate(int32_t n) {
    uint32_t bytes = (uint32_t)n; /* the host's i32 is a size: read it unsigned */
    return malloc(bytes ? bytes : 1);
}

void slung__deallocate(void *p) {
    free(p);
}

int32_t slung__call(void) {
    static bool constructed;
    if (!constructed) {
        constructed = true;
        __wasm_call_ctors();
    }
    int rc = slung_main();
    if (rc != 0) {
        slung_eprintf("workflow failed: %s (%d)\n", slung_strerror(rc), rc);
        return 1;
    }
    return 0;
}

/* A Region describing the NUL-terminated text s. */
static int region_of(const char *s, region *out) {
    if (!s) return SLUNG_EINVAL;
    size_t n = strlen(s);
    if (n > UINT32_MAX) return SLUNG_ETOOLARGE;
    out->offset = (uint32_t)(uintptr_t)s;
    out->capacity = (uint32_t)n;
    out->length = (uint32_t)n;
    return 0;
}

/* Takes the Region r the host returned: *data and *len become its bytes (malloc'd, one
 * extra NUL byte after them, owned by the caller); the Region itself is freed. */
static int take_region(region *r, uint8_t **data, size_t *len) {
    uint8_t *p = (uint8_t *)(uintptr_t)r->offset;
    size_t n = r->length <= r->capacity ? r->length : r->capacity;
    free(r);
    uint8_t *q = realloc(p, n + 1); /* p came from our allocate (workflows.md) */
    if (!q) {
        free(p);
        return SLUNG_ENOMEM;
    }
    q[n] = '\0';
    *data = q;
    *len = n;
    return 0;
}

int slung_query_live(const char *filter, uint64_t *handle_out) {
    region r;
    int rc = region_of(filter, &r);
    if (rc < 0) return rc;
    int64_t h = u_query_live(&r);
    if (h <= 0) return SLUNG_EREFUSED;
    *handle_out = (uint64_t)h;
    return 0;
}

int slung_query_history(const char *filter, double *value_out) {
    region r;
    int rc = region_of(filter, &r);
    if (rc < 0) return rc;
    *value_out = u_query_history(&r);
    return 0;
}

int slung_poll_handle(uint64_t handle, slung_event_fn fn, void *arg) {
    for (;;) {
        region *r = u_poll_handle((int64_t)handle);
        if (!r) continue; /* no event yet; the host waited a bounded time already */
        uint8_t *json;
        size_t n;
        int rc = take_region(r, &json, &n);
        if (rc < 0) return rc;
        slung__event_store ev;
        rc = slung__event_parse(json, n, &ev);
        free(json);
        if (rc < 0) return rc;
        rc = fn(&ev.ev, arg);
        slung__event_store_free(&ev);
        if (rc != 0) return rc;
    }
}

int slung_free_handle(uint64_t handle) {
    return u_free_handle((int64_t)handle) == 0 ? 0 : SLUNG_EREFUSED;
}

int slung_write_event(int64_t timestamp_ns, double value, const char *tags) {
    char ts[24];
    char val[SLUNG_DOUBLE_CHARS_MAX];
    region rt;
    region rv;
    region rg;
    slung_snprintf(ts, sizeof(ts), "%lld", (long long)timestamp_ns);
    slung_format_double(val, sizeof(val), value);
    int rc = region_of(ts, &rt);
    if (rc == 0) rc = region_of(val, &rv);
    if (rc == 0) rc = region_of(tags, &rg);
    if (rc < 0) return rc;
    return u_write_event(&rt, &rv, &rg) == 0 ? 0 : SLUNG_EREFUSED;
}

int slung_writeback_ws(uint64_t producer, const char *data) {
    region r;
    int rc = region_of(data, &r);
    if (rc < 0) return rc;
    return u_writeback_ws((int64_t)producer, &r) == 0 ? 0 : SLUNG_EREFUSED;
}

int slung_writeback_http(const char *url, const char *body, slung_method method,
                         slung_bytes *response_out) {
    region ru;
    region rb;
    if ((unsigned)method > SLUNG_DELETE) return SLUNG_EINVAL;
    int rc = region_of(url, &ru);
    if (rc == 0) rc = region_of(body ? body : "", &rb);
    if (rc < 0) return rc;
    if (response_out) {
        response_out->data = NULL;
        response_out->len = 0;
    }
    region *r = u_writeback_http(&ru, &rb, (int32_t)method);
    if (!r) return 0;
    uint8_t *data;
    size_t len;
    rc = take_region(r, &data, &len);
    if (rc < 0) return rc;
    if (response_out) {
        response_out->data = data;
        response_out->len = len;
    } else {
        free(data);
    }
    return 0;
}

void slung_bytes_free(slung_bytes *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

const char *slung_strerror(int rc) {
    switch (rc) {
    case SLUNG_OK:
        return "ok";
    case SLUNG_EREFUSED:
        return "the host refused the call";
    case SLUNG_ENOMEM:
        return "out of guest memory";
    case SLUNG_EBADEVENT:
        return "the host sent a malformed event";
    case SLUNG_ETOOLARGE:
        return "buffer too large for a Region";
    case SLUNG_EINVAL:
        return "invalid argument";
    default:
        return "workflow-defined error";
    }
}
