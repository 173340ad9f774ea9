"""OpenVINO: the runner for ONNX models compiled by OpenVINO's CPU plugin.

Precision is always set explicitly: OpenVINO's CPU plugin otherwise runs f32 models in bf16
on CPUs that have bf16 (a silent loss of precision the parity gates would catch). `f32` is the
default; `bf16` (and `f16`) are allowed on request and judged by the gates like any other
reduced precision. Threads are explicit, as for ONNX Runtime.
"""
import re
from typing import Optional, Union

import numpy as np

from ..errors import ModelLoadError, UserError, first_line
from .base import ModelIO, Runner
from .onnxruntime_runner import default_threads

__all__ = ["OpenVinoRunner", "OV_PRECISIONS", "openvino_reason"]

RUNTIME = "openvino"
OV_PRECISIONS = ("f32", "bf16", "f16")
# the comparator's names for what OpenVINO computes in
_PRECISION_NAME = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


def _import_openvino():
    try:
        import openvino as ov
    except ImportError as exc:
        raise UserError('OpenVINO is not installed: pip install "coat-export[openvino]" '
                        "(or pip install openvino)") from exc
    return ov


# OpenVINO's messages are a stack of C++ contexts: "Exception from src/...cpp:84:" lines and
# "Check 'cond' failed at src/...cpp:47:" prefixes around the lines that say what happened
_OV_CONTEXT = re.compile(r"^Exception from \S+:\d+:?$")
_OV_CHECK = re.compile(r"Check '.*?' failed at \S+:\d+:?\s*")


def openvino_reason(exc: BaseException) -> str:
    """OpenVINO's message without its C++ context lines, the informative lines joined."""
    lines = []
    for line in str(exc).splitlines():
        line = _OV_CHECK.sub("", line.strip()).strip()
        if line and not _OV_CONTEXT.match(line):
            lines.append(line)
    return "; ".join(lines)[:300] or first_line(exc, limit=300)


def _dims(partial_shape) -> list:
    return [d.get_length() if d.is_static else "?" for d in partial_shape]


class OpenVinoRunner(Runner):
    """An ONNX model (a path, or its verified bytes) compiled for OpenVINO's CPU device."""

    runtime = RUNTIME
    runtime_label = "OpenVINO"
    format = "onnx"
    failure_reason = staticmethod(openvino_reason)

    def __init__(self, model: Union[str, bytes], name: Optional[str] = None,
                 precision: str = "fp32", threads: Optional[int] = None, share: int = 1,
                 inference_precision: str = "f32", device: str = "CPU"):
        if inference_precision not in OV_PRECISIONS:
            raise UserError(f"--ov_precision must be one of {', '.join(OV_PRECISIONS)}, "
                            f"got {inference_precision}")
        ov = _import_openvino()
        name = name or (model if isinstance(model, str) else "model.onnx")
        threads = int(threads or default_threads(share))
        core = ov.Core()
        try:
            graph = core.read_model(model)
            self.compiled = core.compile_model(graph, device, {
                "INFERENCE_PRECISION_HINT": inference_precision,
                "INFERENCE_NUM_THREADS": threads,
                "PERFORMANCE_HINT": "LATENCY",
            })
        except Exception as exc:  # OpenVINO raises RuntimeError with multi-line C++ context
            raise ModelLoadError(f"OpenVINO cannot load {name}: {openvino_reason(exc)}") from exc
        inp, out = self.compiled.inputs[0], self.compiled.outputs[0]
        # A model's own reduced precision (int8, fp16 weights) wins over the compute precision
        # in what the gates expect; bf16/f16 compute of an fp32 model is named as such.
        if precision == "fp32" and inference_precision != "f32":
            precision = _PRECISION_NAME[inference_precision]
        super().__init__(name, ModelIO(inp.get_any_name(), _dims(inp.partial_shape)),
                         ModelIO(out.get_any_name(), _dims(out.partial_shape)),
                         precision, threads)
        self.inference_precision = inference_precision
        self._request = self.compiled.create_infer_request()

    def infer(self, x: np.ndarray) -> np.ndarray:
        result = self._request.infer({0: x})
        # the request reuses its output buffer: copy before the next call
        return np.array(result[self.compiled.outputs[0]], copy=True)

    def close(self) -> None:
        self._request = None
        self.compiled = None
