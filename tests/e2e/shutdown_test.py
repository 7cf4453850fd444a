"""shutdown_test.py - SIGTERM while two producers stream with acks: the server must
exit with status 0 within 30 s, and after a restart on the same data directory every
point that was acknowledged before the signal is there (COUNT over the producers'
series >= acked points, and <= points sent: nothing invented)."""
import json
import os
import sys
import threading
import time
import urllib.parse

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, check, serving  # noqa: E402
from bad_input_test import point  # noqa: E402


class Producer(threading.Thread):
    def __init__(self, port, tag):
        super().__init__(daemon=True)
        self.ws = websocket.create_connection("ws://127.0.0.1:%d/" % port, timeout=30)
        self.tag = tag
        self.sent = 0
        self.acked = 0

    def run(self):
        n = 0
        try:
            while True:
                frame = b"".join(point(1700000000000000000 + n + i, 1.0, "shut", [self.tag])
                                 for i in range(20))
                self.ws.send(frame, websocket.ABNF.OPCODE_BINARY)
                n += 20
                self.sent = n
                self.ws.send(json.dumps({"ack": n}))
                ans = json.loads(self.ws.recv())
                if ans.get("ack"):
                    self.acked = ans["ack"]
        except Exception:
            pass  # the server went away: expected


def main():
    with serving(Server()) as srv:
        ps = [Producer(srv.port, "p=%d" % i) for i in range(2)]
        for p in ps:
            p.start()
        deadline = time.time() + 30  # under load until acks flow, then a moment more
        while time.time() < deadline and sum(p.acked for p in ps) == 0:
            time.sleep(0.05)
        time.sleep(0.5)
        t0 = time.time()
        rc = srv.stop(timeout=30)
        check(rc == 0, "exit status %r after SIGTERM under load" % rc)
        print("  stopped in %.2f s" % (time.time() - t0))
        for p in ps:
            p.join(10)
        acked = sum(p.acked for p in ps)
        sent = sum(p.sent for p in ps)
        check(acked > 0, "no ack before the signal")
        again = Server(data_dir=srv.data_dir).start()
        try:
            q = urllib.parse.quote("COUNT:shut:[]")
            status, body = again.get("/query?q=" + q)
            if status == 404:
                print("  /query absent: checking the series only")
                check(again.health()["series"] == 2, "series after restart")
            else:
                check(status == 200, "query status %d %r" % (status, body))
                count = json.loads(body)["value"]
                print("  acked %d, sent %d, stored %d" % (acked, sent, count))
                check(acked <= count <= sent, "stored %r, acked %d, sent %d" % (count, acked, sent))
            check(again.stop() == 0, "second stop")
        finally:
            again.cleanup()
        print("ok SIGTERM under load exits 0 and keeps every acknowledged point")


if __name__ == "__main__":
    main()
