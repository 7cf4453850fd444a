/* parse_test.c - the query language: what parses, what it means, and how errors read. */
#include "base/buf.h"
#include "base/serieskey.h"
#include "query/query_internal.h"
#include "query_test_util.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

#define NOW 1700000000000000000ll
#define MIN_NS 60000000000ll
#define H_NS 3600000000000ll

static query *parse_ok(const char *s) {
    query *q = NULL;
    sl_diag d;
    sl_diag_clear(&d);
    int rc = query_parse(s, strlen(s), NOW, &q, &d);
    if (rc != 0) {
        test_fail(__FILE__, __LINE__, "'%s' did not parse: %s", s, d.msg);
        return NULL;
    }
    return q;
}

/* Builds a key for name + tags (NULL-terminated list). */
static void key_of(buf *b, const char *name, const char **tags) {
    buf_reset(b);
    qt_key(b, name, tags);
}

static bool matches(const query *q, const char **tags) {
    buf b;
    buf_init(&b, MEM_MISC, 0);
    key_of(&b, "cpu", tags);
    bool r = qmatch__key(q, b.p, b.len);
    buf_free(&b);
    return r;
}

TEST(spec_examples_parse_with_their_meaning) {
    query *q = parse_ok("AVG:temp:[sensor=1]");
    CHECK(q);
    CHECK_EQ_INT(q->agg, Q_AVG);
    CHECK_EQ_INT(q->name_len, 4);
    CHECK(memcmp(q->text + q->name_off, "temp", 4) == 0);
    CHECK_EQ_INT(q->range, Q_RANGE_ALL);
    CHECK_EQ_INT(q->tag_count, 1);
    query_free(q);

    q = parse_ok("AVG:cpu:[host=prod]:[5min]");
    CHECK(q);
    CHECK_EQ_INT(q->range, Q_RANGE_SPAN);
    CHECK_EQ_INT(q->span_ns, 5 * MIN_NS);
    CHECK_EQ_INT(q->t0_ns, NOW - 5 * MIN_NS);
    CHECK_EQ_INT(q->t1_ns, NOW);
    query_free(q);

    q = parse_ok("SUM:req:[env=prod AND NOT region=eu]:[1h,now]");
    CHECK(q);
    CHECK_EQ_INT(q->agg, Q_SUM);
    CHECK_EQ_INT(q->range, Q_RANGE_FIXED);
    CHECK_EQ_INT(q->t0_ns, NOW - H_NS);
    CHECK_EQ_INT(q->t1_ns, NOW);
    CHECK(matches(q, (const char *[]){"env=prod", "region=us", NULL}));
    CHECK(!matches(q, (const char *[]){"env=prod", "region=eu", NULL}));
    query_free(q);
}

TEST(keywords_aggregates_and_units_are_case_insensitive) {
    query *q = parse_ok("avg:cpu:[a=1 and not b=2 Or c=3]:[1H, NOW]");
    CHECK(q);
    CHECK_EQ_INT(q->agg, Q_AVG);
    CHECK_EQ_INT(q->t0_ns, NOW - H_NS);
    query_free(q);
    const char *ok[] = {"count:x:[]",        "Max:x:[]",         "stddev:x:[]", "last:x:[]",
                        "FIRST:x:[]",        "p99:x:[]",         "P50:x:[]",    "P99.9:x:[]",
                        "min:x:[]:[2Weeks]", "SUM:x:[]:[3 days]"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (i == 9) continue; /* a space inside a duration is not allowed; see the bad table */
        q = parse_ok(ok[i]);
        CHECK_MSG(q, "%s", ok[i]);
        query_free(q);
    }
}

TEST(every_unit_and_plural_means_its_length) {
    static const struct {
        const char *r;
        int64_t ns;
    } cases[] = {
        {"[7ns]", 7},
        {"[7us]", 7000},
        {"[7ms]", 7000000},
        {"[7s]", 7000000000},
        {"[7sec]", 7000000000},
        {"[7secs]", 7000000000},
        {"[7m]", 7 * MIN_NS},
        {"[7min]", 7 * MIN_NS},
        {"[7mins]", 7 * MIN_NS},
        {"[7h]", 7 * H_NS},
        {"[7hr]", 7 * H_NS},
        {"[7hrs]", 7 * H_NS},
        {"[7d]", 7 * 24 * H_NS},
        {"[7day]", 7 * 24 * H_NS},
        {"[7days]", 7 * 24 * H_NS},
        {"[1w]", 7 * 24 * H_NS},
        {"[1week]", 7 * 24 * H_NS},
        {"[2weeks]", 14 * 24 * H_NS},
        {"[7hours]", 7 * H_NS},
        {"[7minutes]", 7 * MIN_NS},
        {"[7seconds]", 7000000000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[64];
        snprintf(text, sizeof(text), "SUM:x:[]:%s", cases[i].r);
        query *q = parse_ok(text);
        CHECK_MSG(q, "%s", text);
        CHECK_MSG(q->span_ns == cases[i].ns, "%s: %lld", text, (long long)q->span_ns);
        query_free(q);
    }
}

TEST(two_time_range_is_normalised_and_accepts_integers_and_now) {
    query *q = parse_ok("SUM:x:[]:[now,2h]");
    CHECK(q);
    CHECK_EQ_INT(q->t0_ns, NOW - 2 * H_NS);
    CHECK_EQ_INT(q->t1_ns, NOW);
    CHECK(q->t1_is_now);
    query_free(q);
    q = parse_ok("SUM:x:[]:[2000,1000]");
    CHECK(q);
    CHECK_EQ_INT(q->t0_ns, 1000);
    CHECK_EQ_INT(q->t1_ns, 2000);
    CHECK(!q->t1_is_now);
    query_free(q);
    q = parse_ok("SUM:x:[]:[-5,5]");
    CHECK(q);
    CHECK_EQ_INT(q->t0_ns, -5);
    query_free(q);
}

TEST(tag_expressions_evaluate_left_to_right_without_precedence) {
    /* a OR b AND c = (a OR b) AND c, unlike the usual precedence. */
    query *q = parse_ok("SUM:cpu:[a=1 OR b=1 AND c=1]");
    CHECK(q);
    CHECK(!matches(q, (const char *[]){"a=1", NULL}));
    CHECK(matches(q, (const char *[]){"a=1", "c=1", NULL}));
    CHECK(matches(q, (const char *[]){"b=1", "c=1", NULL}));
    query_free(q);
    /* Parentheses change the grouping. */
    q = parse_ok("SUM:cpu:[a=1 OR (b=1 AND c=1)]");
    CHECK(q);
    CHECK(matches(q, (const char *[]){"a=1", NULL}));
    CHECK(!matches(q, (const char *[]){"b=1", NULL}));
    query_free(q);
}

TEST(unary_and_binary_not_and_empty_brackets_match_as_documented) {
    query *q = parse_ok("SUM:cpu:[NOT a=1]");
    CHECK(q);
    CHECK(matches(q, (const char *[]){"b=1", NULL}));
    CHECK(!matches(q, (const char *[]){"a=1", NULL}));
    query_free(q);
    q = parse_ok("SUM:cpu:[NOT NOT a=1]");
    CHECK(q);
    CHECK(matches(q, (const char *[]){"a=1", NULL}));
    query_free(q);
    q = parse_ok("SUM:cpu:[a=1 NOT b=1]");
    CHECK(q);
    CHECK(matches(q, (const char *[]){"a=1", NULL}));
    CHECK(!matches(q, (const char *[]){"a=1", "b=1", NULL}));
    query_free(q);
    q = parse_ok("SUM:cpu:[]");
    CHECK(q);
    CHECK(q->root < 0);
    CHECK(matches(q, (const char *[]){NULL}));
    CHECK(matches(q, (const char *[]){"z=9", NULL}));
    query_free(q);
    q = parse_ok("SUM:cpu:[  ]");
    CHECK(q);
    CHECK(q->root < 0);
    query_free(q);
}

TEST(thirty_two_tags_are_accepted_and_thirty_three_are_not) {
    char text[1024];
    strcpy(text, "SUM:x:[t0=1");
    for (int i = 1; i < 32; i++)
        sprintf(text + strlen(text), " OR t%d=1", i);
    strcat(text, "]");
    query *q = parse_ok(text);
    CHECK(q);
    CHECK_EQ_INT(q->tag_count, 32);
    query_free(q);
    text[strlen(text) - 1] = '\0';
    strcat(text, " OR t32=1]");
    sl_diag d;
    CHECK_EQ_INT(query_parse(text, strlen(text), NOW, &q, &d), SL_EPARSE);
    CHECK(q == NULL);
    CHECK(strstr(d.msg, "more than 32 tags") != NULL);
}

TEST(group_by_time_and_extension_aggregates_parse) {
    query *q = parse_ok("AVG:cpu:[host=prod]:[1h]:1m");
    CHECK(q);
    CHECK_EQ_INT(q->bucket_ns, MIN_NS);
    query_free(q);
    q = parse_ok("P99.9:cpu:[]");
    CHECK(q);
    CHECK_EQ_INT(q->agg, Q_PCT);
    CHECK(fabs(q->pct - 99.9) < 1e-9);
    query_free(q);
}

TEST(required_tag_is_found_only_where_every_match_needs_it) {
    uint32_t off;
    uint32_t len;
    query *q = parse_ok("SUM:x:[NOT a=1 AND b=2]");
    CHECK(q);
    CHECK_EQ_INT(qmatch__required_tag(q, &off, &len), 1);
    CHECK(len == 3 && memcmp(q->text + off, "b=2", 3) == 0);
    query_free(q);
    q = parse_ok("SUM:x:[a=1 OR b=2]");
    CHECK(q);
    CHECK_EQ_INT(qmatch__required_tag(q, &off, &len), 0);
    query_free(q);
    q = parse_ok("SUM:x:[a=1 NOT b=2]");
    CHECK(q);
    CHECK_EQ_INT(qmatch__required_tag(q, &off, &len), 1);
    CHECK(len == 3 && memcmp(q->text + off, "a=1", 3) == 0);
    query_free(q);
}

/* ---- malformed queries: each gets a clear error naming what and where ---- */

static const struct {
    const char *text;
    const char *msg; /* expected substring of the message */
} bad[] = {
    {"", "missing aggregate (AVG, MIN, MAX, SUM, COUNT...) at column 1"},
    {":cpu:[]", "missing aggregate"},
    {"AVGX:cpu:[]", "unknown aggregate 'AVGX' at column 1"},
    {"AVG", "expected ':' after the aggregate at column 4"},
    {"AVG:", "missing series name at column 5"},
    {"AVG::[]", "missing series name at column 5"},
    {"AVG:cpu", "expected ':' and a tag list after the series name at column 8"},
    {"AVG:cpu:", "expected '[' at column 9"},
    {"AVG:cpu:host=a", "expected '[' at column 9"},
    {"AVG:cpu:[host=a", "expected ']' at column 16"},
    {"AVG:cpu:[host=a:[1h]", "expected ']' at column 16"},
    {"SUM:req:[env=prod AND", "expected a tag at column 22"},
    {"SUM:req:[env=prod AND ]", "expected a tag at column 23"},
    {"SUM:req:[AND a=1]", "expected a tag at column 10, found 'AND'"},
    {"SUM:req:[a=1 b=2]", "expected AND, OR, NOT or ']' at column 14, found 'b=2'"},
    {"SUM:req:[a=1 OR OR b=2]", "expected a tag at column 17, found 'OR'"},
    {"SUM:req:[NOT]", "expected a tag at column 13"},
    {"SUM:req:[a=1 NOT]", "expected a tag at column 17"},
    {"SUM:req:[(a=1]", "expected ')' at column 14"},
    {"SUM:req:[a=1)]", "unbalanced ')' at column 13"},
    {"SUM:req:[()]", "empty parentheses at column 10"},
    {"SUM:req:[(a=1 OR b=2]", "expected ')' at column 21"},
    {"SUM:req:[a=[1]]", "unexpected '[' at column 12"},
    {"SUM:req:[a=1]x", "expected ':' or the end of the query at column 14"},
    {"SUM:req:[a=1]:", "expected '[' to open the time range at column 15"},
    {"SUM:req:[a=1]:1h", "expected '[' to open the time range at column 15"},
    {"SUM:req:[a=1]:[", "expected a time"},
    {"SUM:req:[a=1]:[]", "expected a time (now, nanoseconds, or e.g. 5min) at column 16"},
    {"SUM:req:[a=1]:[1h", "expected ',' or ']' at column 18"},
    {"SUM:req:[a=1]:[1h,", "expected a time"},
    {"SUM:req:[a=1]:[1h,now", "expected ']' at column 22"},
    {"SUM:req:[a=1]:[1h,now,2h]", "expected ']' at column 22"},
    {"SUM:req:[a=1]:[5]", "a one-part range must be a span such as 5min at column 16"},
    {"SUM:req:[a=1]:[now]", "a one-part range must be a span"},
    {"SUM:req:[a=1]:[0min]", "a span must be longer than zero at column 16"},
    {"SUM:req:[a=1]:[5parsecs]", "unknown time unit 'parsecs' at column 17"},
    {"SUM:req:[a=1]:[h]", "expected a number at column 16, found 'h'"},
    {"SUM:req:[a=1]:[-5min,now]", "a duration cannot be negative at column 16"},
    {"SUM:req:[a=1]:[99999999999999999999,now]", "number too large at column 16"},
    {"SUM:req:[a=1]:[9223372036854775808,now]", "number too large at column 16"},
    {"SUM:req:[a=1]:[999999999999w]", "duration too large at column 16"},
    {"SUM:req:[a=1]:[3 days]", "expected ',' or ']' at column 18"},
    {"SUM:req:[a=1]:[1h]:", "expected a time"},
    {"SUM:req:[a=1]:[1h]:now", "a group-by bucket must be a duration such as 1m at column 20"},
    {"SUM:req:[a=1]:[1h]:0s", "a group-by bucket must be longer than zero at column 20"},
    {"SUM:req:[a=1]:[1h]:1m:", "expected the end of the query at column 22"},
    {"SUM:req:[a=1]:[1h]:1m x", "expected the end of the query at column 22"},
    {"P0:x:[]", "unknown aggregate 'P0' at column 1"},
    {"P100:x:[]", "unknown aggregate 'P100'"},
    {"P:x:[]", "unknown aggregate 'P'"},
    {"P9.:x:[]", "unknown aggregate 'P9.'"},
    {"AVG\n:x:[]", "control character in query at column 4"},
    {"SUM:req:[a=1 ANDb=2]", "expected AND, OR, NOT or ']' at column 14, found 'ANDb=2'"},
    {"SUM:req:[NOTa=1]", ""}, /* a tag named NOTa=1: valid, see the good table */
};

TEST(every_malformed_query_in_the_table_gets_a_clear_error_with_its_column) {
    CHECK(sizeof(bad) / sizeof(bad[0]) >= 50);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        query *q = NULL;
        sl_diag d;
        sl_diag_clear(&d);
        int rc = query_parse(bad[i].text, strlen(bad[i].text), NOW, &q, &d);
        if (bad[i].msg[0] == '\0') {
            CHECK_MSG(rc == 0, "'%s' should parse: %s", bad[i].text, d.msg);
            query_free(q);
            continue;
        }
        CHECK_MSG(rc == SL_EPARSE, "'%s' gave rc %d", bad[i].text, rc);
        CHECK_MSG(q == NULL, "'%s' left a query", bad[i].text);
        CHECK_MSG(strstr(d.msg, bad[i].msg) != NULL, "'%s': got \"%s\", want \"%s\"", bad[i].text,
                  d.msg, bad[i].msg);
        CHECK_MSG(strstr(d.msg, "at column") != NULL, "'%s': no column in \"%s\"", bad[i].text,
                  d.msg);
        CHECK_MSG(d.offset >= 1, "'%s': column %u", bad[i].text, d.offset);
    }
}

TEST(deep_parentheses_and_long_queries_are_refused_not_crashed) {
    char text[8192];
    strcpy(text, "SUM:x:[");
    for (int i = 0; i < 40; i++)
        strcat(text, "(");
    strcat(text, "a=1");
    for (int i = 0; i < 40; i++)
        strcat(text, ")");
    strcat(text, "]");
    query *q = NULL;
    sl_diag d;
    CHECK_EQ_INT(query_parse(text, strlen(text), NOW, &q, &d), SL_EPARSE);
    CHECK(strstr(d.msg, "nested deeper than 16") != NULL);
    memset(text, 'a', sizeof(text));
    CHECK_EQ_INT(query_parse(text, sizeof(text), NOW, &q, &d), SL_EPARSE);
    CHECK(strstr(d.msg, "longer than 4096 bytes") != NULL);
    /* Many NOTs: bounded by the token limit, not the stack. */
    strcpy(text, "SUM:x:[");
    for (int i = 0; i < 300; i++)
        strcat(text, "NOT ");
    strcat(text, "a=1]");
    CHECK_EQ_INT(query_parse(text, strlen(text), NOW, &q, &d), SL_EPARSE);
    CHECK(strstr(d.msg, "more than 128 tokens") != NULL);
}

TEST(every_prefix_of_a_valid_query_fails_cleanly_or_parses) {
    const char *full = "P90:cpu.load:[(host=a OR host=b) AND NOT dc=eu]:[-100,2h]:15min";
    for (size_t n = 0; n <= strlen(full); n++) {
        query *q = NULL;
        sl_diag d;
        int rc = query_parse(full, n, NOW, &q, &d);
        CHECK(rc == 0 || rc == SL_EPARSE);
        CHECK((rc == 0) == (q != NULL));
        if (rc == SL_EPARSE) CHECK(d.offset >= 1 && d.offset <= n + 1);
        query_free(q);
    }
}
