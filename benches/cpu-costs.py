#!/usr/bin/env python3
"""Where a run's CPU goes: sorts each sample of `perf script` (with its call
chain) into one cost, the first whose pattern matches anywhere in the chain,
and prints a Markdown table of shares and µs per download.

Usage: perf script -i FILE.data | benches/cpu-costs.py DOWNLOADS CPU_SECONDS
"""
import collections
import re
import sys

# (cost, pattern on the whole call chain); the first match wins, so the save
# and the kernel's thread switches are taken out before the sockets, and
# allocation before the code that called it.
RULES = [
    ("save: create, write, rename, close a file",
     r"save_flag|OutputDir|tempfile|__x64_sys_openat|__x64_sys_renameat|persist"
     r"|shmem_|generic_perform_write"),
    ("kernel: thread wake-ups and switches",
     r"__x64_sys_futex|__x64_sys_sched_yield|finish_task_switch|try_to_wake_up"
     r"|__schedule"),
    ("kernel: sockets (connect, send, receive, poll)",
     r"__x64_sys_(sendto|recvfrom|writev|readv|read|write|connect|socket|epoll_wait"
     r"|epoll_ctl|setsockopt|getsockopt|ioctl|close|shutdown|getpeername"
     r"|getsockname|accept)|net_rx_action|tcp_"),
    ("memory: malloc, free, page faults",
     r"malloc|_int_free|cfree|realloc|unlink_chunk|malloc_consolidate"
     r"|exc_page_fault|__x64_sys_(mprotect|madvise|munmap|mmap|brk)|clear_page"
     r"|get_page_from_freelist|rmqueue|folio|memcg|__rust_alloc|__rust_dealloc"
     r"|__rdl_alloc"),
    ("HTTP: request, parse, body (hyper, ureq, url)",
     r"hyper|reqwest|ureq|httparse|http::|url::|idna|h1::|tower"),
    ("runtime: tasks, scheduling, timers (tokio, futures)",
     r"tokio|futures_|parking_lot|want::|crossbeam|std::thread|mio::"),
    ("flags: plan, contract, reporting", r"flags::"),
]
OTHER = "other (libc, kernel entry, ...)"


def chains(lines):
    """Yields each sample's call chain, one frame per line."""
    chain = []
    for line in lines:
        if line.startswith((" ", "\t")) and line.strip():
            chain.append(line.strip())
        else:
            if chain:
                yield "\n".join(chain)
            chain = []
    if chain:
        yield "\n".join(chain)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip())
    downloads, cpu = int(sys.argv[1]), float(sys.argv[2])
    counts = collections.Counter()
    for chain in chains(sys.stdin):
        cost = next((name for name, pattern in RULES if re.search(pattern, chain)), OTHER)
        counts[cost] += 1
    total = sum(counts.values())
    if total == 0:
        sys.exit("no samples with call chains on standard input")
    print("| cost | share | µs per download |")
    print("| --- | --- | --- |")
    for name, n in counts.most_common():
        share = n / total
        print(f"| {name} | {share * 100:.0f} % | {share * cpu / downloads * 1e6:.0f} |")
    print(f"| all | 100 % | {cpu / downloads * 1e6:.0f} |")


if __name__ == "__main__":
    main()
