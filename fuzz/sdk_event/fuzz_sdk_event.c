/* fuzz_sdk_event.c - the C guest SDK's event parser on arbitrary bytes: never reads
 * outside the input, never leaks, and what it accepts is well formed (every tag
 * NUL-terminated inside the parser's arena). Also runs slung_parse_double on the
 * input and slung_format_double on the parsed value (its output must read back). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "slung.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    slung__event_store s;
    if (slung__event_parse(data, size, &s) == 0) {
        size_t total = 0;
        for (size_t i = 0; i < s.ev.tag_count; i++)
            total += strlen(s.ev.tags[i]) + 1;
        if (total > size + 1) abort(); /* the arena holds at most size + 1 bytes */
        uint64_t touch = 0;            /* ASan checks every producer slot is allocated */
        for (size_t i = 0; i < s.ev.producer_count; i++)
            touch ^= s.ev.producers[i];
        if (s.ev.producer_count == 1 && touch != s.ev.producers[0]) abort();
        slung__event_store_free(&s);
    }
    double v;
    if (slung_parse_double((const char *)data, size, &v) == 0) {
        char text[SLUNG_DOUBLE_CHARS_MAX];
        size_t n = slung_format_double(text, sizeof(text), v);
        if (n >= sizeof(text)) abort();
        double back;
        if (v == v && v - v == 0 && slung_parse_double(text, n, &back) != 0) abort();
    }
    return 0;
}
