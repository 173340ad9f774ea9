"""Run one coverage case: export a tiny network to MINDIR (batch 2), convert it static and with
--dynamic_batch at each opset, and compare with MindSpore in ONNX Runtime (static at batch 2,
dynamic at batch 3). Shared by tests/host/converters/test_coverage.py and bench/support_table.py."""
import os

import numpy as np
import onnxruntime as ort

import mindspore as ms

from coat_export import converters

OPSETS = (13, 17, 21)
STATIC_BATCH, DYNAMIC_BATCH = 2, 3


def tolerance(ref: np.ndarray) -> float:
    return 1e-4 * max(1.0, float(np.max(np.abs(ref)))) if ref.size else 0.0


def compare(actual, expected):
    """None when every output matches MindSpore, else a description of the first mismatch."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, MindSpore has {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        a, e = np.asarray(a), np.asarray(e)
        if a.shape != e.shape:
            return f"output {i}: shape {a.shape} != {e.shape}"
        if e.dtype.kind in "biu":
            if not np.array_equal(a.astype(e.dtype), e):
                return f"output {i}: {int(np.sum(a != e))} elements differ"
        else:
            finite = np.isfinite(e)
            if not np.array_equal(finite, np.isfinite(a)) or not np.array_equal(
                    np.isnan(e), np.isnan(a)):
                return f"output {i}: non-finite values differ"
            err = float(np.max(np.abs(a[finite] - e[finite]))) if finite.any() else 0.0
            if err > tolerance(e[finite]):
                return f"output {i}: max error {err:.3g} > {tolerance(e[finite]):.3g}"
    return None


def _forward(net, x):
    out = net(ms.Tensor(x))
    out = out if isinstance(out, (tuple, list)) else [out]
    return [o.asnumpy() for o in out]


def _ort(model, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})


def run_case(name, cls, shape, workdir, opsets=OPSETS, seed=0):
    """{"primitives": [...], "static": {opset: status}, "dynamic": {opset: status}} where a
    status is "ok", "refused: <reason>" or "MISMATCH: <what>"."""
    ms.set_seed(seed)
    net = cls()
    net.set_train(False)
    rng = np.random.RandomState(seed)
    x3 = rng.randn(DYNAMIC_BATCH, *shape[1:]).astype(np.float32)
    x2 = x3[:STATIC_BATCH]
    path = os.path.join(str(workdir), name)
    ms.export(net, ms.Tensor(x2), file_name=path, file_format="MINDIR")
    path += ".mindir"
    ref2 = _forward(net, x2)
    ref3 = None
    result = {"primitives": sorted(converters.read_mindir(path).op_counts()),
              "static": {}, "dynamic": {}}
    for opset in opsets:
        for kind, dynamic in (("static", False), ("dynamic", True)):
            try:
                model = converters.convert_to_model(path, opset=opset, dynamic_batch=dynamic)
            except converters.ConversionError as exc:
                result[kind][opset] = "refused: " + str(exc).replace(path + ": ", "")
                continue
            if dynamic:
                if ref3 is None:
                    ref3 = _forward(net, x3)
                bad = compare(_ort(model, x3), ref3)
            else:
                bad = compare(_ort(model, x2), ref2)
            result[kind][opset] = "ok" if bad is None else "MISMATCH: " + bad
    return result
