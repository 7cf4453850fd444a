/* base_test.c - the shared vocabulary every module relies on. */
#include "base/batch.h"
#include "base/buf.h"
#include "base/crc32c.h"
#include "base/fault.h"
#include "base/mem.h"
#include "base/serieskey.h"
#include "test.h"

TEST(crc32c_matches_the_standard_check_value) {
    CHECK_EQ_U64(crc32c("123456789", 9), 0xE3069283u);
    /* Chaining over any split gives the same value as one call. */
    const char *s = "the quick brown fox jumps over the lazy dog, twice over";
    uint32_t whole = crc32c(s, strlen(s));
    for (size_t k = 0; k <= strlen(s); k++)
        CHECK_EQ_U64(crc32c_extend(crc32c(s, k), s + k, strlen(s) - k), whole);
}

static void key_text(const sk_view *tags, uint32_t n, char *out, size_t cap) {
    buf k, t;
    sk_view scratch[8];
    buf_init(&k, MEM_MISC, 0);
    buf_init(&t, MEM_MISC, 0);
    sk_view name = {(const uint8_t *)"temp", 4};
    serieskey_build(&k, name, tags, n, scratch);
    serieskey_format(&t, k.p, k.len);
    snprintf(out, cap, "%s", buf_cstr(&t));
    buf_free(&k);
    buf_free(&t);
}

TEST(series_key_is_the_same_for_tags_in_any_order_and_skips_empty_and_repeated_tags) {
    sk_view a[] = {{(const uint8_t *)"unit=c", 6}, {(const uint8_t *)"sensor=1", 8}};
    sk_view b[] = {{(const uint8_t *)"sensor=1", 8}, {(const uint8_t *)"", 0},
                   {(const uint8_t *)"unit=c", 6}, {(const uint8_t *)"sensor=1", 8}};
    char ta[64], tb[64];
    key_text(a, 2, ta, sizeof ta);
    key_text(b, 4, tb, sizeof tb);
    CHECK_EQ_STR(ta, "temp,sensor=1,unit=c");
    CHECK_EQ_STR(tb, ta);
}

TEST(series_key_reader_rejects_truncated_keys) {
    const uint8_t bad[] = {4, 0, 't', 'e', 'm', 'p', 1, 0, 9, 0, 'x'};
    sk_view name, tag;
    uint32_t n;
    sk_iter it;
    CHECK_EQ_INT(serieskey_open(bad, sizeof bad, &name, &n, &it), 0);
    CHECK(serieskey_next_tag(&it, &tag) < 0);
    CHECK(serieskey_open(bad, 3, &name, &n, &it) < 0);
}

TEST(json_numbers_round_trip_and_non_finite_values_become_null) {
    buf b;
    buf_init(&b, MEM_MISC, 0);
    buf_json_f64(&b, 23.5);
    buf_putc(&b, ' ');
    buf_json_f64(&b, 0.1);
    buf_putc(&b, ' ');
    buf_json_f64(&b, 1.0 / 0.0);
    buf_putc(&b, ' ');
    buf_json_f64(&b, 0.0 / 0.0);
    buf_putc(&b, ' ');
    buf_json_str(&b, "a\"b\\\n\x01\xff", 7);
    CHECK_EQ_STR(buf_cstr(&b), "23.5 0.1 null null \"a\\\"b\\\\\\n\\u0001\xef\xbf\xbd\"");
    buf_free(&b);
}

TEST(buffer_past_its_limit_reports_failure_instead_of_growing) {
    buf b;
    buf_init(&b, MEM_MISC, 8);
    buf_puts(&b, "12345678");
    CHECK(!buf_failed(&b));
    buf_puts(&b, "9");
    CHECK(buf_failed(&b));
    buf_free(&b);
}

TEST(injected_allocation_failure_hits_exactly_the_nth_allocation) {
    fault_arm(FAULT_ALLOC, 2);
    void *a = mem_alloc(MEM_MISC, 8);
    void *b = mem_alloc(MEM_MISC, 8);
    void *c = mem_alloc(MEM_MISC, 8);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    mem_free(MEM_MISC, a);
    mem_free(MEM_MISC, c);
}

TEST(memory_accounting_returns_to_zero_after_free) {
    size_t before = mem_in_use(MEM_QUERY);
    void *p = mem_alloc(MEM_QUERY, 1000);
    CHECK_EQ_U64(mem_in_use(MEM_QUERY), before + 1000);
    p = mem_realloc(MEM_QUERY, p, 10);
    CHECK_EQ_U64(mem_in_use(MEM_QUERY), before + 10);
    mem_free(MEM_QUERY, p);
    CHECK_EQ_U64(mem_in_use(MEM_QUERY), before);
}

TEST(batch_stores_a_repeated_series_key_once) {
    point_batch b;
    point_batch_init(&b);
    const uint8_t k1[] = {1, 0, 'a', 0, 0};
    const uint8_t k2[] = {1, 0, 'b', 0, 0};
    CHECK_EQ_INT(point_batch_add(&b, 1, 1.0, k1, 5), 0);
    CHECK_EQ_INT(point_batch_add(&b, 2, 2.0, k1, 5), 0);
    CHECK_EQ_INT(point_batch_add(&b, 3, 3.0, k2, 5), 0);
    CHECK_EQ_U64(b.keys_len, 10);
    point_batch_truncate(&b, 2);
    CHECK_EQ_U64(b.keys_len, 5);
    for (int i = 0; i < 1000; i++) CHECK_EQ_INT(point_batch_add(&b, i, i, k2, 5), 0);
    CHECK_EQ_U64(b.count, 1002);
    uint32_t n;
    const uint8_t *k = point_batch_key(&b, 1001, &n);
    CHECK(n == 5 && k[2] == 'b');
    point_batch_free(&b);
}
