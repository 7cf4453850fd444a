/* wastjson.h - a small JSON reader for wast2json output (tests only).
 *
 * Shared by the wasm tests: validate_suite_test.c (decode/validate) and the spec
 * runner spec_test.c (exec) compile wastjson.c into their executables; it is not part
 * of any library. Parses a whole document into a tree (RFC 8259: objects, arrays,
 * strings with every escape incl. \uXXXX surrogate pairs -> UTF-8, numbers, true,
 * false, null). Strings are NUL-terminated copies with an explicit length, since a
 * wast name may contain U+0000. Numbers keep their source text as well as a double,
 * because wast2json writes 64-bit values as decimal strings and line numbers as
 * numbers. Bounded: nesting deeper than WASTJSON_DEPTH_MAX is an error. Malformed
 * input gives an error with its byte offset, never a crash.
 * Memory: mem_alloc(MEM_MISC); wastjson_free() releases the whole tree.
 * Threads: a document is used by one thread. */
#ifndef SL_TESTS_WASTJSON_H
#define SL_TESTS_WASTJSON_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting of arrays/objects accepted; wast2json output uses 4. */
#define WASTJSON_DEPTH_MAX 64

typedef enum wastjson_kind {
    WASTJSON_NULL = 0,
    WASTJSON_BOOL,
    WASTJSON_NUMBER,
    WASTJSON_STRING,
    WASTJSON_ARRAY,
    WASTJSON_OBJECT,
} wastjson_kind;

typedef struct wastjson_val wastjson_val;
struct wastjson_val {
    wastjson_kind kind;
    bool b;              /* BOOL */
    double num;          /* NUMBER */
    char *str;           /* STRING: decoded, NUL-terminated; NUMBER: its source text */
    size_t len;          /* bytes of str without the NUL */
    char *key;           /* member name when this value sits in an object, else NULL */
    size_t key_len;      /* bytes of key */
    size_t count;        /* ARRAY/OBJECT: entries in items */
    wastjson_val *items; /* ARRAY elements / OBJECT members in document order */
};

/* Parses text[0..n). On failure returns NULL and writes "offset N: reason" to err. */
wastjson_val *wastjson_parse(const char *text, size_t n, char *err, size_t err_len);
/* Reads and parses a file; NULL on failure with the reason in err. */
wastjson_val *wastjson_load(const char *path, char *err, size_t err_len);
void wastjson_free(wastjson_val *v); /* NULL is a no-op */

/* Member `key` of an object, or NULL (absent, or v is not an object). */
const wastjson_val *wastjson_get(const wastjson_val *v, const char *key);
/* The string of member `key`, or NULL if absent or not a string. */
const char *wastjson_get_str(const wastjson_val *v, const char *key);
/* Element i of an array, or NULL. */
const wastjson_val *wastjson_at(const wastjson_val *v, size_t i);
/* Elements of an array (0 for anything else). */
size_t wastjson_len(const wastjson_val *v);

#endif
