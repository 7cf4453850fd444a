/* frame.h - the binary point frame of spec/ingest.md: decode, encode, and the
 * {"ack":N} control message that shares the WebSocket with it.
 *
 * The format is described atop frame.c. In short: one or several points back to
 * back, each `[ts:i64][value:f64][series_len:u16][tag_count:u16][series][(tag_len:u16)(tag)]*`,
 * little-endian. A frame decodes exactly or is rejected whole: frame_decode()
 * appends every point of the frame to a point_batch, or none of them.
 *
 * Ownership: the decoder is caller-allocated (STYLE rule 5) and owns scratch
 * space sized by its limits, so decoding allocates nothing per point in steady
 * state (the batch grows to its working size once, then is reused).
 * Threads: a frame_decoder is used by one thread at a time (the network loop owns
 * one); frame_parse_ack and the encoders are pure and any thread. */
#ifndef SL_FRAME_H
#define SL_FRAME_H

#include "base/batch.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/err.h"
#include "base/serieskey.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fixed part of every point: ts (8) + value (8) + series_len (2) + tag_count (2). */
#define FRAME_POINT_HEADER_BYTES 20u

/* Largest frame decoded. A bigger frame is rejected whole (SL_ELIMIT) without
 * being read. Bounds the time one frame holds the network thread and the batch it
 * fills; the net layer bounds the WebSocket message to the same figure
 * (--frame-bytes-max). Ceiling keeps offsets in u32 math; a frame of more than
 * BATCH_POINTS_MAX points (>= 21 bytes each) is refused by frame_decode. */
#define FRAME_BYTES_MAX_DEFAULT (1u << 20)
#define FRAME_BYTES_MAX_CEILING (64u << 20)
static_assert(FRAME_BYTES_MAX_DEFAULT <= FRAME_BYTES_MAX_CEILING, "default > ceiling");

/* Tags per point (counted as sent, before empty and repeated tags are dropped).
 * More is a rejected frame (SL_ELIMIT). Bounds the decoder's scratch (16 bytes a
 * tag, twice) and the cost of sorting one point's tags. Ceiling: tag_count is u16. */
#define FRAME_TAGS_MAX_DEFAULT 64u
#define FRAME_TAGS_MAX_CEILING 65535u
static_assert(FRAME_TAGS_MAX_DEFAULT <= FRAME_TAGS_MAX_CEILING, "default > ceiling");

typedef struct frame_limits {
    uint32_t frame_bytes_max;    /* 1..FRAME_BYTES_MAX_CEILING */
    uint32_t tags_per_point_max; /* 0..FRAME_TAGS_MAX_CEILING */
} frame_limits;

void frame_limits_default(frame_limits *l);

/* Decoder state. Fields are private to frame.c. */
typedef struct frame_decoder {
    frame_limits limits; /* validated copy */
    sk_view *tags;       /* [limits.tags_per_point_max] the point's tags as sent */
    sk_view *scratch;    /* [limits.tags_per_point_max] for serieskey_build */
    buf key;             /* canonical key of the previous point */
    const uint8_t *raw;  /* previous point's bytes from series_len on (this frame only) */
    size_t raw_len;      /* their length; equal raw bytes reuse key */
} frame_decoder;

/* Validates limits (SL_EINVAL if out of range) and allocates the scratch
 * (-ENOMEM). On failure nothing is left to free. */
int frame_decoder_init(frame_decoder *fd, const frame_limits *limits);
void frame_decoder_free(frame_decoder *fd); /* zeroed decoder is a no-op */

/* Decodes the whole frame p[0..n) and appends its points to out (after those
 * already there). Returns 0 and adds >= 1 point, or on any error adds nothing
 * (out is truncated back) and fills d:
 *   SL_EPROTO  the bytes are not a sequence of whole points (short header, a
 *              length past the end, trailing bytes, an empty series name);
 *   SL_ELIMIT  over frame_bytes_max or tags_per_point_max, or out would pass
 *              BATCH_POINTS_MAX (submit out, then decode the frame again into an
 *              empty batch; a frame alone over BATCH_POINTS_MAX points is rejected);
 *   -ENOMEM    the batch could not grow.
 * d->offset is the byte where the bad field starts; d->msg names the point and
 * field (1-based), e.g. "point 3: tag 2 length 900 runs past end of frame
 * (62 bytes) at byte 44". Borrows p for the call only. */
int frame_decode(frame_decoder *fd, const uint8_t *p, size_t n, point_batch *out, sl_diag *d);

/* The control message of spec/ingest.md: the text `{"ack":N}` (JSON, whitespace
 * allowed around tokens; N a decimal u64 without sign, fraction, exponent or
 * leading zeros; no other members). Returns 0 and *ack, or SL_EPARSE. Callers try
 * frame_decode first: only a message that is not a valid frame is a control one. */
int frame_parse_ack(const uint8_t *p, size_t n, uint64_t *ack);

/* Appends `{"ack":N}` (the reply once everything before the request is durable). */
void frame_ack_json(buf *out, uint64_t ack);
/* Appends `{"error":"invalid_frame","detail":"<d->msg>"}` (JSON-escaped). */
void frame_error_json(buf *out, const sl_diag *d);

/* Appends one point in the wire format (clients, tests, the load generator).
 * Returns 0, or SL_ELIMIT if the name, a tag or the tag count exceeds u16. Tags
 * are written as given (order and empties kept). */
int frame_encode_point(buf *out, int64_t ts_ns, double value, const char *name, size_t name_len,
                       const sk_view *tags, uint32_t tag_count);

#endif
