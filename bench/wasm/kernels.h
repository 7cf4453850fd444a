/* kernels.h - the wasm benchmark's workloads, compiled natively (into bench_wasm, gcc
 * -O2 in the release build) and to wasm32 (clang-14 -O2, bench_kernels.wasm). Each
 * b_* takes a repeat count or size and returns a checksum, so the driver can check
 * that both builds computed the same thing before comparing their times. */
#ifndef BENCH_KERNELS_H
#define BENCH_KERNELS_H

#include <stdint.h>

#ifdef __wasm__
#define BEXPORT(name) __attribute__((export_name(#name)))
#define BIMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#else
#define BEXPORT(name)
#define BIMPORT(name)
#endif

BEXPORT(b_coremark) uint32_t b_coremark(int32_t iterations);
BEXPORT(b_fib) int32_t b_fib(int32_t n);
BEXPORT(b_crc32) uint32_t b_crc32(int32_t rounds);
BEXPORT(b_mandel) int32_t b_mandel(int32_t size);
BEXPORT(b_matmul) int64_t b_matmul(int32_t n);
BEXPORT(b_gorilla) int64_t b_gorilla(int32_t rounds);
BEXPORT(b_json) uint32_t b_json(int32_t events);

#ifdef __wasm__
/* Host-call cost: calls the imported env.bench_nop n times. */
BIMPORT(bench_nop) int32_t bench_nop(int32_t x);
BEXPORT(b_host_calls) int32_t b_host_calls(int32_t n);
#endif

#endif
