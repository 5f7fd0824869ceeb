#!/usr/bin/env python3
"""state.py - Python checkpoint test: dicts, a generator and objects kept across a checkpoint.

Usage: state.py [seconds (10)]
Every 100 ms step pulls the next value from a generator (whose own local state must survive),
updates a dict of lists and a running hash; at the end everything is recomputed without sleeping
and compared. Prints READY, then "ANSWER: ..." (depends only on the arguments) and PASS or FAIL.
The pause of a step follows tests/progs/cr_go.h: with CR_GO set (the checkpoint drivers), no
pause once that file exists, and before the last quarter of the steps a wait until it exists.
"""
import os
import sys
import time


def go():
    """True iff CR_GO names a file that exists."""
    path = os.environ.get("CR_GO", "")
    return bool(path) and os.path.exists(path)


def pace(s, steps):
    """The pause after step s (1-based) of steps."""
    if s >= steps - steps // 4 and os.environ.get("CR_GO"):
        while not go():
            time.sleep(0.02)
    if not go():
        time.sleep(0.1)


def numbers(seed):
    """An endless generator with local state: a linear congruential sequence."""
    x = seed
    n = 0
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        n += 1
        yield n, x >> 11


def run(steps, sleep):
    gen = numbers(12345)
    table = {}
    words = {}
    h = 0
    for s in range(1, steps + 1):
        n, v = next(gen)
        if n != s:
            raise RuntimeError("generator lost its place: %d != %d" % (n, s))
        table.setdefault(v % 97, []).append(v)
        key = "k%d" % (v % 13)
        words[key] = words.get(key, "") + chr(ord("a") + v % 26)
        h = (h * 1000003 ^ v) % (1 << 61)
        if sleep:
            pace(s, steps)
    return table, words, h


def main():
    secs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    steps = secs * 10
    print("READY", flush=True)
    table, words, h = run(steps, True)
    ref = run(steps, False)
    answer = "ANSWER: %d %d %d %x" % (steps, len(table), sum(len(w) for w in words.values()), h)
    print(answer, flush=True)
    if (table, words, h) != ref:
        print("FAIL: state differs from a recomputation", flush=True)
        return 1
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
