/* config.c - the settings table of config.h: defaults, SLUNG_* environment
 * variables, --flags, validation, and the --help listing.
 * Invariants: (1) one row per server_config field; the row gives flag, variable,
 *   type, bounds, default text and one line of meaning, so --help, docs and parsing
 *   cannot drift apart; (2) config_load applies the environment first, then flags
 *   (the flag wins); (3) every numeric value is range-checked against its row.
 * Threads: called once at start-up, before other threads exist. */
#include "server/config.h"

#include "base/common.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STR, T_U16, T_U32, T_U64, T_I64, T_BOOL } field_type;

typedef struct setting {
    const char *flag; /* without the leading "--" */
    field_type type;
    size_t offset; /* in server_config */
    size_t size;   /* T_STR: the array size */
    uint64_t min;  /* numeric bounds (T_I64 uses them as non-negative bounds) */
    uint64_t max;
    const char *choices; /* T_STR: "a|b|c" allowed values, NULL = any */
    const char *def;     /* the default as text (applied by config_defaults) */
    const char *help;    /* one line */
} setting;

#define OFF(f) offsetof(server_config, f)
#define SZ(f) sizeof(((server_config *)0)->f)
#define MIB (1024ull * 1024ull)

static const setting settings[] = {
    {"listen", T_STR, OFF(listen_addr), SZ(listen_addr), 0, 0, NULL, "0.0.0.0",
     "address to listen on (IPv4 or IPv6 literal)"},
    {"port", T_U16, OFF(port), 0, 0, 65535, NULL, "2077",
     "TCP port for HTTP and WebSocket (0 = any free port)"},
    {"connections-max", T_U32, OFF(connections_max), 0, 1, 1000000, NULL, "10000",
     "open connections; past it new ones are accepted and closed at once"},
    {"frame-bytes-max", T_U32, OFF(frame_bytes_max), 0, 64, 64 * MIB, NULL, "1048576",
     "largest WebSocket message (point frame); larger ones are rejected, connection kept"},
    {"tags-per-point-max", T_U32, OFF(tags_per_point_max), 0, 0, 65535, NULL, "64",
     "tags per point; a frame with more is rejected whole"},
    {"http-body-bytes-max", T_U32, OFF(http_body_bytes_max), 0, 1024, 1024 * MIB, NULL, "16777216",
     "largest HTTP request body (/write, deploys); larger gets 413"},
    {"send-queue-bytes-max", T_U32, OFF(send_queue_bytes_max), 0, 4096, 256 * MIB, NULL, "1048576",
     "unsent bytes per connection; past it writebacks fail and reading pauses"},
    {"ingest-queue-batches", T_U32, OFF(ingest_queue_batches), 0, 1, 1u << 20, NULL, "1024",
     "batches waiting for the apply thread; when full, producers are not read"},
    {"data-dir", T_STR, OFF(data_dir), SZ(data_dir), 0, 0, NULL, "./slung-data",
     "data directory (created if missing)"},
    {"fsync", T_STR, OFF(fsync), SZ(fsync), 0, 0, "batch|always|none", "batch",
     "WAL durability: batch = group commit, always = each write, none = OS cache"},
    {"fsync-interval-ms", T_U32, OFF(fsync_interval_ms), 0, 1, 10000, NULL, "2",
     "batch policy: longest wait between fsyncs"},
    {"memtable-bytes-max", T_U64, OFF(memtable_bytes_max), 0, 1 * MIB, 1ull << 40, NULL, "67108864",
     "memtable size that triggers a flush to a segment"},
    /* Ceiling: the server works in ns, and INT64_MAX ns is 9,223,372,036 s (292 years). */
    {"retention-s", T_I64, OFF(retention_s), 0, 0, INT64_MAX / 1000000000, NULL, "0",
     "drop data older than this many seconds (0 = keep forever)"},
    {"series-max", T_U32, OFF(series_max), 0, 1, 1u << 30, NULL, "10000000",
     "distinct series; points of new series past it are refused"},
    {"query-series-max", T_U32, OFF(query_series_max), 0, 1, 1u << 30, NULL, "100000",
     "series one query may touch"},
    {"live-queries-max", T_U32, OFF(live_queries_max), 0, 0, 1u << 24, NULL, "100000",
     "live queries at once"},
    {"wasm", T_STR, OFF(wasm_file), SZ(wasm_file), 0, 0, NULL, "",
     "run this workflow module from start (empty = none)"},
    {"wf-memory-mb", T_U32, OFF(wf_memory_mb), 0, 1, 4096, NULL, "64",
     "linear memory per workflow, MiB"},
    {"wf-call-depth-max", T_U32, OFF(wf_call_depth_max), 0, 16, 1000000, NULL, "10000",
     "call depth of workflow code"},
    {"wf-writebacks-per-s", T_U32, OFF(wf_writebacks_per_s), 0, 1, 100000000, NULL, "10000",
     "writebacks per second per workflow"},
    {"wf-http-timeout-ms", T_U32, OFF(wf_http_timeout_ms), 0, 1, 600000, NULL, "5000",
     "timeout of a workflow's outgoing HTTP request"},
    {"wf-http-allow", T_STR, OFF(wf_http_allow), SZ(wf_http_allow), 0, 0, NULL, "",
     "hosts workflows may call: comma list, \"\" = public hosts only, \"*\" = any"},
    {"wf-http-follow-redirects", T_BOOL, OFF(wf_http_follow_redirects), 0, 0, 1, NULL, "false",
     "let workflow HTTP requests follow redirects"},
    {"wf-restart-backoff-ms", T_U32, OFF(wf_restart_backoff_ms), 0, 1, 60000, NULL, "1000",
     "first delay before restarting a failed workflow (doubles, max 60 s)"},
    {"wf-log-bytes-max", T_U32, OFF(wf_log_bytes_max), 0, 1024, 1024 * MIB, NULL, "1048576",
     "log bytes kept per workflow"},
    {"log-level", T_STR, OFF(log_level), SZ(log_level), 0, 0, "debug|info|warn|error", "info",
     "server log level"},
};

static bool choice_ok(const char *choices, const char *v) {
    size_t vl = strlen(v);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && !strncmp(p, v, l)) return true;
        p += l + (bar ? 1 : 0);
    }
    return false;
}

/* Sets one field from text. */
static int apply(server_config *c, const setting *s, const char *v, const char *origin,
                 sl_diag *d) {
    uint8_t *base = (uint8_t *)c + s->offset;
    if (s->type == T_STR) {
        if (strlen(v) >= s->size)
            return sl_diag_set(d, SL_EINVAL, 0, "%s: value longer than %zu bytes", origin,
                               s->size - 1);
        if (s->choices && !choice_ok(s->choices, v))
            return sl_diag_set(d, SL_EINVAL, 0, "%s: '%.40s' is not one of %s", origin, v,
                               s->choices);
        memcpy(base, v, strlen(v) + 1);
        return 0;
    }
    if (s->type == T_BOOL) {
        bool b;
        if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) {
            b = true;
        } else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) {
            b = false;
        } else {
            return sl_diag_set(d, SL_EINVAL, 0, "%s: '%.40s' is not true or false", origin, v);
        }
        memcpy(base, &b, sizeof(b));
        return 0;
    }
    if (*v == '\0' || *v == '-' || *v == '+' || *v == ' ')
        return sl_diag_set(d, SL_EINVAL, 0, "%s: '%.40s' is not a non-negative integer", origin, v);
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end != '\0')
        return sl_diag_set(d, SL_EINVAL, 0, "%s: '%.40s' is not a non-negative integer", origin, v);
    if (x < s->min || x > s->max)
        return sl_diag_set(d, SL_EINVAL, 0, "%s: %llu is outside %" PRIu64 "..%" PRIu64, origin, x,
                           s->min, s->max);
    switch (s->type) {
    case T_U16: {
        uint16_t u = (uint16_t)x;
        memcpy(base, &u, sizeof(u));
        break;
    }
    case T_U32: {
        uint32_t u = (uint32_t)x;
        memcpy(base, &u, sizeof(u));
        break;
    }
    case T_U64: {
        uint64_t u = (uint64_t)x;
        memcpy(base, &u, sizeof(u));
        break;
    }
    case T_I64: {
        int64_t i = (int64_t)x;
        memcpy(base, &i, sizeof(i));
        break;
    }
    default:
        SL_ASSERT(0);
    }
    return 0;
}

void config_defaults(server_config *c) {
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < SL_ARRAY_LEN(settings); i++) {
        int rc = apply(c, &settings[i], settings[i].def, settings[i].flag, NULL);
        SL_ASSERT(rc == 0); /* the table's defaults are within its own bounds */
    }
}

static void env_name(const setting *s, char *out, size_t cap) {
    size_t o = 0;
    const char *prefix = "SLUNG_";
    for (const char *p = prefix; *p && o + 1 < cap; p++)
        out[o++] = *p;
    for (const char *p = s->flag; *p && o + 1 < cap; p++)
        out[o++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    out[o] = '\0';
}

int config_load(server_config *c, int argc, char **argv, sl_diag *d) {
    sl_diag_clear(d);
    for (size_t i = 0; i < SL_ARRAY_LEN(settings); i++) {
        char name[64];
        env_name(&settings[i], name, sizeof(name));
        const char *v = getenv(name);
        if (!v) continue;
        int rc = apply(c, &settings[i], v, name, d);
        if (rc < 0) return rc;
    }
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0)
            return sl_diag_set(d, SL_EINVAL, 0, "unexpected argument '%.60s' (flags start with --)",
                               arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const setting *s = NULL;
        for (size_t i = 0; i < SL_ARRAY_LEN(settings); i++)
            if (strlen(settings[i].flag) == nlen && !strncmp(settings[i].flag, name, nlen))
                s = &settings[i];
        if (!s)
            return sl_diag_set(d, SL_EINVAL, 0, "unknown flag '--%.*s' (see slung serve --help)",
                               (int)SL_MIN(nlen, (size_t)60), name);
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (s->type == T_BOOL && (a + 1 >= argc || strncmp(argv[a + 1], "--", 2) == 0)) {
            v = "true"; /* a bare boolean flag turns it on */
        } else if (a + 1 < argc) {
            v = argv[++a];
        } else {
            return sl_diag_set(d, SL_EINVAL, 0, "flag --%s needs a value", s->flag);
        }
        char origin[64];
        snprintf(origin, sizeof(origin), "--%s", s->flag);
        int rc = apply(c, s, v, origin, d);
        if (rc < 0) return rc;
    }
    /* Checked here, before anything is opened: the address must be a literal. */
    uint8_t addr[16];
    if (inet_pton(AF_INET, c->listen_addr, addr) != 1 &&
        inet_pton(AF_INET6, c->listen_addr, addr) != 1)
        return sl_diag_set(d, SL_EINVAL, 0, "--listen: '%.60s' is not an IPv4 or IPv6 address",
                           c->listen_addr);
    return 0;
}

void config_print_help(FILE *out) {
    fprintf(out, "Each flag also reads an environment variable (the flag wins).\n\n");
    for (size_t i = 0; i < SL_ARRAY_LEN(settings); i++) {
        const setting *s = &settings[i];
        char name[64];
        env_name(s, name, sizeof(name));
        const char *arg = s->type == T_BOOL  ? ""
                          : s->choices       ? s->choices
                          : s->type == T_STR ? "TEXT"
                                             : "N";
        char left[96];
        snprintf(left, sizeof(left), "--%s%s%s", s->flag, *arg ? " " : "", arg);
        fprintf(out, "  %-40s %s\n  %-40s default: %s%s%s   env: %s\n", left, s->help, "",
                *s->def ? "" : "\"", s->def, *s->def ? "" : "\"", name);
    }
}
