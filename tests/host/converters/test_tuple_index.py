"""GetTupleIndexInfo folded at conversion time (`converters.tuple_index`): the shapes it
gives match NumPy's advanced indexing, which MindSpore's getitem follows."""
import numpy as np
import pytest

from coat_export.converters.errors import ConversionError
from coat_export.converters.tuple_index import (TYPE_SLICE, TYPE_TENSOR, MAX_INDICES,
                                                broadcast_dims, get_tuple_index_info)

S, T = TYPE_SLICE, TYPE_TENSOR


def _no_runtime_max(a, b):
    raise AssertionError("static shapes need no run-time maximum")


@pytest.mark.parametrize("types, shapes, key", [
    # (index types, shapes of the entries: slices as their 1-D positions, a NumPy key)
    ((T, T), [(4, 1), (4, 5)], lambda: (np.zeros((4, 1), int), np.zeros((4, 5), int))),
    ((S, T, T), [(3,), (2, 1), (1, 7)],
     lambda: (slice(0, 3), np.zeros((2, 1), int), np.zeros((1, 7), int))),
    ((T, S, T), [(2, 1), (3,), (1, 7)],
     lambda: (np.zeros((2, 1), int), slice(0, 3), np.zeros((1, 7), int))),
    ((T, S), [(6,), (5, 1)], lambda: (np.zeros(6, int), slice(0, 5))),
])
def test_final_shape_is_numpys_advanced_indexing_shape(types, shapes, key):
    data = np.zeros((4, 5, 6))
    padded = tuple(types) + (0,) * (MAX_INDICES - len(types))
    out = get_tuple_index_info("n", padded, shapes, _no_runtime_max)
    assert len(out) == 4 + MAX_INDICES
    fancy, broadcast, new_shape, final = out[:4]
    # dimensions the key leaves alone are GatherNd's, after final_shape
    assert final + data.shape[len(types):] == data[key()].shape
    assert broadcast == np.broadcast_shapes(*[s for t, s in zip(types, shapes) if t == T])
    # each index tensor is reshaped to new_shape, then broadcast to final
    assert len(new_shape) == len(final) and np.broadcast_shapes(new_shape, final) == final
    for slice_shape in out[4:]:
        assert np.broadcast_shapes(slice_shape, final) == final


def test_run_time_dimensions_broadcast_like_numpy_and_meet_in_a_maximum():
    n, m = object(), object()
    calls = []

    def maximum(a, b):
        calls.append((a, b))
        return "max"
    assert broadcast_dims((n, 1), (1, 5), maximum) == [n, 5]
    assert broadcast_dims((n, 1), (n, 5), maximum) == [n, 5] and not calls
    assert broadcast_dims((3, n), (n,), maximum) == [3, n]
    assert broadcast_dims((n, 1), (m, 5), maximum) == ["max", 5] and calls == [(n, m)]


def test_what_it_cannot_fold_is_refused_with_the_remedy():
    with pytest.raises(ConversionError, match="do not broadcast"):
        broadcast_dims((3,), (4,), _no_runtime_max)
    with pytest.raises(ConversionError, match="type ids \\[9\\].*--dynamic_batch instead"):
        get_tuple_index_info("n", (9, T), [(2,), (2,)], _no_runtime_max)
    with pytest.raises(ConversionError, match="setitem.*--dynamic_batch"):
        get_tuple_index_info("n", (T,), [(2,)], _no_runtime_max, "setitem_by_tuple")
    with pytest.raises(ConversionError, match="empty tensor"):
        get_tuple_index_info("n", (T,), [(0,)], _no_runtime_max)
