"""Parity check on the host: exported files against the MindSpore network they came from.

The reference is the network built from the config and checkpoint (`BuiltModel.runner`);
every file is a candidate runner (`open_models.open_runners`: ONNX in each runtime asked for,
MINDIR in GraphCell); `edge.parity` compares, `edge.report` formats. A failing fp32 ONNX
candidate is handed to `divergence.Localiser` to find its first diverging node.

Exit-code policy of the command built on this: 0 every comparison passes, 1 one fails (this
includes a candidate that loads but cannot run), 2 bad usage: a missing or unreadable file,
an unknown format, an unreadable image, or a file whose input/output shape is not the model's
(a file of another model: comparing it would be meaningless, so it is a usage error).
"""
from typing import Optional, Sequence


from ..edge.errors import UserError
from ..edge.options import GateOptions, InputOptions, RuntimeOptions
from ..edge.check_inputs import make_inputs
from ..edge.parity import (CheckResult, ComputedReference, FailedCandidate, check_shapes,
                           compare_runners)
from ..edge.progress import step
from .divergence import Localiser, NodeTolerance

__all__ = ["run_check"]


def run_check(built, spec, files: Sequence[str], wanted: InputOptions = InputOptions(),
              gates: GateOptions = GateOptions(), runtime: RuntimeOptions = RuntimeOptions(),
              node_tolerance: Optional[NodeTolerance] = NodeTolerance(),
              computed: Optional[ComputedReference] = None) -> CheckResult:
    """Compare every file with the MindSpore network `built` on the same inputs; a failing
    fp32 ONNX file is searched for its first diverging node unless node_tolerance is None."""
    from .open_models import open_runners

    if not files:
        raise UserError("no files to check")
    # Open every file first: usage errors (missing file, wrong model) before any slow work.
    candidates = open_runners(files, runtime, keep_failed=True)
    reference = built.runner
    inputs = None if computed else make_inputs(
        built.input_shape, spec.preprocessing(built.config.image_size), wanted,
        precisions=[c.precision for c in candidates])     # unreadable images: before shapes
    for c in candidates:
        if not isinstance(c, FailedCandidate):
            check_shapes(reference, c)
    if computed is None:
        with step(f"reference: MindSpore {built.name} on {len(inputs.array)} input(s)"):
            computed = ComputedReference(inputs, reference(inputs.array))
    x, reference_out = computed.inputs.array, computed.outputs
    with Localiser(built, node_tolerance, runtime.provider) as localise:
        result = compare_runners(
            reference, reference_out, candidates, x, model=built.name,
            checkpoint=built.ckpt_path, inputs_desc=computed.inputs.description, gates=gates,
            on_failure=lambda cand, out: localise(cand, x, reference_out, out))
    if node_tolerance is not None:
        result.node_tolerance = {"rtol": node_tolerance.rtol, "atol": node_tolerance.atol}
    result.weights = built.weights
    return result
