/* fuzz_wf_event.c - u_write_event's parsing of guest text (host__event_parse): the
 * input is split at the first two 0xff bytes into timestamp, value and tags text.
 * Checks: never crashes or leaks; on success the key is a valid canonical series key
 * and the value finite. */
#include "base/serieskey.h"
#include "workflow/workflow_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *part[3] = {"", "", ""};
    size_t len[3] = {0, 0, 0};
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= size && k < 3; i++) {
        if (i == size || (data[i] == 0xff && k < 2)) {
            part[k] = (const char *)data + start;
            len[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    int64_t ts = 0;
    double v = 0;
    buf key;
    sl_diag d;
    buf_init(&key, MEM_MISC, 0);
    if (host__event_parse(part[0], len[0], part[1], len[1], part[2], len[2], &ts, &v, &key, &d) == 0) {
        if (!isfinite(v)) abort();
        sk_view name;
        uint32_t tags = 0;
        sk_iter it;
        if (serieskey_open(key.p, key.len, &name, &tags, &it) < 0) abort();
    } else if (d.msg[0] == 0) {
        abort(); /* every refusal says why */
    }
    buf_free(&key);
    return 0;
}
