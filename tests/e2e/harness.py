"""harness.py - start and stop a real `slung serve` for the end-to-end tests.

The server binary comes from $SLUNG_BIN (set by ctest). Each server gets a fresh
data directory under /tmp and listens on 127.0.0.1 on a free port unless a port
is given. stop() sends SIGTERM and returns the exit status, so tests can assert a
clean shutdown (status 0, WAL synced). serving() wraps a test body: start, the
server's log tail on failure, cleanup always. point() encodes one point frame."""
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, port=None, data_dir=None, listen="127.0.0.1", args=()):
        self.bin = os.environ.get("SLUNG_BIN")
        if not self.bin or not os.path.exists(self.bin):
            print("SKIP: SLUNG_BIN is not set or missing")
            sys.exit(77)
        self.port = port or free_port()
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="slung-e2e-")
        self.listen = listen
        self.args = list(args)
        self.proc = None
        self.log_path = os.path.join(tempfile.gettempdir(), "slung-e2e-%d.log" % os.getpid())

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--listen", self.listen, "--port", str(self.port),
             "--data-dir", os.path.join(self.data_dir, "data")] + self.args,
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited at start with %d; log:\n%s"
                                   % (self.proc.returncode, self.log_text()))
            try:
                self.health()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not answer /health within 30 s")

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, timeout=10):
        """Returns (status, body bytes) for any status."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path, body, timeout=10):
        req = urllib.request.Request(self.url(path), data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def health(self):
        status, body = self.get("/health", timeout=2)
        assert status == 200, status
        return json.loads(body)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM; returns the exit status."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("server did not stop within %d s after SIGTERM" % timeout)
        self.log.close()
        self.proc = None
        return rc

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


@contextlib.contextmanager
def serving(srv, log_tail=4000):
    """Starts srv and yields it; on an exception prints the last log_tail bytes
    of its log (all of it for None) and re-raises; always cleans up."""
    try:
        srv.start()
        yield srv
    except BaseException:
        text = srv.log_text()
        print(text if log_tail is None else text[-log_tail:])
        raise
    finally:
        srv.cleanup()


def point(ts, value, series, tags):
    """One point in the binary frame format of spec/ingest.md (little-endian)."""
    s = series.encode()
    m = struct.pack("<qdHH", ts, value, len(s), len(tags)) + s
    for t in tags:
        t = t.encode()
        m += struct.pack("<H", len(t)) + t
    return m
