"""bad_input_test.py - hostile and broken producers against a real server, while a
well-behaved producer keeps streaming with acks the whole time.

Checked: each malformed frame (truncated header, a length running past the end,
0 bytes, 65535 tags, over --frame-bytes-max, trailing bytes) is rejected whole with
an {"error":"invalid_frame","detail":...} text frame naming the problem, and the
same connection keeps working; garbage that is not HTTP gets a 400; a client that
never reads is paused (bounded memory) without affecting others; 1,000 connections
opened and dropped at random leave no connection behind and RSS bounded; the good
producer gets every ack and its points are all stored; the server then stops
cleanly on SIGTERM (status 0)."""
import json
import os
import random
import resource
import socket
import struct
import sys
import threading
import time

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, check, point, serving  # noqa: E402

FRAME_MAX = 65536


class GoodProducer(threading.Thread):
    """Streams points with an ack request every 20 frames until stopped."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.ws = websocket.create_connection("ws://127.0.0.1:%d/" % port, timeout=30)
        self.sent = 0
        self.acked = 0
        self.error = None
        self.stop_flag = threading.Event()

    def run(self):
        try:
            n = 0
            while not self.stop_flag.is_set() or n % 20:
                self.ws.send(point(1700000000000000000 + n, float(n), "good", ["p=1"]),
                             websocket.ABNF.OPCODE_BINARY)
                self.sent += 1
                n += 1
                if n % 20 == 0:
                    self.ws.send(json.dumps({"ack": n}))
                    ans = json.loads(self.ws.recv())
                    if ans != {"ack": n}:
                        raise AssertionError("good producer got %r" % ans)
                    self.acked = n
                    time.sleep(0.005)
        except Exception as e:  # reported by the main thread
            self.error = e


def expect_rejected(ws, payload, words, opcode=websocket.ABNF.OPCODE_BINARY):
    ws.send(payload, opcode)
    ans = json.loads(ws.recv())
    check(ans.get("error") == "invalid_frame", "expected invalid_frame, got %r" % ans)
    detail = ans.get("detail", "")
    for w in words:
        check(w in detail, "detail %r does not mention %r" % (detail, w))
    return detail


def raw_ws(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            raise AssertionError("no handshake answer")
        head += c
    check(head.startswith(b"HTTP/1.1 101"), "handshake: %r" % head)
    return s


def masked(op, payload, fin=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    if n < 126:
        h = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        h = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = bytes(random.randrange(256) for _ in range(4))
    return h + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def main():
    # 1,000 idle sockets plus the rest: raise the soft descriptor limit to the hard one.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    with serving(Server(args=["--frame-bytes-max", str(FRAME_MAX), "--send-queue-bytes-max", "65536"]), log_tail=5000) as srv:
        port = srv.port
        good = GoodProducer(port)
        good.start()

        # 1. Malformed frames: each rejected whole, the connection stays usable.
        ws = websocket.create_connection("ws://127.0.0.1:%d/" % port, timeout=30)
        details = []
        valid = point(1700000000000000000, 1.5, "bad_conn", ["k=v"])
        details.append(expect_rejected(ws, valid[:10], ["20 bytes"]))
        past = struct.pack("<qdHH", 1, 2.0, 1000, 0) + b"abc"
        details.append(expect_rejected(ws, past, ["past"]))
        details.append(expect_rejected(ws, b"", []))
        many = struct.pack("<qdHH", 1, 2.0, 3, 65535) + b"abc"
        details.append(expect_rejected(ws, many, []))
        details.append(expect_rejected(ws, b"\0" * (FRAME_MAX + 1000), ["frame-bytes-max"]))
        details.append(expect_rejected(ws, valid + b"\x01\x02\x03", []))
        details.append(expect_rejected(ws, b"{\"ack\":-1}", [], websocket.ABNF.OPCODE_TEXT))
        ws.send(valid, websocket.ABNF.OPCODE_BINARY)  # still works after all that
        ws.send(json.dumps({"ack": 42}))
        check(json.loads(ws.recv()) == {"ack": 42}, "ack after rejected frames")
        ws.close()
        for d in details:
            check(len(d) > 10, "detail too short: %r" % d)
            print("  rejected: " + d)

        # 1b. ?errors=0 opts out of error frames: the next answer is the ack.
        quiet = websocket.create_connection("ws://127.0.0.1:%d/?errors=0" % port, timeout=30)
        quiet.send(b"\x01\x02", websocket.ABNF.OPCODE_BINARY)
        quiet.send(json.dumps({"ack": 5}))
        check(json.loads(quiet.recv()) == {"ack": 5}, "?errors=0 still sent an error frame")
        quiet.close()

        # 1c. The rejections are visible to the operator.
        m = srv.get("/metrics")[1].decode()
        vals = {l.split()[0]: l.split()[1] for l in m.splitlines() if l and not l.startswith("#")}
        for name in ["slung_points_written_total", "slung_ingest_points_per_second",
                     "slung_ingest_frames_rejected_total", "slung_connections_open",
                     "slung_wal_fsync_seconds_total", "slung_wal_fsync_seconds_max",
                     "slung_live_queries", 'slung_memory_bytes{tag="net"}']:
            check(name in vals, "/metrics lacks %s" % name)
        check(int(vals["slung_ingest_frames_rejected_total"]) >= 8,
              "rejections not counted: %s" % vals["slung_ingest_frames_rejected_total"])

        # 2. Not HTTP at all: 400 or a close; the server stays up.
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(bytes(random.randrange(256) for _ in range(4096)) + b"\r\n\r\n")
        ans = s.recv(4096)
        check(ans == b"" or ans.startswith(b"HTTP/1.1 400"), "garbage answer %r" % ans[:60])
        s.close()

        rss0 = srv.rss_kb()

        # 3. A client that never reads: it provokes error frames it never takes.
        lazy = raw_ws(port)
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.settimeout(0.5)
        chunk = masked(2, b"\x01") * 4096  # each earns a ~90-byte error frame
        limit = 64 << 20
        sent_bytes = 0
        try:
            while sent_bytes < limit:
                lazy.sendall(chunk)
                sent_bytes += len(chunk)
        except (socket.timeout, BlockingIOError, OSError):
            pass  # the server stopped reading it: TCP pushes back
        check(sent_bytes < limit, "the server kept reading a client that never reads")
        print("  a never-reading client was cut off after %d KiB of input" % (sent_bytes >> 10))
        check(srv.alive(), "server died with a never-reading client")
        m = srv.get("/metrics")[1].decode()
        paused = [l for l in m.splitlines() if l.startswith("slung_net_reads_paused_total")]
        check(paused and int(paused[0].split()[1]) >= 1, "no read pause recorded: %r" % paused)

        # 4. 1,000 connections opened and dropped at random.
        rnd = random.Random(7)
        for i in range(1000):
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=10)
                kind = rnd.randrange(5)
                if kind == 1:
                    c.sendall(b"GET /health HTTP/1.1\r\nHost")  # half a request
                elif kind == 2:
                    c.sendall(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              b"Sec-WebSocket-Version: 13\r\n\r\n")
                    c.sendall(masked(2, valid)[:rnd.randrange(1, len(valid))])  # partial frame
                elif kind == 3:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
                elif kind == 4:
                    c.sendall(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))))
                c.close()
            except OSError:
                pass
        lazy.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            h = srv.health()
            if h["connections"] <= 3:  # this request, the good producer, maybe one closing
                break
            time.sleep(0.2)
        check(h["connections"] <= 3, "connections left open: %r" % h)
        rss1 = srv.rss_kb()
        print("  RSS before hostile clients %d KiB, after %d KiB" % (rss0, rss1))
        check(rss1 - rss0 < 64 * 1024, "RSS grew by %d KiB" % (rss1 - rss0))

        # 5. 1,000 idle WebSockets cost little (bench/net measures it precisely; this
        #    is a generous bound that holds under ASan too).
        r0 = srv.rss_kb()
        idle = [raw_ws(port) for _ in range(1000)]
        time.sleep(0.5)
        per = (srv.rss_kb() - r0) * 1024 / len(idle)
        print("  %.0f bytes of RSS per idle WebSocket (this build)" % per)
        check(per < 32 * 1024, "an idle WebSocket costs %.0f bytes" % per)
        for c in idle:
            c.close()

        # 6. The good producer was never disturbed.
        good.stop_flag.set()
        good.join(60)
        check(good.error is None, "good producer failed: %r" % good.error)
        check(good.acked == good.sent and good.sent > 0, "acked %d of %d" % (good.acked, good.sent))
        good.ws.close()
        deadline = time.time() + 20  # acked means durable; the count follows the apply
        while time.time() < deadline:
            h = srv.health()
            if h["points_written"] >= good.sent + 1:
                break
            time.sleep(0.05)
        check(h["points_written"] == good.sent + 1, "points_written %r, expected %d" % (h, good.sent + 1))
        check(srv.alive(), "server died")
        rc = srv.stop()
        check(rc == 0, "exit status %r" % rc)
        print("ok bad input rejected clearly; %d good points all acked and stored" % good.sent)


if __name__ == "__main__":
    main()
