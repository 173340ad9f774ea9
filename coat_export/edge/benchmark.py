"""Latency and throughput of exported models: same input, warm-up, interleaved runs.

Each model comes as a runner (`coat_export.host.open_models.open_runners`: ONNX files and bundles in
ONNX Runtime and/or OpenVINO, .mindir in MindSpore), is warmed up, then timed in rounds: every round runs each model once, in turn (round-robin), so that a
change in machine load (other processes, thermal state) hits all models alike instead of
whichever happened to run last. All models get the same seeded input. Runners use explicit
threads and (ONNX Runtime) no spinning, so an idle one does not take cores from the one
being timed.
"""
import time
from dataclasses import dataclass, asdict
from typing import List, Optional, Sequence

import numpy as np

from .errors import UserError
from .progress import say

__all__ = ["BenchResult", "benchmark", "format_table"]


@dataclass
class BenchResult:
    file: str
    format: str
    runtime: str
    precision: str
    batch_size: int
    runs: int
    warmup: int
    threads: Optional[int]
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    throughput: float      # images per second at the median latency

    def to_dict(self) -> dict:
        return asdict(self)


def benchmark(backends: Sequence, batch_size: int = 1, runs: int = 30, warmup: int = 5,
              image_size: Optional[int] = None, seed: int = 0,
              min_seconds: float = 0.0) -> List[BenchResult]:
    """Time every runner on one seeded random input of shape (batch_size, 3, S, S).

    S: image_size, else the models' input size (which must agree), else 224.
    runs: timed rounds (each round runs every model once); with min_seconds > 0, rounds
    continue until that much time has passed as well.
    """
    from .check_inputs import seeded_input

    if batch_size < 1 or runs < 1 or warmup < 0:
        raise UserError("batch_size and runs must be >= 1, warmup >= 0")
    sizes = {b.image_size for b in backends if b.image_size}
    if image_size is None:
        if len(sizes) > 1:
            raise UserError(f"the models take different image sizes {sorted(sizes)}")
        image_size = sizes.pop() if sizes else 224
    for b in backends:
        if b.image_size and b.image_size != image_size:
            raise UserError(f"{b.name} takes {b.image_size}x{b.image_size} inputs, not "
                            f"{image_size}")
        if b.fixed_batch and b.fixed_batch != batch_size:
            say(f"note: {b.name} has a fixed batch of {b.fixed_batch}: each timed call runs "
                f"batch {batch_size} through it in padded batches of {b.fixed_batch}")
    x = seeded_input((batch_size, 3, image_size, image_size), seed)
    for b in backends:
        for _ in range(warmup):
            b(x)
    times = [[] for _ in backends]
    start = time.perf_counter()
    r = 0
    while r < runs or time.perf_counter() - start < min_seconds:
        for i, b in enumerate(backends):
            t = time.perf_counter()
            b(x)
            times[i].append(time.perf_counter() - t)
        r += 1
    results = []
    for b, ts in zip(backends, times):
        ms = np.asarray(ts) * 1000.0
        med = float(np.median(ms))
        results.append(BenchResult(file=b.name, format=b.format, runtime=b.runtime,
                                   precision=b.precision, batch_size=batch_size, runs=len(ts),
                                   warmup=warmup, threads=getattr(b, "threads", None),
                                   median_ms=med, p90_ms=float(np.percentile(ms, 90)),
                                   mean_ms=float(ms.mean()), min_ms=float(ms.min()),
                                   throughput=batch_size * 1000.0 / med if med > 0 else 0.0))
    return results


def format_table(results: Sequence[BenchResult], reference: int = 0) -> str:
    """A table with the median relative to results[reference]."""
    rows = [("model", "format", "runtime", "precision", "batch", "median ms", "p90 ms", "img/s",
             "vs first")]
    ref = results[reference].median_ms if results else 0
    for r in results:
        rows.append((r.file, r.format, r.runtime, r.precision, str(r.batch_size), f"{r.median_ms:.2f}", f"{r.p90_ms:.2f}",
                     f"{r.throughput:.1f}", f"{r.median_ms / ref:.2f}x" if ref else "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
