"""Timing utilities: median wall time after warm-up, and the matmul peak."""

import dataclasses
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
    _check_counts(warmup, repeats)
    fns = (ours, reference)
    firsts = []
    for fn in fns:
        start = time.perf_counter()
        block(fn())
        firsts.append(time.perf_counter() - start)
    for _ in range(warmup - 1):
        for fn in fns:
            block(fn())
    runs = ([], [])
    for i in range(repeats):
        # Alternate which goes first, so neither always follows the other.
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for j in order:
            start = time.perf_counter()
            block(fns[j]())
            runs[j].append(time.perf_counter() - start)
    return tuple(
        Timing(median=statistics.median(r), runs=r, first=f)
        for r, f in zip(runs, firsts)
    )


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


def copy_bandwidth(megabytes=256, repeats=7):
    """The machine's memory copy bandwidth in bytes/s (bytes copied per
    second: each byte is read once and written once).

    `numpy.copyto` of a `megabytes` float32 array (larger than the caches),
    the median of `repeats` copies after one untimed copy: what one decoding
    stream can read its weights at, at best.
    """
    source = np.ones(megabytes * 2**20 // 4, np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        runs.append(time.perf_counter() - start)
    return source.nbytes / statistics.median(runs)
