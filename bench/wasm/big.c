/* big.c - a module of about 120 KB for the instantiation benchmark: 500 exported
 * functions (f100..f599), each a loop around a switch (br_table) with memory traffic,
 * the shape of real compiled code. Only built for wasm32; nothing here is timed
 * except decoding, validating, compiling and instantiating the result. */
#include <stdint.h>

static int32_t table_data[1024];

#define BODY(n)                                                                                    \
    __attribute__((export_name("f" #n))) int32_t f##n(int32_t x, int32_t y);                       \
    int32_t f##n(int32_t x, int32_t y) {                                                           \
        int32_t acc = (n);                                                                         \
        for (int32_t i = 0; i < y; i++) {                                                          \
            switch ((x + i + (n)) & 7) {                                                           \
            case 0:                                                                                \
                acc += table_data[(i * (n)) & 1023];                                               \
                break;                                                                             \
            case 1:                                                                                \
                acc ^= (int32_t)((uint32_t)x * (n));                                               \
                break;                                                                             \
            case 2:                                                                                \
                acc -= i << ((n)&7);                                                               \
                break;                                                                             \
            case 3:                                                                                \
                acc = (int32_t)((uint32_t)acc * 3u + (n));                                         \
                break;                                                                             \
            case 4:                                                                                \
                table_data[(acc + (n)) & 1023] = acc;                                              \
                break;                                                                             \
            case 5:                                                                                \
                acc += (int32_t)((uint32_t)acc >> 3);                                              \
                break;                                                                             \
            case 6:                                                                                \
                acc |= (n) << 4;                                                                   \
                break;                                                                             \
            default:                                                                               \
                acc &= 0xfffff;                                                                    \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
        return acc;                                                                                \
    }

#define B10(a)                                                                                     \
    BODY(a##0)                                                                                     \
    BODY(a##1) BODY(a##2) BODY(a##3) BODY(a##4) BODY(a##5) BODY(a##6) BODY(a##7) BODY(a##8)        \
        BODY(a##9)
#define B100(a)                                                                                    \
    B10(a##0)                                                                                      \
    B10(a##1) B10(a##2) B10(a##3) B10(a##4) B10(a##5) B10(a##6) B10(a##7) B10(a##8) B10(a##9)

B100(1)
B100(2)
B100(3)
B100(4)
B100(5)
