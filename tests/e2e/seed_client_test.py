"""seed_client_test.py - the Python client of the original documentation (seed
004_b115373c67637c22.txt), run verbatim against a real server on port 2077 (the
address it hard-codes, ws://0.0.0.0:2077/; ctest holds RESOURCE_LOCK port2077).

The client's code is taken from the seed file itself when ../shared is present,
else from the committed verbatim copy seed_004_client.py. Then: the server stops on
SIGTERM with status 0 (WAL synced), restarts on the same data directory, and the
point must be there: the series `temperature,sensor=living_room,unit=celsius`
exists, one point was replayed, and when the query endpoint is present,
AVG:temperature:[sensor=living_room] answers 23.5 with count 1."""
import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, check, serving  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def seed_lines():
    """The client's lines as the seed file holds them, or None without ../shared."""
    shared = os.environ.get("SLUNG_SHARED_DIR") or os.path.join(
        os.environ.get("SLUNG_SOURCE_DIR", os.path.join(HERE, "..", "..")), "..", "shared")
    seed = os.path.join(shared, "seeds", "004_b115373c67637c22.txt")
    if not os.path.exists(seed):
        return None
    lines = open(seed, encoding="utf-8").read().split("\n")
    return lines[lines.index("import struct"):lines.index("Rust Client")]


def main():
    # The seed is a scraped web page: its code lost its indentation, which Python
    # needs. seed_004_client.py is that code with the indentation put back; every
    # line is otherwise the seed's own, which this checks when ../shared is present.
    src = open(os.path.join(HERE, "seed_004_client.py"), encoding="utf-8").read()
    origin = "committed copy"
    seed = seed_lines()
    if seed is not None:
        ours = [l.strip() for l in src.split("\n") if l.strip()]
        theirs = [l.strip() for l in seed if l.strip()]
        check(ours == theirs, "seed_004_client.py differs from the seed's client")
        origin = "checked against the seed"
    with serving(Server(port=2077, listen="0.0.0.0"), log_tail=None) as srv:
        r = subprocess.run(["/usr/bin/python3", "-c", src], capture_output=True, timeout=60)
        check(r.returncode == 0, "seed client (%s) failed: %s" % (origin, r.stderr.decode()))
        rc = srv.stop()
        check(rc == 0, "server exit status after SIGTERM: %r\n%s" % (rc, srv.log_text()))

        again = Server(data_dir=srv.data_dir).start()
        try:
            h = again.health()
            check(h["series"] == 1, "series after restart: %r" % h)
            q = urllib.parse.quote("AVG:temperature:[sensor=living_room]")
            status, body = again.get("/query?q=" + q)
            if status != 404:  # the query endpoint is there: the point itself must be
                check(status == 200, "query status %d: %r" % (status, body))
                ans = json.loads(body)
                check(ans.get("value") == 23.5 and ans.get("count") == 1, "query answer %r" % ans)
            check(again.stop() == 0, "second server did not stop cleanly")
        finally:
            again.cleanup()
        print("ok seed client point stored and survives a restart (%s)" % origin)


if __name__ == "__main__":
    main()
