/* lineproto_test.c - InfluxDB line protocol for POST /write: a table of lines and
 * the points (or the error) each must give; precision, escapes, limits, batching. */
#include "base/fault.h"
#include "base/mem.h"
#include "ingest/lineproto.h"
#include "test.h"

#include <errno.h>

#define NOW 1000000000000ll

/* Collects emitted points as text lines "key ts value". */
typedef struct sink {
    buf text;
    uint32_t batches;
    uint32_t points;
    uint64_t producer_id;
} sink;

static int sink_emit(point_batch *b, void *arg) {
    sink *s = arg;
    s->batches++;
    s->producer_id = b->producer_id;
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t n;
        const uint8_t *k = point_batch_key(b, i, &n);
        if (s->text.len) buf_putc(&s->text, '\n');
        serieskey_format(&s->text, k, n);
        buf_printf(&s->text, " %" PRId64 " %.17g", b->ts_ns[i], b->value[i]);
        s->points++;
    }
    return 0;
}

typedef struct lp_case {
    const char *in;
    lineproto_precision precision;
    const char *want; /* points as text, or NULL for an error */
    const char *err;  /* a piece of the error message */
} lp_case;

static const lp_case cases[] = {
    /* the measurement series and measurement.field series */
    {"cpu value=1.5 1700000000000000000", LINEPROTO_NS, "cpu 1700000000000000000 1.5", NULL},
    {"cpu,host=a usage=2,value=3 10", LINEPROTO_NS, "cpu.usage,host=a 10 2\ncpu,host=a 10 3", NULL},
    /* tags sorted into the canonical key */
    {"m,z=1,a=2 value=1 5", LINEPROTO_NS, "m,a=2,z=1 5 1", NULL},
    /* numbers: integer, unsigned, exponent, sign, leading dot */
    {"m a=12i,b=12u,c=-1e3,d=+.5,e=-0i 1", LINEPROTO_NS,
     "m.a 1 12\nm.b 1 12\nm.c 1 -1000\nm.d 1 0.5\nm.e 1 0", NULL},
    {"m a=-9223372036854775808i,b=18446744073709551615u 1", LINEPROTO_NS,
     "m.a 1 -9.2233720368547758e+18\nm.b 1 1.8446744073709552e+19", NULL},
    /* booleans */
    {"m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1", LINEPROTO_NS,
     "m.a 1 1\nm.b 1 1\nm.c 1 1\nm.d 1 1\nm.e 1 1\nm.f 1 0\nm.g 1 0\nm.h 1 0\nm.i 1 0\nm.j 1 0",
     NULL},
    /* string fields are parsed and skipped */
    {"m s=\"a \\\"q\\\", b=c\",value=2 1", LINEPROTO_NS, "m 1 2", NULL},
    {"m s=\"only a string\" 1", LINEPROTO_NS, "", NULL},
    /* escapes: measurement comma/space; tag key/value comma/equals/space; field key */
    {"my\\ meas\\,x,t\\ k=v\\=1\\,2 f\\=\\ g=1 1", LINEPROTO_NS, "my meas,x.f= g,t k=v=1,2 1 1",
     NULL},
    /* '=' in a measurement is literal; a backslash before other bytes is literal */
    {"a=b,t=x\\y value=1 1", LINEPROTO_NS, "a=b,t=x\\y 1 1", NULL},
    /* precision */
    {"m value=1 1", LINEPROTO_US, "m 1000 1", NULL},
    {"m value=1 1", LINEPROTO_MS, "m 1000000 1", NULL},
    {"m value=1 -2", LINEPROTO_S, "m -2000000000 1", NULL},
    /* missing timestamp: the request's time */
    {"m value=1", LINEPROTO_S, "m 1000000000000 1", NULL},
    {"m value=1   ", LINEPROTO_NS, "m 1000000000000 1", NULL},
    /* blank lines, comments, CRLF, leading spaces, several lines */
    {"# comment\n\n  m value=1 1\r\nm value=2 2\n", LINEPROTO_NS, "m 1 1\nm 2 2", NULL},
    /* errors, each with line and column */
    {"m", LINEPROTO_NS, NULL, "line 1: expected ' ' and fields after measurement at column 2"},
    {"m value", LINEPROTO_NS, NULL, "line 1: expected '=' after field key at column 8"},
    {"ok value=1\n\ncpu,host=a usage 5", LINEPROTO_NS, NULL,
     "line 3: expected '=' after field key at column 17"},
    {"m,host value=1", LINEPROTO_NS, NULL, "line 1: expected '=' after tag key at column 7"},
    {"m,=a value=1", LINEPROTO_NS, NULL, "line 1: empty tag key at column 3"},
    {"m,a= value=1", LINEPROTO_NS, NULL, "line 1: empty tag value at column 5"},
    {",a=1 value=1", LINEPROTO_NS, NULL, "line 1: empty measurement at column 1"},
    {"m =1", LINEPROTO_NS, NULL, "line 1: empty field key at column 3"},
    {"m a=", LINEPROTO_NS, NULL, "line 1: missing field value at column 5"},
    {"m a=,b=1", LINEPROTO_NS, NULL, "line 1: missing field value at column 5"},
    {"m a=1,", LINEPROTO_NS, NULL, "line 1: empty field key at column 7"},
    {"m a=1x", LINEPROTO_NS, NULL, "line 1: invalid field value at column 5"},
    {"m a=nan", LINEPROTO_NS, NULL, "invalid field value"},
    {"m a=inf", LINEPROTO_NS, NULL, "invalid field value"},
    {"m a=1e", LINEPROTO_NS, NULL, "invalid field value"},
    {"m a=1.2.3", LINEPROTO_NS, NULL, "invalid field value"},
    {"m a=1e999", LINEPROTO_NS, NULL, "float field value out of range"},
    {"m a=9223372036854775808i", LINEPROTO_NS, NULL, "invalid integer field value"},
    {"m a=-1u", LINEPROTO_NS, NULL, "invalid unsigned field value"},
    {"m a=\"open", LINEPROTO_NS, NULL, "line 1: unterminated string at column 5"},
    {"m a=1 12x", LINEPROTO_NS, NULL, "line 1: invalid timestamp at column 7"},
    {"m a=1 12 13", LINEPROTO_NS, NULL, "unexpected bytes after timestamp at column 10"},
    {"m a=1 9223372036854775807", LINEPROTO_S, NULL, "timestamp out of range for its precision"},
    {"m a=1 99999999999999999999", LINEPROTO_NS, NULL, "invalid timestamp"},
    {"m a=TRUE1", LINEPROTO_NS, NULL, "invalid field value"},
};

static void run_case(lineproto_parser *lp, const lp_case *c) {
    sink s = {0};
    point_batch b;
    sl_diag d;
    sl_diag_clear(&d);
    buf_init(&s.text, MEM_MISC, 0);
    point_batch_init(&b);
    long rc = lineproto_parse(lp, (const uint8_t *)c->in, strlen(c->in), c->precision, NOW, &b,
                              sink_emit, &s, &d);
    if (c->want) {
        CHECK_MSG(rc >= 0, "'%s': rc %ld: %s", c->in, rc, d.msg);
        CHECK_MSG(strcmp(buf_cstr(&s.text), c->want) == 0, "'%s': got\n%s\nwant\n%s", c->in,
                  buf_cstr(&s.text), c->want);
        CHECK_MSG((uint32_t)rc == s.points, "'%s': returned %ld for %u points", c->in, rc,
                  s.points);
    } else {
        CHECK_MSG(rc == SL_EPARSE || rc == SL_ELIMIT, "'%s': rc %ld", c->in, rc);
        CHECK_MSG(strstr(d.msg, c->err) != NULL, "'%s': message \"%s\" lacks \"%s\"", c->in, d.msg,
                  c->err);
        CHECK_MSG(s.points == 0, "'%s': emitted %u points before failing", c->in, s.points);
    }
    buf_free(&s.text);
    point_batch_free(&b);
}

TEST(line_protocol_table_gives_the_documented_points_or_error) {
    lineproto_parser lp;
    lineproto_limits l;
    lineproto_limits_default(&l);
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        run_case(&lp, &cases[i]);
        if (test_failed()) break;
    }
    lineproto_parser_free(&lp);
}

TEST(error_offset_points_at_the_bad_byte_of_the_body) {
    lineproto_parser lp;
    lineproto_limits l;
    point_batch b;
    sink s = {0};
    sl_diag d;
    const char *body = "ok value=1\ncpu usage 5";
    lineproto_limits_default(&l);
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    point_batch_init(&b);
    buf_init(&s.text, MEM_MISC, 0);
    CHECK_EQ_INT(lineproto_parse(&lp, (const uint8_t *)body, strlen(body), LINEPROTO_NS, NOW, &b,
                                 sink_emit, &s, &d),
                 SL_EPARSE);
    CHECK_EQ_INT(d.offset, 20); /* the ' ' after "usage" */
    CHECK(body[d.offset] == ' ');
    buf_free(&s.text);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
}

TEST(a_bad_last_line_means_no_point_of_the_request_is_written) {
    lineproto_parser lp;
    lineproto_limits l;
    point_batch b;
    sink s = {0};
    sl_diag d;
    buf body;
    buf_init(&body, MEM_MISC, 0);
    for (int i = 0; i < 1000; i++)
        buf_printf(&body, "m,i=%d value=%d %d\n", i, i, i);
    buf_puts(&body, "m value=oops 1\n");
    lineproto_limits_default(&l);
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    point_batch_init(&b);
    buf_init(&s.text, MEM_MISC, 0);
    CHECK_EQ_INT(lineproto_parse(&lp, body.p, body.len, LINEPROTO_NS, NOW, &b, sink_emit, &s, &d),
                 SL_EPARSE);
    CHECK(strstr(d.msg, "line 1001:") != NULL);
    CHECK_EQ_INT(s.points, 0);
    CHECK_EQ_INT(s.batches, 0);
    buf_free(&s.text);
    buf_free(&body);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
}

TEST(large_request_is_emitted_in_batches_of_at_most_batch_points_max) {
    lineproto_parser lp;
    lineproto_limits l;
    point_batch b;
    sink s = {0};
    buf body;
    const uint32_t lines = BATCH_POINTS_MAX / 2 + 10; /* two fields a line */
    buf_init(&body, MEM_MISC, 0);
    for (uint32_t i = 0; i < lines; i++)
        buf_printf(&body, "m a=%u,b=1 %u\n", i, i);
    lineproto_limits_default(&l);
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    point_batch_init(&b);
    b.producer_id = 42;
    buf_init(&s.text, MEM_MISC, 0);
    long rc = lineproto_parse(&lp, body.p, body.len, LINEPROTO_NS, NOW, &b, sink_emit, &s, NULL);
    CHECK_EQ_INT(rc, 2 * (long)lines);
    CHECK_EQ_INT(s.batches, 2);
    CHECK_EQ_INT(s.points, 2 * lines);
    CHECK_EQ_U64(s.producer_id, 42);
    CHECK_EQ_INT(b.count, 0);
    buf_free(&s.text);
    buf_free(&body);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
}

static int emit_key_bytes(point_batch *b, void *arg) {
    size_t *max = arg;
    if (b->keys_len > *max) *max = b->keys_len;
    return 0;
}

TEST(lines_whose_tags_repeat_in_every_field_key_are_emitted_in_bounded_batches) {
    /* 64 lines of ~8 KiB tags and 1,000 fields: ~500 MiB of keys if unbounded. */
    lineproto_parser lp;
    lineproto_limits l;
    point_batch b;
    buf body;
    size_t max_keys = 0;
    lineproto_limits_default(&l);
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    point_batch_init(&b);
    buf_init(&body, MEM_MISC, 0);
    for (int line = 0; line < 64; line++) {
        buf_printf(&body, "m,t=");
        for (int i = 0; i < 8000; i++)
            buf_putc(&body, (char)('a' + (i + line) % 26));
        buf_putc(&body, ' ');
        for (int f = 0; f < 1000; f++)
            buf_printf(&body, "%sf%d=1", f ? "," : "", f);
        buf_printf(&body, " %d\n", line);
    }
    CHECK(!buf_failed(&body));
    long rc = lineproto_parse(&lp, body.p, body.len, LINEPROTO_NS, NOW, &b, emit_key_bytes,
                              &max_keys, NULL);
    CHECK_EQ_INT(rc, 64000);
    CHECK(max_keys <= LINEPROTO_BATCH_KEY_BYTES_MAX);
    CHECK(max_keys > LINEPROTO_BATCH_KEY_BYTES_MAX / 2);
    buf_free(&body);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
}

TEST(line_length_line_count_tag_and_field_limits_are_errors_naming_the_line) {
    lineproto_parser lp;
    lineproto_limits l = {.line_bytes_max = 20, .lines_max = 3, .tags_max = 2};
    point_batch b;
    sink s = {0};
    sl_diag d;
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    point_batch_init(&b);
    buf_init(&s.text, MEM_MISC, 0);
    const char *longline = "m value=1\nm value=1234567890123456";
    CHECK_EQ_INT(lineproto_parse(&lp, (const uint8_t *)longline, strlen(longline), LINEPROTO_NS,
                                 NOW, &b, sink_emit, &s, &d),
                 SL_ELIMIT);
    CHECK_EQ_STR(d.msg, "line 2: longer than the limit of 20 bytes");
    const char *many = "m value=1\n\n#c\nm value=2";
    CHECK_EQ_INT(lineproto_parse(&lp, (const uint8_t *)many, strlen(many), LINEPROTO_NS, NOW, &b,
                                 sink_emit, &s, &d),
                 SL_ELIMIT);
    CHECK_EQ_STR(d.msg, "line 4: more than 3 lines in one request");
    const char *exact = "m value=1\n\nm value=2\n"; /* a final newline is not a line */
    CHECK_EQ_INT(lineproto_parse(&lp, (const uint8_t *)exact, strlen(exact), LINEPROTO_NS, NOW, &b,
                                 sink_emit, &s, &d),
                 2);
    const char *tags = "m,a=1,b=2,c=3 v=1";
    CHECK_EQ_INT(lineproto_parse(&lp, (const uint8_t *)tags, strlen(tags), LINEPROTO_NS, NOW, &b,
                                 sink_emit, &s, &d),
                 SL_ELIMIT);
    CHECK_EQ_STR(d.msg, "line 1: more than 2 tags at column 11");
    lineproto_parser_free(&lp);
    lineproto_limits_default(&l);
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    buf fields;
    buf_init(&fields, MEM_MISC, 0);
    buf_puts(&fields, "m ");
    for (uint32_t i = 0; i <= LINEPROTO_FIELDS_MAX; i++)
        buf_printf(&fields, "%sf%u=1", i ? "," : "", i);
    CHECK_EQ_INT(
        lineproto_parse(&lp, fields.p, fields.len, LINEPROTO_NS, NOW, &b, sink_emit, &s, &d),
        SL_ELIMIT);
    CHECK(strstr(d.msg, "line 1: more than 1024 fields") != NULL);
    buf_free(&fields);
    /* Names past a series key's u16 are refused in the checking pass, before any
     * point of the request is emitted. */
    lineproto_parser_free(&lp);
    l.line_bytes_max = 1u << 20;
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    buf big;
    buf_init(&big, MEM_MISC, 0);
    buf_puts(&big, "ok value=1\n");
    for (int i = 0; i < 70000; i++)
        buf_putc(&big, 'm');
    buf_puts(&big, " value=1\n");
    uint32_t before = s.points;
    CHECK_EQ_INT(lineproto_parse(&lp, big.p, big.len, LINEPROTO_NS, NOW, &b, sink_emit, &s, &d),
                 SL_ELIMIT);
    CHECK_EQ_STR(d.msg, "line 2: measurement longer than 65535 bytes at column 1");
    buf_reset(&big);
    buf_puts(&big, "ok value=1\nm ");
    for (int i = 0; i < 70000; i++)
        buf_putc(&big, 'f');
    buf_puts(&big, "=1\n");
    CHECK_EQ_INT(lineproto_parse(&lp, big.p, big.len, LINEPROTO_NS, NOW, &b, sink_emit, &s, &d),
                 SL_ELIMIT);
    CHECK(strstr(d.msg, "line 2: series name measurement.field longer than 65535 bytes") != NULL);
    CHECK_EQ_INT(s.points, before);
    buf_free(&big);
    buf_free(&s.text);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
}

TEST(precision_names_of_influxdb_v1_are_accepted_and_others_refused) {
    lineproto_precision p;
    CHECK_EQ_INT(lineproto_precision_parse("ns", 2, &p), 0);
    CHECK_EQ_INT(p, LINEPROTO_NS);
    CHECK_EQ_INT(lineproto_precision_parse("n", 1, &p), 0);
    CHECK_EQ_INT(p, LINEPROTO_NS);
    CHECK_EQ_INT(lineproto_precision_parse("us", 2, &p), 0);
    CHECK_EQ_INT(p, LINEPROTO_US);
    CHECK_EQ_INT(lineproto_precision_parse("u", 1, &p), 0);
    CHECK_EQ_INT(p, LINEPROTO_US);
    CHECK_EQ_INT(lineproto_precision_parse("ms", 2, &p), 0);
    CHECK_EQ_INT(p, LINEPROTO_MS);
    CHECK_EQ_INT(lineproto_precision_parse("s", 1, &p), 0);
    CHECK_EQ_INT(p, LINEPROTO_S);
    CHECK_EQ_INT(lineproto_precision_parse("h", 1, &p), SL_EINVAL);
    CHECK_EQ_INT(lineproto_precision_parse("", 0, &p), SL_EINVAL);
    CHECK_EQ_INT(lineproto_precision_parse("nss", 3, &p), SL_EINVAL);
}

static int emit_refuse(point_batch *b, void *arg) {
    (void)b;
    (void)arg;
    return -EIO;
}

TEST(an_emit_failure_stops_parsing_and_is_returned) {
    lineproto_parser lp;
    lineproto_limits l;
    point_batch b;
    sl_diag d;
    lineproto_limits_default(&l);
    CHECK_EQ_INT(lineproto_parser_init(&lp, &l), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(lineproto_parse(&lp, (const uint8_t *)"m value=1", 9, LINEPROTO_NS, NOW, &b,
                                 emit_refuse, NULL, &d),
                 -EIO);
    CHECK_EQ_INT(b.count, 0);
    /* Not the body's fault: no line number, and it says how far it got. */
    CHECK(strncmp(d.msg, "storing points failed after 0 of them: ", 39) == 0);
    point_batch_free(&b);
    lineproto_parser_free(&lp);
}

static int emit_count(point_batch *b, void *arg) {
    *(uint32_t *)arg += b->count;
    return 0;
}

TEST(allocation_failure_at_any_point_is_reported_not_a_crash) {
    lineproto_parser lp;
    lineproto_limits l;
    point_batch b;
    const char *body = "cpu,host=a,region=eu usage=1,idle=2i,value=3 10\nmem free=1u 11\n";
    lineproto_limits_default(&l);
    /* Every allocation of the parser reports -ENOMEM, so the first n that succeeds
     * is past the last allocation. */
    for (long n = 1;; n++) {
        size_t before = mem_in_use(MEM_INGEST);
        uint32_t points = 0;
        fault_arm(FAULT_ALLOC, n);
        int rc = lineproto_parser_init(&lp, &l);
        long prc = rc;
        sl_diag d;
        sl_diag_clear(&d);
        if (rc == 0) {
            point_batch_init(&b);
            prc = lineproto_parse(&lp, (const uint8_t *)body, strlen(body), LINEPROTO_NS, NOW, &b,
                                  emit_count, &points, &d);
            point_batch_free(&b);
            lineproto_parser_free(&lp);
        }
        fault_arm(FAULT_ALLOC, 0);
        CHECK_EQ_INT(mem_in_use(MEM_INGEST), before);
        if (prc >= 0) {
            CHECK_EQ_INT(prc, 4);
            CHECK_EQ_INT(points, 4);
            CHECK(n > 3); /* the parser did allocate, so some n failed first */
            break;
        }
        CHECK_MSG(prc == -ENOMEM, "n=%ld: rc %ld", n, prc);
        CHECK_EQ_INT(points, 0);
        /* The header's promise: a parse that ran out of memory says which line. */
        if (rc == 0)
            CHECK_MSG(strncmp(d.msg, "line ", 5) == 0 && strstr(d.msg, "memory"),
                      "n=%ld: diag '%s'", n, d.msg);
        CHECK(n < 100);
    }
}
