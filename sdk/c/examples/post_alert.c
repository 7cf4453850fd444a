/* post_alert.c - the seed's "POST Alert" example in C: each event of
 * AVG:cpu:[host=prod]:[5min] above 80 is POSTed as
 * {"timestamp":T,"value":V,"threshold":80} to BASE/alerts and the response logged.
 * BASE is https://api.example.com unless built with -DSLUNG_EXAMPLE_BASE_URL='"..."'
 * (sdk/build-examples.sh passes the SLUNG_EXAMPLE_BASE_URL environment variable). */
#include "slung.h"

#ifndef SLUNG_EXAMPLE_BASE_URL
#define SLUNG_EXAMPLE_BASE_URL "https://api.example.com"
#endif

static int on_event(const slung_event *ev, void *arg) {
    double threshold = *(const double *)arg;
    if (ev->value > threshold) {
        char payload[160];
        slung_snprintf(payload, sizeof(payload),
                       "{\"timestamp\":%lld,\"value\":%g,\"threshold\":%g}",
                       (long long)ev->timestamp, ev->value, threshold);
        slung_bytes response;
        int rc =
            slung_writeback_http(SLUNG_EXAMPLE_BASE_URL "/alerts", payload, SLUNG_POST, &response);
        if (rc < 0) return rc;
        if (response.data) {
            slung_printf("Alert sent, response: %s\n", (const char *)response.data);
        } else {
            slung_printf("Alert sent, no response body\n");
        }
        slung_bytes_free(&response);
    }
    return 0;
}

int slung_main(void) {
    static double threshold = 80.0;
    uint64_t handle;
    int rc = slung_query_live("AVG:cpu:[host=prod]:[5min]", &handle);
    if (rc < 0) return rc;
    return slung_poll_handle(handle, on_event, &threshold);
}
