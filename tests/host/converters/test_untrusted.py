"""Untrusted MINDIR: external data cannot escape the MINDIR's directory, sizes are checked
before allocation, every failure is a ConversionError with nothing written, and a seeded fuzz
run over byte- and protobuf-level mutants of small MINDIRs stays within time and memory."""
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from coat_export.converters.mindir_reader import load_mind_ir_pb2
from cvt_util import export, ms_forward, ort_forward

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


class TinyConv(nn.Cell):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, pad_mode="pad", padding=1, has_bias=True)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Dense(8, 5)

    def construct(self, x):
        y = self.pool(ops.relu(self.bn(self.conv(x))))
        return self.fc(ops.mean(y, (2, 3)))


class TinyAttention(nn.Cell):
    """The qkv (2, 0, 3, 1, 4) permute + unstack pattern, softmax, LayerNorm, GELU."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Dense(dim, 3 * dim)
        self.proj = nn.Dense(dim, dim)
        self.norm = nn.LayerNorm((dim,))
        self.act = nn.GELU()

    def construct(self, x):
        b, n, c = x.shape
        qkv = ops.transpose(ops.reshape(self.qkv(self.norm(x)), (b, n, 3, self.heads, -1)),
                            (2, 0, 3, 1, 4))
        q, k, v = ops.unstack(qkv, 0)
        attn = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * 0.25, -1)
        y = ops.reshape(ops.transpose(ops.matmul(attn, v), (0, 2, 1, 3)), (b, n, c))
        return self.act(self.proj(y)) + x


@pytest.fixture(scope="module")
def tiny_mindirs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    ms.set_seed(3)
    conv, attn = TinyConv(), TinyAttention()
    return {"conv": (conv, export(conv, d / "conv", (2, 3, 8, 8)), (2, 3, 8, 8)),
            "attn": (attn, export(attn, d / "attn", (2, 5, 16)), (2, 5, 16))}


# ----------------------------------------------------------------------------- external data

def _externalise(src, dst_dir, location, offset=0, length=None, payload=None):
    """Copy MINDIR `src` into `dst_dir` with its largest parameter moved to external data at
    `location` (whose file is written with `payload`, default the parameter's own bytes)."""
    pb2 = load_mind_ir_pb2()
    model = pb2.ModelProto()
    model.ParseFromString(open(src, "rb").read())
    param = max(model.graph.parameter, key=lambda p: len(p.raw_data))
    raw = bytes(param.raw_data)
    param.ClearField("raw_data")
    param.external_data.location = location
    param.external_data.offset = offset
    param.external_data.length = len(raw) if length is None else length
    os.makedirs(dst_dir, exist_ok=True)
    path = os.path.join(dst_dir, "ext.mindir")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    if payload is not None:
        target = os.path.join(dst_dir, location)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(payload(raw) if callable(payload) else payload)
    return path, raw


def test_external_data_inside_directory_converts(tmp_path, tiny_mindirs):
    net, src, shape = tiny_mindirs["conv"]
    path, _ = _externalise(src, tmp_path / "m", "weights/data_0", offset=16,
                           payload=lambda raw: b"\1" * 16 + raw + b"\2" * 5)
    x = np.random.RandomState(0).randn(*shape).astype(np.float32)
    model = converters.convert_to_model(path)
    np.testing.assert_allclose(ort_forward(model, x)[0], ms_forward(net, x)[0], atol=1e-4)


@pytest.mark.parametrize("case", ["absolute", "parent", "nested_parent", "symlink_out",
                                  "fifo", "device", "short", "offset_past_end", "length_mismatch",
                                  "directory", "missing"])
def test_external_data_escapes_refused(tmp_path, tiny_mindirs, case):
    _, src, _ = tiny_mindirs["conv"]
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"SECRET!!" * 10000)
    d = tmp_path / "m"
    d.mkdir()
    kwargs = {}
    if case == "absolute":
        location = str(outside)
    elif case == "parent":
        location = "../secret.bin"
    elif case == "nested_parent":
        (d / "sub").mkdir()
        location = "sub/../../secret.bin"
    elif case == "symlink_out":
        os.symlink(outside, d / "link.bin")
        location = "link.bin"
    elif case == "fifo":
        os.mkfifo(d / "pipe")
        location = "pipe"
    elif case == "device":
        os.symlink("/dev/zero", d / "zero")
        location = "zero"
    elif case == "short":
        (d / "short.bin").write_bytes(b"\0" * 12)
        location = "short.bin"
    elif case == "offset_past_end":
        location = "w.bin"
        kwargs = dict(offset=1 << 40, payload=lambda raw: raw)
    elif case == "length_mismatch":
        location = "w.bin"
        kwargs = dict(length=1 << 33, payload=lambda raw: raw)
    elif case == "directory":
        (d / "adir").mkdir()
        location = "adir"
    else:
        location = "nothing_here.bin"
    path, _ = _externalise(src, d, location, **kwargs)
    out = tmp_path / "out.onnx"
    with pytest.raises(converters.ConversionError, match="external data|MINDIR's directory"):
        converters.convert(path, str(out))
    assert not out.exists()


def test_declared_size_checked_before_allocation(tmp_path, tiny_mindirs):
    """A parameter declaring 2^40 elements must fail at once, not try to allocate 4 TB."""
    _, src, _ = tiny_mindirs["conv"]
    pb2 = load_mind_ir_pb2()
    model = pb2.ModelProto()
    model.ParseFromString(open(src, "rb").read())
    p = model.graph.parameter[0]
    del p.dims[:]
    p.dims.extend([1 << 20, 1 << 20])
    bad = tmp_path / "huge.mindir"
    bad.write_bytes(model.SerializeToString())
    with pytest.raises(converters.ConversionError, match="bytes|elements"):
        converters.convert_to_model(str(bad))


# ----------------------------------------------------------------------------- output file

def test_cli_normal_permissions_and_creates_directory(tmp_path, tiny_mindirs):
    _, src, _ = tiny_mindirs["conv"]
    out = tmp_path / "a" / "b" / "m.onnx"
    old = os.umask(0o022)
    try:
        proc = subprocess.run([sys.executable, "-m", "coat_export.converters", src, str(out)], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_refused_by_runtime_means_nothing_written(tmp_path, tiny_mindirs, monkeypatch):
    """The gate before writing: a model ONNX Runtime refuses is an error and leaves no file."""
    _, src, _ = tiny_mindirs["conv"]
    from coat_export.converters import lowering
    orig_make = lowering.NodeContext.make

    def bad_make(self, op_type, inputs, outputs=1, **attrs):
        if op_type == "Relu":
            op_type = "NoSuchOnnxOp"
        return orig_make(self, op_type, inputs, outputs, **attrs)

    monkeypatch.setattr(lowering.NodeContext, "make", bad_make)
    out = tmp_path / "o.onnx"
    with pytest.raises(converters.ConversionError, match="checker|Runtime"):
        converters.convert(src, str(out))
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- fuzzing

FUZZ_MUTANTS = 600


def test_seeded_fuzz(tmp_path, tiny_mindirs, small_coats):
    sources = [tiny_mindirs["conv"][1], tiny_mindirs["attn"][1], small_coats["lite"][2]]
    report = tmp_path / "fuzz.json"
    proc = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_mindir.py"), str(report),
                           "20261128", str(FUZZ_MUTANTS), "3072", *sources],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(report.read_text())
    records = result["records"]
    assert len(records) == FUZZ_MUTANTS
    bad = [r for r in records if r["outcome"] not in ("converted", "error")]
    assert not bad, json.dumps(bad[:5], indent=1)
    leftovers = [r for r in records if r["outcome"] == "error" and (r["written"] or r["leftovers"])]
    assert not leftovers, leftovers[:5]
    slow = [r for r in records if r["seconds"] > 20]
    assert not slow, slow[:5]
    kinds = {r["kind"].split(":")[0] for r in records}
    assert kinds == {"bytes", "proto"}
    # sizes that contradict each other but not the bytes: refused by the gate's seeded run
    shape = [r for r in records if r["kind"].startswith("proto:shape:")]
    assert len(shape) >= 20 and all(r["outcome"] in ("converted", "error") for r in shape)
    errors = sum(r["outcome"] == "error" for r in records)
    assert errors > FUZZ_MUTANTS // 4  # the mutants do reach the error paths
    print(f"fuzz: {len(records)} mutants, {errors} ConversionError, "
          f"{len(records) - errors} converted, max {max(r['seconds'] for r in records):.2f} s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB")
