"""Softmax and top-k: the one implementation every ranking in the toolkit uses."""
from typing import Tuple

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis, computed in float64, returned as float32."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest entries per row (last axis), ties broken by the lower index
    (a stable sort), so that two runtimes with equal outputs rank them the same way."""
    k = min(k, scores.shape[-1])
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")[..., :k]


def topk(scores: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(indices, values) of the k largest entries per row."""
    idx = topk_indices(scores, k)
    return idx, np.take_along_axis(np.asarray(scores), idx, axis=-1)
