"""Parity check on the host: exported files against the MindSpore network they came from.

The reference is the network built from the config and checkpoint (`runners.NetworkRunner`);
every file is a candidate runner (`open_models.open_runners`: ONNX in each runtime asked for,
MINDIR in GraphCell); `edge.parity` compares, `edge.report` formats. A failing fp32 ONNX
candidate is handed to `divergence` to find its first diverging node.

Exit-code policy of the command built on this: 0 every comparison passes, 1 one fails (this
includes a candidate that loads but cannot run), 2 bad usage: a missing or unreadable file,
an unknown format, an unreadable image, or a file whose input/output shape is not the model's
(a file of another model: comparing it would be meaningless, so it is a usage error).
"""
from typing import Optional, Sequence

import numpy as np

from ..edge.errors import UserError, first_line
from ..edge.options import GateOptions, InputOptions, RuntimeOptions
from ..edge.parity import (CheckResult, ComputedReference, FailedCandidate, check_shapes,
                           compare_runners, make_inputs)
from ..edge.progress import say, step
from .divergence import LocalisationResult, NodeTolerance

__all__ = ["run_check"]


def run_check(built, spec, files: Sequence[str], wanted: InputOptions = InputOptions(),
              gates: GateOptions = GateOptions(), runtime: RuntimeOptions = RuntimeOptions(),
              node_tolerance: Optional[NodeTolerance] = NodeTolerance(),
              computed: Optional[ComputedReference] = None) -> CheckResult:
    """Compare every file with the MindSpore network `built` on the same inputs; a failing
    fp32 ONNX file is searched for its first diverging node unless node_tolerance is None."""
    from .open_models import open_runners
    from .runners import NetworkRunner

    if not files:
        raise UserError("no files to check")
    reference = NetworkRunner(built)
    # Open every file first: usage errors (missing file, wrong model) before any slow work.
    candidates = open_runners(files, runtime, keep_failed=True)
    for c in candidates:
        if not isinstance(c, FailedCandidate):
            check_shapes(reference, c)
    if computed is None:
        inputs = make_inputs(built.input_shape, spec.preprocessing(built.config.image_size),
                             wanted, precisions=[c.precision for c in candidates])
        with step(f"reference: MindSpore {built.name} on {len(inputs.array)} input(s)"):
            computed = ComputedReference(inputs, reference(inputs.array))
    x, reference_out = computed.inputs.array, computed.outputs
    probes = {}

    def on_failure(cand, out):
        if node_tolerance is None or cand.format != "onnx":
            return None
        return _localise(built, cand, x, reference_out, out, probes, node_tolerance,
                         runtime.provider)

    try:
        result = compare_runners(reference, reference_out, candidates, x, model=built.name,
                                 checkpoint=built.ckpt_path,
                                 inputs_desc=computed.inputs.description, gates=gates,
                                 on_failure=on_failure)
    finally:
        for p in probes.values():
            p.close()
    if node_tolerance is not None:
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
