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
TYPE_SLICE = 15    # kObjectTypeSlice: a slice entry, given as its positions (length first)
TYPE_TENSOR = 17   # kObjectTypeTensorType: a tensor index
MAX_INDICES = 8    # kMaxTensorIndexDimNums: the op always has 8 slice-shape outputs
OUTPUT_COUNT = 4 + MAX_INDICES  # MindSpore 2.10: fancy_position, broadcast, new, final, slices


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


def get_tuple_index_info(where: str, index_types: Sequence[int], tensor_shapes: Sequence,
                         maximum: Callable, info_type: str = "") -> Tuple:
    """The op's outputs, (fancy_position, broadcast_shape, index_tensor_new_shape,
    final_shape, 8 slice shapes), from the shapes of the index entries in order."""
    if info_type:
        raise ConversionError(f"'{where}' (GetTupleIndexInfo) of kind {info_type!r} (setitem) "
                              "is not supported; export it at a static batch size and convert "
                              "with --dynamic_batch instead")
    types = [int(t) for t in index_types if int(t) != TYPE_UNKNOWN]
    unknown = sorted({t for t in types if t not in (TYPE_SLICE, TYPE_TENSOR)})
    if unknown:
        raise ConversionError(f"'{where}' (GetTupleIndexInfo) has index entries of MindSpore "
                              f"type ids {unknown} (only tensors and slices are supported); "
                              "export it at a static batch size and convert with "
                              "--dynamic_batch instead")
    if len(types) > len(tensor_shapes) or len(types) > MAX_INDICES:
        raise ConversionError(f"'{where}' (GetTupleIndexInfo) has {len(types)} index entries "
                              f"but {len(tensor_shapes)} index inputs")
    index_shapes, slice_len = [], []
    for t, shape in zip(types, tensor_shapes):
        if t == TYPE_TENSOR:
            index_shapes.append(list(shape))
        elif not shape:
            raise ConversionError(f"'{where}' (GetTupleIndexInfo): a slice entry is a scalar")
        else:
            slice_len.append(shape[0])
    broadcast = list(index_shapes[0]) if index_shapes else []
    for shape in index_shapes[1:]:
        broadcast = broadcast_dims(broadcast, shape, maximum)
    fancy = min(_fancy_position(types), len(slice_len))
    final = slice_len[:fancy] + broadcast + slice_len[fancy:]
    # an index tensor of literal length 0 makes MindSpore append the remaining data dims;
    # that form leaves final_shape with a 0, which the graph then fills instead of gathering
    if any(s and isinstance(s[0], int) and s[0] == 0 for s in index_shapes):
        raise ConversionError(f"'{where}' (GetTupleIndexInfo) indexes with an empty tensor")
    new_shape = [1] * fancy + broadcast + [1] * (len(slice_len) - fancy)
    slices = []
    for i in range(len(slice_len)):
        shape = [1] * len(slice_len)
        shape[i] = slice_len[i]
        slices.append(tuple(shape[:fancy] + [1] * len(broadcast) + shape[fancy:]))
    slices += [(1,) * len(final)] * (MAX_INDICES - len(slices))
    return (fancy, tuple(broadcast), tuple(new_shape), tuple(final), *slices)
