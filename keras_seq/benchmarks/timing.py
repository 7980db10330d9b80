"""Timing utilities: median wall time after warm-up, and the matmul peak."""

import concurrent.futures
import dataclasses
import os
import statistics
import time

import numpy as np
import tensorflow as tf
from keras import tree


@dataclasses.dataclass
class Timing:
    """Wall-clock seconds of one function.

    Attributes:
        median: median seconds of the timed runs (what ratios use).
        runs: seconds of every timed run.
        first: seconds of the first call (tracing and XLA compilation
            included).
    """

    median: float
    runs: list
    first: float


def block(result):
    """Waits for every tensor in `result` by reading it back to the host."""
    for value in tree.flatten(result):
        if hasattr(value, "numpy"):
            value.numpy()
    return result


def measure(fn, warmup=2, repeats=5):
    """Times `fn()`: `warmup` untimed calls, then the median of `repeats`.

    `fn` takes no arguments; its result is read back (`block`) inside the
    timed region, so asynchronous devices are waited for. Return small
    tensors (a loss, a sum) to keep the read-back cheap.

    Args:
        fn: the function to time.
        warmup: calls before timing (at least 1: the first call traces and
            compiles, and is reported as `Timing.first`).
        repeats: timed calls.

    Returns:
        A `Timing`.
    """
    _check_counts(warmup, repeats)
    start = time.perf_counter()
    block(fn())
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        block(fn())
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        block(fn())
        runs.append(time.perf_counter() - start)
    return Timing(median=statistics.median(runs), runs=runs, first=first)


def compare(ours, reference, warmup=2, repeats=5):
    """Times two functions with interleaved runs: ours, reference, ours, ...

    Interleaving spreads a change of the machine's load (other processes)
    over both, so their ratio is steadier than with back-to-back `measure`s.

    Returns:
        `(Timing of ours, Timing of reference)`.
    """
    return tuple(compare_many((ours, reference), warmup, repeats))


def compare_many(fns, warmup=2, repeats=5):
    """Times several functions interleaved, so that a change of load
    spreads over all of them: every round runs each once.

    Round `i` runs them in the order rotated by `i // 2`, reversed in odd
    rounds: each comes first, and each follows different ones (a rotation
    alone keeps every function's predecessor, e.g. a memory-heavy probe,
    the same in every round).

    Returns:
        A list with the `Timing` of each function.
    """
    _check_counts(warmup, repeats)
    firsts = []
    for fn in fns:
        start = time.perf_counter()
        block(fn())
        firsts.append(time.perf_counter() - start)
    for _ in range(warmup - 1):
        for fn in fns:
            block(fn())
    runs = [[] for _ in fns]
    for i in range(repeats):
        order = [(i // 2 + k) % len(fns) for k in range(len(fns))]
        for j in order[::-1] if i % 2 else order:
            start = time.perf_counter()
            block(fns[j]())
            runs[j].append(time.perf_counter() - start)
    return [
        Timing(median=statistics.median(r), runs=r, first=f)
        for r, f in zip(runs, firsts)
    ]


def _check_counts(warmup, repeats):
    if warmup < 1 or repeats < 1:
        raise ValueError(
            f"warmup and repeats must be >= 1, got warmup={warmup}, repeats={repeats}."
        )


def matmul_peak_flops(size=2048, warmup=2, repeats=5):
    """The machine's float32 matmul rate in FLOP/s, `2 n^3 / t` for `n = size`.

    One large `(n, n) @ (n, n)` product in a `tf.function`, with and without
    XLA (they use different matmul libraries on CPU), the faster of the two:
    the denominator of model FLOPs utilisation (MFU), measured in the same run.

    Returns:
        `(FLOP/s, {"graph": Timing, "xla": Timing})`.
    """
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    b = tf.constant(rng.standard_normal((size, size), dtype=np.float32))
    timings = {}
    for setting, jit_compile in (("graph", False), ("xla", True)):

        @tf.function(jit_compile=jit_compile)
        def product():
            # A scalar read-back; the sum costs n^2, the product 2 n^3.
            return tf.reduce_sum(tf.matmul(a, b))

        timings[setting] = measure(product, warmup=warmup, repeats=repeats)
    best = min(t.median for t in timings.values())
    return 2.0 * size**3 / best, timings


class MemoryBandwidth:
    """The machine's memory bandwidth, sampled between the runs it bounds.

    Two measurements of `megabytes` buffers (far beyond the caches), each
    using every core, as TensorFlow's kernels do:

    - copy: `numpy.copyto` split into one contiguous chunk per core, run in
      threads (numpy releases the GIL while copying). Bytes copied per
      second; the memory moves twice that (each byte read once, written
      once).
    - read: `tf.reduce_sum` of a float32 tensor in a `tf.function` (TF's
      multi-threaded kernel): bytes read per second.

    `sample()` takes one of each; call it between the timed runs of what it
    bounds (e.g. as a function of `compare_many`), so that it sees the same
    load. `result()` keeps the best sample of each: a bandwidth is a
    capacity, and load from other processes only lowers it.

    Args:
        megabytes: size of each buffer (three are held: source, target, and
            the TF tensor).
        threads: copy threads (default: `os.cpu_count()`).
    """

    def __init__(self, megabytes=1024, threads=None):
        self.megabytes = megabytes
        self.threads = threads or os.cpu_count() or 1
        self.source = np.ones(megabytes * 2**20 // 4, np.float32)
        self.target = np.empty_like(self.source)
        np.copyto(self.target, self.source)  # touch every page once
        bounds = np.linspace(0, self.source.size, self.threads + 1).astype(int)
        self._chunks = list(zip(bounds[:-1], bounds[1:]))
        self._pool = concurrent.futures.ThreadPoolExecutor(self.threads)
        table = tf.constant(self.source)
        self._read = tf.function(lambda: tf.reduce_sum(table))
        self._read().numpy()
        self.copy_runs, self.read_runs = [], []

    def _copy_chunk(self, chunk):
        lo, hi = chunk
        np.copyto(self.target[lo:hi], self.source[lo:hi])

    def sample(self):
        """Measures a copy and a read; returns `None`."""
        start = time.perf_counter()
        list(self._pool.map(self._copy_chunk, self._chunks))
        self.copy_runs.append(self.source.nbytes / (time.perf_counter() - start))
        start = time.perf_counter()
        self._read().numpy()
        self.read_runs.append(self.source.nbytes / (time.perf_counter() - start))

    def result(self):
        """The best of the samples, in bytes/s: a dict with `copy` (bytes
        copied/s), `read` (bytes read/s) and `traffic` (the larger of `read`
        and `2 * copy`: the most bytes/s the memory was seen to move, what a
        memory-bound bound divides by), and `samples` (their number)."""
        if not self.copy_runs:
            self.sample()
        copy, read = max(self.copy_runs), max(self.read_runs)
        return {
            "copy": copy,
            "read": read,
            "traffic": max(read, 2 * copy),
            "samples": len(self.copy_runs),
        }

    def close(self):
        self._pool.shutdown()
