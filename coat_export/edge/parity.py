"""Parity: candidate runners against a reference runner on the same inputs.

Computing only (Polygraphy style): `compare_runners` returns a `CheckResult`; `report` turns
it into JSON and Markdown. The reference is any runner: the MindSpore network on the host
(`coat_export.host.check`), or an fp32 ONNX model on the edge (`check --reference`). Every
candidate is one model in one runtime, judged by the gates of its own precision, with the
user's overrides (`options.GateOptions`).
"""
import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .compare import AGREEMENT_SAMPLES, Comparison, compare_arrays
from .errors import UserError, first_line
from .options import GateOptions, InputOptions
from .cpu import cpu_info, cpu_line
from .progress import step
from .versions import library_versions

__all__ = ["DEFAULT_NUM_SAMPLES", "CHECK_CHUNK", "default_num_samples", "CheckInputs", "seeded_input",
           "make_inputs", "ComputedReference", "CandidateResult", "CheckResult", "FailedCandidate", "compare_runners"]

DEFAULT_NUM_SAMPLES = 4   # fp32 only: every element is compared, a few inputs suffice
# samples per runtime call in a check: memory stays bounded however many inputs are judged
# (64 seeded ones for agreement gates, hundreds of images)
CHECK_CHUNK = 16


def default_num_samples(precisions: Sequence[str]) -> int:
    """Seeded random inputs when none are asked for: a few for fp32 (element-wise bounds),
    AGREEMENT_SAMPLES when any candidate is judged by agreement (fp16, bf16, int8)."""
    reduced = any(p != "fp32" for p in precisions)
    return AGREEMENT_SAMPLES if reduced else DEFAULT_NUM_SAMPLES


def seeded_input(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """A deterministic input in the range of normalised images (the one test input)."""
    return np.random.default_rng(seed).standard_normal(tuple(shape)).astype(np.float32)


@dataclass
class CheckInputs:
    array: np.ndarray            # (N, C, S, S) float32, what every runner is fed
    description: dict            # for the report: random count + seed, images, preprocessing


def make_inputs(sample_shape: Sequence[int], preprocessing: Optional[dict] = None,
                wanted: InputOptions = InputOptions(),
                precisions: Sequence[str] = ("fp32",)) -> CheckInputs:
    """Seeded random tensors and/or the images under `wanted.images` (searched recursively), through
    MindCV's eval transform at the model's own image size. Without num_samples: the images,
    topped up with random ones to default_num_samples(precisions) (agreement gates need
    samples); without images that many random ones."""
    from .preprocess import PreprocessConfig, list_images, preprocess_batch

    images, num_samples, seed = wanted.images, wanted.num_samples, wanted.seed
    if num_samples is not None and num_samples < 0:
        raise UserError(f"--num_samples must be >= 0, got {num_samples}")
    desc: dict = {"seed": int(seed)}
    want = default_num_samples(precisions)   # what the gates need, images included
    image_batch = None
    if images:
        paths = list_images(images, recursive=True)
        if not paths:
            raise UserError(f"no image files under {images} (extensions: .jpg, .png, ...)")
        try:
            cfg = PreprocessConfig.from_dict(dict(preprocessing or {},
                                                  image_size=sample_shape[-1]))
        except (ValueError, TypeError) as exc:
            raise UserError(f"preprocessing: {exc}") from exc
        with step(f"preprocess {len(paths)} image(s) from {images} at {cfg.image_size}x"
                  f"{cfg.image_size}"):
            image_batch = preprocess_batch(paths, cfg)  # ImageDecodeError: one line, exit 2
        desc["images"] = [os.path.relpath(p, images) for p in paths]
        desc["image_dir"] = images
        desc["preprocessing"] = cfg.to_dict()
    if num_samples is None:
        have = 0 if image_batch is None else len(image_batch)
        if have and want == DEFAULT_NUM_SAMPLES:
            num_samples = 0            # fp32 with images: the images alone
        else:
            num_samples = max(0, want - have)
    desc["random"] = int(num_samples)
    parts = []
    if num_samples:
        parts.append(seeded_input((num_samples, *sample_shape), seed))
    if image_batch is not None:
        parts.append(image_batch)
    if not parts:
        raise UserError("no inputs: give --num_samples N (N >= 1) and/or --images DIR")
    x = np.concatenate(parts).astype(np.float32)
    desc["count"] = int(len(x))
    desc["shape"] = [int(d) for d in x.shape[1:]]
    return CheckInputs(x, desc)


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
