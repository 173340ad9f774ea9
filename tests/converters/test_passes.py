"""Each pass on its own: applied alone to the lowered small CoaT, the model still matches
MindSpore, and the pass did what it is for."""
import numpy as np
import pytest

from converters.lowering import lower
from converters.mindir_reader import read_mindir
from converters.onnx_writer import build_model
from converters.passes import (dedup_initializers, drop_noops, fold_constants, fuse_conv_bias,
                               fuse_gelu, fuse_gemm, fuse_layernorm, fuse_sibling_matmuls,
                               merge_depthwise_convs, readable_names, unflatten_matmuls)
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
        p(og)
    before = _ops(og)
    changed = fn(og)
    og.check()  # consumer index, single producers, provenance only of live tensors
    og.remove_unused()
    return og, before, _ops(og), changed


CASES = {
    "fold_constants": (17, fold_constants.run, (),
                       lambda b, a: a.get("Transpose", 0) < b["Transpose"]),
    "drop_noops": (17, drop_noops.run, (), lambda b, a: True),
    "fuse_conv_bias": (17, fuse_conv_bias.run, (fold_constants.run,),
                       lambda b, a: a["Add"] == b["Add"] - b["Conv"]),
    "fuse_gemm": (17, fuse_gemm.run, (fold_constants.run,),
                  lambda b, a: a.get("Gemm", 0) > 0 and a["MatMul"] < b["MatMul"]),
    "fuse_gelu": (20, fuse_gelu.run, (fold_constants.run,),
                  lambda b, a: a.get("Gelu", 0) == b["Erf"] and "Erf" not in a),
    "fuse_layernorm": (17, fuse_layernorm.run, (), lambda b, a: True),
    "merge_depthwise_convs": (17, merge_depthwise_convs.run,
                              (fold_constants.run, fuse_conv_bias.run),
                              lambda b, a: a["Conv"] < b["Conv"] and a["Concat"] < b["Concat"]),
    "unflatten_matmuls": (17, unflatten_matmuls.run, (fold_constants.run, fuse_gemm.run),
                          lambda b, a: a.get("Gemm", 0) < b["Gemm"] and a["Reshape"] < b["Reshape"]),
    "fuse_sibling_matmuls": (17, fuse_sibling_matmuls.run, (fold_constants.run,),
                             lambda b, a: a.get("Split", 0) > b.get("Split", 0)),
    "dedup_initializers": (17, dedup_initializers.run, (), lambda b, a: True),
    "readable_names": (17, readable_names.run, (), lambda b, a: True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_pass_alone_keeps_parity(parallel, name):
    path, x, expected = parallel
    opset, fn, prepare, effect = CASES[name]
    og, before, after, changed = _run_single(path, opset, fn, prepare)
    assert effect(before, after), (before, after)
    if name in ("fold_constants", "fuse_conv_bias", "fuse_gemm", "fuse_gelu", "dedup_initializers",
                "merge_depthwise_convs", "fuse_sibling_matmuls", "unflatten_matmuls"):
        assert changed > 0
    model = build_model(og, opset)
    validate(model)
    assert_close(ort_forward(model, x), expected, what=name)


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
