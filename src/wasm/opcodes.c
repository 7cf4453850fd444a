/* opcodes.c - opcodes.def as data: the wasm__ops table behind wasm__opinfo().
 *
 * Invariants: (1) single-byte codes sit at their byte, 0xFC-prefixed ones at
 *   256 + sub-opcode (WASM_OP_SLOT); (2) a slot has text == NULL exactly when no row
 *   has that code. The table is a compile-time constant expanded from the X-macro, so
 *   it cannot drift from the .def file; a code appearing twice is a compile error
 *   (duplicate designated initializer, -Woverride-init) under gcc and clang.
 * Threads: constant data, any thread. */
#include "base/common.h"
#include "wasm/module_internal.h"

/* Each SIG form of opcodes.def becomes designated initializers of wasm_opinfo; pops
 * and pushes paste a different prefix onto the same SIG token. */
#define POPS_SIG0 .sig_fixed = true, .pop_count = 0
#define POPS_SIG1(a) .sig_fixed = true, .pop_count = 1, .pops = {WASM_##a}
#define POPS_SIG2(a, b) .sig_fixed = true, .pop_count = 2, .pops = {WASM_##a, WASM_##b}
#define POPS_SIG3(a, b, c) .sig_fixed = true, .pop_count = 3, .pops = {WASM_##a, WASM_##b, WASM_##c}
#define POPS_SIGX .sig_fixed = false
#define PUSH_SIG0 .push_count = 0
#define PUSH_SIG1(a) .push_count = 1, .push = WASM_##a
#define PUSH_SIGX .push_count = 0

const wasm_opinfo wasm__ops[WASM_OP_SLOTS] = {
#define OP(code_, id, text_, imm_, pops, pushes)                                                   \
    [WASM_OP_SLOT_CONST(code_)] = {                                                                \
        .code = code_, .imm = imm_, POPS_##pops, PUSH_##pushes, .text = text_},
#include "wasm/opcodes.def"
#undef OP
};

static_assert(WASM_OP_SLOTS == 256 + 18, "0xFC sub-opcodes 0..17 follow the single bytes");
