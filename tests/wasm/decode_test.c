/* decode_test.c - wasm_module_new on hand-made binaries: LEB128 rules, every section
 * error, limits, names, the import/export views, and robustness (every truncation,
 * every byte flipped, every allocation failed). The official suite's verdicts are in
 * validate_suite_test.c; these pin the edges a user hits and our own limits. */
#include <errno.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/fault.h"
#include "base/mem.h"
#include "test.h"
#include "wasm/leb.h"
#include "wasm/module_internal.h"
#include "wasm/wasm.h"

/* ---- a tiny module builder ---- */

typedef struct mb {
    uint8_t b[4096]; /* the module */
    size_t n;        /* bytes used */
} mb;

static void mb_header(mb *m) {
    static const uint8_t h[8] = {0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00};
    memcpy(m->b, h, 8);
    m->n = 8;
}

static void mb_u32(mb *m, uint32_t v) {
    do {
        uint8_t byte = v & 0x7F;
        v >>= 7;
        m->b[m->n++] = (uint8_t)(byte | (v ? 0x80 : 0));
    } while (v);
}

/* Appends section id with payload p[0..n) and its size. */
static void mb_section(mb *m, uint8_t id, const void *p, size_t n) {
    m->b[m->n++] = id;
    mb_u32(m, (uint32_t)n);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static int load(const mb *m, wasm_diag *d) {
    wasm_module *mod = NULL;
    int rc = wasm_module_new(m->b, m->n, &mod, d);
    if (rc == 0 && mod == NULL) return 12345; /* contract broken: caught by the callers */
    if (rc != 0 && mod != NULL) return 12346;
    wasm_module_free(mod);
    return rc;
}

static int load_bytes(const uint8_t *p, size_t n, wasm_diag *d) {
    mb m;
    memcpy(m.b, p, n);
    m.n = n;
    return load(&m, d);
}

#define S(x) x, sizeof(x) - 1

/* A small valid module using most sections: see sample_module(). */
static const uint8_t type_sec[] = "\x02\x60\x02\x7f\x7f\x01\x7f\x60\x00\x00";
static const uint8_t import_sec[] = "\x01\x03"
                                    "env"
                                    "\x01"
                                    "f"
                                    "\x00\x01";
static const uint8_t func_sec[] = "\x02\x00\x01";
static const uint8_t mem_sec[] = "\x01\x01\x01\x02";
static const uint8_t global_sec[] = "\x01\x7f\x01\x41\x07\x0b";
static const uint8_t export_sec[] = "\x02\x03"
                                    "add"
                                    "\x00\x01\x03"
                                    "mem"
                                    "\x02\x00";
/* body 1: (i32, i32) -> i32: local.get 0 local.get 1 i32.add
 * body 2: () -> (), 2 i64 locals: block (result i32) i32.const 1 end drop */
static const uint8_t code_sec[] = "\x02"
                                  "\x07\x00\x20\x00\x20\x01\x6a\x0b"
                                  "\x0a\x01\x02\x7e\x02\x7f\x41\x01\x0b\x1a\x0b";
static const uint8_t data_sec[] = "\x01\x00\x41\x00\x0b\x02hi";

static void sample_module(mb *m) {
    mb_header(m);
    mb_section(m, 1, S(type_sec));
    mb_section(m, 2, S(import_sec));
    mb_section(m, 3, S(func_sec));
    mb_section(m, 5, S(mem_sec));
    mb_section(m, 6, S(global_sec));
    mb_section(m, 7, S(export_sec));
    mb_section(m, 10, S(code_sec));
    mb_section(m, 11, S(data_sec));
}

/* A module of one function of type () -> () with the given body (after the locals
 * vector, which is empty), to test single instructions. */
static void body_module(mb *m, const uint8_t *body, size_t n) {
    uint8_t code[512];
    mb_header(m);
    mb_section(m, 1, S("\x01\x60\x00\x00"));
    mb_section(m, 3, S("\x01\x00"));
    code[0] = 1;
    code[1] = (uint8_t)(n + 1);
    code[2] = 0; /* no locals */
    memcpy(code + 3, body, n);
    mb_section(m, 10, code, n + 3);
}

/* ---- LEB128 ---- */

static int u32_of(const char *bytes, size_t n, uint32_t *v, const char **why) {
    rd r;
    rd_init(&r, (const uint8_t *)bytes, n);
    return wasm__u32(&r, v, why);
}

static int s32_of(const char *bytes, size_t n, int32_t *v, const char **why) {
    rd r;
    rd_init(&r, (const uint8_t *)bytes, n);
    return wasm__s32(&r, v, why);
}

static int s64_of(const char *bytes, size_t n, int64_t *v, const char **why) {
    rd r;
    rd_init(&r, (const uint8_t *)bytes, n);
    return wasm__s64(&r, v, why);
}

TEST(leb128_u32_takes_up_to_five_bytes_including_padded_forms) {
    uint32_t v;
    const char *why;
    CHECK_EQ_INT(u32_of(S("\x00"), &v, &why), 0);
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_INT(u32_of(S("\xe5\x8e\x26"), &v, &why), 0);
    CHECK_EQ_U64(v, 624485);
    CHECK_EQ_INT(u32_of(S("\x80\x80\x80\x80\x00"), &v, &why), 0); /* padded zero */
    CHECK_EQ_U64(v, 0);
    CHECK_EQ_INT(u32_of(S("\xff\xff\xff\xff\x0f"), &v, &why), 0);
    CHECK_EQ_U64(v, UINT32_MAX);
}

TEST(leb128_u32_rejects_a_sixth_byte_unused_bits_and_truncation_with_the_suite_text) {
    uint32_t v;
    const char *why = NULL;
    CHECK_EQ_INT(u32_of(S("\x80\x80\x80\x80\x80\x00"), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer representation too long");
    CHECK_EQ_INT(u32_of(S("\xff\xff\xff\xff\x1f"), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer too large");
    /* Unused bits are checked before the continuation bit, as the reference does. */
    CHECK_EQ_INT(u32_of(S("\xff\xff\xff\xff\x9f\x00"), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer too large");
    CHECK_EQ_INT(u32_of(S("\x80\x80"), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "unexpected end");
    CHECK_EQ_INT(u32_of(S(""), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "unexpected end");
}

TEST(leb128_signed_values_need_their_last_byte_to_be_sign_extension) {
    int32_t v;
    int64_t w;
    const char *why = NULL;
    CHECK_EQ_INT(s32_of(S("\x7f"), &v, &why), 0);
    CHECK_EQ_INT(v, -1);
    CHECK_EQ_INT(s32_of(S("\xff\xff\xff\xff\x7f"), &v, &why), 0);
    CHECK_EQ_INT(v, -1);
    CHECK_EQ_INT(s32_of(S("\x80\x80\x80\x80\x78"), &v, &why), 0);
    CHECK_EQ_INT(v, INT32_MIN);
    CHECK_EQ_INT(s32_of(S("\xff\xff\xff\xff\x07"), &v, &why), 0);
    CHECK_EQ_INT(v, INT32_MAX);
    CHECK_EQ_INT(s32_of(S("\xff\xff\xff\xff\x4f"), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer too large");
    CHECK_EQ_INT(s32_of(S("\x80\x80\x80\x80\x70"), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer too large");
    CHECK_EQ_INT(s32_of(S("\x80\x80\x80\x80\x80\x00"), &v, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer representation too long");
    CHECK_EQ_INT(s64_of(S("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f"), &w, &why), 0);
    CHECK_EQ_INT(w, -1);
    CHECK_EQ_INT(s64_of(S("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f"), &w, &why), 0);
    CHECK(w == INT64_MIN);
    CHECK_EQ_INT(s64_of(S("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), &w, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer too large");
    CHECK_EQ_INT(s64_of(S("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"), &w, &why), SL_EPROTO);
    CHECK_EQ_STR(why, "integer representation too long");
}

TEST(an_over_long_leb128_inside_a_module_is_rejected_with_its_offset) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    /* A type section whose vector count is a six-byte LEB128. */
    mb_section(&m, 1, S("\x80\x80\x80\x80\x80\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "integer representation too long");
    CHECK_EQ_INT(d.offset, 10);
}

/* ---- the module as a whole ---- */

TEST(a_module_of_just_the_header_loads_with_no_imports_or_exports) {
    mb m;
    wasm_diag d;
    wasm_module *mod = NULL;
    mb_header(&m);
    CHECK_EQ_INT(wasm_module_new(m.b, m.n, &mod, &d), 0);
    CHECK(mod != NULL);
    CHECK_EQ_INT(wasm_module_import_count(mod), 0);
    CHECK_EQ_INT(wasm_module_export_count(mod), 0);
    wasm_module_free(mod);
}

TEST(a_bad_header_says_unexpected_end_magic_or_version) {
    wasm_diag d;
    wasm_module *mod = (wasm_module *)&d; /* must be reset to NULL on failure */
    CHECK_EQ_INT(wasm_module_new(NULL, 0, &mod, &d), SL_EPROTO);
    CHECK(mod == NULL);
    CHECK_EQ_STR(d.msg, "unexpected end");
    CHECK_EQ_INT(load_bytes((const uint8_t *)S("\x00"
                                               "asm\x01\x00"),
                            &d),
                 SL_EPROTO);
    CHECK_EQ_STR(d.msg, "unexpected end");
    CHECK_EQ_INT(load_bytes((const uint8_t *)S("\x00"
                                               "ASM\x01\x00\x00\x00"),
                            &d),
                 SL_EPROTO);
    CHECK_EQ_STR(d.msg, "magic header not detected");
    CHECK_EQ_INT(load_bytes((const uint8_t *)S("\x00"
                                               "asm\x02\x00\x00\x00"),
                            &d),
                 SL_EPROTO);
    CHECK_EQ_STR(d.msg, "unknown binary version");
    CHECK_EQ_INT(d.offset, 4);
}

TEST(the_sample_module_loads_and_shows_its_imports_and_exports) {
    mb m;
    wasm_diag d;
    wasm_module *mod = NULL;
    sample_module(&m);
    CHECK_MSG(wasm_module_new(m.b, m.n, &mod, &d) == 0, "load: %s at %u", d.msg, d.offset);
    CHECK_EQ_INT(wasm_module_import_count(mod), 1);
    wasm_import_info ii;
    wasm_module_import(mod, 0, &ii);
    CHECK_EQ_STR(ii.module, "env");
    CHECK_EQ_STR(ii.name, "f");
    CHECK_EQ_INT(ii.kind, WASM_EXTERN_FUNC);
    CHECK_EQ_INT(ii.func.param_count, 0);
    CHECK_EQ_INT(ii.func.result_count, 0);
    CHECK_EQ_INT(wasm_module_export_count(mod), 2);
    const char *name;
    wasm_extern_kind kind;
    wasm_module_export(mod, 0, &name, &kind);
    CHECK_EQ_STR(name, "add");
    CHECK_EQ_INT(kind, WASM_EXTERN_FUNC);
    wasm_module_export(mod, 1, &name, &kind);
    CHECK_EQ_STR(name, "mem");
    CHECK_EQ_INT(kind, WASM_EXTERN_MEMORY);
    /* The internal form the runtime builds on. */
    CHECK_EQ_INT(mod->func_count, 3);
    CHECK_EQ_INT(mod->func_import_count, 1);
    CHECK_EQ_INT(mod->funcs[0].import_index, 0);
    CHECK_EQ_INT(mod->funcs[1].type_index, 0);
    CHECK_EQ_INT(mod->funcs[1].max_stack, 2);
    CHECK_EQ_INT(mod->funcs[1].max_depth, 1);
    CHECK_EQ_INT(mod->funcs[2].local_count, 2);
    CHECK_EQ_INT(mod->funcs[2].max_depth, 2);
    CHECK_EQ_INT(wasm__local_type(mod, &mod->funcs[1], 1), WASM_I32);
    CHECK_EQ_INT(wasm__local_type(mod, &mod->funcs[2], 1), WASM_I64);
    CHECK_EQ_INT(mod->funcs[1].code_end - mod->funcs[1].code_start, 6);
    CHECK_EQ_INT(mod->memory_count, 1);
    CHECK_EQ_INT(mod->memories[0].lim.min, 1);
    CHECK_EQ_INT(mod->memories[0].lim.max, 2);
    CHECK_EQ_INT(mod->globals[0].init.kind, WASM_CONST_I32);
    CHECK_EQ_INT(mod->globals[0].init.of.i32, 7);
    CHECK(mod->globals[0].type.mutable_);
    CHECK_EQ_INT(mod->data_count, 1);
    CHECK_EQ_INT(mod->datas[0].data_len, 2);
    CHECK(memcmp(mod->bytes + mod->datas[0].data_start, "hi", 2) == 0);
    wasm_module_free(mod);
}

TEST(sections_out_of_order_or_repeated_or_unknown_are_malformed) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    mb_section(&m, 3, S("\x00"));
    mb_section(&m, 1, S("\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "unexpected content after last section");
    mb_header(&m);
    mb_section(&m, 1, S("\x00"));
    mb_section(&m, 1, S("\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "unexpected content after last section");
    mb_header(&m);
    mb_section(&m, 13, S("\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "malformed section id");
    CHECK_EQ_INT(d.offset, 8);
    /* The data count section sits between element and code sections. */
    mb_header(&m);
    mb_section(&m, 12, S("\x00"));
    mb_section(&m, 9, S("\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "unexpected content after last section");
    /* Custom sections may appear anywhere, any number of times. */
    mb_header(&m);
    mb_section(&m, 0,
               S("\x01"
                 "a"
                 "payload"));
    mb_section(&m, 1, S("\x00"));
    mb_section(&m, 0,
               S("\x01"
                 "b"));
    mb_section(&m, 0, S("\x00"));
    CHECK_EQ_INT(load(&m, &d), 0);
}

TEST(section_sizes_that_disagree_with_their_content_are_malformed) {
    mb m;
    wasm_diag d;
    /* Larger than what is left of the module. */
    mb_header(&m);
    memcpy(m.b + m.n, "\x01\x05\x00", 3);
    m.n += 3;
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "length out of bounds");
    /* Content shorter than the declared size. */
    mb_header(&m);
    mb_section(&m, 1, S("\x00\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "section size mismatch");
    /* Content running past the declared size, at the module's end. */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "unexpected end of section or function");
    /* A custom section too small for its own name (which reads on into the next). */
    mb_header(&m);
    mb_section(&m, 0,
               S("\x05"
                 "ab"));
    mb_section(&m, 1, S("\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK(strncmp(d.msg, "unexpected end", 14) == 0);
    /* A custom section whose size counts its own length byte: one past the end
     * (found by fuzz/wasm_decode). */
    mb_header(&m);
    memcpy(m.b + m.n,
           "\x00\x04\x01"
           "a"
           "b",
           5);
    m.n += 5;
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK(strncmp(d.msg, "unexpected end", 14) == 0);
}

TEST(a_body_whose_locals_run_past_its_section_is_malformed_and_not_validated) {
    mb m;
    wasm_diag d;
    /* The code section claims 3 bytes, but its body declares 3 runs of locals and
     * uses local 2 from bytes past the section (found by validate_diff_test: the
     * validator once read local types that were never stored). */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    memcpy(m.b + m.n,
           "\x0a\x03\x01\x0a\x03"
           "\x01\x7f\x01\x7e\x01\x7d\x20\x02\x1a\x0b",
           15);
    m.n += 15;
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "section size mismatch");
}

TEST(function_and_code_counts_must_agree) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x02\x00\x00"));
    mb_section(&m, 10, S("\x01\x02\x00\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "function and code section have inconsistent lengths");
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "function and code section have inconsistent lengths");
}

TEST(data_count_must_match_the_data_section_and_is_required_by_memory_init) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    mb_section(&m, 5, S("\x01\x00\x01"));
    mb_section(&m, 12, S("\x02"));
    mb_section(&m, 11, S("\x01\x01\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "data count and data section have inconsistent lengths");
    /* data.drop 0 with a data section but no count. */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    mb_section(&m, 5, S("\x01\x00\x01"));
    mb_section(&m, 10, S("\x01\x05\x00\xfc\x09\x00\x0b"));
    mb_section(&m, 11, S("\x01\x01\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "data count section required");
    /* The same with the count present loads. */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    mb_section(&m, 5, S("\x01\x00\x01"));
    mb_section(&m, 12, S("\x01"));
    mb_section(&m, 10, S("\x01\x05\x00\xfc\x09\x00\x0b"));
    mb_section(&m, 11, S("\x01\x01\x00"));
    CHECK_MSG(load(&m, &d) == 0, "%s", d.msg);
}

TEST(locals_beyond_two_to_the_32_are_malformed_and_beyond_our_limit_refused) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    mb_section(&m, 10, S("\x01\x0a\x02\xff\xff\xff\xff\x0f\x7f\x02\x7e\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "too many locals");
    /* WASM_FUNC_LOCALS_MAX + 1 locals: within the spec, over our limit. */
    uint8_t code[16];
    mb c = {{0}, 0};
    mb_u32(&c, WASM_FUNC_LOCALS_MAX + 1);
    size_t k = 0;
    code[k++] = 1;                  /* one body */
    code[k++] = (uint8_t)(c.n + 3); /* its size */
    code[k++] = 1;                  /* one run of locals */
    memcpy(code + k, c.b, c.n);
    k += c.n;
    code[k++] = 0x7f;
    code[k++] = 0x0b;
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    mb_section(&m, 10, code, k);
    CHECK_EQ_INT(load(&m, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "WASM_FUNC_LOCALS_MAX") != NULL);
}

TEST(an_operand_stack_deeper_than_our_limit_is_refused_not_grown_without_bound) {
    static mb m; /* static: bigger than the test's usual stack use */
    wasm_diag d;
    uint8_t types[1100];
    uint8_t code[2600];
    size_t k = 0;
    /* type 0: () -> (1000 x i32); type 1: () -> () */
    types[k++] = 2;
    types[k++] = 0x60;
    types[k++] = 0;
    types[k++] = 0xe8; /* 1000 as LEB128 */
    types[k++] = 0x07;
    for (int i = 0; i < 1000; i++)
        types[k++] = 0x7f;
    types[k++] = 0x60;
    types[k++] = 0;
    types[k++] = 0;
    mb_header(&m);
    mb_section(&m, 1, types, k);
    mb_section(&m, 2,
               S("\x01\x01"
                 "m"
                 "\x01"
                 "f"
                 "\x00\x00"));
    mb_section(&m, 3, S("\x01\x01"));
    /* One body: 1,049 calls leave 1,049,000 values, past WASM_FUNC_STACK_MAX. */
    size_t calls = WASM_FUNC_STACK_MAX / 1000 + 1;
    size_t body = 1 + 2 * calls + 1;
    k = 0;
    code[k++] = 1;
    code[k++] = (uint8_t)(0x80 | (body & 0x7f));
    code[k++] = (uint8_t)(body >> 7);
    code[k++] = 0; /* no locals */
    for (size_t i = 0; i < calls; i++) {
        code[k++] = 0x10;
        code[k++] = 0x00;
    }
    code[k++] = 0x0b;
    mb_section(&m, 10, code, k);
    CHECK(m.n < sizeof(m.b));
    CHECK_EQ_INT(load(&m, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "WASM_FUNC_STACK_MAX") != NULL);
}

TEST(names_must_be_valid_utf8) {
    static const char *const bad[] = {
        "\x80",             /* lone continuation byte */
        "\xc0\x80",         /* overlong NUL */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* truncated sequence */
        "\xff",             /* never valid */
    };
    mb m;
    wasm_diag d;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t sec[16];
        size_t n = strlen(bad[i]);
        sec[0] = (uint8_t)n;
        memcpy(sec + 1, bad[i], n);
        mb_header(&m);
        mb_section(&m, 0, sec, n + 1);
        CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
        CHECK_EQ_STR(d.msg, "malformed UTF-8 encoding");
    }
    /* Valid multi-byte names, including U+0000 and U+10FFFF, load. */
    mb_header(&m);
    mb_section(&m, 0, S("\x0a\x00\xc3\xa9\xe2\x82\xac\xf4\x8f\xbf\xbf"));
    CHECK_EQ_INT(load(&m, &d), 0);
}

TEST(export_names_must_be_unique) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    mb_section(&m, 5, S("\x01\x00\x01"));
    mb_section(&m, 7,
               S("\x02\x01"
                 "a"
                 "\x02\x00\x01"
                 "a"
                 "\x02\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "duplicate export name");
    CHECK_EQ_INT(d.offset, 20); /* the second entry: 8 header + 5 memory section + 3 + 4 */
}

TEST(module_level_errors_point_at_their_entry) {
    mb m;
    wasm_diag d;
    /* A function whose type index is out of range: the offset of that index. */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x02\x00\x05"));
    mb_section(&m, 10, S("\x02\x02\x00\x0b\x02\x00\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "unknown type 5");
    CHECK_EQ_INT(m.b[d.offset], 0x05);
    CHECK_EQ_INT(d.offset, 8 + 6 + 4);
    /* A second memory: at its limits. */
    mb_header(&m);
    mb_section(&m, 5, S("\x02\x00\x01\x00\x02"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "multiple memories");
    CHECK_EQ_INT(d.offset, 8 + 3 + 2);
}

TEST(memory_and_table_limits_are_checked) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    mb_section(&m, 5, S("\x01\x00\x81\x80\x04")); /* min 65537 pages */
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "memory size must be at most 65536 pages (4GiB)");
    mb_header(&m);
    mb_section(&m, 5, S("\x01\x01\x02\x01"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "size minimum must not be greater than maximum");
    mb_header(&m);
    mb_section(&m, 5, S("\x02\x00\x01\x00\x01"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "multiple memories");
    mb_header(&m);
    mb_section(&m, 5, S("\x01\x02\x01"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "integer too large");
    mb_header(&m);
    mb_section(&m, 4, S("\x01\x70\x01\x05\x04"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "size minimum must not be greater than maximum");
    mb_header(&m);
    mb_section(&m, 4, S("\x01\x6e\x00\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK_EQ_STR(d.msg, "malformed reference type");
    /* 65536 pages exactly, two tables of both reference types: fine. */
    mb_header(&m);
    mb_section(&m, 4, S("\x02\x70\x00\x00\x6f\x01\x00\xff\xff\xff\xff\x0f"));
    mb_section(&m, 5, S("\x01\x01\x00\x80\x80\x04"));
    CHECK_MSG(load(&m, &d) == 0, "%s", d.msg);
}

TEST(a_type_error_names_the_function_and_the_instruction_offset) {
    mb m;
    wasm_diag d;
    /* i32.const 1; i64.const 2; i32.add -> type mismatch at the add. */
    body_module(&m, (const uint8_t *)S("\x41\x01\x42\x02\x6a\x1a\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "type mismatch");
    CHECK_EQ_INT(d.func_index, 0);
    CHECK_EQ_INT(m.b[d.offset], 0x6a);
}

TEST(instruction_level_rules_have_the_suite_wording) {
    static const struct {
        const char *body;
        size_t n;
        int rc;
        const char *msg;
    } cases[] = {
        {S("\x20\x00\x1a\x0b"), SL_EINVAL, "unknown local 0"},
        {S("\x23\x03\x1a\x0b"), SL_EINVAL, "unknown global 3"},
        {S("\x10\x05\x0b"), SL_EINVAL, "unknown function 5"},
        {S("\x0c\x01\x0b"), SL_EINVAL, "unknown label 1"},
        {S("\x41\x00\x28\x02\x00\x1a\x0b"), SL_EINVAL, "unknown memory 0"},
        {S("\x3f\x01\x1a\x0b"), SL_EPROTO, "zero byte expected"},
        {S("\xd2\x00\x1a\x0b"), SL_EINVAL, "undeclared function reference"},
        {S("\x41\x00\x41\x00\x41\x00\x1c\x00\x1a\x0b"), SL_EINVAL, "invalid result arity"},
        {S("\x06\x0b"), SL_EPROTO, "illegal opcode"},
        {S("\xfc\x12\x0b"), SL_EPROTO, "illegal opcode"},
        {S("\x05\x0b"), SL_EPROTO, "END opcode expected"},
        {S("\x02\x40\x05\x0b\x0b"), SL_EPROTO, "END opcode expected"},
        {S("\x41\x00"), SL_EPROTO, "unexpected end"},
        {S("\x02\x7f\x0b\x0b"), SL_EINVAL, "type mismatch"},
        {S("\x02\x05\x0b\x0b"), SL_EINVAL, "unknown type"},
        {S("\x02\x41\x0b\x0b"), SL_EPROTO, "malformed reference type"},
        /* Unreachable code is stack-polymorphic: this is valid. */
        {S("\x00\x6a\x1a\x02\x7f\x00\x0b\x1a\x0b"), 0, ""},
        /* br_table with only a default label. */
        {S("\x41\x00\x0e\x00\x00\x0b"), 0, ""},
        /* An if without else must leave its params as its results. */
        {S("\x41\x00\x04\x40\x01\x0b\x0b"), 0, ""},
        {S("\x41\x00\x04\x7f\x41\x01\x0b\x1a\x0b"), SL_EINVAL, "type mismatch"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mb m;
        wasm_diag d;
        body_module(&m, (const uint8_t *)cases[i].body, cases[i].n);
        int rc = load(&m, &d);
        CHECK_MSG(rc == cases[i].rc, "case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc,
                  rc ? d.msg : "");
        if (rc)
            CHECK_MSG(strncmp(d.msg, cases[i].msg, strlen(cases[i].msg)) == 0,
                      "case %zu: \"%s\", want \"%s\"", i, d.msg, cases[i].msg);
    }
}

TEST(a_malformed_body_wins_over_an_invalid_earlier_body) {
    mb m;
    wasm_diag d;
    /* Body 0: i64.const 0 as an i32 result is a type mismatch; body 1 holds an
     * illegal opcode. Decoding comes first, so the verdict is malformed. */
    mb_header(&m);
    mb_section(&m, 1, S("\x02\x60\x00\x01\x7f\x60\x00\x00"));
    mb_section(&m, 3, S("\x02\x00\x01"));
    mb_section(&m, 10, S("\x02\x04\x00\x42\x00\x0b\x03\x00\x06\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EPROTO);
    CHECK(strncmp(d.msg, "illegal opcode", 14) == 0);
    /* Without the illegal opcode, body 0's error is reported, with its function. */
    mb_header(&m);
    mb_section(&m, 1, S("\x02\x60\x00\x01\x7f\x60\x00\x00"));
    mb_section(&m, 3, S("\x02\x00\x01"));
    mb_section(&m, 10, S("\x02\x04\x00\x42\x00\x0b\x03\x00\x01\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "type mismatch");
    CHECK_EQ_INT(d.func_index, 0);
}

TEST(module_level_errors_before_bodies_in_the_reference_order_win_over_body_errors) {
    mb m;
    wasm_diag d;
    /* A data segment for a missing memory, and an invalid body: the segment is
     * checked first. */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    mb_section(&m, 10, S("\x01\x04\x00\x41\x00\x0b"));
    mb_section(&m, 11, S("\x01\x00\x41\x00\x0b\x00"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "unknown memory 0");
    /* A function whose type index is unknown, called from an earlier body. */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x02\x00\x07"));
    mb_section(&m, 10, S("\x02\x04\x00\x10\x01\x0b\x02\x00\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "unknown type 7");
    /* An invalid body comes before a bad start function and duplicate exports. */
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x01\x7f\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    mb_section(&m, 7,
               S("\x02\x01"
                 "a"
                 "\x00\x00\x01"
                 "a"
                 "\x00\x00"));
    mb_section(&m, 8, S("\x00"));
    mb_section(&m, 10, S("\x01\x04\x00\x41\x00\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "type mismatch");
}

TEST(constant_expressions_follow_the_2_0_rules) {
    mb m;
    wasm_diag d;
    /* A defined global may not be read by another global's initialiser. */
    mb_header(&m);
    mb_section(&m, 6, S("\x02\x7f\x00\x41\x01\x0b\x7f\x00\x23\x00\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "unknown global 0");
    /* Two values are a type mismatch; a non-constant instruction is refused. */
    mb_header(&m);
    mb_section(&m, 6, S("\x01\x7f\x00\x41\x01\x41\x02\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "type mismatch");
    mb_header(&m);
    mb_section(&m, 6, S("\x01\x7f\x00\x41\x01\x41\x02\x6a\x0b"));
    CHECK_EQ_INT(load(&m, &d), SL_EINVAL);
    CHECK_EQ_STR(d.msg, "constant expression required");
    /* An imported immutable global may be read, and its value is recorded. */
    mb_header(&m);
    mb_section(&m, 2,
               S("\x01\x01"
                 "m"
                 "\x01"
                 "g"
                 "\x03\x7e\x00"));
    mb_section(&m, 6, S("\x01\x7e\x00\x23\x00\x0b"));
    wasm_module *mod = NULL;
    CHECK_MSG(wasm_module_new(m.b, m.n, &mod, &d) == 0, "%s", d.msg);
    CHECK_EQ_INT(mod->globals[1].init.kind, WASM_CONST_GLOBAL);
    CHECK_EQ_INT(mod->globals[1].init.of.index, 0);
    CHECK_EQ_INT(mod->globals[0].import_index, 0);
    wasm_module_free(mod);
}

TEST(element_segments_of_all_eight_forms_decode_to_items) {
    mb m;
    wasm_diag d;
    mb_header(&m);
    mb_section(&m, 1, S("\x01\x60\x00\x00"));
    mb_section(&m, 3, S("\x01\x00"));
    mb_section(&m, 4, S("\x01\x70\x00\x01"));
    mb_section(&m, 9,
               S("\x08"
                 "\x00\x41\x00\x0b\x01\x00"                 /* 0: active, indices */
                 "\x01\x00\x01\x00"                         /* 1: passive, indices */
                 "\x02\x00\x41\x00\x0b\x00\x01\x00"         /* 2: active table 0 */
                 "\x03\x00\x01\x00"                         /* 3: declarative */
                 "\x04\x41\x00\x0b\x01\xd2\x00\x0b"         /* 4: active, exprs */
                 "\x05\x70\x02\xd0\x70\x0b\xd2\x00\x0b"     /* 5: passive, exprs */
                 "\x06\x00\x41\x00\x0b\x70\x01\xd2\x00\x0b" /* 6: active table 0 */
                 "\x07\x6f\x01\xd0\x6f\x0b"));              /* 7: declarative */
    mb_section(&m, 10, S("\x01\x02\x00\x0b"));
    wasm_module *mod = NULL;
    CHECK_MSG(wasm_module_new(m.b, m.n, &mod, &d) == 0, "%s at %u", d.msg, d.offset);
    CHECK_EQ_INT(mod->elem_count, 8);
    CHECK_EQ_INT(mod->elems[0].mode, WASM_SEG_ACTIVE);
    CHECK_EQ_INT(mod->elems[1].mode, WASM_SEG_PASSIVE);
    CHECK_EQ_INT(mod->elems[3].mode, WASM_SEG_DECLARATIVE);
    CHECK_EQ_INT(mod->elems[5].item_count, 2);
    CHECK_EQ_INT(mod->elems[5].items[0].kind, WASM_CONST_REF_NULL);
    CHECK_EQ_INT(mod->elems[5].items[1].kind, WASM_CONST_REF_FUNC);
    CHECK_EQ_INT(mod->elems[7].type, WASM_EXTERNREF);
    for (uint32_t i = 0; i < mod->elem_count; i++)
        for (uint32_t k = 0; k < mod->elems[i].item_count; k++)
            CHECK(mod->elems[i].items[k].kind != WASM_CONST_PENDING_);
    wasm_module_free(mod);
}

/* ---- robustness ---- */

TEST(every_truncation_of_a_valid_module_is_rejected_or_loads_without_harm) {
    mb m;
    sample_module(&m);
    for (size_t n = 0; n < m.n; n++) {
        wasm_diag d;
        int rc = load_bytes(m.b, n, &d);
        /* A prefix ending at a section boundary may itself be valid. */
        CHECK_MSG(rc == 0 || rc == SL_EPROTO || rc == SL_EINVAL, "prefix %zu: rc %d", n, rc);
    }
}

TEST(every_single_byte_corruption_is_rejected_or_loads_without_harm) {
    mb m;
    sample_module(&m);
    for (size_t i = 0; i < m.n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            mb c = m;
            wasm_diag d;
            c.b[i] ^= (uint8_t)(1u << bit);
            int rc = load(&c, &d);
            CHECK_MSG(rc == 0 || rc == SL_EPROTO || rc == SL_EINVAL || rc == SL_ELIMIT,
                      "byte %zu bit %d: rc %d", i, bit, rc);
        }
    }
}

TEST(allocation_failure_at_any_point_returns_enomem_and_leaks_nothing) {
    mb m;
    sample_module(&m);
    size_t before = mem_in_use(MEM_WASM);
    for (long n = 1;; n++) {
        wasm_diag d;
        wasm_module *mod = NULL;
        fault_arm(FAULT_ALLOC, n);
        int rc = wasm_module_new(m.b, m.n, &mod, &d);
        fault_arm(FAULT_ALLOC, 0);
        CHECK_MSG(rc == 0 || rc == -ENOMEM, "fault %ld: rc %d (%s)", n, rc, d.msg);
        wasm_module_free(mod);
        CHECK_EQ_U64(mem_in_use(MEM_WASM), before);
        if (rc == 0) break;
        CHECK(n < 1000);
    }
}

TEST(a_module_over_the_size_limit_is_refused_before_decoding) {
    wasm_diag d;
    wasm_module *mod = NULL;
    static const uint8_t byte = 0;
    /* The pointer is never read past its first byte: the size check comes first. */
    CHECK_EQ_INT(wasm_module_new(&byte, (size_t)WASM_MODULE_BYTES_MAX + 1, &mod, &d), SL_ELIMIT);
    CHECK(mod == NULL);
}
