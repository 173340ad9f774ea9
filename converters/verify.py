"""The last gate before a file is written: the full ONNX checker and an ONNX Runtime load.

A converter bug, or a MINDIR crafted to steer the converter into one, must not produce a file
that the consumers refuse: either the model passes `onnx.checker.check_model(full_check=True)`
(which includes strict shape inference) and ONNX Runtime builds a session from it, or the
conversion fails with a ConversionError and nothing is written.
"""
import os
from typing import Union

import onnx

from .errors import ConversionError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def check_onnx(model: Union[onnx.ModelProto, str]) -> None:
    """Full ONNX checker on a ModelProto, or on a path (models over 2 GB)."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # ValidationError, InferenceError, or a protobuf error
        raise ConversionError(f"the converted model fails the ONNX checker: "
                              f"{_first_line(exc)}") from None


def check_runtime(model: Union[onnx.ModelProto, str]) -> None:
    """ONNX Runtime must be able to load the model (graph optimisations off: only loading and
    kernel selection are tested, quickly)."""
    # ONNX Runtime's telemetry writes a device id under ~/.cache on import: off unless the
    # user chose otherwise (the variables are ONNX Runtime's own switches)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")
    try:
        import onnxruntime as ort
    except ImportError:  # the runtime is a dependency; without it the gate cannot be kept
        raise ConversionError("onnxruntime is not installed: cannot verify the converted model")
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    try:
        ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"ONNX Runtime refuses the converted model: "
                              f"{_first_line(exc)}") from None


def verify(model: Union[onnx.ModelProto, str]) -> None:
    check_onnx(model)
    check_runtime(model)
