"""Each pass on its own: applied alone to the lowered small CoaT, the model still matches
MindSpore, and the pass did what it is for."""
import numpy as np
import pytest

from coat_export.converters import passes
from coat_export.converters.lowering import lower
from coat_export.converters.mindir_reader import read_mindir
from coat_export.converters.onnx_writer import build_model
from coat_export.converters.passes import dedup_initializers, readable_names
from cvt_util import assert_close, ms_forward, ort_forward, validate


def _ops(og):
    counts = {}
    for n in og.nodes:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


@pytest.fixture(scope="module")
def parallel(small_coats, images64):
    net, static, _ = small_coats["parallel"]
    return static, images64[:1], ms_forward(net, images64[:1])


def _run_single(path, opset, fn, prepare=()):
    og = lower(read_mindir(path), opset)
    for p in prepare:
        p.run(og)
    before = _ops(og)
    changed = fn(og)
    og.check()  # live indexes, single producers, provenance only of live tensors
    og.remove_unused()
    return og, before, _ops(og), changed


# what each pass is for; what it needs first is declared by the pass (REQUIRES, MIN_OPSET)
EFFECTS = {
    "fold_constants": lambda b, a: a.get("Transpose", 0) < b["Transpose"],
    "drop_noops": lambda b, a: True,
    "fuse_conv_bias": lambda b, a: a["Add"] == b["Add"] - b["Conv"],
    "fuse_gemm": lambda b, a: a.get("Gemm", 0) > 0 and a["MatMul"] < b["MatMul"],
    "fuse_gelu": lambda b, a: a.get("Gelu", 0) == b["Erf"] and "Erf" not in a,
    "fuse_layernorm": lambda b, a: True,
    "merge_depthwise_convs": lambda b, a: a["Conv"] < b["Conv"] and a["Concat"] < b["Concat"],
    "unflatten_matmuls": lambda b, a: a.get("Gemm", 0) < b["Gemm"] and a["Reshape"] < b["Reshape"],
    "fuse_sibling_matmuls": lambda b, a: a.get("Split", 0) > b.get("Split", 0),
    "dedup_initializers": lambda b, a: True,
    "readable_names": lambda b, a: True,
}
PASSES = {p.name: p for p in passes.DEFAULT + passes.LAST + list(passes.OPTIONAL.values())
          + [passes.Pass.of(readable_names)]}


def test_every_pass_has_a_case():
    assert set(EFFECTS) == set(PASSES)


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_pass_alone_keeps_parity(parallel, name):
    path, x, expected = parallel
    p = PASSES[name]
    opset = max(17, p.min_opset)
    prepare = passes.prerequisites(name, opset, tuple(passes.OPTIONAL)) if p.requires else []
    og, before, after, changed = _run_single(path, opset, p.run, prepare)
    assert EFFECTS[name](before, after), (before, after)
    if name in ("fold_constants", "fuse_conv_bias", "fuse_gemm", "fuse_gelu", "dedup_initializers",
                "merge_depthwise_convs", "fuse_sibling_matmuls", "unflatten_matmuls"):
        assert changed > 0
    model = build_model(og, opset)
    validate(model)
    assert_close(ort_forward(model, x), expected, what=name)
    for r in p.requires:  # each declared prerequisite is real: without it the pass does less
        og = lower(read_mindir(path), opset)
        for q in prepare:
            if q.name != r:
                q.run(og)
        assert p.run(og) < changed, f"{name} does as much without {r}"


def test_dedup_merges_equal_weights(parallel):
    path, _, _ = parallel
    og = lower(read_mindir(path), 17)
    n = len(og.initializers)
    merged = dedup_initializers.run(og)
    assert merged > 0 and len(og.initializers) == n - merged
    keys = [(a.dtype.str, a.shape, a.tobytes()) for a in og.initializers.values()]
    assert len(set(keys)) == len(keys)


def test_names_follow_cell_paths():
    assert readable_names.cell_path(
        "Default/serial_blocks1-CellList/0-SerialBlock/factoratt_crpe-FactorAttConvRelPosEnc/"
        "q-Dense/MatMul-op12") == "serial_blocks1.0.factoratt_crpe.q"
    assert readable_names.cell_path("Default/Add-op3") == ""
