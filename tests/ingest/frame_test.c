/* frame_test.c - the binary point frame: the seed example, every malformed shape
 * (as a table), prefixes, multi-point frames, limits, the ack control message, and
 * that steady-state decoding allocates nothing. */
#include "base/fault.h"
#include "base/mem.h"
#include "ingest/frame.h"
#include "test.h"

#include <errno.h>
#include <math.h>

/* spec seed 004: ts 1709481600000000000, temperature, 23.5, sensor=living_room,
 * unit=celsius, as the seed's own Python and Rust clients encode it (65 bytes). The
 * seed's byte table disagrees with its stated values twice: its timestamp bytes
 * (00 00 C4 B6 E3 5C B8 17) are 1709218191680733184, and it gives tag_len 0x13 (19)
 * and 66 bytes for the 18-byte tag "sensor=living_room". */
static const uint8_t seed_frame[65] = {
    0x00, 0x00, 0x11, 0x3E, 0x75, 0x4C, 0xB9, 0x17, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x37, 0x40, 0x0B, 0x00, 0x02, 0x00, 't',  'e',  'm',  'p',  'e',  'r',
    'a',  't',  'u',  'r',  'e',  0x12, 0x00, 's',  'e',  'n',  's',  'o',  'r',
    '=',  'l',  'i',  'v',  'i',  'n',  'g',  '_',  'r',  'o',  'o',  'm',  0x0C,
    0x00, 'u',  'n',  'i',  't',  '=',  'c',  'e',  'l',  's',  'i',  'u',  's'};

static void key_text(const point_batch *b, uint32_t i, char *out, size_t cap) {
    buf t;
    uint32_t n;
    const uint8_t *k = point_batch_key(b, i, &n);
    buf_init(&t, MEM_MISC, 0);
    if (serieskey_format(&t, k, n) < 0) buf_puts(&t, "<bad key>");
    snprintf(out, cap, "%s", buf_cstr(&t));
    buf_free(&t);
}

static sk_view sv(const char *s) {
    sk_view v = {(const uint8_t *)s, (uint32_t)strlen(s)};
    return v;
}

static int decoder_default(frame_decoder *fd) {
    frame_limits l;
    frame_limits_default(&l);
    return frame_decoder_init(fd, &l);
}

TEST(seed_example_decodes_to_temperature_23_5_with_both_tags) {
    frame_decoder fd;
    point_batch b;
    sl_diag d;
    char key[128];
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(frame_decode(&fd, seed_frame, sizeof seed_frame, &b, &d), 0);
    CHECK_EQ_INT(b.count, 1);
    CHECK_EQ_U64((uint64_t)b.ts_ns[0], 1709481600000000000ull);
    CHECK(b.value[0] == 23.5);
    key_text(&b, 0, key, sizeof key);
    CHECK_EQ_STR(key, "temperature,sensor=living_room,unit=celsius");
    point_batch_free(&b);
    frame_decoder_free(&fd);
}

TEST(seed_table_taken_literally_with_tag_length_19_is_rejected_not_misread) {
    /* The seed's table: its timestamp bytes, tag_len 19 for the 18-byte tag, 66
     * bytes in all. Tag 1 swallows tag 2's length byte, so tag 2's length reads
     * 00 'u' (29952): the frame cannot decode exactly and is refused whole. */
    static const uint8_t ts_table[8] = {0x00, 0x00, 0xC4, 0xB6, 0xE3, 0x5C, 0xB8, 0x17};
    uint8_t table[66];
    memcpy(table, seed_frame, 31);
    memcpy(table, ts_table, 8);
    table[31] = 0x13;
    table[32] = 0x00;
    memcpy(table + 33, seed_frame + 33, 32);
    table[65] = 's';
    frame_decoder fd;
    point_batch b;
    sl_diag d;
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(frame_decode(&fd, table, sizeof table, &b, &d), SL_EPROTO);
    CHECK_EQ_INT(b.count, 0);
    CHECK(strstr(d.msg, "point 1: tag 2 length") != NULL);
    point_batch_free(&b);
    frame_decoder_free(&fd);
}

TEST(encoder_writes_the_seed_example_byte_for_byte) {
    buf out;
    sk_view tags[2] = {sv("sensor=living_room"), sv("unit=celsius")};
    buf_init(&out, MEM_MISC, 0);
    CHECK_EQ_INT(frame_encode_point(&out, 1709481600000000000ll, 23.5, "temperature", 11, tags, 2),
                 0);
    CHECK_EQ_INT(out.len, sizeof seed_frame);
    CHECK(memcmp(out.p, seed_frame, sizeof seed_frame) == 0);
    buf_free(&out);
}

/* A malformed frame: bytes, the status, the offset and a piece of the message. */
typedef struct bad_case {
    const char *what;
    uint8_t bytes[96];
    size_t n;
    int rc;
    uint32_t offset;
    const char *msg;
} bad_case;

/* Header bytes for ts=1, value=0, series_len, tag_count. */
#define HDR(sl, tc) 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (sl), 0, (tc), 0

static const bad_case bad_cases[] = {
    {"empty frame", {0}, 0, SL_EPROTO, 0, "empty frame"},
    {"one byte", {1}, 1, SL_EPROTO, 0, "point 1: header needs 20 bytes, frame has 1 at byte 0"},
    {"header one byte short", {HDR(1, 0)}, 19, SL_EPROTO, 0, "header needs 20 bytes"},
    {"series past end",
     {HDR(5, 0), 'a', 'b'},
     22,
     SL_EPROTO,
     16,
     "point 1: series length 5 runs past end of frame (22 bytes) at byte 16"},
    {"series name empty", {HDR(0, 0)}, 20, SL_EPROTO, 16, "point 1: empty series name"},
    {"tag length field missing",
     {HDR(1, 1), 'a'},
     21,
     SL_EPROTO,
     21,
     "point 1: tag 1 length field runs past end of frame (21 bytes) at byte 21"},
    {"tag length field half there",
     {HDR(1, 1), 'a', 3},
     22,
     SL_EPROTO,
     21,
     "tag 1 length field runs past end"},
    {"tag 2 length past end",
     {HDR(1, 2), 'a', 1, 0, 'x', 0x84, 0x03, 'y', 'y'},
     28,
     SL_EPROTO,
     24,
     "point 1: tag 2 length 900 runs past end of frame (28 bytes) at byte 24"},
    {"trailing byte after a point",
     {HDR(1, 0), 'a', 7},
     22,
     SL_EPROTO,
     21,
     "point 2: 1 trailing bytes are not a whole point (header needs 20) at byte 21"},
    {"second point's series past end",
     {HDR(1, 0), 'a', HDR(9, 0), 'b'},
     42,
     SL_EPROTO,
     37,
     "point 2: series length 9 runs past end of frame (42 bytes) at byte 37"},
    {"second point's header short",
     {HDR(1, 0), 'a', HDR(1, 0)},
     21 + 19,
     SL_EPROTO,
     21,
     "point 2: 19 trailing bytes"},
    {"65 tags is over the default limit of 64",
     {HDR(1, 65), 'a'},
     21,
     SL_ELIMIT,
     18,
     "point 1: 65 tags is over the limit of 64 at byte 18"},
};

TEST(frame_with_any_malformed_shape_is_rejected_whole_naming_the_byte) {
    frame_decoder fd;
    point_batch b;
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    /* One good point already in the batch must survive every rejected frame. */
    CHECK_EQ_INT(frame_decode(&fd, seed_frame, sizeof seed_frame, &b, NULL), 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(bad_cases); i++) {
        const bad_case *c = &bad_cases[i];
        sl_diag d;
        sl_diag_clear(&d);
        int rc = frame_decode(&fd, c->bytes, c->n, &b, &d);
        CHECK_MSG(rc == c->rc, "%s: rc %d, want %d (%s)", c->what, rc, c->rc, d.msg);
        CHECK_MSG(d.rc == c->rc, "%s: diag rc %d", c->what, d.rc);
        CHECK_MSG(d.offset == c->offset, "%s: offset %u, want %u (%s)", c->what, d.offset,
                  c->offset, d.msg);
        CHECK_MSG(strstr(d.msg, c->msg) != NULL, "%s: message \"%s\" lacks \"%s\"", c->what, d.msg,
                  c->msg);
        CHECK_MSG(b.count == 1, "%s: batch has %u points", c->what, b.count);
    }
    char key[128];
    key_text(&b, 0, key, sizeof key);
    CHECK_EQ_STR(key, "temperature,sensor=living_room,unit=celsius");
    point_batch_free(&b);
    frame_decoder_free(&fd);
}

/* Three points: two of one series (tags in different order) and one of another. */
static void build_multi(buf *out) {
    sk_view t1[2] = {sv("unit=c"), sv("sensor=1")};
    sk_view t2[3] = {sv("sensor=1"), sv(""), sv("unit=c")};
    sk_view t3[1] = {sv("host=a")};
    SL_ASSERT(frame_encode_point(out, 100, 1.5, "temp", 4, t1, 2) == 0);
    SL_ASSERT(frame_encode_point(out, 200, 2.5, "temp", 4, t2, 3) == 0);
    SL_ASSERT(frame_encode_point(out, -5, -1.0, "cpu", 3, t3, 1) == 0);
}

TEST(multi_point_frame_appends_every_point_in_order_with_canonical_keys) {
    frame_decoder fd;
    point_batch b;
    buf f;
    char key[128];
    buf_init(&f, MEM_MISC, 0);
    build_multi(&f);
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0);
    CHECK_EQ_INT(b.count, 3);
    CHECK_EQ_INT(b.ts_ns[0], 100);
    CHECK_EQ_INT(b.ts_ns[1], 200);
    CHECK_EQ_INT(b.ts_ns[2], -5);
    CHECK(b.value[0] == 1.5 && b.value[1] == 2.5 && b.value[2] == -1.0);
    key_text(&b, 0, key, sizeof key);
    CHECK_EQ_STR(key, "temp,sensor=1,unit=c");
    key_text(&b, 1, key, sizeof key);
    CHECK_EQ_STR(key, "temp,sensor=1,unit=c");
    key_text(&b, 2, key, sizeof key);
    CHECK_EQ_STR(key, "cpu,host=a");
    /* Same tag set in another order is the same series: one stored key copy. */
    CHECK_EQ_INT(b.key_off[0], b.key_off[1]);
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
}

TEST(tags_sent_sorted_or_in_any_order_give_the_byte_identical_series_key) {
    /* Sorted, non-empty, unique tags take the decoder's copy path; anything else is
     * sorted by serieskey_build. Both must give the same bytes. */
    static const char *const orders[][4] = {
        {"a=1", "b=2", "c=3", NULL}, {"c=3", "b=2", "a=1", NULL},  {"b=2", "a=1", "c=3", "a=1"},
        {"a=1", "", "b=2", "c=3"},   {"a=1", "b=2", "c=3", "c=3"},
    };
    frame_decoder fd;
    point_batch b;
    buf f;
    buf want;
    sk_view scratch[4];
    sk_view sorted[3] = {sv("a=1"), sv("b=2"), sv("c=3")};
    buf_init(&want, MEM_MISC, 0);
    CHECK_EQ_INT(serieskey_build(&want, sv("m"), sorted, 3, scratch), 0);
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    buf_init(&f, MEM_MISC, 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(orders); i++) {
        sk_view tags[4];
        uint32_t n = 0;
        while (n < 4 && orders[i][n]) {
            tags[n] = sv(orders[i][n]);
            n++;
        }
        buf_reset(&f);
        point_batch_reset(&b);
        CHECK_EQ_INT(frame_encode_point(&f, 1, 1, "m", 1, tags, n), 0);
        CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0);
        uint32_t kn;
        const uint8_t *k = point_batch_key(&b, 0, &kn);
        CHECK_MSG(kn == want.len && memcmp(k, want.p, kn) == 0, "order %zu gives another key", i);
    }
    /* A prefix tag sorts first ("a" < "a=1"), as serieskey_build does. */
    sk_view pre[2] = {sv("a"), sv("a=1")};
    buf_reset(&f);
    buf_reset(&want);
    point_batch_reset(&b);
    CHECK_EQ_INT(serieskey_build(&want, sv("m"), pre, 2, scratch), 0);
    CHECK_EQ_INT(frame_encode_point(&f, 1, 1, "m", 1, pre, 2), 0);
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0);
    uint32_t kn;
    const uint8_t *k = point_batch_key(&b, 0, &kn);
    CHECK(kn == want.len && memcmp(k, want.p, kn) == 0);
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
    buf_free(&want);
}

TEST(unsorted_tags_of_thousands_of_series_give_the_built_key_every_time) {
    /* 3000 series sent twice with unsorted tags, one point per frame: the decoder's
     * key reuse must never carry a key over to another series. */
    frame_decoder fd;
    point_batch b;
    buf f;
    buf want;
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    buf_init(&f, MEM_MISC, 0);
    buf_init(&want, MEM_MISC, 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3000; i++) {
            char t1[32];
            char t2[32];
            sk_view tags[3];
            sk_view scratch[3];
            tags[0] = (sk_view){(const uint8_t *)t1, (uint32_t)snprintf(t1, sizeof t1, "z=%d", i)};
            tags[1] = sv("a=1");
            tags[2] =
                (sk_view){(const uint8_t *)t2, (uint32_t)snprintf(t2, sizeof t2, "m=%d", i % 7)};
            buf_reset(&f);
            buf_reset(&want);
            point_batch_reset(&b);
            SL_ASSERT(frame_encode_point(&f, i, i, "cpu", 3, tags, 3) == 0);
            SL_ASSERT(serieskey_build(&want, sv("cpu"), tags, 3, scratch) == 0);
            CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0);
            uint32_t n;
            const uint8_t *k = point_batch_key(&b, 0, &n);
            CHECK_MSG(n == want.len && memcmp(k, want.p, n) == 0, "round %d series %d", round, i);
        }
    }
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
    buf_free(&want);
}

TEST(points_with_the_same_name_and_tag_bytes_split_differently_are_different_series) {
    /* Found by fuzz/frame: "load" + tag "core=1" and a 12-byte name "load\6\0core=1"
     * without tags have identical bytes after the length fields. */
    frame_decoder fd;
    point_batch b;
    buf f;
    char key[64];
    sk_view tag = sv("core=1");
    static const char odd_name[12] = {'l', 'o', 'a', 'd', 6, 0, 'c', 'o', 'r', 'e', '=', '1'};
    buf_init(&f, MEM_MISC, 0);
    CHECK_EQ_INT(frame_encode_point(&f, 1, 1, "load", 4, &tag, 1), 0);
    CHECK_EQ_INT(frame_encode_point(&f, 2, 2, odd_name, sizeof odd_name, NULL, 0), 0);
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0);
    CHECK_EQ_INT(b.count, 2);
    key_text(&b, 0, key, sizeof key);
    CHECK_EQ_STR(key, "load,core=1");
    uint32_t n;
    const uint8_t *k = point_batch_key(&b, 1, &n);
    CHECK_EQ_INT(n, 2 + 12 + 2);
    CHECK(sl_load_u16le(k) == 12 && memcmp(k + 2, odd_name, 12) == 0 && sl_load_u16le(k + 14) == 0);
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
}

TEST(every_proper_prefix_of_a_valid_frame_is_rejected_and_adds_nothing) {
    frame_decoder fd;
    point_batch b;
    buf f;
    buf_init(&f, MEM_MISC, 0);
    build_multi(&f);
    buf_append(&f, seed_frame, sizeof seed_frame);
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    /* Point boundaries are themselves valid frames; every other cut is not. */
    size_t boundaries[5] = {0};
    size_t nb = 0;
    {
        buf one;
        buf_init(&one, MEM_MISC, 0);
        build_multi(&one);
        /* Lengths of the first points: temp(2 tags), temp(3 tags), cpu(1 tag). */
        boundaries[nb++] = 20 + 4 + 2 + 6 + 2 + 8;
        boundaries[nb++] = boundaries[0] + 20 + 4 + 2 + 8 + 2 + 0 + 2 + 6;
        boundaries[nb++] = one.len;
        buf_free(&one);
    }
    for (size_t k = 0; k < f.len; k++) {
        sl_diag d;
        bool boundary = false;
        for (size_t j = 0; j < nb; j++)
            boundary |= boundaries[j] == k;
        int rc = frame_decode(&fd, f.p, k, &b, &d);
        if (boundary) {
            CHECK_MSG(rc == 0, "prefix %zu (a point boundary) rejected: %s", k, d.msg);
            point_batch_reset(&b);
        } else {
            CHECK_MSG(rc == SL_EPROTO, "prefix %zu of %zu: rc %d", k, f.len, rc);
            CHECK_MSG(b.count == 0, "prefix %zu left %u points", k, b.count);
        }
    }
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0);
    CHECK_EQ_INT(b.count, 4);
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
}

TEST(frame_over_the_size_limit_is_rejected_before_reading_it) {
    frame_decoder fd;
    point_batch b;
    sl_diag d;
    frame_limits l = {.frame_bytes_max = 64, .tags_per_point_max = 64};
    CHECK_EQ_INT(frame_decoder_init(&fd, &l), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(frame_decode(&fd, seed_frame, sizeof seed_frame, &b, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "frame of 65 bytes is over the limit of 64 bytes") != NULL);
    CHECK_EQ_INT(b.count, 0);
    frame_decoder_free(&fd);
    l.frame_bytes_max = 65;
    l.tags_per_point_max = 2;
    CHECK_EQ_INT(frame_decoder_init(&fd, &l), 0);
    CHECK_EQ_INT(frame_decode(&fd, seed_frame, sizeof seed_frame, &b, &d), 0);
    frame_decoder_free(&fd);
    l.tags_per_point_max = 1;
    CHECK_EQ_INT(frame_decoder_init(&fd, &l), 0);
    CHECK_EQ_INT(frame_decode(&fd, seed_frame, sizeof seed_frame, &b, &d), SL_ELIMIT);
    CHECK_EQ_INT(b.count, 1);
    point_batch_free(&b);
    frame_decoder_free(&fd);
}

TEST(decoder_refuses_limits_outside_their_range) {
    frame_decoder fd;
    frame_limits l = {.frame_bytes_max = 0, .tags_per_point_max = 64};
    CHECK_EQ_INT(frame_decoder_init(&fd, &l), SL_EINVAL);
    l.frame_bytes_max = FRAME_BYTES_MAX_CEILING + 1;
    CHECK_EQ_INT(frame_decoder_init(&fd, &l), SL_EINVAL);
    l.frame_bytes_max = FRAME_BYTES_MAX_CEILING;
    l.tags_per_point_max = FRAME_TAGS_MAX_CEILING + 1;
    CHECK_EQ_INT(frame_decoder_init(&fd, &l), SL_EINVAL);
    size_t before = mem_in_use(MEM_INGEST);
    fault_arm(FAULT_ALLOC, 2);
    l.tags_per_point_max = 8;
    CHECK_EQ_INT(frame_decoder_init(&fd, &l), -ENOMEM);
    fault_arm(FAULT_ALLOC, 0);
    CHECK_EQ_INT(mem_in_use(MEM_INGEST), before);
}

TEST(frame_that_would_overflow_the_batch_is_rejected_and_fits_an_empty_batch) {
    frame_decoder fd;
    point_batch b;
    sl_diag d;
    buf f;
    buf_init(&f, MEM_MISC, 0);
    for (int i = 0; i < 10; i++)
        SL_ASSERT(frame_encode_point(&f, i, i, "s", 1, NULL, 0) == 0);
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    while (b.count < BATCH_POINTS_MAX - 5)
        CHECK_EQ_INT(point_batch_add(&b, 0, 0, (const uint8_t *)"\1\0x\0\0", 5), 0);
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, &d), SL_ELIMIT);
    CHECK(strstr(d.msg, "point 6: batch is full") != NULL);
    CHECK_EQ_INT(b.count, BATCH_POINTS_MAX - 5);
    point_batch_reset(&b);
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, &d), 0);
    CHECK_EQ_INT(b.count, 10);
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
}

TEST(nan_infinity_and_extreme_timestamps_are_accepted_as_sent) {
    frame_decoder fd;
    point_batch b;
    buf f;
    buf_init(&f, MEM_MISC, 0);
    SL_ASSERT(frame_encode_point(&f, INT64_MIN, NAN, "x", 1, NULL, 0) == 0);
    SL_ASSERT(frame_encode_point(&f, INT64_MAX, -INFINITY, "x", 1, NULL, 0) == 0);
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0);
    CHECK_EQ_INT(b.count, 2);
    CHECK(b.ts_ns[0] == INT64_MIN && isnan(b.value[0]));
    CHECK(b.ts_ns[1] == INT64_MAX && isinf(b.value[1]) && b.value[1] < 0);
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
}

TEST(steady_state_decoding_allocates_nothing) {
    frame_decoder fd;
    point_batch b;
    buf f;
    buf_init(&f, MEM_MISC, 0);
    for (int i = 0; i < 200; i++) {
        char name[16];
        int nl = snprintf(name, sizeof name, "s%d", i % 7);
        sk_view tags[2] = {sv("b=2"), sv("a=1")};
        SL_ASSERT(frame_encode_point(&f, i, i, name, (size_t)nl, tags, 2) == 0);
    }
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    CHECK_EQ_INT(frame_decode(&fd, f.p, f.len, &b, NULL), 0); /* warms up */
    point_batch_reset(&b);
    fault_arm(FAULT_ALLOC, 1); /* the next allocation, if any, fails */
    for (int round = 0; round < 50; round++) {
        int rc = frame_decode(&fd, f.p, f.len, &b, NULL);
        if (rc != 0) fault_arm(FAULT_ALLOC, 0);
        CHECK_MSG(rc == 0, "round %d allocated (rc %d)", round, rc);
        CHECK_EQ_INT(b.count, 200);
        point_batch_reset(&b);
    }
    CHECK(fault_hit(FAULT_ALLOC)); /* still armed: nothing allocated */
    point_batch_free(&b);
    frame_decoder_free(&fd);
    buf_free(&f);
}

TEST(ack_control_message_is_recognised_only_in_its_exact_json_form) {
    static const struct {
        const char *text;
        int rc;
        uint64_t ack;
    } cases[] = {
        {"{\"ack\":1}", 0, 1},
        {" { \"ack\" : 42 } \n", 0, 42},
        {"{\"ack\":0}", 0, 0},
        {"{\"ack\":18446744073709551615}", 0, UINT64_MAX},
        {"{\"ack\":18446744073709551616}", SL_EPARSE, 0},
        {"{\"ack\":01}", SL_EPARSE, 0},
        {"{\"ack\":-1}", SL_EPARSE, 0},
        {"{\"ack\":1.0}", SL_EPARSE, 0},
        {"{\"ack\":1e3}", SL_EPARSE, 0},
        {"{\"ack\":\"1\"}", SL_EPARSE, 0},
        {"{\"ack\":1,\"x\":2}", SL_EPARSE, 0},
        {"{\"ACK\":1}", SL_EPARSE, 0},
        {"{\"ack\":1}x", SL_EPARSE, 0},
        {"{\"ack\":}", SL_EPARSE, 0},
        {"{\"ack\":1", SL_EPARSE, 0},
        {"", SL_EPARSE, 0},
        {"[1]", SL_EPARSE, 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        uint64_t ack = 7;
        int rc = frame_parse_ack((const uint8_t *)cases[i].text, strlen(cases[i].text), &ack);
        CHECK_MSG(rc == cases[i].rc, "'%s': rc %d", cases[i].text, rc);
        if (rc == 0) CHECK_MSG(ack == cases[i].ack, "'%s': ack %" PRIu64, cases[i].text, ack);
    }
    /* The ack text is never a valid point frame (too short), so it reaches the parser. */
    frame_decoder fd;
    point_batch b;
    CHECK_EQ_INT(decoder_default(&fd), 0);
    point_batch_init(&b);
    CHECK(frame_decode(&fd, (const uint8_t *)"{\"ack\":1}", 9, &b, NULL) < 0);
    point_batch_free(&b);
    frame_decoder_free(&fd);
}

TEST(ack_and_error_replies_are_the_json_of_the_spec) {
    buf out;
    sl_diag d;
    buf_init(&out, MEM_MISC, 0);
    frame_ack_json(&out, 18446744073709551615ull);
    CHECK_EQ_STR(buf_cstr(&out), "{\"ack\":18446744073709551615}");
    buf_reset(&out);
    sl_diag_set(&d, SL_EPROTO, 3, "bad \"quote\" at byte 3");
    frame_error_json(&out, &d);
    CHECK_EQ_STR(buf_cstr(&out),
                 "{\"error\":\"invalid_frame\",\"detail\":\"bad \\\"quote\\\" at byte 3\"}");
    buf_free(&out);
}

TEST(allocation_failure_while_decoding_rejects_the_frame_whole_and_leaks_nothing) {
    frame_decoder fd;
    buf f;
    buf_init(&f, MEM_MISC, 0);
    for (int i = 0; i < 300; i++) {
        char name[16];
        int nl = snprintf(name, sizeof name, "s%d", i);
        sk_view tags[2] = {sv("z=1"), sv("a=2")}; /* unsorted: the serieskey_build path */
        SL_ASSERT(frame_encode_point(&f, i, i, name, (size_t)nl, tags, 2) == 0);
    }
    CHECK_EQ_INT(decoder_default(&fd), 0);
    size_t before = mem_in_use(MEM_INGEST);
    for (long n = 1;; n++) {
        point_batch b;
        sl_diag d;
        point_batch_init(&b);
        fault_arm(FAULT_ALLOC, n);
        int rc = frame_decode(&fd, f.p, f.len, &b, &d);
        fault_arm(FAULT_ALLOC, 0);
        if (rc == 0) {
            CHECK_EQ_INT(b.count, 300);
            point_batch_free(&b);
            CHECK(n > 1);
            break;
        }
        CHECK_MSG(rc == -ENOMEM, "n=%ld: rc %d (%s)", n, rc, d.msg);
        CHECK_EQ_INT(b.count, 0);
        point_batch_free(&b);
        CHECK(n < 1000);
    }
    frame_decoder_free(&fd);
    CHECK(mem_in_use(MEM_INGEST) <= before);
    buf_free(&f);
}
