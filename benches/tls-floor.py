#!/usr/bin/env python3
"""Why HTTPS over HTTP/1.1 cannot come within 1.3 times cleartext here.

Runs 194 downloads at 50 in flight, no delay, over HTTPS and over plain
HTTP, ROUNDS times in turn for each mode, and takes for every run its wall
time, the client's CPU (its own user and system time) and the server's
CPU over the same run (the sum of its threads' run time from
/proc/PID/task/*/schedstat). A run cannot end before the CPU it needs,
client and server together, fits on the machine's cores: that floor,
beside 1.3 times the cleartext run's wall time, says whether any client
could meet it while making one full TLS handshake per connection
(docs/performance.md, "Over HTTPS").

By default it starts `flags serve --tls` and `flags serve` on 127.0.0.1.
Against another server (nginx), name both of its URLs and the pids whose
CPU is the server's; the CA goes in SSL_CERT_FILE as for any client:

    SSL_CERT_FILE=ca.pem benches/tls-floor.py --https https://localhost:18443/flags \\
        --http http://localhost:18080/flags --server-pid PID [--server-pid PID ...]

Usage: benches/tls-floor.py [--rounds N] [--modes threaded,async] [the above]
"""
import argparse
import glob
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = os.path.join(ROOT, "target", "release", "flags")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tls):
    """Starts a `flags serve`; returns it, its URL and, over TLS, its CA."""
    port = free_port()
    args = [FLAGS, "serve", "--port", str(port)] + (["--tls"] if tls else [])
    server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ca = None
    for line in server.stdout:
        found = re.search(r"its CA is (\S+)", line)
        if found:
            ca = found.group(1)
        if not tls or ca:
            break
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            scheme = "https" if tls else "http"
            return server, f"{scheme}://127.0.0.1:{port}/flags", ca
        except OSError:
            time.sleep(0.01)
    server.kill()
    sys.exit(f"tls-floor: flags serve did not listen on {port}")


def cpu_of(pids):
    """Seconds of CPU the processes' threads have run, to the nanosecond."""
    total = 0
    for pid in pids:
        for stat in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(stat) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total / 1e9


def one_run(mode, url, pids, env, out):
    args = [FLAGS, "-a", "--mode", mode, "-m", "50", "-s", url, "-o", out, "-q"]
    server_before = cpu_of(pids)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.run(args, env=env, stdin=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = cpu_of(pids) - server_before
    shutil.rmtree(out, ignore_errors=True)
    if code != 0:
        sys.exit(f"tls-floor: {' '.join(args)} exited {code}")
    client = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, client, server


def main():
    parser = argparse.ArgumentParser(description="The CPU floor of HTTPS over HTTP/1.1.")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--modes", default="threaded,async")
    parser.add_argument("--https")
    parser.add_argument("--http")
    parser.add_argument("--server-pid", type=int, action="append", default=[])
    opts = parser.parse_args()
    if opts.rounds < 1:
        sys.exit("tls-floor: --rounds is a whole number from 1 up")
    if bool(opts.https) != bool(opts.http) or bool(opts.https) != bool(opts.server_pid):
        sys.exit("tls-floor: --https, --http and --server-pid go together")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    started = []
    env = dict(os.environ)
    if opts.https:
        sites = {"https": (opts.https, opts.server_pid), "http": (opts.http, opts.server_pid)}
    else:
        tls_server, tls_url, ca = serve(tls=True)
        plain_server, plain_url, _ = serve(tls=False)
        started = [tls_server, plain_server]
        env["SSL_CERT_FILE"] = ca
        sites = {"https": (tls_url, [tls_server.pid]), "http": (plain_url, [plain_server.pid])}
    cores = os.cpu_count() or 1
    work = tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    modes = opts.modes.split(",")
    try:
        runs = {}
        for _ in range(opts.rounds):
            for mode in modes:
                for scheme, (url, pids) in sites.items():
                    out = os.path.join(work, "out")
                    runs.setdefault((mode, scheme), []).append(one_run(mode, url, pids, env, out))
        print(f"{cores} cores; medians of {opts.rounds} runs, 194 downloads at 50 in flight")
        print("| mode | scheme | wall | client CPU | server CPU | floor (CPU / cores) |")
        print("| --- | --- | --- | --- | --- | --- |")
        median = {}
        for (mode, scheme), rows in runs.items():
            wall, client, server = (statistics.median(r[i] for r in rows) * 1e3 for i in range(3))
            floor = statistics.median((r[1] + r[2]) / cores for r in rows) * 1e3
            median[(mode, scheme)] = (wall, floor)
            print(f"| {mode} | {scheme} | {wall:.1f} ms | {client:.1f} ms | {server:.1f} ms | {floor:.1f} ms |")
        print()
        for mode in modes:
            budget = 1.3 * median[(mode, "http")][0]
            wall, floor = median[(mode, "https")]
            verdict = "out of reach" if floor > budget else "within reach"
            print(f"{mode}: 1.3 x cleartext = {budget:.1f} ms; over TLS {wall:.1f} ms, "
                  f"its CPU floor {floor:.1f} ms: {verdict}")
    finally:
        for server in started:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
