/* fault.c - one countdown per fault kind; 0 means disarmed. */
#include "base/fault.h"
#include "base/common.h"

#include <stdatomic.h>

static _Atomic long countdown[FAULT_KIND_COUNT];

void fault_arm(fault_kind kind, long n) {
    SL_ASSERT((unsigned)kind < FAULT_KIND_COUNT);
    SL_ASSERT(n >= 0);
    atomic_store(&countdown[kind], n);
}

bool fault_hit(fault_kind kind) {
    if (sl_likely(atomic_load_explicit(&countdown[kind], memory_order_relaxed) == 0)) return false;
    long prev = atomic_fetch_sub(&countdown[kind], 1);
    if (prev == 1) return true; /* this hit was the n-th: fail once, now disarmed */
    if (prev <= 0) atomic_store(&countdown[kind], 0);
    return false;
}
