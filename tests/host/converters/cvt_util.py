"""Helpers for the converter tests: export a Cell, run MindSpore and ONNX Runtime, compare."""
import numpy as np
import onnx
import onnxruntime as ort

import mindspore as ms
from support import pynative_mode

SMALL_LITE = dict(embed_dims=(32, 48, 64, 80), serial_depths=(1, 1, 1, 1), parallel_depth=0,
                  num_heads=8, mlp_ratios=(2, 2, 2, 2), num_classes=10, image_size=64)
SMALL_FULL = dict(embed_dims=(32, 48, 48, 48), serial_depths=(1, 1, 1, 1), parallel_depth=2,
                  num_heads=8, mlp_ratios=(2, 2, 2, 2), num_classes=10, image_size=64)


def export(net, path_without_ext, shape, dynamic_batch=False, dtype=np.float32):
    """Export `net` to MINDIR for one input of `shape`; returns the .mindir path."""
    net.set_train(False)
    if dynamic_batch:
        inp = ms.Tensor(shape=[None, *shape[1:]], dtype=ms.dtype_to_type(dtype)
                        if hasattr(ms, "dtype_to_type") else ms.float32)
    else:
        inp = ms.Tensor(np.zeros(shape, dtype))
    ms.export(net, inp, file_name=str(path_without_ext), file_format="MINDIR")
    return str(path_without_ext) + ".mindir"


def ms_forward(net, x):
    """MindSpore's own output, in PyNative mode."""
    with pynative_mode():
        return _as_numpy(net(ms.Tensor(x)))


def mindir_forward(path, x):
    """MindSpore's own output of the exported graph (`path`, a .mindir) on `x`, in graph
    mode: the reference where PyNative cannot run the network itself (MindSpore 2.10's
    CPU CopyWithSlice fails on a setitem that selects nothing)."""
    return _as_numpy(ms.nn.GraphCell(ms.load(str(path)))(ms.Tensor(x)))


def _as_numpy(out):
    if isinstance(out, (tuple, list)):
        return [o.asnumpy() for o in out]
    return [out.asnumpy()]


def session(model):
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def ort_forward(model_or_session, x):
    s = model_or_session if isinstance(model_or_session, ort.InferenceSession) \
        else session(model_or_session)
    return s.run(None, {s.get_inputs()[0].name: x})


def validate(model, strict=True):
    """The ONNX checker (full) and strict shape inference must both accept the model."""
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=strict)


def assert_close(actual, expected, atol=1e-4, what=""):
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, want {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape, f"{what} output {i}: shape {a.shape} != {e.shape}"
        if e.dtype.kind in "biu":
            np.testing.assert_array_equal(a, e, err_msg=f"{what} output {i}")
        else:
            np.testing.assert_allclose(a, e, rtol=0, atol=atol, err_msg=f"{what} output {i}")
