/* config.h - every operator setting, its default, and how it is named.
 *
 * Each field has a flag `--kebab-name` and an environment variable
 * `SLUNG_UPPER_NAME` (the flag wins). `slung serve --help` prints the table from
 * config.c with defaults. Limits follow STYLE rule 9: the owning module's header
 * states why and what happens at the limit; this struct only carries the value.
 * Read-only after config_load(); any thread. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include "base/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

typedef struct server_config {
    /* network */
    char listen_addr[64];          /* --listen, default "0.0.0.0" */
    uint16_t port;                 /* --port, default 2077 */
    uint32_t connections_max;      /* --connections-max, default 10000; past it: accept then close */
    uint32_t frame_bytes_max;      /* --frame-bytes-max, default 1 MiB (WebSocket message) */
    uint32_t tags_per_point_max;   /* --tags-per-point-max, default 64 */
    uint32_t http_body_bytes_max;  /* --http-body-bytes-max, default 16 MiB (/write, deploy) */
    uint32_t send_queue_bytes_max; /* --send-queue-bytes-max, default 1 MiB per connection */
    uint32_t ingest_queue_batches; /* --ingest-queue-batches, default 1024 (bounded apply queue) */
    /* storage */
    char data_dir[1024];           /* --data-dir, default "./slung-data" */
    char fsync[16];                /* --fsync batch|always|none, default "batch" */
    uint32_t fsync_interval_ms;    /* --fsync-interval-ms, default 2 */
    uint64_t memtable_bytes_max;   /* --memtable-bytes-max, default 64 MiB */
    int64_t retention_s;           /* --retention-s, default 0 = keep forever */
    uint32_t series_max;           /* --series-max, default 10,000,000 */
    /* queries */
    uint32_t query_series_max;     /* --query-series-max, default 100,000 series per query */
    uint32_t live_queries_max;     /* --live-queries-max, default 100,000 */
    /* workflows */
    char wasm_file[1024];          /* --wasm FILE: run this workflow from start ("" = none) */
    uint32_t wf_memory_mb;         /* --wf-memory-mb, default 64 */
    uint32_t wf_call_depth_max;    /* --wf-call-depth-max, default 10000 */
    uint32_t wf_writebacks_per_s;  /* --wf-writebacks-per-s, default 10000 */
    uint32_t wf_http_timeout_ms;   /* --wf-http-timeout-ms, default 5000 */
    char wf_http_allow[1024];      /* --wf-http-allow: comma list of hosts; "" = public hosts only
                                      (loopback and private ranges denied); "*" = any */
    bool wf_http_follow_redirects; /* --wf-http-follow-redirects, default false */
    uint32_t wf_restart_backoff_ms;/* --wf-restart-backoff-ms, default 1000 (doubles, max 60 s) */
    uint32_t wf_log_bytes_max;     /* --wf-log-bytes-max, default 1 MiB per workflow */
    /* logging */
    char log_level[16];            /* --log-level debug|info|warn|error, default "info" */
} server_config;

void config_defaults(server_config *c);
/* Applies SLUNG_* environment variables, then argv flags (argv[0] is the first flag).
 * Unknown flags and bad values are SL_EINVAL with d naming the flag. */
int config_load(server_config *c, int argc, char **argv, sl_diag *d);
/* Prints every setting with flag, variable, default and one line of meaning. */
void config_print_help(FILE *out);

#endif
