"""--dynamic_axes: MINDIRs exported with symbolic spatial and sequence axes convert to ONNX
models whose matching axes are symbolic and named, and match MindSpore's own forward pass at
several sizes of every axis (batch 1, 3, 8), in ONNX Runtime and OpenVINO."""
import os

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from coat_export.converters import dynamic_axes as axes
from coat_export.converters.__main__ import main as cli_main
from coverage_run import runtime_status
from cvt_util import mindir_forward, ms_forward


class ImageClassifier(nn.Cell):
    """Convolutions with 'pad', 'same' and stride 2, 'same' max and average pooling (pads
    computed at run time; odd sizes put the extra pad at the end), a dilated 'same'
    convolution (ECAPA-TDNN's; static pads at stride 1), then a global mean: any
    height/width."""
    def __init__(self):
        super().__init__()
        self.features = nn.SequentialCell(
            nn.Conv2d(3, 8, 3, pad_mode="pad", padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(3, 2, pad_mode="same"), nn.Conv2d(8, 16, 3, stride=2, pad_mode="same"),
            nn.ReLU(), nn.AvgPool2d(3, 1, pad_mode="same"),
            nn.Conv2d(16, 16, 3, dilation=2, pad_mode="same"))
        self.fc = nn.Dense(16, 5)

    def construct(self, x):
        return self.fc(self.features(x).mean(axis=(2, 3)))


class TextRecognizer(nn.Cell):
    """CRNN's shape: height fixed at 32, any width; columns become a bidirectional LSTM's
    time steps (the feature map is reshaped with run-time sizes)."""
    def __init__(self):
        super().__init__()
        self.features = nn.SequentialCell(
            nn.Conv2d(3, 8, 3, pad_mode="same"), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 8, 3, pad_mode="same"), nn.ReLU(), nn.MaxPool2d((4, 1), (4, 1)))
        self.rnn = nn.LSTM(32, 16, batch_first=True, bidirectional=True)
        self.fc = nn.Dense(32, 11)

    def construct(self, x):
        y = self.features(x)
        n, c, h, w = y.shape
        y, _ = self.rnn(y.reshape(n, c * h, w).transpose(0, 2, 1))
        return self.fc(y)


class SpeechEncoder(nn.Cell):
    """Self-attention over frames of 80 mel bins: any number of frames. A learned offset of
    the pooled features is tiled by the run-time batch (MindAudio's Conformer tiles its
    positions so)."""
    def __init__(self):
        super().__init__()
        self.embed = nn.Dense(80, 32)
        self.offset = ms.Parameter(ms.Tensor(np.linspace(-1, 1, 32, dtype=np.float32)
                                             .reshape(1, 32)), name="offset")
        self.qkv = nn.Dense(32, 96)
        self.norm = nn.LayerNorm((32,))
        self.head = nn.Dense(32, 4)

    def construct(self, x):
        h = self.embed(x)
        b, t, _ = h.shape
        qkv = self.qkv(h).reshape(b, t, 3, 4, 8).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = ops.softmax(ops.matmul(q, k.transpose(0, 1, 3, 2)) / 8 ** 0.5, axis=-1)
        h = self.norm(h + ops.matmul(a, v).transpose(0, 2, 1, 3).reshape(b, t, 32))
        return self.head(h), h.mean(axis=1) + self.offset.tile((b, 1))


class TokenTagger(nn.Cell):
    """Token ids of any length, with positions from ops.arange(length): Range, TensorToScalar."""
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.fc = nn.Dense(16, 3)

    def construct(self, ids):
        positions = ops.arange(ids.shape[1]).astype(ms.float32).reshape(1, -1, 1)
        return self.fc(self.embed(ids) + positions * 0.01)


class Segmenter(nn.Cell):
    """A stride-2 convolution resized back to the input's size, three ways: to the input's
    shape, by a scale factor (sizes computed with TruncateDiv, TensorToTuple), nearest."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, pad_mode="same")
        self.bilinear = ops.ResizeBilinearV2()
        self.nearest = ops.ResizeNearestNeighborV2()

    def construct(self, x):
        y = self.conv(x)
        to_input = self.bilinear(y, x.shape[2:])
        scaled = ops.interpolate(y, scale_factor=2.0, mode="bilinear",
                                 recompute_scale_factor=True)
        nearest = self.nearest(y, ops.tuple_to_array(x.shape[2:]))
        return to_input, scaled, nearest


class Warper(nn.Cell):
    """A spatial transformer's sampling: a per-pixel flow field from a convolution warps the
    image (GridSampler2D, bilinear with zero padding and nearest with reflection; below opset
    16 by gathers) at any image size."""
    def __init__(self):
        super().__init__()
        self.flow = nn.Conv2d(3, 2, 3, pad_mode="same", has_bias=True)

    def construct(self, x):
        grid = ops.tanh(self.flow(x)).transpose(0, 2, 3, 1) * 1.2
        return (ops.grid_sample(x, grid, "bilinear", "zeros", False),
                ops.grid_sample(x, grid, "nearest", "reflection", True))


class TopDetections(nn.Cell):
    """YOLOv10's post-processing: the boxes of the top-k scores per image, gathered with
    `boxes[arange(n)[:, None], index]` — on a dynamic shape MindSpore exports that getitem as
    GetTupleIndexInfo (shape tuples computed at run time), which the reader folds."""
    def construct(self, x):
        boxes, scores = x[:, :, :4], x[:, :, 4] + x[:, :, 5]
        _, index = ops.topk(scores, 3)
        return boxes[ops.arange(x.shape[0])[:, None], index]


class BoxDecoder(nn.Cell):
    """YOLOv3/v5/v7's head decode, ``y[..., 0:2] = ...``: a setitem on a dynamic shape, which
    MindSpore exports as SliceToIndices, NormalizeTupleIndex, GetTupleIndexInfo and
    RemoveExpandedDims (index grids and shapes computed at run time), a Switch on their
    results and a TensorScatterUpdate; the reader folds the helpers and picks the branch."""
    def construct(self, x):
        y = ops.sigmoid(x)
        y[..., 0:2] = y[..., 0:2] * 2.0 - 0.5
        y[..., 2:4] = (y[..., 2:4] * 2) ** 2
        y[..., 5::-2] = 0.25               # a negative step
        y[:, 1:3] = y[:, 1:3] + 1.0        # the whole (symbolic) batch axis, then a slice
        y[..., -1:] = x[..., -1:]          # negative bounds
        return y


class EdgeFrames(nn.Cell):
    """Setitems on parts of axes of run-time size (the first sample, the first and last
    frames, every other frame): their bounds are clamped at run time, also where the
    sequence is shorter than the slice."""
    def construct(self, x):
        y = ops.tanh(x)
        y[0:1, :, 0:2] = 0.0               # part of the batch
        y[:, :2] = y[:, :2] * 3.0          # at most two frames
        y[:, -3:, 4:] = -1.0               # at most three from the end
        y[:, ::2, 3] = 0.5                 # a step over the sequence, an integer index
        y[..., 5] = y[..., 4]
        return y


class LaterFrames(nn.Cell):
    """Setitems of frames 1 and 2, which select nothing where the sequence is 1 long: the
    ONNX scatters an empty selection, which leaves the data as MindSpore's empty branch
    returns it."""
    def construct(self, x):
        y = ops.tanh(x)
        y[:, 1:3] = -1.0
        y[:, 1:3, 4:] = y[:, 1:3, 4:] * 2.0
        return y


class CausalScores(nn.Cell):
    """MASTER's decoder: attention scores over a sequence of run-time length, masked to
    their lower and upper triangles (before ONNX Trilu, opset 14, a mask built from the
    row and column positions)."""
    def construct(self, x):
        scores = ops.matmul(x, x.swapaxes(1, 2))
        return ops.tril(scores), ops.triu(scores, 1), ops.tril(x, -1)


CASES = {
    # name: (network, symbolic input shape, dtype, the ONNX input's axes, sizes fed)
    "image": (ImageClassifier, [None, 3, None, None], np.float32,
              ["batch", 3, "height", "width"], [(1, 3, 32, 48), (3, 3, 37, 29), (8, 3, 24, 40)]),
    "text": (TextRecognizer, [None, 3, 32, None], np.float32, ["batch", 3, 32, "width"],
             [(1, 3, 32, 64), (3, 3, 32, 100), (8, 3, 32, 36)]),
    "speech": (SpeechEncoder, [None, None, 80], np.float32, ["batch", "sequence", 80],
               [(1, 7, 80), (3, 19, 80), (8, 4, 80)]),
    "tokens": (TokenTagger, [None, None], np.int32, ["batch", "sequence"],
               [(1, 5), (3, 12), (8, 9)]),
    "segmentation": (Segmenter, [None, 3, None, None], np.float32,
                     ["batch", 3, "height", "width"],
                     [(1, 3, 16, 20), (3, 3, 34, 18), (8, 3, 12, 12)]),
    "detections": (TopDetections, [None, None, 6], np.float32, ["batch", "sequence", 6],
                   [(1, 7, 6), (3, 19, 6), (8, 4, 6)]),
    "setitem": (BoxDecoder, [None, 3, None, None, 7], np.float32,
                ["batch", 3, "depth", "height", 7],
                [(1, 3, 4, 5, 7), (3, 3, 6, 2, 7), (8, 3, 3, 3, 7)]),
    "edges": (EdgeFrames, [None, None, 6], np.float32, ["batch", "sequence", 6],
              [(1, 1, 6), (3, 7, 6), (8, 2, 6)]),
    "later_frames": (LaterFrames, [None, None, 6], np.float32, ["batch", "sequence", 6],
                     [(1, 1, 6), (3, 7, 6), (8, 2, 6)]),
    "causal": (CausalScores, [None, None, 6], np.float32, ["batch", "sequence", 6],
               [(1, 7, 6), (3, 19, 6), (8, 4, 6)]),
    "warp": (Warper, [None, 3, None, None], np.float32, ["batch", 3, "height", "width"],
             [(1, 3, 16, 20), (3, 3, 9, 31), (8, 3, 12, 12)]),
}


# cases whose reference is MindSpore running the exported graph: PyNative fails on their
# setitems that select nothing (see cvt_util.mindir_forward)
GRAPH_REFERENCE = {"later_frames"}


def _inputs(dtype, shape, seed):
    rng = np.random.RandomState(seed)
    if dtype == np.int32:
        return rng.randint(0, 50, shape).astype(np.int32)
    return rng.randn(*shape).astype(np.float32)


_EXPORTS = {}


def _export(name, tmp_path_factory):
    """(name, .mindir path, [(input, MindSpore's outputs)] per fed size), once per session."""
    if name in _EXPORTS:
        return _EXPORTS[name]
    cls, shape, dtype, _, sizes = CASES[name]
    ms.set_seed(0)
    net = cls()
    net.set_train(False)
    path = str(tmp_path_factory.mktemp("dynaxes") / name)
    ms.export(net, ms.Tensor(shape=shape, dtype=ms.int32 if dtype == np.int32 else ms.float32),
              file_name=path, file_format="MINDIR")
    feeds = [_inputs(dtype, s, seed) for seed, s in enumerate(sizes)]
    forward = (lambda x: mindir_forward(path + ".mindir", x)) if name in GRAPH_REFERENCE \
        else (lambda x: ms_forward(net, x))
    _EXPORTS[name] = name, path + ".mindir", [(x, forward(x)) for x in feeds]
    return _EXPORTS[name]


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request, tmp_path_factory):
    return _export(request.param, tmp_path_factory)


def _dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("opset", [13, 21])
def test_symbolic_axes_are_named_and_match_mindspore_at_every_size(exported, opset):
    name, path, cases = exported
    conv = converters.convert_detailed(path, opset=opset, dynamic_axes={})
    assert _dims(conv.model.graph.input[0]) == CASES[name][3]
    # the last check ran twice, at two sizes of every named axis
    named = {n for n in CASES[name][3] if isinstance(n, str)}
    assert len(conv.check_runs) == 2 and all(set(r) == named for r in conv.check_runs)
    assert all(len({r[n] for r in conv.check_runs}) == 2 for n in named - {"batch"})
    for x, expected in cases:
        status = runtime_status(conv.model, x, expected)
        assert status == "ok", f"{name} at {x.shape}, opset {opset}: {status}"


def test_output_axes_take_the_input_axis_name_shape_inference_proves(tmp_path_factory):
    _, path, _ = _export("speech", tmp_path_factory)
    conv = converters.convert_detailed(path, dynamic_axes={})
    assert [_dims(o) for o in conv.model.graph.output] == [["batch", "sequence", 4],
                                                            ["batch", 32]]
    assert conv.dynamic_axes == {"x": {0: "batch", 1: "sequence"},
                                 "output_0": {0: "batch", 1: "sequence"},
                                 "output_1": {0: "batch"}}


def test_cli_names_axes_as_given_and_reports_them(tmp_path_factory, tmp_path, capsys):
    _, path, cases = _export("text", tmp_path_factory)
    out = str(tmp_path / "text.onnx")
    assert cli_main([path, out, "--dynamic_axes", "x:0=N,3=columns",
                     "--check_sizes", "columns=40,72"]) == 0
    printed = capsys.readouterr().out
    assert "dynamic axes: x [N, 3, 32, columns]" in printed
    assert "N=1, columns=40; N=2, columns=72" in printed
    import onnx
    model = onnx.load(out)
    assert _dims(model.graph.input[0]) == ["N", 3, 32, "columns"]
    x, expected = cases[1]
    assert runtime_status(model, x, expected) == "ok"


def test_cli_refuses_axes_the_mindir_fixed(tmp_path_factory, tmp_path, capsys):
    _, path, _ = _export("text", tmp_path_factory)
    out = tmp_path / "never.onnx"
    for argv, expected in (
            (["--dynamic_axes", "x:2=height"],
             "--dynamic_axes x:2: that axis is 32 in the MINDIR (x [None, 3, 32, None]); only "
             "axes exported as None can be dynamic"),
            (["--dynamic_axes", "image:3=width"],
             "--dynamic_axes names input 'image', which the model does not have (its inputs: x)"),
            (["--dynamic_axes", "x:7=width"], "--dynamic_axes x:7: input 'x' has rank 4"),
            (["--dynamic_axes", "3=wid th"], "--dynamic_axes '3=wid th': axis name 'wid th' "
             "must be a letter"),
            (["--dynamic_axes", "x3=width"], "--dynamic_axes 'x3=width': write [INPUT:]AXIS=NAME"),
            (["--dynamic_axes", "--check_sizes", "height=64"],
             "--check_sizes names height, which the model does not have as a symbolic axis "
             "(it has: batch, width)"),
            (["--dynamic_axes", "--check_sizes", "width=0"], "--check_sizes 'width=0': write")):
        assert cli_main([path, str(out)] + argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: " + expected), (argv, err)
        assert not os.listdir(tmp_path)


def test_dynamic_axes_on_a_static_mindir_says_how_to_export(tmp_path, capsys):
    net = ImageClassifier()
    net.set_train(False)
    path = str(tmp_path / "static")
    ms.export(net, ms.Tensor(np.zeros((1, 3, 32, 32), np.float32)), file_name=path,
              file_format="MINDIR")
    assert cli_main([path + ".mindir", str(tmp_path / "out.onnx"), "--dynamic_axes"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "every input axis is fixed in this MINDIR (x [1, 3, 32, 32])" \
        in err[0] and "Tensor(shape=[None, 3, None, None]" in err[0]
    # --dynamic_batch makes the batch symbolic, and --dynamic_axes names it
    conv = converters.convert_detailed(path + ".mindir", dynamic_batch=True, dynamic_axes={})
    assert _dims(conv.model.graph.input[0]) == ["batch", 3, 32, 32]
    assert conv.check_runs == [{"batch": 1}]


# ----------------------------------------------------------------------------- naming rules

@pytest.mark.parametrize("shape, expected", [
    ([None, 3, None, None], {0: "batch", 2: "height", 3: "width"}),
    ([None, 1, None, None, None], {0: "batch", 2: "depth", 3: "height", 4: "width"}),
    ([None, None, 80], {0: "batch", 1: "sequence"}),
    ([None, 80, None], {0: "batch", 2: "sequence"}),
    ([None, None], {0: "batch", 1: "sequence"}),
    ([1, None, None], {1: "sequence", 2: "x_dim2"}),
])
def test_default_axis_names(shape, expected):
    assert axes.name_input_axes({"x": shape}, {}) == {"x": expected}


def test_spec_names_one_input_of_several():
    spec = axes.parse_spec(["ids:1=tokens", "mask:1=tokens"])
    names = axes.name_input_axes({"ids": [None, None], "mask": [None, None]}, spec)
    assert names == {"ids": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}}
    with pytest.raises(converters.ConversionError, match="the model has 2 inputs"):
        axes.name_input_axes({"ids": [None, None], "mask": [None, None]},
                             axes.parse_spec(["1=tokens"]))


def test_a_size_the_model_cannot_take_fails_the_check_with_the_sizes_and_the_remedy():
    import onnx
    from onnx import TensorProto, helper

    from coat_export.converters.verify import check_runtime

    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, "height", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert axes.check_run_sizes(model, None) == [{"batch": 1, "height": 64},
                                                 {"batch": 2, "height": 96}]
    runs = axes.check_run_sizes(model, 4, axes.parse_check_sizes(["height=2"]))
    assert runs == [{"batch": 4, "height": 2}, {"batch": 4, "height": 2}]
    check_runtime(model, axes.check_run_sizes(model, None))
    with pytest.raises(converters.ConversionError,
                       match=r"cannot run in ONNX Runtime at batch=4, height=2 \(.* or sizes the "
                             r"model cannot take: set --check_sizes\)"):
        check_runtime(model, runs)
