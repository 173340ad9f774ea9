"""ONNX Runtime: sessions with explicit, non-competing threads, and the ONNX Runtime runner.

Threads are always explicit: ``intra_op_num_threads`` is set (default: the cores this process
may use, divided by ``share`` when several sessions run side by side), one inter-op thread,
sequential execution, and no spinning, so an idle session does not burn the cores another
session is using.
"""
import os
import re
from typing import List, Optional, Sequence, Union

import numpy as np

from ..errors import ModelLoadError, UserError, first_line
from ..third_party import ort_log_severity
from .base import ModelIO, Runner

__all__ = ["available_cores", "default_threads", "create_session", "ort_reason",
           "OnnxRuntimeRunner"]

RUNTIME = "onnxruntime"


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(share: int = 1) -> int:
    """Intra-op threads for one of `share` sessions that run at the same time."""
    return max(1, available_cores() // max(1, share))


_SHORT = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
          "tensorrt": "TensorrtExecutionProvider", "openvino": "OpenVINOExecutionProvider",
          "dml": "DmlExecutionProvider", "coreml": "CoreMLExecutionProvider",
          "rocm": "ROCMExecutionProvider", "xnnpack": "XnnpackExecutionProvider"}


def _import_ort():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise UserError("ONNX Runtime is not installed: pip install onnxruntime "
                        "(or pip install coat-export, which brings it)") from exc
    ort.set_default_logger_severity(ort_log_severity())
    return ort


def _providers(ort, provider: Optional[Union[str, Sequence[str]]]) -> List[str]:
    if provider is None:
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    wanted = [provider] if isinstance(provider, str) else list(provider)
    names = []
    for p in wanted:
        name = _SHORT.get(p.lower(), p)
        if name not in available:
            raise UserError(f"ONNX Runtime provider '{p}' is not available here; "
                            f"available: {', '.join(available)}")
        names.append(name)
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")  # fallback for ops the accelerator lacks
    return names


def create_session(model: Union[str, bytes], provider=None,
                   intra_op_threads: Optional[int] = None, share: int = 1,
                   optimization: str = "all", name: Optional[str] = None):
    """An `onnxruntime.InferenceSession` for a path or the model's bytes.

    provider: None (CPU), a name ('cpu', 'cuda', 'CUDAExecutionProvider') or a list.
    share: how many sessions will run concurrently in this process (divides the cores).
    optimization: 'all', 'extended', 'basic' or 'disable' graph optimizations.
    """
    ort = _import_ort()
    label = name or (model if isinstance(model, str) else "model")
    if isinstance(model, str) and not os.path.isfile(model):
        raise UserError(f"model not found: {model}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(intra_op_threads or default_threads(share))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[optimization]
    so.log_severity_level = ort_log_severity()
    providers = _providers(ort, provider)
    try:
        return ort.InferenceSession(model, sess_options=so, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/InvalidProtobuf types
        reason = ort_reason(exc)
        raise ModelLoadError(f"ONNX Runtime cannot load {label}: {reason}") from exc


_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : [A-Z_]+ : ")
# a C++ source location ("/onnxruntime_src/.../element_wise_ops.h:563 void f(...) ")
_ORT_SOURCE = re.compile(r"(?:/\S+|\b\w+\.(?:cc|h|cpp)):\d+ (?:[\w:<>,*& ]+\([^)]*\) )?")


def ort_reason(exc: BaseException) -> str:
    """ONNX Runtime's message without its status prefix and C++ source locations; the
    node's name and op stay ("... while running Conv node. Name:'/stem/Conv' ...")."""
    text = _ORT_SOURCE.sub("", _ORT_PREFIX.sub("", first_line(exc, limit=None)))
    return text.strip()[:300] or type(exc).__name__


def _io(args) -> List[ModelIO]:
    out = []
    for a in args:
        shape = [d if isinstance(d, int) else (d or "?") for d in (a.shape or [])]
        out.append(ModelIO(a.name, shape, str(a.type).replace("tensor(", "").rstrip(")")))
    return out


class OnnxRuntimeRunner(Runner):
    """An ONNX model (a path, or its verified bytes) run by ONNX Runtime."""

    runtime = RUNTIME
    runtime_label = "ONNX Runtime"
    format = "onnx"
    failure_reason = staticmethod(ort_reason)

    def __init__(self, model: Union[str, bytes], name: Optional[str] = None,
                 precision: str = "fp32", provider=None, threads: Optional[int] = None,
                 share: int = 1, optimization: str = "all"):
        name = name or (model if isinstance(model, str) else "model.onnx")
        self.session = create_session(model, provider=provider, intra_op_threads=threads,
                                      share=share, optimization=optimization, name=name)
        super().__init__(name, _io(self.session.get_inputs())[0],
                         _io(self.session.get_outputs())[0], precision,
                         int(threads or default_threads(share)))
        self.provider = self.session.get_providers()[0]

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output.name], {self.input.name: x})[0]

    def close(self) -> None:
        self.session = None
