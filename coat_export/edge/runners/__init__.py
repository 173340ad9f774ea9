"""Runners: one model in one runtime behind one interface (see `base`).

Backends are imported when used: `onnxruntime_runner` needs onnxruntime, `openvino_runner`
needs openvino. The MindSpore runners (the source network, MINDIR files) live on the host
side, in `coat_export.host.runners`.
"""
from .base import ModelIO, Runner, run_batched

__all__ = ["ModelIO", "Runner", "run_batched"]
