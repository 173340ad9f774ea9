"""edge.compare.array_stats on hand-made arrays, against the NumPy formulas it stands for;
compare_arrays reports the same numbers."""
import math

import numpy as np
import pytest

from coat_export.edge.compare import ArrayStats, array_stats, compare_arrays


def _cos(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


REF = np.array([[1.0, -2.0, 0.0], [4.0, 0.5, -3.0]], np.float32)
CAND = np.array([[1.5, -2.0, 1e-3], [3.0, 0.5, -3.25]], np.float32)


def test_statistics_follow_the_numpy_formulas():
    s = array_stats(REF, CAND)
    r, c = REF.astype(np.float64), CAND.astype(np.float64)
    d = np.abs(r - c)
    assert isinstance(s, ArrayStats)
    assert s.max_abs_diff == pytest.approx(1.0)          # |3.0 - 4.0|
    assert s.max_abs_diff == float(d.max())
    assert s.mean_abs_diff == pytest.approx(float(d.mean()))
    # 1e-3 over a reference of 0: the 1e-6 floor of the relative difference
    assert s.max_rel_diff == pytest.approx(float(np.max(d / np.maximum(np.abs(r), 1e-6))))
    assert s.max_rel_diff == pytest.approx(1e-3 / 1e-6, rel=1e-3)
    assert s.cosine == pytest.approx(_cos(r, c), abs=1e-12)
    assert s.reference_max_abs == 4.0 and s.finite is True
    # same values in another shape (a converter may hold them so): same statistics
    assert array_stats(REF, CAND.reshape(3, 2)) == s


def test_edge_cases_of_the_cosine_and_empty_arrays():
    z = np.zeros(4, np.float32)
    assert array_stats(z, z).cosine == 1.0
    assert array_stats(z, np.ones(4, np.float32)).cosine == 0.0
    e = array_stats(np.zeros(0), np.zeros(0))
    assert (e.max_abs_diff, e.max_rel_diff, e.mean_abs_diff, e.reference_max_abs) == (0, 0, 0, 0)


def test_finite_only_leaves_non_finite_positions_out():
    ref = np.array([1.0, np.inf, 2.0, -4.0])
    cand = np.array([1.1, np.inf, 2.0, -4.0])
    s = array_stats(ref, cand, finite_only=True)
    both = np.isfinite(ref) & np.isfinite(cand)
    with np.errstate(invalid="ignore"):
        d = np.where(both, np.abs(ref - cand), 0.0)
    assert s.max_abs_diff == pytest.approx(0.1) and s.mean_abs_diff == pytest.approx(d.mean())
    assert s.reference_max_abs == 4.0            # the inf is not the reference's magnitude
    assert s.cosine == pytest.approx(_cos(np.where(both, ref, 0), np.where(both, cand, 0)))
    assert s.finite is False                     # the candidate does hold an inf
    # finiteness that differs is an infinite difference
    assert array_stats(ref, np.array([1.0, 5.0, 2.0, -4.0]), finite_only=True).max_abs_diff \
        == math.inf
    assert array_stats(np.array([1.0, 2.0]), np.array([1.0, np.nan]),
                       finite_only=True).max_abs_diff == math.inf


def test_without_finite_only_nan_flows_into_the_statistics():
    s = array_stats(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    assert math.isnan(s.max_abs_diff) and math.isnan(s.cosine) and not s.finite


def test_compare_arrays_reports_the_same_numbers():
    ref = np.random.RandomState(0).randn(3, 10).astype(np.float32)
    cand = ref + np.random.RandomState(1).randn(3, 10).astype(np.float32) * 1e-3
    c = compare_arrays(ref, cand)
    r, k = ref.astype(np.float64), cand.astype(np.float64)
    d = np.abs(r - k)
    assert c.max_abs_diff == float(d.max()) and c.mean_abs_diff == float(d.mean())
    assert c.max_rel_diff == float(np.max(d / np.maximum(np.abs(r), 1e-6)))
    assert c.cosine == pytest.approx(_cos(r, k), abs=1e-12)
    s = array_stats(ref, cand)
    assert (c.max_abs_diff, c.max_rel_diff, c.mean_abs_diff, c.cosine) == \
        (s.max_abs_diff, s.max_rel_diff, s.mean_abs_diff, s.cosine)
    bad = cand.copy()
    bad[1, 2] = np.nan
    c = compare_arrays(ref, bad)
    assert not c.passed and "non-finite values in candidate" in c.failures
    assert math.isnan(c.max_abs_diff)
