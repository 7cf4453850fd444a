/* log.h - leveled logging to stderr, one line per message, any thread.
 * Lines: "2026-11-24T10:00:00.123Z WARN ingest: frame rejected ...".
 * log_ratelimit() lets a hot path (rejected frames) log at most N lines per
 * second per call site and say how many it suppressed. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
/* "debug"|"info"|"warn"|"error"|"off" -> level; -1 if unknown. */
int log_level_parse(const char *s);

void log_msg(log_level level, const char *subsystem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(sub, ...) log_msg(LOG_DEBUG, sub, __VA_ARGS__)
#define log_info(sub, ...) log_msg(LOG_INFO, sub, __VA_ARGS__)
#define log_warn(sub, ...) log_msg(LOG_WARN, sub, __VA_ARGS__)
#define log_error(sub, ...) log_msg(LOG_ERROR, sub, __VA_ARGS__)

/* A per-call-site budget: at most per_sec lines in each wall-clock second. */
typedef struct log_ratelimit {
    int64_t window_s;     /* the second this budget counts */
    uint32_t used;        /* lines logged in window_s */
    uint32_t suppressed;  /* lines dropped since the last logged one */
} log_ratelimit;

/* True if the caller may log now; *suppressed_out gets the count dropped since the
 * last allowed line (log it with the message). Not thread-safe per instance: keep
 * one per thread or guard it. */
bool log_ratelimit_allow(log_ratelimit *rl, uint32_t per_sec, uint32_t *suppressed_out);

#endif
