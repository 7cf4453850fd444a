/* fault.h - deterministic fault injection for tests (STYLE rule 21).
 * fault_arm(kind, n): the n-th hit of that kind from now fails once (n >= 1);
 * n = 0 disarms. Production code asks fault_hit(kind) at the point that can fail
 * (allocation, write, fsync) and fails as the real error would. Costs one relaxed
 * atomic load when disarmed. Any thread. */
#ifndef SL_FAULT_H
#define SL_FAULT_H

#include <stdbool.h>

typedef enum fault_kind { FAULT_ALLOC = 0, FAULT_WRITE, FAULT_FSYNC, FAULT_KIND_COUNT } fault_kind;

void fault_arm(fault_kind kind, long n);
bool fault_hit(fault_kind kind);

#endif
