#!/usr/bin/env python3
"""wake-chain.py -- the wake-up latency floor of a chain of processes.

Usage: bench/floor/wake-chain.py GAP_S N HOPS

HOPS relay processes, each forwarding one byte over loopback TCP to the
next (the last echoes it back); the parent sends one byte every GAP_S
seconds, N times, and prints the round trip's p50/p90/p99/max. With a gap
the processes sleep between messages, as chat-bench, nginx, chat-ws and
PostgreSQL do at 200 msg/s; with GAP_S 0 they stay awake (bench/README.md,
"Issue 16, round 4": the p99 at 200 msg/s). Python's own cost per hop is
in the figure; the idle wake-ups are what the gap adds.
"""
import os
import socket
import sys
import time


def relay(listener, next_port):
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    nxt = None
    if next_port:
        nxt = socket.create_connection(('127.0.0.1', next_port))
        nxt.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        m = conn.recv(64)
        if not m:
            os._exit(0)
        if nxt:
            nxt.sendall(m)
            m = nxt.recv(64)
        conn.sendall(m)


def main():
    gap, n, hops = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    listeners, ports = [], []
    for _ in range(hops):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        listeners.append(s)
        ports.append(s.getsockname()[1])
    for i in range(hops):
        if os.fork() == 0:
            relay(listeners[i], ports[i + 1] if i + 1 < hops else None)
    c = socket.create_connection(('127.0.0.1', ports[0]))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    for _ in range(n):
        time.sleep(gap)
        t = time.perf_counter_ns()
        c.sendall(b'x')
        c.recv(64)
        lat.append((time.perf_counter_ns() - t) / 1e3)
    c.close()
    lat.sort()
    print('gap %.1f ms, %d hops: p50 %.0f p90 %.0f p99 %.0f max %.0f us' %
          (gap * 1e3, hops, lat[n // 2], lat[int(n * .9)], lat[int(n * .99)], lat[-1]))


if __name__ == '__main__':
    main()
