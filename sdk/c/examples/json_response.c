/* json_response.c - the seed's "JSON Response" example in C: each event of
 * AVG:temp:[sensor=1] goes back to its producers as
 * {"timestamp":T,"value":V,"status":"high"|"normal"} (high above 100). */
#include "slung.h"

static int on_event(const slung_event *ev, void *arg) {
    (void)arg;
    char response[160];
    slung_snprintf(response, sizeof(response),
                   "{\"timestamp\":%lld,\"value\":%g,\"status\":\"%s\"}", (long long)ev->timestamp,
                   ev->value, ev->value > 100.0 ? "high" : "normal");
    for (size_t i = 0; i < ev->producer_count; i++) {
        int rc = slung_writeback_ws(ev->producers[i], response);
        if (rc < 0) return rc;
    }
    return 0;
}

int slung_main(void) {
    uint64_t handle;
    int rc = slung_query_live("AVG:temp:[sensor=1]", &handle);
    if (rc < 0) return rc;
    return slung_poll_handle(handle, on_event, NULL);
}
