#!/usr/bin/env python3
"""What the same work costs in CPU after the process has waited.

Saves a small file three times (open, write, rename on /dev/shm, as a
download's save does) and sums a short range, back to back and after
sleeping 1, 10 and 100 ms, and prints the median thread CPU time of the
work each way. A run of `flags` at concurrency 1 against a 100 ms server
does its same work after a 100 ms wait each time: on a virtual machine
whose CPU idles meanwhile (cold caches, a vCPU halted and resumed) that
work costs several times its back-to-back price, in any program. This
sets the floor under `flags bench`'s CPU per download at 100 ms
(docs/performance.md, "What waiting costs").

Usage: benches/idle-cost.py [ROUNDS]   (40 by default)
"""
import os
import sys
import time


def work(path):
    started = time.thread_time_ns()
    for _ in range(3):
        with open(path + ".tmp", "wb") as f:
            f.write(b"x" * 1000)
        os.rename(path + ".tmp", path)
    sum(range(2000))
    return time.thread_time_ns() - started


def main():
    try:
        rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 40
        if rounds < 1:
            raise ValueError
    except ValueError:
        sys.exit("idle-cost: ROUNDS must be a whole number of 1 or more")
    path = f"/dev/shm/idle-cost-{os.getpid()}.gif"
    try:
        for pause in (0, 0.001, 0.01, 0.1):
            costs = []
            for _ in range(rounds):
                if pause:
                    time.sleep(pause)
                costs.append(work(path))
            costs.sort()
            median = costs[len(costs) // 2] / 1000
            print(f"after {pause * 1000:5.0f} ms idle: {median:6.0f} µs of CPU for the same work",
                  flush=True)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        if os.path.exists(path):
            os.remove(path)


if __name__ == "__main__":
    main()
