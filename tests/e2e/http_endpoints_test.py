"""http_endpoints_test.py - the HTTP side of spec/ingest.md on the real binary:
POST / and plain GET / answer 400 with the original's JSON; /health is valid JSON
with status and vitals; POST /write stores line protocol (204) or names the bad line
(400, nothing stored); /metrics is Prometheus text; unknown paths get JSON 404; and
`slung --version`, `slung serve --help` list what the operator needs."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, check, serving  # noqa: E402

HINT = {"status": "ok", "info": "use websocket binary frames to stream data"}


def main():
    with serving(Server()) as srv:
        for method in ("GET", "POST"):
            st, body = srv.get("/") if method == "GET" else srv.post("/", b"x")
            check(st == 400 and json.loads(body) == HINT, "%s / -> %d %r" % (method, st, body))
        h = srv.health()
        for k in ("status", "version", "uptime_s", "connections", "points_written", "series",
                  "memory_bytes"):
            check(k in h, "/health lacks %s: %r" % (k, h))
        check(h["status"] == "ok", "status %r" % h)

        st, body = srv.post("/write?precision=s",
                            b"cpu,host=a value=1 1709481600\ncpu,host=b value=2,idle=3 1709481601\n")
        check(st == 204, "/write -> %d %r" % (st, body))
        check(srv.health()["points_written"] == 3, "3 points (value, value, cpu.idle)")
        st, body = srv.post("/write", b"cpu value=1 1\ncpu value= 2\n")
        check(st == 400, "bad /write -> %d" % st)
        err = json.loads(body)["error"]
        check(err.startswith("line 2:"), "error names the line: %r" % err)
        check(srv.health()["points_written"] == 3, "a bad body stores nothing")
        st, body = srv.post("/write?precision=fortnight", b"cpu value=1 1\n")
        check(st == 400 and b"precision" in body, "bad precision -> %d %r" % (st, body))

        st, body = srv.get("/metrics")
        text = body.decode()
        check(st == 200 and "# TYPE slung_points_written_total counter" in text, "metrics")
        check("slung_points_written_total 3" in text, "metrics count the points")
        st, body = srv.get("/no/such/path")
        check(st == 404 and "error" in json.loads(body), "404 JSON")

        out = subprocess.run([srv.bin, "--version"], capture_output=True, text=True)
        check(out.returncode == 0 and out.stdout.startswith("slung "), "--version")
        out = subprocess.run([srv.bin, "serve", "--help"], capture_output=True, text=True)
        for flag in ("--listen", "--port", "--data-dir", "--fsync", "--frame-bytes-max",
                     "--send-queue-bytes-max", "--log-level", "default: 2077", "SLUNG_PORT"):
            check(flag in out.stdout, "serve --help lacks %s" % flag)
        check(srv.stop() == 0, "clean stop")
        print("ok HTTP endpoints and CLI basics")


if __name__ == "__main__":
    main()
