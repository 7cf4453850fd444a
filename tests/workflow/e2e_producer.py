#!/usr/bin/python3
"""e2e_producer.py - the seed's Python producer (python3-websocket), used by
tests/workflow/e2e_test.c.

  alert PORT SERIES TAG VALUE COUNT EXPECT TIMEOUT_S
      sends COUNT points (one per frame, 50 ms apart) of SERIES with TAG and VALUE,
      then waits for a text frame containing EXPECT; prints "GOT <frame>" and exits 0,
      or exits 1 after TIMEOUT_S.
  idle PORT SERIES TAG VALUE SECONDS
      sends one point, then reads nothing for SECONDS (a producer that does not read)
      and closes; prints "done".
  rate PORT SECONDS
      streams multi-point frames (500 points each) of series load,gen=1 as fast as it
      can for SECONDS, asking {"ack":N} every 20 frames and keeping at most 4 acks
      outstanding; prints the acknowledged points per second.
"""
import struct
import sys
import time

import websocket


def point(ts, value, series, tags):
    s = series.encode()
    msg = struct.pack('<qd', ts, value) + struct.pack('<HH', len(s), len(tags)) + s
    for t in tags:
        b = t.encode()
        msg += struct.pack('<H', len(b)) + b
    return msg


def alert(port, series, tag, value, count, expect, timeout_s):
    ws = websocket.create_connection('ws://127.0.0.1:%d/' % port, timeout=timeout_s)
    for i in range(count):
        ws.send(point(time.time_ns(), value, series, [tag]), websocket.ABNF.OPCODE_BINARY)
        time.sleep(0.05)
    end = time.time() + timeout_s
    while time.time() < end:
        ws.settimeout(max(0.1, end - time.time()))
        try:
            op, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            break
        if op == websocket.ABNF.OPCODE_TEXT and expect in data.decode():
            print('GOT ' + data.decode(), flush=True)
            ws.close()
            return 0
    print('no frame containing %r within %ss' % (expect, timeout_s), flush=True)
    return 1


def idle(port, series, tag, value, seconds):
    ws = websocket.create_connection('ws://127.0.0.1:%d/' % port, timeout=30)
    ws.send(point(time.time_ns(), value, series, [tag]), websocket.ABNF.OPCODE_BINARY)
    time.sleep(seconds)
    print('done', flush=True)
    ws.close()
    return 0


def rate(port, seconds):
    ws = websocket.create_connection('ws://127.0.0.1:%d/' % port, timeout=30)
    base = time.time_ns()
    frames = 0
    acked_points = 0
    outstanding = []
    start = time.time()
    # One frame reused: the same (series, timestamp) replaces, which costs the server
    # the same work as new points, and keeps Python's own speed out of the figure.
    msg = b''.join(point(base + i, float(i), 'load', ['gen=1']) for i in range(500))
    while time.time() - start < seconds:
        ws.send(msg, websocket.ABNF.OPCODE_BINARY)
        frames += 1
        if frames % 20 == 0:
            ws.send('{"ack":%d}' % frames)
            outstanding.append(frames)
            while len(outstanding) > 4:
                op, data = ws.recv_data()
                if op == websocket.ABNF.OPCODE_TEXT and data.startswith(b'{"ack"'):
                    n = int(data[7:-1])
                    while outstanding and outstanding[0] <= n:
                        outstanding.pop(0)
                    acked_points = n * 500
    elapsed = time.time() - start
    print('%.0f' % (acked_points / elapsed), flush=True)
    ws.close()
    return 0


if __name__ == '__main__':
    a = sys.argv
    if a[1] == 'alert':
        sys.exit(alert(int(a[2]), a[3], a[4], float(a[5]), int(a[6]), a[7], float(a[8])))
    if a[1] == 'idle':
        sys.exit(idle(int(a[2]), a[3], a[4], float(a[5]), float(a[6])))
    sys.exit(rate(int(a[2]), float(a[3])))
