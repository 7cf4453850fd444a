/* c_sdk_test.c - the portable half of the C guest SDK (sdk/c/src/fmt.c, event.c), run
 * natively: what workflows print and send (shortest doubles, the snprintf subset) and
 * how they read events (query.md's JSON, hostile variants included). The wasm half
 * (api.c, print.c) is exercised by the end-to-end workflow tests. */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "slung.h"
#include "test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

/* Digits and exponent of the closest p-digit decimal to v, by glibc (exact). */
static int glibc_shortest(double v, char *digits, int *exp10) {
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (bits_of(strtod(buf, NULL)) == bits_of(v)) {
            int k = 0;
            for (const char *s = buf; *s && *s != 'e'; s++)
                if (*s >= '0' && *s <= '9') digits[k++] = *s;
            while (k > 1 && digits[k - 1] == '0')
                k--;
            digits[k] = '\0';
            *exp10 = atoi(strchr(buf, 'e') + 1);
            return p;
        }
    }
    return -1;
}

/* Same decomposition of our output. */
static void our_digits(const char *s, char *digits, int *exp10) {
    int k = 0;
    int point = -1;
    int lead = 0;
    int e = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') {
            point = k + lead;
        } else if (*s >= '0' && *s <= '9') {
            if (k == 0 && *s == '0') {
                lead++;
                continue;
            }
            digits[k++] = *s;
        }
    }
    if (*s == 'e') e = atoi(s + 1);
    int int_digits = point >= 0 ? point : k + lead;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    digits[k] = '\0';
    *exp10 = int_digits - lead - 1 + e;
}

static bool matches_glibc(double v, char *out, size_t n) {
    char want[32];
    char got[32];
    int we;
    int ge;
    slung_format_double(out, n, v);
    if (glibc_shortest(fabs(v), want, &we) < 0) return false;
    our_digits(out, got, &ge);
    return strcmp(want, got) == 0 && we == ge && bits_of(strtod(out, NULL)) == bits_of(v);
}

TEST(doubles_print_as_the_shortest_decimal_that_reads_back_as_the_same_double) {
    char out[SLUNG_DOUBLE_CHARS_MAX];
    for (int i = 0; i < 20000; i++) {
        double v;
        uint64_t b = rng_next();
        memcpy(&v, &b, sizeof(v));
        if (!isfinite(v) || v == 0) continue;
        CHECK_MSG(matches_glibc(v, out, sizeof out), "%.17g printed as %s", v, out);
    }
    /* Values people write, powers of two (lopsided intervals) and the extremes. */
    const double special[] = {0.1,
                              0.3,
                              105.3,
                              23.5,
                              1.0 / 3,
                              2.0 / 3,
                              123456789.125,
                              9007199254740993.0,
                              5e-324,
                              2.2250738585072014e-308,
                              1.7976931348623157e308,
                              1e22,
                              1e23,
                              4.35,
                              0.000001};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        CHECK_MSG(matches_glibc(special[i], out, sizeof out), "%.17g printed as %s", special[i],
                  out);
    for (int e = -1074; e <= 1023; e++) {
        double v = ldexp(1.0, e);
        CHECK_MSG(matches_glibc(v, out, sizeof out), "2^%d printed as %s", e, out);
    }
}

TEST(doubles_are_laid_out_like_javascript_numbers) {
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {105.3, "105.3"},
        {100.0, "100"},
        {-2.5, "-2.5"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {0.000001, "0.000001"},
        {1e-7, "1e-7"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {0.0, "0"},
        {-0.0, "-0"},
        {1.5e300, "1.5e+300"},
    };
    char out[SLUNG_DOUBLE_CHARS_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ_INT(slung_format_double(out, sizeof out, cases[i].v), strlen(cases[i].text));
        CHECK_EQ_STR(out, cases[i].text);
    }
    slung_format_double(out, sizeof out, NAN);
    CHECK_EQ_STR(out, "NaN");
    slung_format_double(out, sizeof out, -INFINITY);
    CHECK_EQ_STR(out, "-inf");
    /* A short buffer gets a NUL-terminated prefix; the return value is the full length. */
    CHECK_EQ_INT(slung_format_double(out, 4, 123456.5), 8);
    CHECK_EQ_STR(out, "123");
}

TEST(json_numbers_parse_exactly_in_the_fast_range_and_within_one_ulp_beyond) {
    char text[64];
    for (int i = 0; i < 20000; i++) {
        uint64_t m = rng_next() % 9007199254740992ull;
        int e = (int)(rng_next() % 45) - 22;
        snprintf(text, sizeof text, "%s%" PRIu64 "e%d", (i & 1) ? "-" : "", m, e);
        double got;
        CHECK_EQ_INT(slung_parse_double(text, strlen(text), &got), 0);
        CHECK_MSG(bits_of(got) == bits_of(strtod(text, NULL)), "%s parsed as %.17g", text, got);
    }
    for (int i = 0; i < 20000; i++) {
        double v;
        uint64_t b = rng_next() & ~(1ull << 63);
        memcpy(&v, &b, sizeof(v));
        if (!isfinite(v)) continue;
        snprintf(text, sizeof text, "%.25e", v);
        double got;
        CHECK_EQ_INT(slung_parse_double(text, strlen(text), &got), 0);
        int64_t ulps = (int64_t)(bits_of(got) - bits_of(v));
        CHECK_MSG(ulps >= -1 && ulps <= 1, "%s parsed %lld ulps away", text, (long long)ulps);
    }
    double v;
    CHECK_EQ_INT(slung_parse_double("-0.000123", 9, &v), 0);
    CHECK(v == -0.000123);
    CHECK_EQ_INT(slung_parse_double("1e400", 5, &v), 0);
    CHECK(isinf(v));
    CHECK_EQ_INT(slung_parse_double("1e-400", 6, &v), 0);
    CHECK(v == 0.0);
}

TEST(text_that_is_not_a_json_number_is_refused) {
    const char *bad[] = {"",   "-",  "01",  "1.",  ".5",   "1e", "1e+",
                         "+1", "1x", "NaN", "inf", "0x10", " 1"};
    double v;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(slung_parse_double(bad[i], strlen(bad[i]), &v) == SLUNG_EINVAL, "\"%s\" accepted",
                  bad[i]);
}

TEST(snprintf_subset_formats_what_examples_use_and_reports_the_full_length) {
    char out[128];
    int n = slung_snprintf(out, sizeof out,
                           "{\"timestamp\":%lld,\"value\":%g,\"status\":\"%s\",\"n\":%zu}",
                           (long long)1709481600000000000LL, 105.3, "high", (size_t)3);
    CHECK_EQ_STR(out,
                 "{\"timestamp\":1709481600000000000,\"value\":105.3,\"status\":\"high\",\"n\":3}");
    CHECK_EQ_INT(n, strlen(out));
    slung_snprintf(out, sizeof out, "%d %i %u %x %c %% %ld %llu", -42, 7, 4000000000u, 255u, 'z',
                   -5L, 18446744073709551615ull);
    CHECK_EQ_STR(out, "-42 7 4000000000 ff z % -5 18446744073709551615");
    slung_snprintf(out, sizeof out, "%lld", (long long)INT64_MIN);
    CHECK_EQ_STR(out, "-9223372036854775808");
    char small[6];
    CHECK_EQ_INT(slung_snprintf(small, sizeof small, "abc%sdef", "123"), 9);
    CHECK_EQ_STR(small, "abc12");
    CHECK_EQ_INT(slung_snprintf(NULL, 0, "%g", 0.5), 3);
}

static int parse(const char *json, slung__event_store *s) {
    return slung__event_parse((const uint8_t *)json, strlen(json), s);
}

TEST(event_json_of_the_query_spec_parses_into_all_four_fields) {
    slung__event_store s;
    CHECK_EQ_INT(parse("{\"timestamp\":1709481600000000000,\"value\":23.5,\"tags\":[\"sensor=1\","
                       "\"unit=c\"],\"producers\":[3,7]}",
                       &s),
                 0);
    CHECK_EQ_INT(s.ev.timestamp, 1709481600000000000LL);
    CHECK(s.ev.value == 23.5);
    CHECK_EQ_INT(s.ev.tag_count, 2);
    CHECK_EQ_STR(s.ev.tags[0], "sensor=1");
    CHECK_EQ_STR(s.ev.tags[1], "unit=c");
    CHECK_EQ_INT(s.ev.producer_count, 2);
    CHECK_EQ_U64(s.ev.producers[0], 3);
    CHECK_EQ_U64(s.ev.producers[1], 7);
    slung__event_store_free(&s);

    /* Any field order, whitespace, null value, escapes, unknown (nested) fields. */
    CHECK_EQ_INT(parse(" { \"producers\" : [ ] , \"extra\" : {\"a\":[1,{\"b\":null}],\"c\":true},"
                       " \"tags\":[\"k=caf\\u00e9\",\"q=\\\"x\\\"\\n\",\"e=\\ud83d\\ude00\"],"
                       "\"value\":null,\"timestamp\":-9223372036854775808 } ",
                       &s),
                 0);
    CHECK(isnan(s.ev.value));
    CHECK_EQ_INT(s.ev.timestamp, INT64_MIN);
    CHECK_EQ_INT(s.ev.producer_count, 0);
    CHECK_EQ_INT(s.ev.tag_count, 3);
    CHECK_EQ_STR(s.ev.tags[0], "k=caf\xc3\xa9");
    CHECK_EQ_STR(s.ev.tags[1], "q=\"x\"\n");
    CHECK_EQ_STR(s.ev.tags[2], "e=\xf0\x9f\x98\x80");
    slung__event_store_free(&s);

    /* Many tags and producers grow their arrays. */
    char big[8192];
    size_t k = (size_t)snprintf(big, sizeof big, "{\"timestamp\":1,\"value\":2,\"tags\":[");
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%s\"t%d=v\"", i ? "," : "", i);
    k += (size_t)snprintf(big + k, sizeof big - k, "],\"producers\":[");
    for (int i = 0; i < 200; i++)
        k += (size_t)snprintf(big + k, sizeof big - k, "%s%d", i ? "," : "", i);
    snprintf(big + k, sizeof big - k, ",18446744073709551615]}");
    CHECK_EQ_INT(parse(big, &s), 0);
    CHECK_EQ_INT(s.ev.tag_count, 200);
    CHECK_EQ_STR(s.ev.tags[199], "t199=v");
    CHECK_EQ_INT(s.ev.producer_count, 201);
    CHECK_EQ_U64(s.ev.producers[200], UINT64_MAX);
    slung__event_store_free(&s);
}

TEST(malformed_or_hostile_events_are_refused_without_reading_past_the_buffer) {
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"value\":1,\"tags\":[],\"producers\":[]}",                   /* no timestamp */
        "{\"timestamp\":1,\"tags\":[],\"producers\":[]}",               /* no value */
        "{\"timestamp\":1,\"value\":1,\"producers\":[]}",               /* no tags */
        "{\"timestamp\":1,\"value\":1,\"tags\":[]}",                    /* no producers */
        "{\"timestamp\":1.5,\"value\":1,\"tags\":[],\"producers\":[]}", /* not an integer */
        "{\"timestamp\":9223372036854775808,\"value\":1,\"tags\":[],\"producers\":[]}",
        "{\"timestamp\":1,\"value\":\"1\",\"tags\":[],\"producers\":[]}",
        "{\"timestamp\":1,\"value\":1,\"tags\":[1],\"producers\":[]}",
        "{\"timestamp\":1,\"value\":1,\"tags\":[],\"producers\":[-1]}",
        "{\"timestamp\":1,\"value\":1,\"tags\":[],\"producers\":[18446744073709551616]}",
        "{\"timestamp\":1,\"timestamp\":2,\"value\":1,\"tags\":[],\"producers\":[]}",
        "{\"timestamp\":1,\"value\":1,\"tags\":[],\"producers\":[]}x",
        "{\"timestamp\":1,\"value\":1,\"tags\":[\"a\tb\"],\"producers\":[]}",    /* raw control */
        "{\"timestamp\":1,\"value\":1,\"tags\":[\"\\ud800\"],\"producers\":[]}", /* lone surrogate
                                                                                  */
        "{\"timestamp\":1,\"value\":1,\"tags\":[\"\\x\"],\"producers\":[]}",
        "{\"timestamp\":1,\"value\":1,\"tags\":[],\"producers\":[],}",
        "{\"timestamp\":1,\"value\":1,\"tags\":[],\"producers\":[],\"z\":tru}",
    };
    slung__event_store s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(parse(bad[i], &s) == SLUNG_EBADEVENT, "accepted %s", bad[i]);

    /* Every proper prefix of a valid event is refused; each is its own allocation, so
     * AddressSanitizer would catch a read past the end. */
    const char *good =
        "{\"timestamp\":1,\"value\":-2.5e3,\"tags\":[\"s=\\u0041\"],\"producers\":[9],"
        "\"x\":[{\"y\":\"z\"}]}";
    for (size_t n = 0; n < strlen(good); n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, good, n);
        int rc = slung__event_parse(copy, n, &s);
        free(copy);
        CHECK_MSG(rc == SLUNG_EBADEVENT, "prefix of %zu bytes accepted", n);
    }
    CHECK_EQ_INT(parse(good, &s), 0);
    CHECK(s.ev.value == -2500.0);
    CHECK_EQ_STR(s.ev.tags[0], "s=A");
    slung__event_store_free(&s);

    /* Nesting beyond SLUNG_JSON_DEPTH_MAX in an unknown field is refused, not recursed. */
    char deep[4096];
    size_t k = (size_t)snprintf(deep, sizeof deep,
                                "{\"timestamp\":1,\"value\":1,\"tags\":[],\"producers\":[],\"d\":");
    for (int i = 0; i < 1000; i++)
        deep[k++] = '[';
    for (int i = 0; i < 1000; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    CHECK_EQ_INT(parse(deep, &s), SLUNG_EBADEVENT);
}
