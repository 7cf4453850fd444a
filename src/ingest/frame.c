/* frame.c - decoding and encoding the binary point frame (spec/ingest.md).
 *
 * FRAME FORMAT (WebSocket binary or text message; all integers little-endian):
 *   point:  0 i64 ts_ns | 8 f64 value (IEEE 754 bits) | 16 u16 series_len |
 *           18 u16 tag_count | 20 series (series_len bytes) |
 *           then tag_count times: u16 tag_len | tag (tag_len bytes)
 *   frame:  one or more points back to back, nothing else. A frame with exactly
 *           one point is the compatible form; more points is the extension.
 * Validity: the frame decodes exactly, point after point, to its last byte. It is
 * rejected WHOLE (no point stored) when: it is empty or shorter than a header; a
 * series or tag length runs past the end; bytes are left over that are not a whole
 * point; a series name is empty; it is over frame_bytes_max; a point carries more
 * than tags_per_point_max tags (as sent). Empty tags are skipped; tags are opaque
 * bytes (by convention key=value); the series key is the canonical key of
 * base/serieskey.h (tags sorted bytewise, repeats dropped). Any ts and any value
 * bits (NaN, infinities) are accepted as sent. Example (spec seed 004's point,
 * 65 bytes as its Python client writes it; the seed's byte table says 66 bytes with
 * tag_len 0x13 and other timestamp bytes, which do not match its own values):
 *   00 00 11 3E 75 4C B9 17 (1709481600000000000) | 00 00 00 00 00 80 37 40 (23.5) |
 *   0B 00 | 02 00 | "temperature" | 12 00 "sensor=living_room" | 0C 00 "unit=celsius"
 *
 * Invariants: (1) on return out->count is either its old value plus every point
 * of the frame, or its old value; (2) nothing is allocated per point once the batch
 * and fd->key reached their working size; (3) no byte outside p[0..n) is read (all
 * reads go through base/rd.h). Diagnostics count points and tags from 1 and give the
 * byte offset of the field that is wrong (the length field for over-long lengths).
 * Threads: a decoder belongs to one thread at a time. See ingest.c for where
 * decoded batches go, and fuzz/frame for the fuzzer. */
#include "ingest/frame.h"
#include "base/common.h"
#include "base/mem.h"
#include "base/rd.h"

#include <errno.h>
#include <string.h>

void frame_limits_default(frame_limits *l) {
    l->frame_bytes_max = FRAME_BYTES_MAX_DEFAULT;
    l->tags_per_point_max = FRAME_TAGS_MAX_DEFAULT;
}

int frame_decoder_init(frame_decoder *fd, const frame_limits *limits) {
    memset(fd, 0, sizeof(*fd));
    if (limits->frame_bytes_max == 0 || limits->frame_bytes_max > FRAME_BYTES_MAX_CEILING)
        return SL_EINVAL;
    if (limits->tags_per_point_max > FRAME_TAGS_MAX_CEILING) return SL_EINVAL;
    fd->limits = *limits;
    buf_init(&fd->key, MEM_INGEST, 0);
    /* One spare entry so a zero tag limit still has a valid pointer. */
    size_t tags_n = (size_t)limits->tags_per_point_max + 1;
    fd->tags = mem_calloc(MEM_INGEST, tags_n, sizeof(*fd->tags));
    fd->scratch = mem_calloc(MEM_INGEST, tags_n, sizeof(*fd->scratch));
    if (!fd->tags || !fd->scratch) {
        frame_decoder_free(fd);
        return -ENOMEM;
    }
    return 0;
}

void frame_decoder_free(frame_decoder *fd) {
    mem_free(MEM_INGEST, fd->tags);
    mem_free(MEM_INGEST, fd->scratch);
    buf_free(&fd->key);
    memset(fd, 0, sizeof(*fd));
}

/* True if tags are what serieskey_build would make of them: non-empty, strictly
 * increasing bytewise (shorter first on a tie). Then the canonical key is the
 * frame's own bytes rearranged, and sorting is skipped (the common case: clients
 * that send a fixed, sorted tag list). */
static bool tags_canonical(const sk_view *tags, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        if (tags[i].n == 0) return false;
        if (i == 0) continue;
        uint32_t m = SL_MIN(tags[i - 1].n, tags[i].n);
        int c = memcmp(tags[i - 1].p, tags[i].p, m);
        if (c > 0 || (c == 0 && tags[i - 1].n >= tags[i].n)) return false;
    }
    return true;
}

/* a[0..n) == b[0..n). Points of different series mostly differ near their end
 * (the last tag's value), so the last 8 bytes are compared first, inline. */
static inline bool raw_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n >= 8) {
        uint64_t x;
        uint64_t y;
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        if (x != y) return false;
    }
    return memcmp(a, b, n) == 0;
}

/* Undoes a partial frame and reports why. */
static int frame_reject(point_batch *out, uint32_t count_keep, int rc) {
    point_batch_truncate(out, count_keep);
    return rc;
}

int frame_decode(frame_decoder *fd, const uint8_t *p, size_t n, point_batch *out, sl_diag *d) {
    SL_ASSERT(fd->tags != NULL);
    SL_ASSERT(out->count <= BATCH_POINTS_MAX);
    const uint32_t count_keep = out->count;
    const uint32_t tags_max = fd->limits.tags_per_point_max;
    if (n > fd->limits.frame_bytes_max)
        return sl_diag_set(d, SL_ELIMIT, 0, "frame of %zu bytes is over the limit of %u bytes", n,
                           fd->limits.frame_bytes_max);
    if (n == 0)
        return sl_diag_set(d, SL_EPROTO, 0, "empty frame: a point needs at least %u bytes",
                           FRAME_POINT_HEADER_BYTES);
    rd r;
    rd_init(&r, p, n);
    fd->raw = NULL; /* fd->key may hold a key from the last frame; its raw bytes are gone */
    fd->raw_len = 0;
    uint32_t point = 0;
    int rc;
    while (rd_left(&r) > 0) {
        point++;
        const uint32_t start = rd_offset(&r);
        if (rd_left(&r) < FRAME_POINT_HEADER_BYTES) {
            if (point == 1)
                rc = sl_diag_set(d, SL_EPROTO, start,
                                 "point 1: header needs %u bytes, frame has %zu at byte 0",
                                 FRAME_POINT_HEADER_BYTES, n);
            else
                rc = sl_diag_set(d, SL_EPROTO, start,
                                 "point %u: %zu trailing bytes are not a whole point (header "
                                 "needs %u) at byte %u",
                                 point, rd_left(&r), FRAME_POINT_HEADER_BYTES, start);
            return frame_reject(out, count_keep, rc);
        }
        uint64_t ts_bits;
        uint64_t value_bits;
        uint16_t series_len;
        uint16_t tag_count;
        /* The header fits (checked above), so these four reads cannot fail. */
        rc = rd_u64le(&r, &ts_bits);
        SL_ASSERT(rc == 0);
        rc = rd_u64le(&r, &value_bits);
        SL_ASSERT(rc == 0);
        rc = rd_u16le(&r, &series_len);
        SL_ASSERT(rc == 0);
        rc = rd_u16le(&r, &tag_count);
        SL_ASSERT(rc == 0);
        if (series_len == 0) {
            rc = sl_diag_set(d, SL_EPROTO, start + 16, "point %u: empty series name at byte %u",
                             point, start + 16);
            return frame_reject(out, count_keep, rc);
        }
        if (tag_count > tags_max) {
            rc = sl_diag_set(d, SL_ELIMIT, start + 18,
                             "point %u: %u tags is over the limit of %u at byte %u", point,
                             tag_count, tags_max, start + 18);
            return frame_reject(out, count_keep, rc);
        }
        sk_view name;
        if (rd_bytes(&r, series_len, &name.p) < 0) {
            rc = sl_diag_set(d, SL_EPROTO, start + 16,
                             "point %u: series length %u runs past end of frame (%zu bytes) at "
                             "byte %u",
                             point, series_len, n, start + 16);
            return frame_reject(out, count_keep, rc);
        }
        name.n = series_len;
        for (uint32_t t = 0; t < tag_count; t++) {
            const uint32_t at = rd_offset(&r);
            uint16_t tag_len;
            if (rd_u16le(&r, &tag_len) < 0) {
                rc = sl_diag_set(d, SL_EPROTO, at,
                                 "point %u: tag %u length field runs past end of frame (%zu "
                                 "bytes) at byte %u",
                                 point, t + 1, n, at);
                return frame_reject(out, count_keep, rc);
            }
            if (rd_bytes(&r, tag_len, &fd->tags[t].p) < 0) {
                rc = sl_diag_set(d, SL_EPROTO, at,
                                 "point %u: tag %u length %u runs past end of frame (%zu bytes) "
                                 "at byte %u",
                                 point, t + 1, tag_len, n, at);
                return frame_reject(out, count_keep, rc);
            }
            fd->tags[t].n = tag_len;
        }
        /* From series_len on, a point's bytes (series_len, tag_count, name, tags) are
         * contiguous and determine its key: equal bytes mean an equal key, so a
         * multi-point frame of one series builds its key once. The two length fields
         * are part of the comparison: "ab"+tag "c" and "abc" without tags have the
         * same name-and-tag bytes but are different series. */
        const uint8_t *raw = p + start + 16;
        const size_t raw_len = (size_t)(r.p - raw);
        SL_ASSERT(raw_len == 4 + (size_t)(r.p - name.p));
        if (!(fd->raw && fd->raw_len == raw_len && raw_equal(fd->raw, raw, raw_len))) {
            buf_reset(&fd->key);
            if (tags_canonical(fd->tags, tag_count)) {
                /* The frame already holds the key's pieces in order: name length, name,
                 * tag count, then length-prefixed tags (base/serieskey.h); the key is
                 * exactly raw_len bytes. */
                const size_t tags_bytes = raw_len - 4 - name.n;
                if (!buf_reserve(&fd->key, raw_len)) {
                    rc = -ENOMEM;
                } else {
                    uint8_t *k = fd->key.p;
                    memcpy(k, raw, 2);
                    memcpy(k + 2, name.p, name.n);
                    memcpy(k + 2 + name.n, raw + 2, 2);
                    memcpy(k + 4 + name.n, name.p + name.n, tags_bytes);
                    fd->key.len = raw_len;
                    rc = 0;
                }
            } else {
                rc = serieskey_build(&fd->key, name, fd->tags, tag_count, fd->scratch);
            }
            if (rc < 0) {
                fd->raw = NULL;
                rc = sl_diag_set(d, rc, start, "point %u: cannot build series key: %s", point,
                                 sl_strerror(rc));
                return frame_reject(out, count_keep, rc);
            }
            fd->raw = raw;
            fd->raw_len = raw_len;
        }
        int64_t ts_ns = (int64_t)ts_bits;
        double value;
        memcpy(&value, &value_bits, sizeof(value));
        rc = point_batch_add(out, ts_ns, value, fd->key.p, (uint32_t)fd->key.len);
        if (rc < 0) {
            if (rc == SL_ELIMIT)
                rc = sl_diag_set(d, rc, start, "point %u: batch is full (%u points) at byte %u",
                                 point, BATCH_POINTS_MAX, start);
            else
                rc = sl_diag_set(d, rc, start, "point %u: %s at byte %u", point, sl_strerror(rc),
                                 start);
            return frame_reject(out, count_keep, rc);
        }
    }
    SL_ASSERT(out->count > count_keep);
    SL_ASSERT(rd_offset(&r) == n);
    return 0;
}

/* ---- the {"ack":N} control message ---- */

static void skip_ws(rd *r) {
    while (rd_left(r) > 0 && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static bool take_char(rd *r, char c) {
    skip_ws(r);
    if (rd_left(r) == 0 || *r->p != (uint8_t)c) return false;
    r->p++;
    return true;
}

int frame_parse_ack(const uint8_t *p, size_t n, uint64_t *ack) {
    static const char key[] = "\"ack\"";
    rd r;
    rd_init(&r, p, n);
    if (!take_char(&r, '{')) return SL_EPARSE;
    skip_ws(&r);
    const uint8_t *k;
    if (rd_bytes(&r, sizeof(key) - 1, &k) < 0 || memcmp(k, key, sizeof(key) - 1) != 0)
        return SL_EPARSE;
    if (!take_char(&r, ':')) return SL_EPARSE;
    skip_ws(&r);
    if (rd_left(&r) == 0 || *r.p < '0' || *r.p > '9') return SL_EPARSE;
    if (*r.p == '0' && rd_left(&r) > 1 && r.p[1] >= '0' && r.p[1] <= '9') return SL_EPARSE;
    uint64_t v = 0;
    while (rd_left(&r) > 0 && *r.p >= '0' && *r.p <= '9') {
        uint64_t digit = (uint64_t)(*r.p - '0');
        if (v > (UINT64_MAX - digit) / 10) return SL_EPARSE;
        v = v * 10 + digit;
        r.p++;
    }
    if (!take_char(&r, '}')) return SL_EPARSE;
    skip_ws(&r);
    if (rd_left(&r) != 0) return SL_EPARSE;
    *ack = v;
    return 0;
}

void frame_ack_json(buf *out, uint64_t ack) {
    buf_puts(out, "{\"ack\":");
    buf_json_u64(out, ack);
    buf_putc(out, '}');
}

void frame_error_json(buf *out, const sl_diag *d) {
    buf_puts(out, "{\"error\":\"invalid_frame\",\"detail\":");
    buf_json_str(out, d->msg, strnlen(d->msg, sizeof(d->msg)));
    buf_putc(out, '}');
}

/* ---- encoding ---- */

int frame_encode_point(buf *out, int64_t ts_ns, double value, const char *name, size_t name_len,
                       const sk_view *tags, uint32_t tag_count) {
    if (name_len > 0xffff || tag_count > 0xffff) return SL_ELIMIT;
    for (uint32_t i = 0; i < tag_count; i++)
        if (tags[i].n > 0xffff) return SL_ELIMIT;
    uint8_t hdr[FRAME_POINT_HEADER_BYTES];
    uint64_t value_bits;
    memcpy(&value_bits, &value, sizeof(value_bits));
    sl_store_u64le(hdr, (uint64_t)ts_ns);
    sl_store_u64le(hdr + 8, value_bits);
    sl_store_u16le(hdr + 16, (uint16_t)name_len);
    sl_store_u16le(hdr + 18, (uint16_t)tag_count);
    buf_append(out, hdr, sizeof(hdr));
    buf_append(out, name, name_len);
    for (uint32_t i = 0; i < tag_count; i++) {
        uint8_t len2[2];
        sl_store_u16le(len2, (uint16_t)tags[i].n);
        buf_append(out, len2, 2);
        buf_append(out, tags[i].p, tags[i].n);
    }
    return buf_failed(out) ? -ENOMEM : 0;
}
