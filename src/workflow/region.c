/* region.c - the Region protocol of shared/spec/workflows.md, both directions.
 *
 * A Region is 12 bytes in guest memory: u32le offset | u32le capacity | u32le length.
 * Guest -> host: the host reads memory[offset .. offset+length]. Everything about
 * a Region is guest input (STYLE rule 17): the Region itself and its bytes must
 * lie inside memory (wasm_memory_read checks), length <= capacity, and length <=
 * WF_REGION_BYTES_MAX; otherwise the host function gets an error result and the
 * workflow log says which call and why. Address 0 is the guest's null and is
 * refused the same way.
 * Host -> guest: allocate(len) for the data, write it, allocate(12), write
 * {data, len, len}, return the Region's address; the guest owns both.
 * Threads: the workflow's thread (inside a host function). */
#include "workflow/workflow_internal.h"

#include "base/common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int region__read(wf_run *r, wasm_instance *inst, uint32_t addr, const char *fn, buf *out) {
    uint8_t raw[12];
    wasm_memory *mem = wasm_instance_memory(inst);
    if (!mem) {
        wflog__host(&r->w->log, "%s: the module has no memory", fn);
        return SL_EINVAL;
    }
    if (addr == 0) {
        wflog__host(&r->w->log, "%s: null Region", fn);
        return SL_EINVAL;
    }
    if (wasm_memory_read(mem, addr, raw, sizeof(raw)) < 0) {
        wflog__host(&r->w->log, "%s: Region at %u lies outside memory (%u pages)", fn, addr,
                    wasm_memory_pages(mem));
        return SL_EINVAL;
    }
    uint32_t offset = sl_load_u32le(raw);
    uint32_t capacity = sl_load_u32le(raw + 4);
    uint32_t length = sl_load_u32le(raw + 8);
    if (length > capacity) {
        wflog__host(&r->w->log, "%s: Region at %u has length %u > capacity %u", fn, addr, length,
                    capacity);
        return SL_EINVAL;
    }
    if (length > WF_REGION_BYTES_MAX) {
        wflog__host(&r->w->log, "%s: Region at %u is %u bytes, over the %u-byte limit", fn, addr,
                    length, WF_REGION_BYTES_MAX);
        return SL_EINVAL;
    }
    if (!buf_reserve(out, length)) return -ENOMEM;
    if (wasm_memory_read(mem, offset, out->p + out->len, length) < 0) {
        wflog__host(&r->w->log, "%s: Region at %u points at [%u, %u + %u) outside memory", fn, addr,
                    offset, offset, length);
        return SL_EINVAL;
    }
    out->len += length;
    return 0;
}

/* Calls the guest's allocate(n); NULL or trap text. */
static const char *region_allocate(wf_run *r, uint32_t n, uint32_t *ptr) {
    wasm_val arg = {.type = WASM_I32, .of.i32 = n};
    wasm_val res;
    wasm_diag d;
    /* Guest code again: the watchdog counts it (a looping allocate is a runaway). */
    wf__host_leave(r);
    int rc = wasm_func_call(r->store, r->allocate, &arg, 1, &res, 1, &d);
    wf__host_enter(r);
    if (rc < 0) {
        snprintf(r->msg, sizeof(r->msg), "%s", d.msg);
        return r->msg;
    }
    *ptr = res.of.i32;
    return NULL;
}

const char *region__give(wf_run *r, wasm_instance *inst, const uint8_t *p, size_t n,
                         uint32_t *addr_out) {
    SL_ASSERT(n <= UINT32_MAX);
    *addr_out = 0;
    if (!r->allocate) {
        wflog__host(&r->w->log, "the module exports no allocate, so the host cannot return data");
        return NULL;
    }
    uint32_t data = 0;
    uint32_t region = 0;
    const char *trap = region_allocate(r, (uint32_t)n, &data);
    if (trap) return trap;
    /* allocate may have grown memory: look the memory up after each call. */
    wasm_memory *mem = wasm_instance_memory(inst);
    /* 0 is the SDKs' "allocation failed": writing there would clobber the guest's low
     * memory, so the call fails instead (the guest sees 0, no data). */
    if (data == 0 || !mem || wasm_memory_write(mem, data, p, n) < 0) {
        wflog__host(&r->w->log, "allocate(%zu) returned %u: null or outside memory", n, data);
        return NULL;
    }
    trap = region_allocate(r, 12, &region);
    if (trap) return trap;
    uint8_t raw[12];
    sl_store_u32le(raw, data);
    sl_store_u32le(raw + 4, (uint32_t)n);
    sl_store_u32le(raw + 8, (uint32_t)n);
    mem = wasm_instance_memory(inst);
    if (region == 0 || !mem || wasm_memory_write(mem, region, raw, sizeof(raw)) < 0) {
        wflog__host(&r->w->log, "allocate(12) returned %u, outside memory", region);
        return NULL;
    }
    *addr_out = region;
    return NULL;
}
