#!/usr/bin/env python3
"""Disk sync latency of the machine: 50 appends of 4 KiB, each followed by fsync,
then one 4 MiB write + fsync. Run in the directory to measure (default: cwd)."""
import os
import sys
import time

path = os.path.join(sys.argv[1] if len(sys.argv) > 1 else ".", "fsync-probe.tmp")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
try:
    times = []
    for _ in range(50):
        os.write(fd, b"x" * 4096)
        t = time.perf_counter()
        os.fsync(fd)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(f"fsync after a 4 KiB append: p50 {times[25]:.2f} ms, p90 {times[45]:.2f} ms, max {times[-1]:.2f} ms")
    os.write(fd, b"y" * (4 << 20))
    t = time.perf_counter()
    os.fsync(fd)
    print(f"fsync after a 4 MiB write: {(time.perf_counter() - t) * 1000:.1f} ms")
finally:
    os.close(fd)
    os.unlink(path)
