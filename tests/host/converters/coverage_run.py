"""Run one coverage case: export a tiny network to MINDIR (batch 2), convert it static and with
--dynamic_batch at each opset, and compare with MindSpore in ONNX Runtime and in OpenVINO (static
at batch 2, dynamic at batch 3): what the lowering emits must have a kernel, at the right types,
in both runtimes users deploy with. Shared by tests/host/converters/test_coverage.py and
bench/support_table.py."""
import importlib.util
import os

import numpy as np
import onnxruntime as ort

import mindspore as ms

from coat_export import converters
from support import pynative_mode

OPSETS = (13, 17, 21)
STATIC_BATCH, DYNAMIC_BATCH = 2, 3
# the runtimes every converted case runs in (OpenVINO is part of the test install)
RUNTIMES = ("onnxruntime",) + (("openvino",) if importlib.util.find_spec("openvino") else ())


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
    # eagerly: in graph mode each call compiles the network again (x2 and x3 are two shapes),
    # 71 of the 171 s the 131 cases took in one process; the export above traces the graph
    with pynative_mode():
        out = net(ms.Tensor(x))
    out = out if isinstance(out, (tuple, list)) else [out]
    return [o.asnumpy() for o in out]


def _ort(model, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})


def _openvino(model, x):
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model.SerializeToString()), "CPU",
                                  {"INFERENCE_PRECISION_HINT": "f32"})   # not bf16 by default
    result = compiled.create_infer_request().infer({0: x})
    return [result[o] for o in compiled.outputs]


def runtime_status(model, x, expected, runtimes=RUNTIMES):
    """"ok" when every runtime runs the model and matches `expected`; else the first failure:
    "MISMATCH[ (runtime)]: <what>" or "NO KERNEL (runtime): <the runtime's reason>"."""
    from coat_export.edge.errors import first_line
    from coat_export.edge.runners.openvino_runner import openvino_reason

    for runtime in runtimes:
        run = _ort if runtime == "onnxruntime" else _openvino
        try:
            actual = run(model, x)
        except Exception as exc:   # a load or run failure: an op/type without a kernel
            reason = openvino_reason(exc) if runtime == "openvino" else first_line(exc, limit=300)
            return f"NO KERNEL ({runtime}): {reason}"
        bad = compare(actual, expected)
        if bad is not None:
            return "MISMATCH" + ("" if runtime == "onnxruntime" else f" ({runtime})") + ": " + bad
    return "ok"


def run_case(name, cls, shape, workdir, opsets=OPSETS, seed=0):
    """{"primitives": [...], "static": {opset: status}, "dynamic": {opset: status}} where a
    status is "ok", "refused: <reason>", "MISMATCH[ (runtime)]: <what>" or
    "NO KERNEL (runtime): <reason>" (see runtime_status)."""
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
            if dynamic and ref3 is None:
                ref3 = _forward(net, x3)
            result[kind][opset] = (runtime_status(model, x3, ref3) if dynamic
                                   else runtime_status(model, x2, ref2))
    return result
