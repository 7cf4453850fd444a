/* kernels.h - small C functions compiled both natively (into the test) and to
 * WebAssembly by real toolchains (build_modules.sh); the test compares the two.
 * Each exercises code shapes compilers emit: loops and locals, i64 and float math,
 * br_table (switch), call_indirect (function pointers), memory copies and fills,
 * sign extension, float->int conversion, recursion, the shadow stack.
 * Every function is deterministic and free of undefined behaviour for the arguments
 * the test passes. */
#ifndef KERNELS_H
#define KERNELS_H

#include <stdint.h>

#ifdef __wasm__
#define KEXPORT(name) __attribute__((export_name(#name)))
#else
#define KEXPORT(name)
#endif

KEXPORT(k_fib) int32_t k_fib(int32_t n);
KEXPORT(k_fib_rec) int32_t k_fib_rec(int32_t n);
KEXPORT(k_crc32) uint32_t k_crc32(int32_t n);
KEXPORT(k_sort) uint32_t k_sort(int32_t n, uint32_t seed);
KEXPORT(k_mandel) int32_t k_mandel(int32_t size, int32_t iters);
KEXPORT(k_i64_mix) int64_t k_i64_mix(int64_t a, int64_t b);
KEXPORT(k_divs) int64_t k_divs(int32_t a, int32_t b);
KEXPORT(k_switch) int32_t k_switch(int32_t n);
KEXPORT(k_indirect) int32_t k_indirect(int32_t n);
KEXPORT(k_bytes) uint32_t k_bytes(int32_t n);
KEXPORT(k_sext) int32_t k_sext(int32_t x);
KEXPORT(k_f2i) int64_t k_f2i(double x);
KEXPORT(k_float) double k_float(double x, int32_t n);
KEXPORT(k_f32) float k_f32(float x, int32_t n);
KEXPORT(k_matmul) double k_matmul(int32_t n);
KEXPORT(k_strings) uint32_t k_strings(int32_t n);

#endif
