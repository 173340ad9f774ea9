"""`--variant auto`: the fastest bundle variant x runtime that passes its gates on this device.

The bundle's `host_benchmark` says what was fastest where the bundle was made; INT8 speed and
INT8 agreement are properties of the CPU (coat_export.edge.cpu), so the device measures both
itself: every variant in every runtime is compared with the fp32 model in ONNX Runtime (the
gates of its precision, on AGREEMENT_SAMPLES seeded inputs when a variant is judged by
agreement), the passing ones are timed interleaved at the batch size of the request, and the
fastest wins. fp32 in ONNX Runtime is the reference and always passes, so there is always a
choice. Nothing is cached: the answer belongs to this box as it is now.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

from .errors import UserError
from .progress import step
from .runtimes import installed_runtimes

__all__ = ["Choice", "installed_runtimes", "choose_variant"]


@dataclass
class Choice:
    variant: str
    runtime: str
    median_ms: float
    batch_size: int
    num_samples: int
    rows: List[dict] = field(default_factory=list)   # every candidate: variant, runtime,
    #                                                  passed, median_ms, failures

    def describe(self) -> str:
        passed = sum(1 for r in self.rows if r["passed"])
        failed = [f"{r['variant']}@{r['runtime']}" for r in self.rows if not r["passed"]]
        text = (f"variant auto: {self.variant} in {self.runtime} ({self.median_ms:.2f} ms at "
                f"batch {self.batch_size}), the fastest of {passed} passing on this device "
                f"(gates on {self.num_samples} inputs)")
        return text + (f"; failing here: {', '.join(failed)}" if failed else "")


def choose_variant(bundle_dir: str, runtimes: Optional[Sequence[str]] = None,
                   batch_size: int = 1, provider=None, threads: Optional[int] = None,
                   ov_precision: str = "f32", runs: int = 10) -> Choice:
    from .benchmark import benchmark
    from .bundle import open_bundle
    from .check_inputs import make_inputs
    from .parity import CHECK_CHUNK, FailedCandidate, compare_runners
    from .runtimes import open_onnx_runner, open_onnx_runners
    from .sources import resolve_onnx

    bundle = open_bundle(bundle_dir)
    runtimes = list(runtimes or installed_runtimes())
    reference = open_onnx_runner(resolve_onnx(bundle_dir, "fp32"), "onnxruntime",
                                 provider=provider, threads=threads)
    if reference.image_size is None:
        raise UserError(f"{reference.name} has no static image input shape")
    models = [resolve_onnx(bundle_dir, key) for key in bundle.variants]
    keys, candidates = [], []     # fp32 in ONNX Runtime is the reference itself
    for model in models:
        rts = [r for r in runtimes if not (model.variant == "fp32" and r == "onnxruntime")]
        opened = open_onnx_runners(model, rts, provider=provider, threads=threads,
                                   ov_precision=ov_precision, keep_failed=True)
        keys += [model.variant] * len(opened)
        candidates += opened
    inputs = make_inputs(list(reference.input.shape[1:]), bundle.preprocessing,
                         precisions=[m.precision for m in models])
    x = inputs.array
    rows, passing = [], []
    if "onnxruntime" in runtimes:
        rows.append({"variant": "fp32", "runtime": "onnxruntime", "precision": "fp32",
                     "passed": True, "median_ms": None, "failures": []})
        passing.append((rows[-1], reference))
    with step(f"variant auto: check {len(models)} variant(s) x {len(runtimes)} runtime(s) "
              f"on {len(x)} inputs"):
        result = compare_runners(reference, reference(x, max_batch=CHECK_CHUNK), candidates,
                                 x, model=bundle_dir)
    for key, cand, res in zip(keys, candidates, result.results):
        rows.append({"variant": key, "runtime": res.runtime, "precision": res.precision,
                     "passed": res.passed, "median_ms": None,
                     "failures": list(res.comparison.failures) if res.comparison
                     else [res.error]})
        if res.passed and not isinstance(cand, FailedCandidate):
            passing.append((rows[-1], cand))
    if not passing:
        worst = "; ".join(f"{r['variant']}@{r['runtime']}: {(r['failures'] or ['?'])[0]}"
                          for r in rows)[:300]
        raise UserError(f"--variant auto: no variant passes its gates on this device ({worst})")
    with step(f"variant auto: time {len(passing)} passing candidate(s) at batch {batch_size}"):
        timed = benchmark([r for _, r in passing], batch_size=batch_size, runs=runs, warmup=2)
    for (row, _), t in zip(passing, timed):
        row["median_ms"] = round(t.median_ms, 3)
    best = min((row for row, _ in passing), key=lambda r: r["median_ms"])
    return Choice(best["variant"], best["runtime"], best["median_ms"], batch_size, len(x), rows)
