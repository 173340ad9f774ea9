"""MindSpore's tensor-index helpers SliceToIndices, NormalizeTupleIndex and
RemoveExpandedDims, evaluated at conversion time.

A setitem such as ``y[..., 0:2] = v`` on a tensor of dynamic shape is exported as these
helpers, GetTupleIndexInfo (`tuple_index`), a Switch on their results, and a
TensorScatterUpdate whose index grid is built from them. The helpers read only the *shapes*
of their tensor inputs and their literal slice bounds, so the reader folds them: index
tensors of static axes become constants, those of symbolic axes run-time ``arange`` nodes,
flags and shape tuples Python values, and the Switch then picks its branch at conversion
time. Symbolic dimensions are taken as non-zero, as in `tuple_index`.

Semantics follow MindSpore's ops of the same names (mindspore/core/ops/slice_to_indices.cc,
normalize_tuple_index.cc, remove_expanded_dims.cc). A slice of an axis of run-time size has
its bounds clamped by run-time nodes (`_run_time_slice`).
"""
from typing import Callable, List, Protocol, Sequence, Tuple

import numpy as np

from . import ir
from .errors import ConversionError
from .tuple_index import (STATIC_EXPORT_REMEDY, TYPE_ELLIPSIS, TYPE_NONE, TYPE_SLICE,
                          entries_besides_ellipsis)

_REMEDY = "; " + STATIC_EXPORT_REMEDY


def _types(attrs: dict, where: str, op: str) -> List[int]:
    types = attrs.get("tuple_index_types")
    if not isinstance(types, (tuple, list)):
        raise ConversionError(f"'{where}' ({op}) lacks its index types")
    return [int(t) for t in types]


def normalize_dim_index(rank: int, dim_index: int, types: Sequence[int],
                        expand_dims_mask: int = 0) -> int:
    """The data axis index entry `dim_index` addresses: entries after an ellipsis move by the
    axes it spans; new axes (None entries, `expand_dims_mask`) ahead of it do not count."""
    if not types:
        return 0
    ellipsis_at = types.index(TYPE_ELLIPSIS) if TYPE_ELLIPSIS in types else None
    not_ellipsis = entries_besides_ellipsis(types)
    expanded_before = sum((expand_dims_mask >> i) & 1 for i in range(dim_index))
    if ellipsis_at is None or dim_index < ellipsis_at:
        return dim_index - expanded_before
    ellipsis_dims = rank + bin(expand_dims_mask).count("1") - not_ellipsis
    return ellipsis_dims + dim_index - 1 - expanded_before


class RunTimeScalars(Protocol):
    """Builds int64 scalar and index nodes over run-time dimensions (the reader's graph)."""

    def arange(self, size) -> ir.Value: ...              # [0, size)
    def binary(self, op: str, a, b) -> ir.Value: ...     # "Add", "Sub", "TruncateDiv", "Minimum"
    def range(self, start, stop, step: int) -> ir.Value: ...
    def nonzero(self, value) -> None: ...               # a size proven >= 1
    def column(self, indices) -> ir.Value: ...          # (n,) -> (n, 1)
    def bounds(self, first, last) -> None: ...          # a run-time slice's clamped bounds


def slice_to_indices(where: str, data_shape: Sequence, start, stop, step, attrs: dict,
                     scalars: RunTimeScalars) -> Tuple:
    """SliceToIndices: (indices, value_shape, start, stop, step, is_empty) of one slice entry
    of a tuple index, the slice normalised as Python's (bounds clamped to the axis). On an
    axis of run-time size the indices are built at run time (`scalars`)."""
    types = _types(attrs, where, "SliceToIndices")
    axis = normalize_dim_index(len(data_shape), int(attrs.get("tuple_index_axis", 0)), types,
                               int(attrs.get("expand_dims_mask", 0)))
    if not 0 <= axis < len(data_shape):
        raise ConversionError(f"'{where}' (SliceToIndices) indexes axis {axis} of a "
                              f"{len(data_shape)}-d tensor")
    bounds = [start, stop, step]
    if not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in bounds):
        raise ConversionError(f"'{where}' (SliceToIndices) has slice bounds known only at "
                              "run time" + _REMEDY)
    none = list(attrs.get("init_by_none", (0, 0, 0)))
    bounds = [None if i < len(none) and none[i] else int(b) for i, b in enumerate(bounds)]
    if bounds[2] == 0:
        raise ConversionError(f"'{where}' (SliceToIndices) has a slice step of 0")
    size = data_shape[axis]
    if not isinstance(size, int):
        result = _run_time_slice(where, data_shape, size, *bounds, scalars)
        if not types:   # a plain slice: (n, 1) index tuples, as for a static size
            result = (scalars.column(result[0]),) + result[1:]
        return result
    first, last, stride = slice(*bounds).indices(size)
    indices = np.arange(first, last, stride, dtype=np.int64)
    if indices.size == 0:
        return (indices, 1, 1, 1, 1, 1)
    if not types:
        indices = indices.reshape(-1, 1)
    value_shape = (int(indices.size),) + tuple(data_shape[1:])
    return (indices, value_shape, first, last, stride, 0)


def _run_time_slice(where, data_shape, size, start, stop, step, scalars) -> Tuple:
    """A slice of an axis whose size `size` is known only at run time: its bounds clamped as
    Python's, by nodes. MindSpore also branches on the slice being empty (its `is_empty`
    output, or start == stop for a plain slice, `bounds`); the branch for a non-empty slice
    is taken whatever the size, since scattering or copying an empty selection leaves the
    data as the empty branch returns it."""
    step = 1 if step is None else step
    if start in (None, 0) and stop is None and step == 1:
        scalars.bounds(0, size)
        return (scalars.arange(size), (size,) + tuple(data_shape[1:]), 0, size, 1, 0)
    op = scalars.binary
    if step > 0:
        lowest, highest = 0, size            # first and last clamp to [0, size]
        first = 0 if start in (None, 0) else _clamp(op, size, start, lowest, highest)
        last = size if stop is None else _clamp(op, size, stop, lowest, highest)
        span = last if first == 0 else op("Sub", last, first)
    else:
        lowest, highest = -1, op("Sub", size, 1)   # ... to [-1, size - 1]
        first = highest if start is None else _clamp(op, size, start, lowest, highest)
        last = -1 if stop is None else _clamp(op, size, stop, lowest, highest)
        span = op("Sub", first, last)
    indices = scalars.range(first, last, step)
    # ceil(span / |step|); a negative span (nothing selected) is clamped to 0 below, so
    # truncating and flooring agree
    count = span if abs(step) == 1 else \
        op("TruncateDiv", op("Add", span, abs(step) - 1), abs(step))
    # selected at every size >= 1 (symbolic dimensions are taken as non-zero): [:k], [-k:]
    never_empty = step > 0 and (start in (None, 0) and (stop is None or stop > 0)
                                or start is not None and start < 0 and stop is None) \
        or step < 0 and start in (None, -1) and stop is None
    if never_empty:
        scalars.nonzero(count)
    else:
        count = op("Maximum", count, 0)
    scalars.bounds(first, last)
    return (indices, (count,) + tuple(data_shape[1:]), first, last, step, 0)


def _clamp(op, size, bound: int, lowest, highest):
    """A literal slice bound on an axis of run-time `size`, as Python's slice.indices."""
    if bound >= 0:
        return op("Minimum", highest, bound)
    return op("Maximum", op("Add", size, bound), lowest)


def normalize_tuple_index(where: str, data_shape: Sequence, index, attrs: dict,
                          arange: Callable):
    """NormalizeTupleIndex: one entry of a tuple index as an index tensor of its data axis.
    `arange(dim)` builds the index tensor of an axis of run-time size."""
    types = _types(attrs, where, "NormalizeTupleIndex")
    kind = str(attrs.get("origin_index_type", "") or "")
    dim_index = int(attrs.get("tuple_index_axis", 0))
    rank = len(data_shape)
    if kind == "ellipsis_index":
        ellipsis_at = types.index(TYPE_ELLIPSIS) if TYPE_ELLIPSIS in types else 0
        not_ellipsis = entries_besides_ellipsis(types)
        if dim_index >= rank - not_ellipsis:
            return np.array([1], np.int64)
        size = data_shape[ellipsis_at + dim_index]
    elif kind == "none_index":
        size = data_shape[normalize_dim_index(rank, dim_index, types)]
    elif kind in ("int_index", "tensor_index_sequence_index"):
        size = data_shape[normalize_dim_index(rank, dim_index, types,
                                              int(attrs.get("expand_dims_mask", 0)))]
        if isinstance(index, ir.Value) and index.data is None:
            raise ConversionError(f"'{where}' (NormalizeTupleIndex) normalises an index known "
                                  "only at run time" + _REMEDY)
        values = np.asarray(index.data if isinstance(index, ir.Value) else index)
        if not isinstance(size, int) or values.dtype.kind not in "iu":
            raise ConversionError(f"'{where}' (NormalizeTupleIndex) normalises an index of an "
                                  "axis of run-time size" + _REMEDY)
        if np.any(values >= size) or np.any(values < -size):
            raise ConversionError(f"'{where}' (NormalizeTupleIndex): index {values.tolist()} "
                                  f"is out of bounds for an axis of size {size}")
        # np.asarray: a 0-d index's arithmetic gives a NumPy scalar, not an array
        return np.asarray((values % size) if size else values, dtype=np.int64)
    else:
        raise ConversionError(f"'{where}' (NormalizeTupleIndex) of kind {kind!r} is not "
                              "supported" + _REMEDY)
    return np.arange(size, dtype=np.int64) if isinstance(size, int) else arange(size)


def remove_expanded_dims(where: str, data_shape: Sequence, value_shape: Sequence, has_false,
                         broadcast: Sequence, idx_advanced, attrs: dict) -> Tuple:
    """RemoveExpandedDims: (indices_out, the value's shape without the new axes, fancy
    position). indices_out 0: nothing is selected (an empty slice; the data is returned as
    it is), 1: the index is empty and the whole value is taken, -1: scatter the value."""
    types = _types(attrs, where, "RemoveExpandedDims")
    if not isinstance(has_false, int) or not isinstance(idx_advanced, int):
        raise ConversionError(f"'{where}' (RemoveExpandedDims) depends on run-time values"
                              + _REMEDY)
    expand = int(attrs.get("expand_dims_cnt", 0))
    has_ellipsis = TYPE_ELLIPSIS in types
    not_ellipsis = entries_besides_ellipsis(types)
    valid = len(data_shape) + expand if has_ellipsis else not_ellipsis
    rem_ndim = len(data_shape) - (valid - expand)
    not_expanded = []
    for t in types:
        if t == TYPE_NONE:
            not_expanded.append(False)
        elif t == TYPE_SLICE:
            not_expanded.append(True)
        elif t == TYPE_ELLIPSIS:
            not_expanded += [True] * (len(data_shape) + expand - not_ellipsis)
    if has_false > 0:
        if any(not isinstance(d, int) for d in broadcast) or int(np.prod(broadcast)) != 1:
            raise ConversionError(f"'{where}' (RemoveExpandedDims): unable to broadcast "
                                  f"indices {list(broadcast)}")
        return (0, (), idx_advanced)
    if idx_advanced != -1:
        has_sequence = bool(attrs.get("has_sequence", False))
        dims = [False] if attrs.get("has_true", False) and not has_sequence else \
            [True] * len(broadcast)
        idx_advanced = min(idx_advanced, len(not_expanded))
        not_expanded[idx_advanced:idx_advanced] = dims
    not_expanded += [True] * rem_ndim
    leading_false = 0
    while leading_false < len(not_expanded) and not not_expanded[leading_false]:
        leading_false += 1
    idx_advanced = max(0, idx_advanced - leading_false)
    diff = len(not_expanded) - len(value_shape)
    if diff < 0:
        raise ConversionError(f"'{where}' (RemoveExpandedDims): the value has more axes "
                              f"({len(value_shape)}) than the index selects")
    kept = tuple(d for i, d in enumerate(value_shape) if not_expanded[i + diff])
    indices_out = 1 if attrs.get("empty_indices_out", False) else -1
    return (indices_out, kept, idx_advanced)
