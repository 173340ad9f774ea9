"""Parity: candidate runners against a reference runner on the same inputs.

Computing only (Polygraphy style): `compare_runners` returns a `CheckResult`; `report` turns
it into JSON and Markdown. Inputs come from `check_inputs`. The reference is any runner: the MindSpore network on the host
(`coat_export.host.check`), or an fp32 ONNX model on the edge (`check --reference`). Every
candidate is one model in one runtime, judged by the gates of its own precision, with the
user's overrides (`options.GateOptions`).
"""
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .compare import Comparison, compare_arrays
from .errors import UserError, first_line
from .check_inputs import CheckInputs
from .options import GateOptions
from .cpu import cpu_info, cpu_line
from .progress import step
from .versions import library_versions

__all__ = ["CHECK_CHUNK", "ComputedReference", "CandidateResult", "CheckResult",
           "FailedCandidate", "check_shapes", "compare_runners"]

# samples per runtime call in a check: memory stays bounded however many inputs are judged
# (64 seeded ones for agreement gates, hundreds of images)
CHECK_CHUNK = 16


@dataclass
class ComputedReference:
    """Inputs and the reference's outputs on them, already computed (export --check reuses
    the export's verification: nothing is computed twice)."""

    inputs: CheckInputs
    outputs: np.ndarray


@dataclass
class FailedCandidate:
    """A candidate the runtime refused to load (a failure of the file, not of usage)."""

    name: str
    format: str
    runtime: str
    precision: str
    error: str


@dataclass
class CandidateResult:
    path: str
    format: str
    runtime: str
    precision: str
    comparison: Optional[Comparison]
    error: Optional[str] = None          # the candidate could not be loaded or run
    localisation: Optional[object] = None  # host: the first diverging node
    reference_name: Optional[str] = None   # when not the result's reference (recorded ones)

    @property
    def passed(self) -> bool:
        return self.error is None and self.comparison is not None and self.comparison.passed


@dataclass
class CheckResult:
    model: str
    checkpoint: Optional[str]
    reference: dict                      # {"name", "format", "runtime"}
    inputs: dict
    results: List[CandidateResult]
    tolerances: Dict[str, dict]
    node_tolerance: Optional[dict] = None
    weights: Optional[str] = None        # host: 'raw' | 'ema' checkpoint weights, None: random
    recorded_inputs: Optional[dict] = None   # check BUNDLE: what reference.npz holds
    # what was fed and what the reference gave (check --save_reference); not in the report
    inputs_array: Optional[np.ndarray] = field(default=None, repr=False)
    reference_out: Optional[np.ndarray] = field(default=None, repr=False)
    versions: Dict[str, Optional[str]] = field(default_factory=library_versions)
    cpu: dict = field(default_factory=lambda: dict(cpu_info(), line=cpu_line()))

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def check_shapes(reference, candidate) -> None:
    """UserError when a candidate takes other inputs than the reference (another model)."""
    ref, got = reference.input.shape, candidate.input.shape
    if len(ref) != len(got) or any(isinstance(a, int) and isinstance(b, int) and a != b
                                   for a, b in zip(ref[1:], got[1:])):
        raise UserError(f"{candidate.name} takes inputs of shape {got}, the reference "
                        f"{reference.name} {ref}: is it an export of another model?")


def compare_runners(reference, reference_out: np.ndarray, candidates: Sequence, x: np.ndarray,
                    model: str, checkpoint: Optional[str] = None, inputs_desc: dict = None,
                    gates: GateOptions = GateOptions(),
                    on_failure: Optional[Callable] = None) -> CheckResult:
    """Run every candidate (a Runner, or a FailedCandidate) on `x` and compare its outputs
    with `reference_out`. `on_failure(runner, out)` may return a localisation for a failing
    comparison (the host's first-divergence search)."""
    tolerances: Dict[str, dict] = {}
    results: List[CandidateResult] = []
    for cand in candidates:
        tol = gates.tolerance(cand.precision)
        tolerances[cand.precision] = asdict(tol)
        if isinstance(cand, FailedCandidate):
            results.append(CandidateResult(cand.name, cand.format, cand.runtime, cand.precision,
                                           None, error=cand.error))
            continue
        with step(f"run {cand.describe()}"):
            try:
                out = cand(x, max_batch=CHECK_CHUNK)
            except UserError as exc:
                results.append(CandidateResult(cand.name, cand.format, cand.runtime,
                                               cand.precision, None, error=str(exc)))
                continue
            except Exception as exc:  # the runtime refused the graph at run time
                results.append(CandidateResult(
                    cand.name, cand.format, cand.runtime, cand.precision, None,
                    error=f"{cand.runtime} runtime error: {first_line(exc, limit=300)}"))
                continue
        try:
            comp = compare_arrays(reference_out, out, reference_name=reference.name,
                                  candidate_name=cand.name, output_name="logits",
                                  tolerance=tol, precision=cand.precision)
        except ValueError as exc:  # output shape differs: another model's file
            raise UserError(f"{exc}: is {cand.name} an export of another model?") from exc
        result = CandidateResult(cand.name, cand.format, cand.runtime, cand.precision, comp)
        if not comp.passed and on_failure is not None:
            result.localisation = on_failure(cand, out)
        results.append(result)
    return CheckResult(model=model, checkpoint=checkpoint,
                       reference={"name": reference.name, "format": reference.format,
                                  "runtime": reference.runtime},
                       inputs=inputs_desc or {}, results=results, tolerances=tolerances,
                       inputs_array=x, reference_out=reference_out)
