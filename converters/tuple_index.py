"""MindSpore's GetTupleIndexInfo, evaluated at conversion time.

A getitem with tensor indices on a tensor of dynamic shape (``boxes[arange(n)[:, None], idx]``)
is exported as GetTupleIndexInfo, which computes from the *shapes* of the data and the index
tensors the shapes the indices are broadcast and reshaped to, and then BroadcastTo/Reshape/
GatherNd on those shapes. Only shapes go in, so the outputs are shape tuples whose entries are
ints or, for symbolic dimensions, run-time scalars; the reader folds the op into them.

Semantics follow MindSpore's ``ConstGetTupleIndexInfo`` (mindspore/core/ops/
get_tuple_index_info.cc) for getitem with tensor and slice entries. A symbolic dimension is
taken as non-zero: the empty-index branch (``0 in final_shape``) folds to not taken.
"""
from typing import Callable, List, Sequence, Tuple

from .errors import ConversionError

TYPE_UNKNOWN = 0   # MindSpore TypeId kTypeUnknown: an unused index slot
TYPE_NONE = 7      # kMetaTypeNone: a None entry (a new axis)
TYPE_ELLIPSIS = 9  # kMetaTypeEllipsis
TYPE_SLICE = 15    # kObjectTypeSlice: a slice entry, given as its positions (length first)
TYPE_TENSOR = 17   # kObjectTypeTensorType: a tensor index
MAX_INDICES = 8    # kMaxTensorIndexDimNums: the op always has 8 slice-shape outputs
OUTPUT_COUNT = 4 + MAX_INDICES  # MindSpore 2.10: fancy_position, broadcast, new, final, slices
# tuple_index_info_type: getitem (empty) and setitem's three steps
PRE_SETITEM, SETITEM, SETITEM_WITH_TENSOR = ("pre_setitem_by_tuple", "setitem_by_tuple",
                                             "setitem_by_tuple_with_tensor")
INFO_KINDS = ("", PRE_SETITEM, SETITEM, SETITEM_WITH_TENSOR)
# what works when shape logic cannot be folded
STATIC_EXPORT_REMEDY = "export it at a static batch size and convert with --dynamic_batch instead"


def entries_besides_ellipsis(types: Sequence[int]) -> int:
    """How many entries of a tuple index are neither unused slots nor the ellipsis."""
    return sum(t not in (TYPE_UNKNOWN, TYPE_ELLIPSIS) for t in types)


def broadcast_dims(a_shape: Sequence, b_shape: Sequence, maximum: Callable) -> List:
    """NumPy broadcasting of two shapes whose entries are ints or run-time dimensions;
    `maximum(a, b)` gives the broadcast of two distinct run-time dimensions."""
    n = min(len(a_shape), len(b_shape))
    back = []
    for a, b in zip(a_shape[len(a_shape) - n:], b_shape[len(b_shape) - n:]):
        if isinstance(a, int) and isinstance(b, int):
            if a != b and 1 not in (a, b):
                raise ConversionError(f"index shapes {list(a_shape)} and {list(b_shape)} "
                                      "do not broadcast")
            back.append(b if a == 1 else a)
        elif a is b or b == 1:
            back.append(a)
        elif a == 1:
            back.append(b)
        elif isinstance(a, int):   # a run-time dimension broadcast with a fixed one
            back.append(a)
        elif isinstance(b, int):
            back.append(b)
        else:
            back.append(maximum(a, b))
    longer = a_shape if len(a_shape) > len(b_shape) else b_shape
    return list(longer[:len(longer) - n]) + back


def _fancy_position(types: Sequence[int]) -> int:
    """Where the broadcast index dimensions go: at the first tensor index when the tensor
    indices are adjacent, else at the front (NumPy's advanced-indexing rule)."""
    positions = [i for i, t in enumerate(types) if t == TYPE_TENSOR]
    if not positions or positions != list(range(positions[0], positions[-1] + 1)):
        return 0
    return positions[0]


def _refuse(where: str, what: str) -> ConversionError:
    return ConversionError(f"'{where}' (GetTupleIndexInfo) {what}; {STATIC_EXPORT_REMEDY}")


def get_tuple_index_info(where: str, index_types: Sequence[int], tensor_shapes: Sequence,
                         maximum: Callable, info_type: str = "", data_shape: Sequence = (),
                         fancy_in=0, expand_dims_cnt: int = 0) -> Tuple:
    """The op's outputs, (fancy_position, broadcast_shape, index_tensor_new_shape,
    final_shape, 8 slice shapes), from the shapes of the index entries in order.

    `tensor_shapes` are the shapes of the op's index inputs (tensors, and the index tensors
    slices and an ellipsis were turned into); `data_shape` the indexed tensor's; `fancy_in` the
    fancy position a setitem passes in (getitem kinds compute their own)."""
    if info_type not in INFO_KINDS:
        raise _refuse(where, f"of kind {info_type!r} is not supported")
    types = [int(t) for t in index_types]
    unknown = sorted({t for t in types if t not in (TYPE_UNKNOWN, TYPE_ELLIPSIS, TYPE_SLICE,
                                                   TYPE_TENSOR)})
    if unknown:
        raise _refuse(where, f"has index entries of MindSpore type ids {unknown} (only "
                             "tensors, slices and an ellipsis are supported)")
    has_ellipsis = TYPE_ELLIPSIS in types
    not_ellipsis = entries_besides_ellipsis(types)
    valid = (len(data_shape) + expand_dims_cnt) if has_ellipsis else not_ellipsis
    if valid > len(tensor_shapes) or valid > MAX_INDICES:
        raise _refuse(where, f"has {valid} index entries but {len(tensor_shapes)} index inputs")
    shapes = [list(s) for s in tensor_shapes[:valid]]
    # the ellipsis entry's index inputs come last (MindSpore's GetSliceShape)
    moved = list(types)
    if has_ellipsis:
        moved.remove(TYPE_ELLIPSIS)
        moved.append(TYPE_ELLIPSIS)
    index_shapes, slice_shapes = [], []
    for t, shape in zip(moved, shapes):
        (index_shapes if t == TYPE_TENSOR else slice_shapes).append(shape)
    if any(s and isinstance(s[0], int) and s[0] == 0 for s in index_shapes):
        # MindSpore then appends the remaining data dims and fills instead of gathering
        raise _refuse(where, "indexes with an empty tensor")
    broadcast = list(index_shapes[0]) if index_shapes else []
    for shape in index_shapes[1:]:
        broadcast = broadcast_dims(broadcast, shape, maximum)
    if info_type == SETITEM_WITH_TENSOR and len(broadcast) < 2:
        broadcast.insert(0, 1)
    ellipsis_dims = valid - not_ellipsis
    if info_type in (SETITEM, SETITEM_WITH_TENSOR):
        if not isinstance(fancy_in, int):
            raise _refuse(where, "takes its fancy position at run time")
        fancy = fancy_in
    else:
        expanded = []
        for t in types:
            expanded += [TYPE_SLICE] * ellipsis_dims if t == TYPE_ELLIPSIS else [t]
        fancy = _fancy_position(expanded)
    if info_type == PRE_SETITEM:
        return (fancy, tuple(broadcast), (), (), *[()] * MAX_INDICES)
    if any(not s for s in slice_shapes):
        raise _refuse(where, "has a slice entry that is a scalar")
    before_ellipsis = 0   # slices ahead of the ellipsis
    for t in types:
        if t == TYPE_ELLIPSIS:
            break
        before_ellipsis += t == TYPE_SLICE
    plain = len(slice_shapes) - ellipsis_dims
    slice_len = [s[0] for s in slice_shapes[:plain]]
    slice_len[before_ellipsis:before_ellipsis] = [s[0] for s in slice_shapes[plain:]]
    fancy = min(fancy, len(slice_len))
    final = slice_len[:fancy] + broadcast + slice_len[fancy:]
    if data_shape and all(isinstance(d, int) and d == 0 for d in data_shape):
        raise _refuse(where, "indexes an empty tensor")
    new_shape = [1] * fancy + broadcast + [1] * (len(slice_len) - fancy)
    slices = []
    for i in range(len(slice_len)):
        shape = [1] * len(slice_len)
        shape[i] = slice_len[i]
        slices.append(tuple(shape[:fancy] + [1] * len(broadcast) + shape[fancy:]))
    # the ellipsis dims' slice shapes go last, as their index inputs came
    ellipsis_slices = slices[before_ellipsis:before_ellipsis + ellipsis_dims]
    del slices[before_ellipsis:before_ellipsis + ellipsis_dims]
    slices += ellipsis_slices
    slices += [(1,) * len(final)] * (MAX_INDICES - len(slices))
    return (fancy, tuple(broadcast), tuple(new_shape), tuple(final), *slices)
