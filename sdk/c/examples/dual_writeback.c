/* dual_writeback.c - the seed's "Dual Writeback" example in C: each event of
 * AVG:temp:[sensor=1] above 100 sends "Alert: value V exceeds threshold 100" to every
 * producer's WebSocket and POSTs {"timestamp":T,"value":V,"producers":N} to BASE/logs.
 * BASE as in post_alert.c. */
#include "slung.h"

#ifndef SLUNG_EXAMPLE_BASE_URL
#define SLUNG_EXAMPLE_BASE_URL "https://api.example.com"
#endif

static int on_event(const slung_event *ev, void *arg) {
    double threshold = *(const double *)arg;
    if (ev->value > threshold) {
        char message[128];
        slung_snprintf(message, sizeof(message), "Alert: value %g exceeds threshold %g", ev->value,
                       threshold);
        for (size_t i = 0; i < ev->producer_count; i++) {
            int rc = slung_writeback_ws(ev->producers[i], message);
            if (rc < 0) return rc;
        }
        char payload[128];
        slung_snprintf(payload, sizeof(payload),
                       "{\"timestamp\":%lld,\"value\":%g,\"producers\":%zu}",
                       (long long)ev->timestamp, ev->value, ev->producer_count);
        int rc = slung_writeback_http(SLUNG_EXAMPLE_BASE_URL "/logs", payload, SLUNG_POST, NULL);
        if (rc < 0) return rc;
    }
    return 0;
}

int slung_main(void) {
    static double threshold = 100.0;
    uint64_t handle;
    int rc = slung_query_live("AVG:temp:[sensor=1]", &handle);
    if (rc < 0) return rc;
    return slung_poll_handle(handle, on_event, &threshold);
}
