"""Runners: ONNX Runtime and OpenVINO behind one protocol, one batching policy."""
import numpy as np
import pytest

from coat_export.edge.errors import ModelLoadError, UserError
from coat_export.edge.runners.base import ModelIO, Runner, run_batched
from coat_export.edge.runners.onnxruntime_runner import (OnnxRuntimeRunner, available_cores,
                                                         create_session, default_threads)
from coat_export.edge.runners.openvino_runner import OpenVinoRunner
from coat_export.edge.sources import model_format

from .tiny_onnx import make_tiny_classifier


def test_thread_settings(tiny_onnx):
    s = create_session(tiny_onnx, intra_op_threads=1)
    o = s.get_session_options()
    assert o.intra_op_num_threads == 1 and o.inter_op_num_threads == 1
    assert o.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    shared = create_session(tiny_onnx, share=available_cores() * 2)
    assert shared.get_session_options().intra_op_num_threads == 1
    assert default_threads() == available_cores()


def test_openvino_runs_f32_explicitly(tiny_onnx):
    r = OpenVinoRunner(tiny_onnx, threads=1)
    assert r.compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
    assert r.runtime == "openvino" and r.precision == "fp32"
    bf16 = OpenVinoRunner(tiny_onnx, inference_precision="bf16")
    assert bf16.precision == "bf16"


@pytest.mark.parametrize("runtime", [OnnxRuntimeRunner, OpenVinoRunner])
def test_runners_agree_and_take_bytes(runtime, tiny_onnx):
    x = np.random.default_rng(0).standard_normal((5, 3, 32, 32)).astype(np.float32)
    ref = OnnxRuntimeRunner(tiny_onnx, optimization="disable")(x)
    with open(tiny_onnx, "rb") as f:
        r = runtime(f.read(), name="tiny")
    assert r.input.name == "input" and r.image_size == 32 and r.fixed_batch is None
    assert r.num_classes == 10 and r.name == "tiny"
    np.testing.assert_allclose(r(x, max_batch=2), ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(r(x), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("runtime", [OnnxRuntimeRunner, OpenVinoRunner])
def test_fixed_batch_model_gets_padded_batches(runtime, tiny_onnx, tmp_path):
    """A batch-4 model classifies 1 or 6 images: padded batches of 4, never per sample."""
    fixed = make_tiny_classifier(tmp_path / "b4.onnx", dynamic_batch=False, batch=4)
    r = runtime(fixed)
    assert r.fixed_batch == 4
    calls = []
    infer = r.infer
    r.infer = lambda chunk: calls.append(len(chunk)) or infer(chunk)
    x = np.random.default_rng(1).standard_normal((6, 3, 32, 32)).astype(np.float32)
    ref = OnnxRuntimeRunner(tiny_onnx)(x)
    np.testing.assert_allclose(r(x), ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(r(x[:1]), ref[:1], atol=1e-5, rtol=0)
    assert calls == [4, 4, 4]


def test_batching_policy_contract():
    seen = []

    def infer(chunk):
        seen.append(chunk.shape[0])
        return chunk.reshape(len(chunk), -1)[:, :2] * 2
    x = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)
    out = run_batched(infer, x, fixed_batch=None, max_batch=2)
    assert seen == [2, 2, 1] and np.array_equal(out, x[:, :2] * 2)
    with pytest.raises(RuntimeError, match="returned shape"):
        run_batched(lambda c: c[:1], x, fixed_batch=None)
    r = Runner("m", ModelIO("x", [2, 3, 8, 8]), ModelIO("y", [2, 7]))
    assert (r.fixed_batch, r.image_size, r.num_classes) == (2, 8, 7)


def test_errors(tiny_onnx, tmp_path):
    with pytest.raises(UserError, match="not available"):
        create_session(tiny_onnx, provider="NoSuchExecutionProvider")
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"\0\1garbage")
    with pytest.raises(ModelLoadError, match="cannot load"):
        OnnxRuntimeRunner(str(bad))
    with pytest.raises(ModelLoadError, match="OpenVINO cannot load"):
        OpenVinoRunner(str(bad))
    with pytest.raises(UserError, match="unknown model format"):
        model_format(__file__)
