"""Parity check on the host: exported files against the MindSpore network they came from.

The reference is the network built from the config and checkpoint (`runners.NetworkRunner`);
every file is a candidate runner (`coat_export.models.open_runners`: ONNX in each runtime asked
for, MINDIR in GraphCell); `edge.parity` compares, `edge.report` formats. A failing fp32 ONNX
candidate is handed to `divergence` to find its first diverging node.

Exit-code policy of the command built on this: 0 every comparison passes, 1 one fails (this
includes a candidate that loads but cannot run), 2 bad usage: a missing or unreadable file,
an unknown format, an unreadable image, or a file whose input/output shape is not the model's
(a file of another model: comparing it would be meaningless, so it is a usage error).
"""
from typing import Optional, Sequence

import numpy as np

from ..edge.errors import UserError, first_line
from ..edge.parity import (CheckResult, FailedCandidate, check_shapes, compare_runners,
                           make_inputs)
from ..edge.progress import say, step
from .divergence import LocalisationResult, NodeTolerance

__all__ = ["run_check"]


def run_check(built, spec, files: Sequence[str], images: Optional[str] = None,
              num_samples: Optional[int] = None, seed: int = 0, provider=None,
              runtimes: Sequence[str] = ("onnxruntime",), ov_precision: str = "f32",
              atol: Optional[float] = None, rtol: Optional[float] = None,
              min_cosine: Optional[float] = None, min_top1: Optional[float] = None,
              localize: bool = True, node_tolerance: NodeTolerance = NodeTolerance(),
              inputs=None, reference_out: Optional[np.ndarray] = None) -> CheckResult:
    """Compare every file with the MindSpore network `built` on the same inputs.

    inputs / reference_out: already computed ones (export --check reuses the export's)."""
    from ..models import open_runners
    from .runners import NetworkRunner

    if not files:
        raise UserError("no files to check")
    reference = NetworkRunner(built)
    # Open every file first: usage errors (missing file, wrong model) before any slow work.
    candidates = open_runners(files, runtimes, provider=provider, ov_precision=ov_precision,
                              keep_failed=True)
    for c in candidates:
        if not isinstance(c, FailedCandidate):
            check_shapes(reference, c)
    if inputs is None:
        inputs = make_inputs(built.input_shape, spec.preprocessing(built.config.image_size),
                             images, num_samples, seed,
                             precisions=[c.precision for c in candidates])
    x = inputs.array
    if reference_out is None:
        with step(f"reference: MindSpore {built.name} on {len(x)} input(s)"):
            reference_out = reference(x)
    probes = {}

    def on_failure(cand, out):
        if not localize or cand.format != "onnx":
            return None
        return _localise(built, cand, x, reference_out, out, probes, node_tolerance, provider)

    try:
        result = compare_runners(reference, reference_out, candidates, x, model=built.name,
                                 checkpoint=built.ckpt_path, inputs_desc=inputs.description,
                                 overrides=dict(max_abs=atol, rtol=rtol, cosine_min=min_cosine,
                                                top1_min=min_top1),
                                 on_failure=on_failure)
    finally:
        for p in probes.values():
            p.close()
    result.node_tolerance = {"rtol": node_tolerance.rtol, "atol": node_tolerance.atol}
    result.weights = built.weights
    return result


def _localise(built, cand, x, reference, out, probes, node_tolerance,
              provider) -> LocalisationResult:
    """First divergence of a failing ONNX file, on the sample that differs most."""
    import onnx

    from .divergence import MindSporeProbe, locate_first_divergence

    if cand.runtime != "onnxruntime":
        return LocalisationResult(None, "", 0, 0, note=f"per-node localisation runs in "
                                  f"ONNX Runtime; see the onnxruntime row of {cand.name}")
    if cand.precision != "fp32":
        return LocalisationResult(None, "", 0, 0, note=f"{cand.precision} candidate: per-node "
                                  "localisation needs fp32 (reduced precision departs at every "
                                  "node)")
    per_sample = np.abs(reference.astype(np.float64) - out.astype(np.float64))
    per_sample = per_sample.reshape(len(x), -1).max(axis=1)
    worst = int(np.nanargmax(np.where(np.isfinite(per_sample), per_sample, np.inf)))
    batch = cand.fixed_batch or 1
    start = min(worst, len(x) - 1) if batch == 1 else (worst // batch) * batch
    sub = x[start:start + batch]
    if len(sub) < batch:
        sub = np.concatenate([sub, np.repeat(sub[-1:], batch - len(sub), axis=0)])
    key = (batch, cand.fixed_batch is None)
    with step(f"locate the first diverging node of {cand.name}"):
        try:
            if key not in probes:
                probes[key] = MindSporeProbe(built, batch_size=batch,
                                             dynamic_batch=cand.fixed_batch is None)
            loc = locate_first_divergence(onnx.load(cand.name), probes[key], sub,
                                          tolerance=node_tolerance, provider=provider)
        except UserError:
            raise
        except Exception as exc:  # localisation is a diagnosis: never hide the verdict
            return LocalisationResult(None, "", 0, 0, note=f"localisation failed: "
                                                             f"{first_line(exc, limit=300)}")
    loc.sample_index = start
    if loc.divergence is not None:
        say(f"     first divergence: {loc.divergence.describe()}")
    elif loc.note:
        say(f"     localisation: {loc.note}")
    return loc
