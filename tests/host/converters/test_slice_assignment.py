"""Slice assignment and per-sample gathers, the index forms of MindYOLO's heads, with
--dynamic_batch: a static export turns `y[..., 0:2] = v` into TensorScatterUpdate by
compile-time index tuples listing a box, and `x[ops.arange(N)[:, None], idx]` into GatherNd
whose tuples start with the folded sample index. From batch-1 and batch-2 exports, checked
against MindSpore at batch 1, 3 and 8 in ONNX Runtime and OpenVINO; the forms that do cross
samples stay refused."""
import numpy as np
import pytest

from mindspore import nn, ops

from coat_export import converters
from coat_export.converters import ir
from coat_export.converters.handlers.indexing import _index_box
from coat_export.converters.ir_constants import value_of
from coverage_nets import BatchedGatherNd, SetItemSlices
from coverage_run import runtime_status
from cvt_util import export, mindir_forward, ms_forward

SHAPE = (4, 6, 8)


@pytest.mark.parametrize("cls", [SetItemSlices, BatchedGatherNd])
@pytest.mark.parametrize("export_batch", [1, 2])
def test_per_sample_index_forms_convert_with_a_dynamic_batch(cls, export_batch, tmp_path):
    net = cls()
    path = export(net, tmp_path / "net", (export_batch,) + SHAPE)
    model = converters.convert_to_model(path, opset=17, dynamic_batch=True)
    for seed, n in enumerate((1, 3, 8)):
        x = np.random.RandomState(seed).randn(n, *SHAPE).astype(np.float32)
        assert runtime_status(model, x, ms_forward(net, x)) == "ok", f"batch {n}"


class AssignsOneSample(nn.Cell):
    def construct(self, x):
        y = ops.tanh(x)
        y[0:1, :, 0:2] = 0.0
        return (y,)


class GathersFromSampleZero(nn.Cell):
    """Index tuples whose first component is 0 (folded to a constant by the export): every
    sample reads sample 0. Not the sample index, so the join that builds them is refused."""

    def construct(self, x):
        rows = x.reshape(x.shape[0], -1, 4)
        index = ops.topk(rows.sum(-1), 3)[1]
        zero = ops.zeros_like(index)
        return (ops.gather_nd(rows, ops.stack([zero, index], -1)),)


@pytest.mark.parametrize("cls,reason", [(AssignsOneSample, "part of the batch axis"),
                                        (GathersFromSampleZero, "joins a batch tensor with a constant")])
def test_index_forms_that_cross_samples_are_refused(cls, reason, tmp_path):
    net = cls()
    path = export(net, tmp_path / "net", (2,) + SHAPE)
    x = np.random.RandomState(0).randn(2, *SHAPE).astype(np.float32)
    assert runtime_status(converters.convert_to_model(path, opset=17), x,
                          ms_forward(net, x)) == "ok"
    with pytest.raises(converters.ConversionError, match=reason):
        converters.convert_to_model(path, opset=17, dynamic_batch=True)


def _node(op, inputs, shape, dtype=np.int64, attrs=None):
    n = ir.Node(f"n{id(inputs)}", op, list(inputs), [], attrs or {})
    n.outputs.append(ir.Value(n.name, np.dtype(dtype), shape, "node", n, 0))
    return n.outputs[0]


def _const(array):
    a = np.asarray(array)
    return ir.Value(f"c{id(a)}", a.dtype, a.shape, "constant", data=a)


def test_value_of_folds_constant_index_arithmetic_only():
    rows = _const(np.arange(3).reshape(3, 1) * np.ones((1, 4), np.int64))
    cols = _const(np.arange(4).reshape(1, 4) * np.ones((3, 1), np.int64) + 2)
    idx = _node("Concat", [(_node("ExpandDims", [rows, -1], (3, 4, 1)),
                            _node("ExpandDims", [cols, -1], (3, 4, 1))), -1], (3, 4, 2))
    folded = value_of(idx)
    assert folded.shape == (3, 4, 2)
    assert _index_box(idx, (5, 9)) == ([0, 2], [3, 6])
    assert _index_box(idx, (5, 5)) is None          # past the end of axis 1
    x = ir.Value("x", np.dtype(np.int64), (3, 4), "input")
    assert value_of(_node("ExpandDims", [x, -1], (3, 4, 1))) is None
    shuffled = _const(folded[::-1])                  # the same tuples, not in box order
    assert _index_box(shuffled, (5, 9)) is None


def _check_a_symbolic_batch_export(net, tmp_path, reference="pynative"):
    """`net` exported with a symbolic batch converts and matches MindSpore at batch 1, 3 and
    8: its PyNative forward, or (`reference="graph"`) its run of the exported graph."""
    path = export(net, tmp_path / "net", (1,) + SHAPE, dynamic_batch=True)
    model = converters.convert_to_model(path, opset=17)
    for seed, n in enumerate((1, 3, 8)):
        x = np.random.RandomState(seed).randn(n, *SHAPE).astype(np.float32)
        expected = ms_forward(net, x) if reference == "pynative" else mindir_forward(path, x)
        assert runtime_status(model, x, expected) == "ok", f"batch {n}"


@pytest.mark.parametrize("cls", [SetItemSlices, BatchedGatherNd])
def test_a_symbolic_batch_setitem_converts(cls, tmp_path):
    """MindSpore exports a setitem on a dynamic shape as index helpers (SliceToIndices,
    RemoveExpandedDims...) and branches on their results: the reader folds them."""
    _check_a_symbolic_batch_export(cls(), tmp_path)


class AssignsPartsOfTheBatch(nn.Cell):
    def construct(self, x):
        y = ops.tanh(x)
        y[0:1, :, 0:2] = 0.0               # the first sample
        y[-2:, 1] = y[-2:, 1] * 2.0        # the last two, however many there are
        y[:-1, 2] = 1.0                    # none at batch 1
        return (y,)


class SelectsNothingAtBatchOne(nn.Cell):
    def construct(self, x):
        y = ops.tanh(x)
        y[1:3, :, 2:4] = -1.0
        y[1:3, :, 4:6] = y[1:3, :, 4:6] + 1.0
        return (y,)


@pytest.mark.parametrize("cls,reference", [(AssignsPartsOfTheBatch, "pynative"),
                                           (SelectsNothingAtBatchOne, "graph")])
def test_a_symbolic_batch_setitem_of_part_of_the_batch_converts(cls, reference, tmp_path):
    """`y[1:3, ...] = v` clamps its bounds to the run-time batch, by nodes in the ONNX, and
    may select nothing (at batch 1), which the scatter leaves as MindSpore's empty branch
    does. The reference is MindSpore's own forward: PyNative, or the exported graph where
    PyNative fails (its CPU CopyWithSlice on an empty selection; MindSpore's graph in turn
    fails on the integer-index forms of the first network)."""
    _check_a_symbolic_batch_export(cls(), tmp_path, reference)


class AssignsPlainSlices(nn.Cell):
    """`y[a:b] = v` without a tuple index: MindSpore branches on start == stop and copies the
    rows with TensorCopySlices, both on run-time bounds."""
    def construct(self, x):
        y = ops.tanh(x)
        y[:-1] = 1.0                       # none at batch 1
        y[1:3] = -1.0                      # none at batch 1
        y[0:1] = y[0:1] * 2.0
        y[-2:] = 0.5
        return (y,)


class AssignsEveryOtherSample(nn.Cell):
    """`y[a:b:s] = v` without a tuple index, s != 1: MindSpore scatters into the rows
    SliceToIndices lists, a Range over the run-time bounds (negative steps are left out:
    MindSpore 2.10's PyNative fails on y[::-2] = y[::-2] - 1 and misplaces y[-1::-3] = 2 at
    batch 1, and its run of the exported graph fails on all of these)."""
    def construct(self, x):
        y = ops.tanh(x)
        y[::2] = 0.0
        y[1::3] = y[1::3] * 2.0            # none at batch 1
        y[0:-1:2] = 5.0                    # none at batch 1
        return (y,)


@pytest.mark.parametrize("cls", [AssignsPlainSlices, AssignsEveryOtherSample])
def test_a_symbolic_batch_plain_slice_setitem_converts(cls, tmp_path):
    _check_a_symbolic_batch_export(cls(), tmp_path)


class ScattersAPart(nn.Cell):
    def construct(self, x):
        y = ops.tanh(x)
        y[..., 0:2] = y[..., 0:2] * 2.0
        return (y,)


def _cut_shape_at_dimension_zero(path):
    """The MINDIR MindSpore 2.10 writes for yolov7-d6/e6/e6e's heads, reproduced: the updates
    shape of a setitem, index_shape[:-1] + data_shape[index_shape[-1]:], there reads
    index_shape[0], a run-time batch (its TupleGetItem takes the constant 0 that the first
    slice starts at). MindSpore's own run of yolov7-d6's graph at batch 1 fails there, in
    BroadcastTo of (1, 3, 160, 160, 2) to (1, 3, 160, 160, 2, 3, 160, 160, 85)."""
    from coat_export.converters.mindir_reader import load_mind_ir_pb2
    model = load_mind_ir_pb2().ModelProto()
    with open(path, "rb") as f:
        model.ParseFromString(f.read())
    graphs = [model.graph] + list(model.functions)
    primitives = {p.name: p.op_type for p in model.primitives}

    def is_op(node, op):              # node.op_type is "REF::<name of its primitive>"
        return primitives.get(node.op_type[len("REF::"):]) == op

    producer = {o: n for g in graphs for n in g.node for o in n.output}
    cut = 0
    for n in (n for g in graphs for n in g.node if is_op(n, "SequenceSlice")):
        start = producer.get(n.input[1])
        if start is not None and is_op(start, "TupleGetItem"):
            first_slice = next(m for g in graphs for m in g.node
                               if is_op(m, "SequenceSlice")
                               and m.input[0] == start.input[0])
            start.input[1] = first_slice.input[1]        # the 0 of index_shape[0:-1]
            cut += 1
    assert cut, "no SequenceSlice started at a TupleGetItem: MindSpore's export changed"
    with open(path, "wb") as f:
        f.write(model.SerializeToString())


def test_a_shape_cut_at_a_run_time_dimension_is_refused_with_its_reason(tmp_path):
    path = export(ScattersAPart(), tmp_path / "net", (1,) + SHAPE, dynamic_batch=True)
    converters.convert_to_model(path, opset=17)      # as MindSpore wrote it: converts
    _cut_shape_at_dimension_zero(path)
    with pytest.raises(converters.ConversionError,
                       match=r"\(SequenceSlice\) cuts a shape tuple at a position known only "
                             r"at run time.*export it at a static batch size"):
        converters.convert_to_model(path, opset=17)
