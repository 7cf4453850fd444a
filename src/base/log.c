/* log.c - stderr logger. One fprintf per line so lines from threads do not interleave. */
#include "base/log.h"
#include "base/clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int current_level = LOG_INFO;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void log_set_level(log_level level) { atomic_store(&current_level, (int)level); }
log_level log_get_level(void) { return (log_level)atomic_load(&current_level); }

int log_level_parse(const char *s) {
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, names[i]) == 0) return i;
    return -1;
}

void log_msg(log_level level, const char *subsystem, const char *fmt, ...) {
    if ((int)level < atomic_load_explicit(&current_level, memory_order_relaxed)) return;
    if (level >= LOG_OFF) return;
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    int64_t ns = clock_realtime_ns();
    time_t secs = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03dZ %s %s: %s\n", when, (int)((ns / 1000000) % 1000),
            level_names[level], subsystem, body);
}

bool log_ratelimit_allow(log_ratelimit *rl, uint32_t per_sec, uint32_t *suppressed_out) {
    int64_t now_s = clock_mono_ns() / 1000000000;
    if (now_s != rl->window_s) {
        rl->window_s = now_s;
        rl->used = 0;
    }
    if (rl->used >= per_sec) {
        rl->suppressed++;
        return false;
    }
    rl->used++;
    *suppressed_out = rl->suppressed;
    rl->suppressed = 0;
    return true;
}
