/* wflog.c - a workflow's log: its stdout/stderr lines (WASI fd_write) and the
 * host's lifecycle lines (started, stopped and why), served by
 * GET /workflows/NAME/logs.
 * Invariants: (1) text holds whole lines only, each ending in '\n'; (2) text.len
 *   <= bytes_max: appending drops the oldest whole lines first; a single line
 *   longer than bytes_max is cut to its tail; (3) a partial line is at most
 *   WF_LOG_LINE_BYTES_MAX bytes: a longer one is emitted in pieces.
 * Threads: any thread; every function takes l->mu. */
#include "workflow/workflow_internal.h"

#include "base/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int wflog__init(wf_log *l, uint32_t bytes_max) {
    SL_ASSERT(bytes_max > 0);
    memset(l, 0, sizeof(*l));
    buf_init(&l->text, MEM_WORKFLOW, 0);
    l->bytes_max = bytes_max;
    if (pthread_mutex_init(&l->mu, NULL) != 0) return -ENOMEM;
    return 0;
}

void wflog__destroy(wf_log *l) {
    buf_free(&l->text);
    pthread_mutex_destroy(&l->mu);
}

/* Drops whole lines from the front until extra more bytes fit. l->mu held. */
static void wflog_make_room(wf_log *l, size_t extra) {
    if (l->text.len + extra <= l->bytes_max) return;
    size_t need = l->text.len + extra - l->bytes_max;
    size_t cut = need;
    if (cut < l->text.len) {
        /* Advance to just past the next newline so only whole lines remain. */
        const uint8_t *nl = memchr(l->text.p + cut, '\n', l->text.len - cut);
        cut = nl ? (size_t)(nl - l->text.p) + 1 : l->text.len;
    } else {
        cut = l->text.len;
    }
    memmove(l->text.p, l->text.p + cut, l->text.len - cut);
    l->text.len -= cut;
}

/* Appends one line (without its '\n'), l->mu held. */
static void wflog_line(wf_log *l, const char *p, size_t n) {
    if (n + 1 > l->bytes_max) {
        p += n + 1 - l->bytes_max; /* keep the tail: invariant 2 */
        n = l->bytes_max - 1;
    }
    wflog_make_room(l, n + 1);
    buf_append(&l->text, p, n);
    buf_putc(&l->text, '\n');
    if (buf_failed(&l->text)) buf_reset(&l->text); /* out of memory: lose the log, not the server */
    SL_ASSERT(l->text.len <= l->bytes_max);
}

void wflog__write(wf_log *l, int stream, const uint8_t *p, size_t n) {
    SL_ASSERT(stream == 0 || stream == 1);
    pthread_mutex_lock(&l->mu);
    char *part = l->partial[stream];
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            wflog_line(l, part, l->partial_len[stream]);
            l->partial_len[stream] = 0;
            continue;
        }
        part[l->partial_len[stream]++] = (char)p[i];
        if (l->partial_len[stream] == WF_LOG_LINE_BYTES_MAX) { /* invariant 3 */
            wflog_line(l, part, l->partial_len[stream]);
            l->partial_len[stream] = 0;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void wflog__flush(wf_log *l) {
    pthread_mutex_lock(&l->mu);
    for (int s = 0; s < 2; s++) {
        if (l->partial_len[s] > 0) wflog_line(l, l->partial[s], l->partial_len[s]);
        l->partial_len[s] = 0;
    }
    pthread_mutex_unlock(&l->mu);
}

void wflog__host(wf_log *l, const char *fmt, ...) {
    char line[512];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int k = snprintf(
        line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ slung: ", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    SL_ASSERT(k > 0 && (size_t)k < sizeof(line));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + k, sizeof(line) - (size_t)k, fmt, ap);
    va_end(ap);
    size_t n = (size_t)k + (m < 0 ? 0 : SL_MIN((size_t)m, sizeof(line) - (size_t)k - 1));
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n') line[i] = ' '; /* one message, one line */
    pthread_mutex_lock(&l->mu);
    wflog_line(l, line, n);
    pthread_mutex_unlock(&l->mu);
}

void wflog__copy(wf_log *l, buf *out) {
    pthread_mutex_lock(&l->mu);
    buf_append(out, l->text.p, l->text.len);
    pthread_mutex_unlock(&l->mu);
}
