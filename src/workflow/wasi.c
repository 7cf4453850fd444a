/* wasi.c - the WASI preview-1 subset of shared/spec/workflows.md (import module
 * wasi_snapshot_preview1), enough for Rust's and C's std printing and start-up:
 *   fd_write          (fd, iovs, iovs_len, nwritten) -> errno   fd 1, 2 -> the log
 *   environ_get       (environ, buf) -> errno                  no variables
 *   environ_sizes_get (count, buf_size) -> errno               0, 0
 *   args_get          (argv, buf) -> errno                     argv = [workflow name]
 *   args_sizes_get    (argc, buf_size) -> errno
 *   clock_time_get    (id, precision i64, time) -> errno       realtime, monotonic, cputime
 *   random_get        (buf, len) -> errno                      getrandom(2)
 *   proc_exit         (code) -> ()                             ends the run
 * Any other WASI import is refused at deploy time with its name (workflow.c).
 * Each call counts as a host call for the watchdog (workflow.h), like the env ones.
 * Invariants: every guest pointer goes through wasm_memory_read/write (bounds-
 * checked): a bad one is errno 21 (EFAULT), never a host fault; fd_write copies at
 * most WASI_IOVS_MAX buffers per call. Threads: the workflow's thread. */
#include "workflow/workflow_internal.h"

#include "base/common.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

/* WASI errno values (wasi_snapshot_preview1 `errno` enum). */
enum {
    WASI_ESUCCESS = 0,
    WASI_EBADF = 8,
    WASI_EFAULT = 21,
    WASI_EINVAL = 28,
};

/* iovec entries one fd_write may name; more is EINVAL (Linux's IOV_MAX). */
#define WASI_IOVS_MAX 1024u

static void set_errno(wasm_val *res, uint32_t e) {
    res[0].type = WASM_I32;
    res[0].of.i32 = e;
}

static wasm_memory *mem_of(wasm_instance *caller) {
    return wasm_instance_memory(caller);
}

static int put_u32(wasm_instance *caller, uint32_t addr, uint32_t v) {
    uint8_t raw[4];
    wasm_memory *mem = mem_of(caller);
    sl_store_u32le(raw, v);
    return mem ? wasm_memory_write(mem, addr, raw, 4) : SL_EINVAL;
}

static const char *wasi_fd_write(wasm_instance *caller, void *env, const wasm_val *args,
                                 wasm_val *res) {
    wf__host_leave(env); /* a host call: restarts the watchdog's count */
    wf_run *r = env;
    uint32_t fd = args[0].of.i32;
    uint32_t iovs = args[1].of.i32;
    uint32_t iovs_len = args[2].of.i32;
    uint32_t nwritten_ptr = args[3].of.i32;
    wasm_memory *mem = mem_of(caller);
    if (fd != 1 && fd != 2) return set_errno(res, WASI_EBADF), NULL;
    if (!mem) return set_errno(res, WASI_EFAULT), NULL;
    if (iovs_len > WASI_IOVS_MAX) return set_errno(res, WASI_EINVAL), NULL;
    uint64_t total = 0;
    uint8_t chunk[1024];
    for (uint32_t i = 0; i < iovs_len; i++) {
        uint8_t iov[8];
        if (wasm_memory_read(mem, (uint64_t)iovs + 8u * i, iov, 8) < 0)
            return set_errno(res, WASI_EFAULT), NULL;
        uint32_t p = sl_load_u32le(iov);
        uint32_t n = sl_load_u32le(iov + 4);
        for (uint32_t done = 0; done < n;) {
            uint32_t k = SL_MIN(n - done, (uint32_t)sizeof(chunk));
            if (wasm_memory_read(mem, (uint64_t)p + done, chunk, k) < 0)
                return set_errno(res, WASI_EFAULT), NULL;
            wflog__write(&r->w->log, (int)fd - 1, chunk, k);
            done += k;
        }
        total += n;
    }
    if (put_u32(caller, nwritten_ptr, (uint32_t)SL_MIN(total, UINT32_MAX)) < 0)
        return set_errno(res, WASI_EFAULT), NULL;
    return set_errno(res, WASI_ESUCCESS), NULL;
}

static const char *wasi_environ_get(wasm_instance *caller, void *env, const wasm_val *args,
                                    wasm_val *res) {
    wf__host_leave(env);                        /* a host call: restarts the watchdog's count */
    return set_errno(res, WASI_ESUCCESS), NULL; /* no variables: nothing to write */
}

static const char *wasi_environ_sizes_get(wasm_instance *caller, void *env, const wasm_val *args,
                                          wasm_val *res) {
    wf__host_leave(env); /* a host call: restarts the watchdog's count */
    if (put_u32(caller, args[0].of.i32, 0) < 0 || put_u32(caller, args[1].of.i32, 0) < 0)
        return set_errno(res, WASI_EFAULT), NULL;
    return set_errno(res, WASI_ESUCCESS), NULL;
}

static const char *wasi_args_get(wasm_instance *caller, void *env, const wasm_val *args,
                                 wasm_val *res) {
    wf__host_leave(env); /* a host call: restarts the watchdog's count */
    wf_run *r = env;
    uint32_t argv = args[0].of.i32;
    uint32_t argv_buf = args[1].of.i32;
    wasm_memory *mem = mem_of(caller);
    size_t n = strlen(r->w->name) + 1;
    if (!mem || put_u32(caller, argv, argv_buf) < 0 ||
        wasm_memory_write(mem, argv_buf, r->w->name, n) < 0)
        return set_errno(res, WASI_EFAULT), NULL;
    return set_errno(res, WASI_ESUCCESS), NULL;
}

static const char *wasi_args_sizes_get(wasm_instance *caller, void *env, const wasm_val *args,
                                       wasm_val *res) {
    wf__host_leave(env); /* a host call: restarts the watchdog's count */
    wf_run *r = env;
    if (put_u32(caller, args[0].of.i32, 1) < 0 ||
        put_u32(caller, args[1].of.i32, (uint32_t)strlen(r->w->name) + 1) < 0)
        return set_errno(res, WASI_EFAULT), NULL;
    return set_errno(res, WASI_ESUCCESS), NULL;
}

static const char *wasi_clock_time_get(wasm_instance *caller, void *env, const wasm_val *args,
                                       wasm_val *res) {
    wf__host_leave(env); /* a host call: restarts the watchdog's count */
    static const clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                                    CLOCK_THREAD_CPUTIME_ID};
    uint32_t id = args[0].of.i32;
    uint32_t out = args[2].of.i32;
    /* The process clock is the whole server's; a workflow gets its own thread's. */
    if (id >= SL_ARRAY_LEN(ids)) return set_errno(res, WASI_EINVAL), NULL;
    struct timespec ts;
    clock_gettime(id == 2 ? CLOCK_THREAD_CPUTIME_ID : ids[id], &ts);
    uint8_t raw[8];
    sl_store_u64le(raw, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
    wasm_memory *mem = mem_of(caller);
    if (!mem || wasm_memory_write(mem, out, raw, 8) < 0) return set_errno(res, WASI_EFAULT), NULL;
    return set_errno(res, WASI_ESUCCESS), NULL;
}

static const char *wasi_random_get(wasm_instance *caller, void *env, const wasm_val *args,
                                   wasm_val *res) {
    wf__host_leave(env); /* a host call: restarts the watchdog's count */
    uint32_t p = args[0].of.i32;
    uint32_t n = args[1].of.i32;
    wasm_memory *mem = mem_of(caller);
    uint8_t chunk[256];
    if (!mem) return set_errno(res, WASI_EFAULT), NULL;
    /* Check the whole range first so a bad one writes nothing. */
    uint64_t bytes = 0;
    wasm_memory_data(mem, &bytes);
    if ((uint64_t)p + n > bytes) return set_errno(res, WASI_EFAULT), NULL;
    for (uint32_t done = 0; done < n;) {
        uint32_t k = SL_MIN(n - done, (uint32_t)sizeof(chunk));
        ssize_t got = getrandom(chunk, k, 0);
        if (got <= 0) continue; /* EINTR; the pool is initialised on a running server */
        if (wasm_memory_write(mem, (uint64_t)p + done, chunk, (size_t)got) < 0)
            return set_errno(res, WASI_EFAULT), NULL;
        done += (uint32_t)got;
    }
    return set_errno(res, WASI_ESUCCESS), NULL;
}

static const char *wasi_proc_exit(wasm_instance *caller, void *env, const wasm_val *args,
                                  wasm_val *res) {
    wf_run *r = env;
    r->exited = true;
    r->exit_code = (int32_t)args[0].of.i32;
    /* Unwinds the guest: the run loop sees r->exited and reports an exit, not a trap. */
    return "proc_exit";
}

#define I32 WASM_I32
#define I64 WASM_I64

static const wf_hostfn wasi_table[] = {
    {"wasi_snapshot_preview1", "fd_write", 4, 1, {I32, I32, I32, I32}, {I32}, wasi_fd_write},
    {"wasi_snapshot_preview1", "environ_get", 2, 1, {I32, I32}, {I32}, wasi_environ_get},
    {"wasi_snapshot_preview1",
     "environ_sizes_get",
     2,
     1,
     {I32, I32},
     {I32},
     wasi_environ_sizes_get},
    {"wasi_snapshot_preview1", "args_get", 2, 1, {I32, I32}, {I32}, wasi_args_get},
    {"wasi_snapshot_preview1", "args_sizes_get", 2, 1, {I32, I32}, {I32}, wasi_args_sizes_get},
    {"wasi_snapshot_preview1", "clock_time_get", 3, 1, {I32, I64, I32}, {I32}, wasi_clock_time_get},
    {"wasi_snapshot_preview1", "random_get", 2, 1, {I32, I32}, {I32}, wasi_random_get},
    {"wasi_snapshot_preview1", "proc_exit", 1, 0, {I32}, {0}, wasi_proc_exit},
};

const wf_hostfn *wasi__lookup(const char *name) {
    for (size_t i = 0; i < SL_ARRAY_LEN(wasi_table); i++)
        if (strcmp(wasi_table[i].name, name) == 0) return &wasi_table[i];
    return NULL;
}
