/* slung.h - guest SDK for Slung workflows written in C (shared/spec/workflows.md).
 *
 * A workflow defines `int slung_main(void)`; the SDK exports the module's entry point
 * `call` (runs slung_main once; 0 = success, anything else is logged and `call`
 * returns 1), `allocate`, `deallocate` and (through the linker) `memory`. It imports
 * the host functions of module `env` and, from WASI, only `fd_write` (for
 * slung_printf). Build with clang and the wasi-libc package (see sdk/c/README.md):
 *
 *   clang-14 --target=wasm32-wasi -O2 -nostartfiles -Wl,--no-entry \
 *       -I sdk/c my_workflow.c sdk/c/src/api.c sdk/c/src/event.c sdk/c/src/fmt.c \
 *       sdk/c/src/print.c \
 *       -o my_workflow.wasm
 *
 * wasi-libc supplies malloc/free and <string.h>; its stdio and strtod are NOT used
 * (linking them imports fd_seek/fd_close, which the host refuses): use slung_printf,
 * slung_snprintf and slung_parse_double instead.
 *
 * Errors: every function returns 0 or a negative SLUNG_E* code; slung_strerror()
 * names it. Ownership: strings passed in are borrowed for the call only; what the SDK
 * hands out says who frees it.
 * Threads: a workflow instance is single-threaded; nothing here is thread-safe.
 * Files: src/api.c (host calls, exports), src/event.c (event JSON), src/fmt.c
 * (number conversion, snprintf subset), src/print.c (slung_printf via fd_write). */
#ifndef SLUNG_H
#define SLUNG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
    SLUNG_OK = 0,
    SLUNG_EREFUSED = -1,  /* the host answered with its failure value */
    SLUNG_ENOMEM = -2,    /* malloc failed */
    SLUNG_EBADEVENT = -3, /* the host sent an event that is not query.md's JSON */
    SLUNG_ETOOLARGE = -4, /* a buffer does not fit a 32-bit Region */
    SLUNG_EINVAL = -5,    /* a bad argument (NULL string, unknown method) */
};

/* One event of a live query (shared/spec/query.md, "Live queries"). Valid only during
 * the callback that receives it; copy what you keep. */
typedef struct slung_event {
    int64_t timestamp;         /* ns since the Unix epoch, of the newest point folded in */
    double value;              /* the query's aggregate; NaN when the host sent null */
    size_t tag_count;          /* entries in tags */
    const char *const *tags;   /* "key=value", NUL-terminated */
    size_t producer_count;     /* entries in producers */
    const uint64_t *producers; /* connection ids that contributed (0 = write_event) */
} slung_event;

/* u_writeback_http's methods; the values are the wire values of the spec. */
typedef enum slung_method {
    SLUNG_GET = 0,
    SLUNG_POST = 1,
    SLUNG_PUT = 2,
    SLUNG_DELETE = 3,
} slung_method;

/* A response body. Owned by the caller: release with slung_bytes_free(). */
typedef struct slung_bytes {
    uint8_t *data; /* malloc'd, NUL-terminated for convenience (not counted in len) */
    size_t len;    /* body bytes */
} slung_bytes;

/* The workflow's entry function, defined by the workflow. */
int slung_main(void);

/* Registers a live query ("AVG:temp:[sensor=1]"); *handle_out >= 1 on success. */
int slung_query_live(const char *filter, uint64_t *handle_out);
/* Evaluates a historical aggregate. The host answers 0.0 both for a failure and a real
 * zero (query.md); this cannot tell them apart either, so it always returns 0. */
int slung_query_history(const char *filter, double *value_out);

/* Called once per event; a non-zero return stops slung_poll_handle with that code. */
typedef int (*slung_event_fn)(const slung_event *ev, void *arg);
/* Delivers the events of handle to fn(ev, arg) for as long as the workflow runs: the
 * host answering "none yet" is asked again (it waits a bounded time itself, so this
 * does not spin). Returns only on an error: fn's non-zero code, SLUNG_EBADEVENT or
 * SLUNG_ENOMEM. */
int slung_poll_handle(uint64_t handle, slung_event_fn fn, void *arg);
/* Removes a live query and its pending event. */
int slung_free_handle(uint64_t handle);

/* Writes one point (producer 0) through the ingest path. tags: comma-separated
 * "key=value" text; "series=NAME" names the series (default temp). */
int slung_write_event(int64_t timestamp_ns, double value, const char *tags);
/* Sends text to the WebSocket connection `producer` (from slung_event.producers). */
int slung_writeback_ws(uint64_t producer, const char *data);
/* Sends an HTTP request. If response_out is not NULL it receives the body, or
 * {NULL, 0} for "no body or failed request" (the ABI does not tell them apart). */
int slung_writeback_http(const char *url, const char *body, slung_method method,
                         slung_bytes *response_out);
void slung_bytes_free(slung_bytes *b); /* NULL or an empty body is a no-op */

const char *slung_strerror(int rc);

/* printf subset, no stdio: %% %c %s %d %i %u %x with the l and ll modifiers, %zu, and
 * %g / %f for double, which print the SHORTEST decimal that reads back as the same
 * double, laid out like JavaScript's number-to-string (105.3, 1e+300, 5e-7) with NaN,
 * inf and -inf for the non-finite values. Widths and precisions are not
 * supported (they print as given). slung_snprintf returns the length the full output
 * needs (like snprintf) and always NUL-terminates when n > 0. */
int slung_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int slung_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
/* Formats into a buffer of at most SLUNG_PRINTF_BYTES_MAX bytes (longer output is cut)
 * and writes it to stdout (slung_printf) or stderr (slung_eprintf) with WASI
 * fd_write: the workflow's log. Returns the bytes written or SLUNG_EREFUSED. */
#define SLUNG_PRINTF_BYTES_MAX 4096
int slung_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int slung_eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Shortest round-trip decimal text of v into buf (n >= SLUNG_DOUBLE_CHARS_MAX is
 * always enough); returns the length. */
#define SLUNG_DOUBLE_CHARS_MAX 32
size_t slung_format_double(char *buf, size_t n, double v);
/* Parses a JSON-style number from s[0..len); 0 and *out on success, SLUNG_EINVAL if
 * the text is not entirely a number. Exact (correctly rounded) when the significant
 * digits fit 2^53 and the decimal exponent is within +-22, which covers what the host
 * sends for ordinary values; otherwise computed in 113-bit long double, within 1 ulp. */
int slung_parse_double(const char *s, size_t len, double *out);

#endif
