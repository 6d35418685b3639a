#!/usr/bin/env python3
"""What the live display costs a run that waits.

Runs each mode at concurrency 1 for DOWNLOADS downloads from two
`flags serve` it starts on 127.0.0.1 (no delay, and 100 ms), on a
pseudo-terminal of 80 columns, once with the live display (`--progress
always`) and once without (`--progress never`), ROUNDS times in turn, and
prints each mode's CPU per download (the client's own user and system
time, medians of the rounds) at 0 and at 100 ms and their ratio
(docs/performance.md, "What waiting costs").

Usage: benches/live-cost.py [DOWNLOADS [ROUNDS]]   (50 and 3 by default)
"""
import fcntl
import os
import pty
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = os.path.join(ROOT, "target", "release", "flags")
MODES = ["sequential", "threaded", "async"]
DELAYS = ["0ms", "100ms"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(delay):
    port = free_port()
    server = subprocess.Popen(
        [FLAGS, "serve", "--port", str(port), "--delay", delay],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, port
        except OSError:
            time.sleep(0.01)
    server.kill()
    sys.exit(f"live-cost: flags serve did not listen on {port}")


def cpu_per_download(mode, port, live, downloads, out):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 80, 0, 0))

    def drain():
        while True:
            try:
                if not os.read(master, 65536):
                    break
            except OSError:
                break

    threading.Thread(target=drain, daemon=True).start()
    args = [FLAGS, "-a", "--count", str(downloads), "--mode", mode]
    args += ["-s", f"http://127.0.0.1:{port}/flags", "-o", out]
    args += ["--progress", "always" if live else "never"]
    if mode != "sequential":
        args += ["-m", "1"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    code = subprocess.run(args, stdin=slave, stdout=slave, stderr=slave).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.close(slave)
    os.close(master)
    shutil.rmtree(out, ignore_errors=True)
    if code != 0:
        sys.exit(f"live-cost: {' '.join(args)} exited {code}")
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return used / downloads * 1e6


def main():
    downloads = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if downloads < 1 or rounds < 1:
        sys.exit("live-cost: DOWNLOADS and ROUNDS are whole numbers from 1 up")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    servers = {delay: serve(delay) for delay in DELAYS}
    work = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        cpu = {}
        for _ in range(rounds):
            for mode in MODES:
                for live in (False, True):
                    for delay, (_, port) in servers.items():
                        out = os.path.join(work, "out")
                        used = cpu_per_download(mode, port, live, downloads, out)
                        cpu.setdefault((mode, live, delay), []).append(used)
        print("| mode | display | CPU/dl at 0 ms | CPU/dl at 100 ms | ratio |")
        print("| --- | --- | --- | --- | --- |")
        for mode in MODES:
            for live in (False, True):
                fast = statistics.median(cpu[(mode, live, "0ms")])
                slow = statistics.median(cpu[(mode, live, "100ms")])
                shown = "live" if live else "none"
                print(f"| {mode} | {shown} | {fast:.0f} µs | {slow:.0f} µs | {slow / fast:.1f} |")
    finally:
        for server, _ in servers.values():
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
