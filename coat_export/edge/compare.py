"""Comparator: turns (reference, candidate) output pairs into statistics and a verdict.

Pure NumPy, no MindSpore: the edge runtime and quantization gates use it too. Reporting
lives elsewhere (`edge.report`); this module only computes.
"""
import math
from dataclasses import dataclass, asdict, field
from typing import Dict, Optional

import numpy as np

from .topk import topk_indices

__all__ = ["Tolerance", "TOLERANCES", "AGREEMENT_SAMPLES", "REDUCED_PRECISIONS", "Comparison",
           "ArrayStats", "array_stats", "compare_arrays", "tolerance_for", "coarse_agreement"]

# Reduced precision is judged by agreement, and agreement needs samples: on 4 inputs one
# disagreement is 25 points of top-1 (an int8 model then passes on one CPU and fails on the
# next). Agreement gates are judged on at least this many inputs by default.
AGREEMENT_SAMPLES = 64
REDUCED_PRECISIONS = ("fp16", "bf16", "int8")


@dataclass(frozen=True)
class Tolerance:
    """Pass criteria. `None` disables a criterion. Element-wise closeness is
    ``|candidate - reference| <= atol + rtol * |reference|`` (NumPy's allclose rule;
    rtol 0 makes it a plain bound on the largest difference)."""

    atol: Optional[float] = 1e-4
    rtol: float = 0.0
    min_cosine: Optional[float] = 0.99999
    min_top1: Optional[float] = 1.0
    min_top5: Optional[float] = None


# fp32 graphs must compute the same numbers; reduced precision is judged by agreement.
TOLERANCES: Dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4, min_cosine=0.99999, min_top1=1.0),
    "fp16": Tolerance(atol=None, min_cosine=0.999, min_top1=0.95, min_top5=0.9),
    "int8": Tolerance(atol=None, min_cosine=0.98, min_top1=0.85, min_top5=0.8),
    # bfloat16 compute (OpenVINO --ov_precision bf16): 8 mantissa bits, judged like fp16
    # with a looser cosine
    "bf16": Tolerance(atol=None, min_cosine=0.995, min_top1=0.9, min_top5=0.9),
}


def coarse_agreement(precision: str, num_samples: int) -> bool:
    """True when an agreement-judged comparison ran on too few samples to mean much."""
    return precision in REDUCED_PRECISIONS and num_samples < AGREEMENT_SAMPLES


def tolerance_for(precision: str, **overrides) -> Tolerance:
    """The default tolerance of a precision ('fp32', 'fp16', 'int8'), with overrides applied."""
    base = TOLERANCES[precision]
    given = {k: v for k, v in overrides.items() if v is not None}
    return Tolerance(**{**asdict(base), **given})


@dataclass
class Comparison:
    reference: str
    candidate: str
    output: str
    max_abs_diff: float
    max_rel_diff: float
    mean_abs_diff: float
    cosine: float
    top1_agreement: float
    top5_agreement: float
    num_samples: int
    precision: str
    passed: bool
    failures: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ArrayStats:
    """Element-wise statistics of a candidate array against a reference of the same size."""

    max_abs_diff: float
    max_rel_diff: float       # of |diff| / max(|reference|, 1e-6)
    mean_abs_diff: float
    cosine: float             # 1.0 when both are all zero, 0.0 when only one is
    reference_max_abs: float
    finite: bool              # the candidate holds no NaN or inf


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a64, b64) / (na * nb))


def array_stats(reference: np.ndarray, candidate: np.ndarray, *,
                finite_only: bool = False) -> ArrayStats:
    """Statistics of `candidate` against `reference` (same number of elements), in float64.

    finite_only=False: NaN and inf flow into the statistics (a model's outputs: any non-finite
    value is a failure anyway). finite_only=True: positions where either side is non-finite
    are left out of the differences, the cosine and the reference maximum, and max_abs_diff is
    inf where the two differ in finiteness (intermediate tensors, where both may overflow
    alike)."""
    r = np.asarray(reference).astype(np.float64)
    c = np.asarray(candidate).astype(np.float64).reshape(r.shape)
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, handled below
        diff = np.abs(r - c)
    mismatch = False
    r_cos, c_cos, r_max = r, c, r
    if finite_only:
        r_fin, c_fin = np.isfinite(r), np.isfinite(c)
        both = r_fin & c_fin
        mismatch = bool((r_fin != c_fin).any())
        diff = np.where(both, diff, 0.0)
        r_cos, c_cos = np.where(both, r, 0.0), np.where(both, c, 0.0)
        r_max = np.where(r_fin, r, 0.0)
    max_abs = float(diff.max()) if diff.size else 0.0
    rel = diff / np.maximum(np.abs(r), 1e-6)
    return ArrayStats(max_abs_diff=math.inf if mismatch else max_abs,
                      max_rel_diff=float(rel.max()) if rel.size else 0.0,
                      mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
                      cosine=_cosine(r_cos, c_cos),
                      reference_max_abs=float(np.abs(r_max).max()) if r_max.size else 0.0,
                      finite=bool(np.isfinite(c).all()))


def compare_arrays(reference: np.ndarray, candidate: np.ndarray, *, reference_name: str = "reference",
                   candidate_name: str = "candidate", output_name: str = "output",
                   tolerance: Tolerance = TOLERANCES["fp32"], precision: str = "fp32") -> Comparison:
    """Statistics of `candidate` against `reference` (both shaped (N, ...), class axis last)."""
    ref = np.asarray(reference, dtype=np.float32)
    cand = np.asarray(candidate, dtype=np.float32)
    if ref.shape != cand.shape:
        raise ValueError(f"{candidate_name} output '{output_name}' has shape {list(cand.shape)}, "
                         f"the reference {list(ref.shape)}")
    stats = array_stats(ref, cand)
    max_abs, cosine = stats.max_abs_diff, stats.cosine
    # the element-wise bound below needs the differences themselves, not just their maximum
    diff = np.abs(ref.astype(np.float64) - cand.astype(np.float64))
    flat_ref = ref.reshape(ref.shape[0], -1) if ref.ndim > 1 else ref.reshape(1, -1)
    flat_cand = cand.reshape(flat_ref.shape)
    top1 = float(np.mean(topk_indices(flat_ref, 1)[:, 0] == topk_indices(flat_cand, 1)[:, 0]))
    ref5, cand5 = topk_indices(flat_ref, 5), topk_indices(flat_cand, 5)
    # top-5 agreement: the reference's top-1 class is among the candidate's top 5.
    top5 = float(np.mean([r[0] in c for r, c in zip(ref5, cand5)]))

    failures = []
    if not stats.finite:
        failures.append("non-finite values in candidate")
    t = tolerance
    if t.atol is not None:
        bound = t.atol + t.rtol * np.abs(ref.astype(np.float64))
        if diff.size and not np.all(diff <= bound):
            worst = float(np.max(diff - bound))
            failures.append(f"max_abs_diff {max_abs:.3g} > {t.atol:g}" if not t.rtol else
                            f"|diff| exceeds atol {t.atol:g} + rtol {t.rtol:g} * |reference| "
                            f"(by up to {worst:.3g})")
    if t.min_cosine is not None and not cosine >= t.min_cosine:
        failures.append(f"cosine {cosine:.6f} < {t.min_cosine:g}")
    if t.min_top1 is not None and not top1 >= t.min_top1:
        failures.append(f"top1_agreement {top1:.3f} < {t.min_top1:g}")
    if t.min_top5 is not None and not top5 >= t.min_top5:
        failures.append(f"top5_agreement {top5:.3f} < {t.min_top5:g}")
    return Comparison(reference=reference_name, candidate=candidate_name, output=output_name,
                      max_abs_diff=max_abs, max_rel_diff=stats.max_rel_diff,
                      mean_abs_diff=stats.mean_abs_diff,
                      cosine=cosine, top1_agreement=top1, top5_agreement=top5,
                      num_samples=int(flat_ref.shape[0]), precision=precision,
                      passed=not failures, failures=failures)
