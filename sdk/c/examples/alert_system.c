/* alert_system.c - the seed's "Alert System" example in C: every event of
 * AVG:temp:[sensor=1] above 100 is logged and each contributing producer gets
 * "ALERT: threshold exceeded" over its WebSocket. */
#include "slung.h"

static int on_event(const slung_event *ev, void *arg) {
    double alert_threshold = *(const double *)arg;
    if (ev->value > alert_threshold) {
        slung_printf("event timestamp=%lld value=%g\n", (long long)ev->timestamp, ev->value);
        for (size_t i = 0; i < ev->producer_count; i++) {
            int rc = slung_writeback_ws(ev->producers[i], "ALERT: threshold exceeded");
            if (rc < 0) return rc;
        }
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
