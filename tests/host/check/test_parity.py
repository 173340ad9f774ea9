"""Faithful exports pass: small CoaTs at 64x64 and the MindCV nano checkpoints, MINDIR and
ONNX (static, fixed batch > 1, dynamic), from random tensors and from real photos."""
import os

import numpy as np
import pytest

from coat_export.edge.onnx_info import precision_of, summarize
from coat_export.edge.options import InputOptions, RuntimeOptions
from coat_export.host.check import run_check
from coat_export.host.runners.network_runner import NetworkRunner


def detect_onnx_precision(model):
    return precision_of(summarize(model.SerializeToString()))
from coat_export.edge.report import build_report, to_json, to_markdown

from .helpers import FIXTURES

CONTRACT = ("reference", "candidate", "max_abs_diff", "max_rel_diff", "cosine",
            "top1_agreement", "passed")


def assert_passes(result, count):
    report = build_report(result)
    assert report["passed"] is True, to_markdown(report)
    for c in report["comparisons"]:
        assert set(CONTRACT) <= set(c)
        assert c["reference"] == "mindspore"
        assert c["passed"] is True and c["failures"] == [] and c["error"] is None
        assert c["precision"] == "fp32" and c["num_samples"] == count
        assert c["max_abs_diff"] <= 1e-4 and c["cosine"] >= 0.99999
        assert c["top1_agreement"] == 1.0 and c["first_divergence"] is None
    to_json(report)  # strict JSON (no NaN)
    return report


def test_small_lite_every_format_random_and_photos(models, images_dir):
    """3 random + 2 photos = 5 inputs: fed in chunks (padded) to fixed batches 2 and 3."""
    m = models["lite"]
    files = [m.file("onnx"), m.file("onnx", batch=3), m.file("onnx", dynamic=True),
             m.file("mindir", batch=2), m.file("mindir", dynamic=True)]
    result = run_check(m.built, m.spec, files,
                       wanted=InputOptions(images=images_dir, num_samples=3, seed=1))
    report = assert_passes(result, 5)
    assert [c["format"] for c in report["comparisons"]] == ["onnx"] * 3 + ["mindir"] * 2
    inputs = report["inputs"]
    assert inputs["random"] == 3 and inputs["images"] == ["china.jpg", "flower.jpg"]
    assert inputs["preprocessing"]["image_size"] == 64 and inputs["shape"] == [3, 64, 64]
    table = to_markdown(report)
    assert table.count("| pass |") == 5 and "Result: PASS" in table


def test_small_parallel_coat_photos_only(models, images_dir):
    """Without --num_samples, --images alone gives the inputs."""
    m = models["full"]
    result = run_check(m.built, m.spec, [m.file("onnx", dynamic=True), m.file("mindir")],
                       wanted=InputOptions(images=images_dir))
    report = assert_passes(result, 2)
    assert report["inputs"]["random"] == 0


def test_openvino_candidates_against_mindspore(models):
    """Every ONNX file in both runtimes, each judged against the MindSpore network."""
    m = models["full"]
    files = [m.file("onnx"), m.file("onnx", dynamic=True)]
    result = run_check(m.built, m.spec, files, wanted=InputOptions(num_samples=3, seed=2),
                       runtime=RuntimeOptions(("onnxruntime", "openvino")))
    report = assert_passes(result, 3)
    assert [(os.path.basename(c["candidate"]), c["runtime"]) for c in report["comparisons"]] == [
        (os.path.basename(f), r) for f in files for r in ("onnxruntime", "openvino")]


@pytest.mark.parametrize("name", ["coat_lite_nano", "coat_nano"])
def test_mindcv_checkpoints(models, images_dir, name):
    m = models[name]
    # the reference is MindCV's own network: the fixture logits come out of it
    x = np.load(os.path.join(FIXTURES, f"{name}.input.npy"))
    expected = np.load(os.path.join(FIXTURES, f"{name}.logits.npy"))
    np.testing.assert_allclose(NetworkRunner(m.built)(x), expected, atol=1e-4, rtol=0)
    result = run_check(m.built, m.spec, [m.file("onnx", dynamic=True), m.file("mindir")],
                       wanted=InputOptions(images=images_dir, num_samples=1))
    report = assert_passes(result, 3)
    assert report["checkpoint"].endswith(f"{name}.ckpt")
    assert report["inputs"]["preprocessing"]["image_size"] == 224


def test_fp16_candidate_is_judged_by_agreement(models, tmp_path):
    from coat_export.host.quantize import QuantizeOptions, quantize_model

    m = models["lite"]
    fp16 = str(tmp_path / "lite_fp16.onnx")
    quantize_model(m.file("onnx", dynamic=True), fp16, QuantizeOptions("fp16", check=False))
    import onnx

    assert detect_onnx_precision(onnx.load(fp16)) == "fp16"
    result = run_check(m.built, m.spec, [fp16], wanted=InputOptions(num_samples=4))
    (c,) = build_report(result)["comparisons"]
    assert c["precision"] == "fp16"
    assert result.tolerances["fp16"]["atol"] is None
    assert c["cosine"] > 0.999


def test_precision_detection_int8():
    import onnx
    from onnx import TensorProto, helper

    def model(op):
        node = helper.make_node(op, ["x", "s", "z"], ["y"])
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        return helper.make_model(g)

    for op in ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger",
               "MatMulInteger"):
        assert detect_onnx_precision(model(op)) == "int8"
    assert detect_onnx_precision(model("Add")) == "fp32"
    assert isinstance(onnx.TensorProto.FLOAT16, int)
