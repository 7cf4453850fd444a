"""fairness_test.py - one producer floods as fast as TCP allows while the apply queue
is tiny (--ingest-queue-batches 2, --fsync always), so the server must keep pausing
it; a second, polite producer sends 300 points with an ack after every 10 and must
get every ack promptly (none slower than 5 s). Nothing is dropped: at the end both
producers' points are all stored."""
import json
import os
import socket
import struct
import sys
import threading
import time

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, check, point, serving  # noqa: E402


def masked_binary(payload):
    n = len(payload)
    h = struct.pack("!BBH", 0x82, 0x80 | 126, n) if n >= 126 else struct.pack("!BB", 0x82, 0x80 | n)
    return h + b"\0\0\0\0" + payload  # mask key 0: payload unchanged


def main():
    with serving(Server(args=["--ingest-queue-batches", "2", "--fsync", "always"])) as srv:
        port = srv.port
        # The flooder: 50 points a frame, frames pre-built, written back to back.
        frame = b"".join(point(1700000000000000000 + i, 1.0, "flood", ["f=%d" % (i % 7)])
                         for i in range(50))
        chunk = masked_binary(frame) * 200
        stop = threading.Event()
        flood_frames = [0]
        flood_ws = websocket.create_connection("ws://127.0.0.1:%d/" % port, timeout=60)
        sock = flood_ws.sock

        def flood():
            while not stop.is_set():
                sock.sendall(chunk)
                flood_frames[0] += 200

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        time.sleep(0.5)  # the flood is on

        polite = websocket.create_connection("ws://127.0.0.1:%d/" % port, timeout=60)
        worst = 0.0
        for i in range(300):
            polite.send(point(1700000000000000000 + i, float(i), "polite", ["p=1"]),
                        websocket.ABNF.OPCODE_BINARY)
            if (i + 1) % 10 == 0:
                t0 = time.time()
                polite.send(json.dumps({"ack": i + 1}))
                ans = json.loads(polite.recv())
                worst = max(worst, time.time() - t0)
                check(ans == {"ack": i + 1}, "polite producer got %r" % ans)
        print("  slowest polite ack: %.3f s while flooded" % worst)
        check(worst < 5.0, "polite producer starved: an ack took %.1f s" % worst)

        stop.set()
        t.join(30)
        flood_ws.send(json.dumps({"ack": 1}))
        check(json.loads(flood_ws.recv()) == {"ack": 1}, "flooder's final ack")
        m = srv.get("/metrics")[1].decode()
        full = [l for l in m.splitlines() if l.startswith("slung_ingest_queue_full_total")]
        print("  flooder sent %d frames; %s" % (flood_frames[0], full[0] if full else "?"))
        h = srv.health()
        want = flood_frames[0] * 50 + 300
        check(h["points_written"] == want, "points_written %d, sent %d" % (h["points_written"], want))
        flood_ws.close()
        polite.close()
        check(srv.stop() == 0, "unclean stop")
        print("ok a flooding producer does not starve a polite one; nothing dropped")


if __name__ == "__main__":
    main()
