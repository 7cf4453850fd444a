/* wastjson_test.c - the JSON reader both suite runners stand on (wastjson.c).
 * A wrong escape or a crash on odd input would silently skew every suite verdict,
 * so its decoding of strings and its refusal of malformed documents are pinned here.
 * Links wastjson.c (tests/wasm/CMakeLists.txt adds it to this executable). */
#include "base/mem.h"
#include "test.h"
#include "wastjson.h"

static wastjson_val *parse(const char *text, char *err) {
    return wastjson_parse(text, strlen(text), err, 200);
}

TEST(a_wast2json_command_list_reads_as_objects_arrays_strings_and_numbers) {
    char err[200];
    const char *doc = "{\"source_filename\": \"x.wast\",\n \"commands\": [\n"
                      "  {\"type\": \"module\", \"line\": 2, \"filename\": \"x.0.wasm\"},\n"
                      "  {\"type\": \"assert_return\", \"line\": 3, \"action\": {\"type\": "
                      "\"invoke\", \"field\": \"f\", \"args\": [{\"type\": \"i64\", \"value\": "
                      "\"18446744073709551615\"}]}, \"expected\": []}]}";
    wastjson_val *v = parse(doc, err);
    CHECK_MSG(v != NULL, "%s", err);
    const wastjson_val *cmds = wastjson_get(v, "commands");
    CHECK_EQ_INT(wastjson_len(cmds), 2);
    CHECK_EQ_STR(wastjson_get_str(wastjson_at(cmds, 0), "filename"), "x.0.wasm");
    const wastjson_val *line = wastjson_get(wastjson_at(cmds, 1), "line");
    CHECK(line != NULL && line->kind == WASTJSON_NUMBER);
    CHECK_EQ_STR(line->str, "3");
    const wastjson_val *args = wastjson_get(wastjson_get(wastjson_at(cmds, 1), "action"), "args");
    CHECK_EQ_STR(wastjson_get_str(wastjson_at(args, 0), "value"), "18446744073709551615");
    CHECK(wastjson_get(v, "missing") == NULL);
    CHECK(wastjson_at(cmds, 2) == NULL);
    wastjson_free(v);
}

TEST(string_escapes_decode_to_utf8_including_nul_and_surrogate_pairs) {
    char err[200];
    wastjson_val *v =
        parse("[\"a\\u0000b\", \"\\u00e9\\ud83d\\ude00\", \"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]", err);
    CHECK_MSG(v != NULL, "%s", err);
    const wastjson_val *s0 = wastjson_at(v, 0);
    CHECK_EQ_INT(s0->len, 3);
    CHECK(memcmp(s0->str, "a\0b", 3) == 0);
    CHECK_EQ_STR(wastjson_at(v, 1)->str, "\xc3\xa9\xf0\x9f\x98\x80");
    CHECK_EQ_STR(wastjson_at(v, 2)->str, "\"\\/\b\f\n\r\t");
    wastjson_free(v);
}

TEST(malformed_documents_are_refused_with_an_offset_and_leak_nothing) {
    static const char *const bad[] = {
        "",      "{",          "[1,]",        "{\"a\" 1}",   "{\"a\":}",
        "\"abc", "\"\\x\"",    "\"\\ud800\"", "\"\\udc00\"", "\"\\u12\"",
        "tru",   "nul",        "-",           "1.",          "1e",
        "[1] 2", "\"a\x01b\"", "{1: 2}",      "[[[",         "01",
    };
    size_t before = mem_in_use(MEM_MISC);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[200] = "";
        wastjson_val *v = parse(bad[i], err);
        CHECK_MSG(v == NULL, "accepted: %s", bad[i]);
        CHECK_MSG(strncmp(err, "offset ", 7) == 0, "%s: %s", bad[i], err);
    }
    /* Nesting past the bound is refused rather than recursing without end. */
    char deep[WASTJSON_DEPTH_MAX + 8];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    char err[200];
    CHECK(parse(deep, err) == NULL);
    CHECK(strstr(err, "nested deeper") != NULL);
    CHECK_EQ_U64(mem_in_use(MEM_MISC), before);
}
