"""GetTupleIndexInfo folded at conversion time (`converters.tuple_index`): the shapes it
gives match NumPy's advanced indexing, which MindSpore's getitem follows."""
import numpy as np
import pytest

from coat_export.converters.errors import ConversionError
from coat_export.converters.tensor_index import (normalize_dim_index, normalize_tuple_index,
                                                 remove_expanded_dims, slice_to_indices)
from coat_export.converters.tuple_index import (PRE_SETITEM, SETITEM, TYPE_ELLIPSIS, TYPE_SLICE,
                                                TYPE_TENSOR, MAX_INDICES, broadcast_dims,
                                                get_tuple_index_info)

S, T, E = TYPE_SLICE, TYPE_TENSOR, TYPE_ELLIPSIS


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
    with pytest.raises(ConversionError, match="type ids \\[7\\].*--dynamic_batch instead"):
        get_tuple_index_info("n", (7, T), [(2,), (2,)], _no_runtime_max)
    with pytest.raises(ConversionError, match="kind 'setitem_by_bool'.*--dynamic_batch"):
        get_tuple_index_info("n", (T,), [(2,)], _no_runtime_max, "setitem_by_bool")
    with pytest.raises(ConversionError, match="fancy position at run time"):
        get_tuple_index_info("n", (S,), [(2,)], _no_runtime_max, SETITEM, (4,), object())
    with pytest.raises(ConversionError, match="empty tensor"):
        get_tuple_index_info("n", (T,), [(0,)], _no_runtime_max)


@pytest.mark.parametrize("types, shapes, key", [
    # an ellipsis: its axes' index inputs come after the other entries' (MindSpore's order)
    ((E, S), [(2,), (4,), (5,), (6,)], lambda: (Ellipsis, slice(0, 2))),
    ((T, E), [(3, 1), (5,), (6,)], lambda: (np.zeros((3, 1), int), Ellipsis)),
    ((E, T), [(2,), (4,), (5,)], lambda: (Ellipsis, np.zeros(2, int))),
    ((S, E, S), [(3,), (1,), (5,), (6,)], lambda: (slice(0, 3), Ellipsis, slice(0, 1))),
])
def test_an_ellipsis_spans_the_axes_numpy_gives_it(types, shapes, key):
    data = np.zeros((4, 5, 6, 7)[:len(shapes)])
    padded = tuple(types) + (0,) * (MAX_INDICES - len(types))
    out = get_tuple_index_info("n", padded, shapes, _no_runtime_max, "", data.shape)
    final = out[3]
    assert final == data[key()].shape
    for slice_shape in out[4:]:
        assert np.broadcast_shapes(slice_shape, final) == final


def test_setitem_kinds_take_the_fancy_position_they_are_given():
    types = (E, S) + (0,) * (MAX_INDICES - 2)
    shapes = [(2,), (4,), (5,), (6,)]
    pre = get_tuple_index_info("n", types, [(1,)] * 8, _no_runtime_max, PRE_SETITEM,
                               (4, 5, 6, 7), 0)
    assert pre[:4] == (0, (), (), ()) and len(pre) == 4 + MAX_INDICES
    out = get_tuple_index_info("n", types, shapes, _no_runtime_max, SETITEM, (4, 5, 6, 7), 0)
    assert out[3] == (4, 5, 6, 2)
    # the slice's grid first, then the ellipsis axes' grids, each along its own axis
    assert out[4:8] == ((1, 1, 1, 2), (4, 1, 1, 1), (1, 5, 1, 1), (1, 1, 6, 1))


@pytest.mark.parametrize("bounds", [
    (0, 2, 1), (5, None, -2), (-1, None, None), (None, None, -1), (1, -1, 2), (9, 12, 1),
    (-20, 3, None), (3, 3, 1)])
def test_slice_to_indices_is_pythons_slice(bounds):
    none = tuple(int(b is None) for b in bounds)
    literal = [0 if b is None else b for b in bounds]
    attrs = {"tuple_index_types": (E, S) + (0,) * 6, "tuple_index_axis": 1,
             "init_by_none": none, "expand_dims_mask": 0}
    out = slice_to_indices("n", (2, 3, 7), *literal, attrs, _RecordedScalars())
    expected = np.arange(7)[slice(*bounds)]
    assert out[0].dtype == np.int64 and out[0].tolist() == expected.tolist()
    assert out[5] == int(expected.size == 0)   # the "nothing selected" flag


def test_slice_to_indices_on_a_run_time_axis():
    attrs = {"tuple_index_types": (S, S) + (0,) * 6, "tuple_index_axis": 0,
             "init_by_none": (1, 1, 1), "expand_dims_mask": 0}
    n = object()
    out = slice_to_indices("n", (n, 3), 0, 0, 0, attrs, _RecordedScalars())
    assert out[0] == ("arange", n) and out[1] == (n, 3) and out[5] == 0
    # x[0:2, ...]: the bounds are clamped by run-time nodes; never empty at sizes >= 1
    attrs["init_by_none"] = (0, 0, 1)
    scalars = _RecordedScalars()
    out = slice_to_indices("n", (n, 3), 0, 2, 0, attrs, scalars)
    assert out[0] == ("Range", 0, ("Minimum", n, 2), 1) and out[1] == (("Minimum", n, 2), 3)
    assert out[5] == 0 and scalars.nonzero_marked == [("Minimum", n, 2)]
    out = slice_to_indices("n", (n, 3), -3, 0, 2, {**attrs, "init_by_none": (0, 1, 0)},
                           scalars)   # x[-3::2]
    first = ("Maximum", ("Add", n, -3), 0)
    count = ("TruncateDiv", ("Add", ("Sub", n, first), 1), 2)
    assert out[0] == ("Range", first, n, 2) and out[1] == (count, 3)
    assert scalars.nonzero_marked[-1] == count
    # x[1:3] selects nothing where the axis is 1 long: its count is clamped at 0, not taken as
    # non-zero; x[5::-2] clamps its start to the last index
    marked = len(scalars.nonzero_marked)
    out = slice_to_indices("n", (n, 3), 1, 3, 0, attrs, scalars)
    first, last = ("Minimum", n, 1), ("Minimum", n, 3)
    assert out[0] == ("Range", first, last, 1)
    assert out[1] == (("Maximum", ("Sub", last, first), 0), 3) and out[5] == 0
    out = slice_to_indices("n", (n, 3), 5, 0, -2, {**attrs, "init_by_none": (0, 1, 0)},
                           scalars)
    first = ("Minimum", ("Sub", n, 1), 5)
    assert out[0] == ("Range", first, -1, -2)
    assert out[1] == (("Maximum", ("TruncateDiv", ("Add", ("Sub", first, -1), 1), 2), 0), 3)
    assert len(scalars.nonzero_marked) == marked


class _RecordedScalars:
    """tensor_index.RunTimeScalars recording the expressions it is asked to build."""

    def __init__(self):
        self.nonzero_marked = []

    def arange(self, size):
        return ("arange", size)

    def binary(self, op, a, b):
        return (op, a, b)

    def range(self, start, stop, step):
        return ("Range", start, stop, step)

    def nonzero(self, value):
        self.nonzero_marked.append(value)

    def column(self, indices):
        return ("column", indices)

    def bounds(self, first, last):
        pass


def test_normalize_tuple_index_and_dim_index():
    types = [S, E, S] + [0] * 5
    # entries after the ellipsis address the axes after those it spans
    assert [normalize_dim_index(5, i, types) for i in (0, 2)] == [0, 4]
    n = object()
    attrs = {"tuple_index_types": types, "origin_index_type": "ellipsis_index",
             "tuple_index_axis": 0}
    assert normalize_tuple_index("n", (2, n, 4, 5, 6), 0, attrs,
                                 lambda d: ("arange", d)) == ("arange", n)
    attrs["tuple_index_axis"] = 1
    assert normalize_tuple_index("n", (2, n, 4, 5, 6), 0, attrs, None).tolist() == [0, 1, 2, 3]
    attrs.update(origin_index_type="int_index", tuple_index_axis=2)
    assert normalize_tuple_index("n", (2, n, 4, 5, 6), np.array(-2), attrs, None) == 4
    with pytest.raises(ConversionError, match="out of bounds"):
        normalize_tuple_index("n", (2, n, 4, 5, 6), np.array(6), attrs, None)


def test_remove_expanded_dims_says_which_branch_a_setitem_takes():
    attrs = {"tuple_index_types": (E, S) + (0,) * 6, "has_true": False, "has_sequence": False,
             "expand_dims_cnt": 0, "empty_indices_out": False}
    n = object()
    # a non-empty slice: scatter (-1) the value, of its own shape
    assert remove_expanded_dims("n", (n, 3, 7), (n, 3, 2), 0, (), 0, attrs) == (-1, (n, 3, 2), 0)
    # an empty slice selects nothing: the data comes back as it is
    assert remove_expanded_dims("n", (n, 3, 7), (n, 3, 0), 1, (), 0, attrs)[0] == 0
    with pytest.raises(ConversionError, match="run-time values"):
        remove_expanded_dims("n", (n, 3, 7), (n, 3, 2), n, (), 0, attrs)
