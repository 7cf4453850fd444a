/* fuzz_wasm_decode.c - libFuzzer target: wasm_module_new over arbitrary bytes.
 *
 * Any input must either load or be rejected with SL_EPROTO / SL_EINVAL / SL_ELIMIT
 * and a message, never crash, leak or read out of bounds (ASan/UBSan build). A module
 * that loads is walked through the public views, which must be consistent.
 * Corpus: small valid modules, wast2json conversions of modules in the official test
 * suite (shared/wasm-testsuite, Apache-2.0), one per .wast file it is named after. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/common.h"
#include "base/err.h"
#include "wasm/wasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wasm_module *m = NULL;
    wasm_diag d;
    int rc = wasm_module_new(data, size, &m, &d);
    if (rc != 0) {
        SL_ASSERT(m == NULL);
        SL_ASSERT(rc == SL_EPROTO || rc == SL_EINVAL || rc == SL_ELIMIT);
        SL_ASSERT(d.rc == rc);
        SL_ASSERT(d.msg[0] != '\0');
        SL_ASSERT(d.offset <= size);
        return 0;
    }
    SL_ASSERT(m != NULL);
    for (size_t i = 0; i < wasm_module_import_count(m); i++) {
        wasm_import_info ii;
        wasm_module_import(m, i, &ii);
        SL_ASSERT(ii.module != NULL);
        SL_ASSERT(ii.name != NULL);
        if (ii.kind == WASM_EXTERN_FUNC)
            for (uint32_t k = 0; k < ii.func.param_count; k++)
                SL_ASSERT(ii.func.params[k] != 0);
    }
    for (size_t i = 0; i < wasm_module_export_count(m); i++) {
        const char *name = NULL;
        wasm_extern_kind kind;
        wasm_module_export(m, i, &name, &kind);
        SL_ASSERT(name != NULL);
        SL_ASSERT((unsigned)kind <= WASM_EXTERN_GLOBAL);
    }
    wasm_module_free(m);
    return 0;
}
