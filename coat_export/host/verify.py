"""An export verified against the network it came from, before it replaces anything.

`verify_export` runs the new file in its own runtime (MINDIR in MindSpore's GraphCell, ONNX
in ONNX Runtime) on seeded inputs -- its batch, or batches 1, 3 and 8 for a symbolic batch --
and compares every output with the source network's at fp32 tolerance. The inputs and the
network's outputs come back for `export --check`, which so computes nothing twice.
"""
import os
from typing import Dict, List

import numpy as np

from ..edge.compare import Comparison, compare_arrays, tolerance_for
from ..edge.errors import UserError, VerificationError, first_line
from ..edge.check_inputs import seeded_input
from ..edge.progress import say, step

__all__ = ["verify_export", "verification_inputs", "DYNAMIC_CHECK_BATCHES"]

DYNAMIC_CHECK_BATCHES = (1, 3, 8)


def verification_inputs(built, batch_size: int, dynamic_batch: bool,
                        seed: int = 0) -> Dict[int, np.ndarray]:
    """The seeded inputs an export is verified on: its batch, or 1, 3 and 8 when dynamic."""
    batches = DYNAMIC_CHECK_BATCHES if dynamic_batch else (batch_size,)
    return {b: seeded_input((b, *built.input_shape), seed) for b in batches}


def verify_export(built, path: str, name: str, options):
    """Run the exported file at `path` (reported as `name`) in its runtime and compare it with
    the source network, one call per batch size (whole batches: a dynamic-batch file must take
    every one of them). Prints the figures; VerificationError when one departs. Returns the
    inputs and the network's outputs as an edge.parity.ComputedReference (export --check
    reuses them: nothing is computed twice)."""
    from ..edge.check_inputs import CheckInputs
    from ..edge.parity import ComputedReference
    from ..edge.runners.onnxruntime_runner import OnnxRuntimeRunner
    from .runners.mindir_runner import MindirRunner

    inputs = verification_inputs(built, options.batch_size, options.dynamic_batch, options.seed)
    opener = MindirRunner if options.format == "mindir" else OnnxRuntimeRunner
    candidate = opener(path, name=name)
    source = built.runner
    with step("reference: the source network on the verification inputs"):
        reference = {b: source(x) for b, x in inputs.items()}
    runtime = {"mindspore": "MindSpore (GraphCell)", "onnxruntime": "ONNX Runtime"}
    batches = ", ".join(map(str, inputs))
    results: List[Comparison] = []
    with step(f"verify: {runtime.get(candidate.runtime, candidate.runtime)} runs the new file "
              f"at batch{'es' if len(inputs) > 1 else ''} {batches}; compare with the source "
              "network"):
        for b, x in inputs.items():
            try:
                out = candidate.infer(x)
            except UserError:
                raise
            except Exception as exc:
                raise VerificationError(f"{candidate.name} cannot run a batch of {b}: "
                                        f"{first_line(exc)}; the file was removed") from exc
            results.append(compare_arrays(reference[b], out, reference_name="mindspore",
                                          candidate_name=f"{os.path.basename(candidate.name)}"
                                                         f"[batch={b}]",
                                          output_name="logits",
                                          tolerance=tolerance_for("fp32")))
        for r in results:
            verdict = "ok" if r.passed else "FAILED: " + "; ".join(r.failures)
            say(f"     {r.candidate} vs {r.reference}: max_abs_diff={r.max_abs_diff:.2e} "
                f"cosine={r.cosine:.8f} top1={r.top1_agreement:.2f} -> {verdict}")
        failed = [r for r in results if not r.passed]
        if failed:
            raise VerificationError(f"{failed[0].candidate} does not match the source "
                                    f"network ({'; '.join(failed[0].failures)}); the file was "
                                    "removed")
    x = np.concatenate(list(inputs.values()))
    desc = {"random": int(len(x)), "seed": int(options.seed), "count": int(len(x)),
            "shape": [int(d) for d in x.shape[1:]],
            "note": f"the export's verification inputs (batches {list(inputs)})"}
    return ComputedReference(CheckInputs(x, desc), np.concatenate(list(reference.values())))
