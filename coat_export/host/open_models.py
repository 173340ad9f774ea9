"""Open the models a command is given as runners, in every runtime asked for.

The one place that knows both sides: ONNX files and bundles open through the edge runtime
(`edge.sources`, `edge.runtimes`), `.mindir` files through MindSpore
(`host.runners.mindir_runner`, imported only when a MINDIR is given, with a one-line error
naming the install when MindSpore is missing).
"""
from typing import List, Optional, Sequence

from ..edge.errors import ModelLoadError, UserError
from ..edge.options import RuntimeOptions
from ..edge.parity import FailedCandidate
from ..edge.runtimes import RUNTIMES, open_onnx_runners
from ..edge.sources import model_format, resolve_onnx

__all__ = ["open_runners", "check_runtimes"]


def check_runtimes(runtimes: Sequence[str]) -> List[str]:
    out = list(dict.fromkeys(runtimes or ("onnxruntime",)))
    for r in out:
        if r not in RUNTIMES:
            raise UserError(f"unknown runtime '{r}'; choose from {', '.join(RUNTIMES)}")
    return out


def open_runners(files: Sequence[str], runtime: RuntimeOptions = RuntimeOptions(), *,
                 share: int = 1, variant: Optional[str] = None,
                 keep_failed: bool = False) -> list:
    """One runner per (file, runtime): ONNX files and bundles in each of `runtime.runtimes`,
    MINDIR files once in MindSpore. With keep_failed, a file a runtime refuses becomes a
    FailedCandidate (check reports it as a failure) instead of an error."""
    runtimes = check_runtimes(runtime.runtimes)
    provider, threads, ov_precision = runtime.provider, runtime.threads, runtime.ov_precision
    formats = [model_format(f) for f in files]     # missing files, unknown formats: first
    runners = []
    for f, fmt in zip(files, formats):
        if fmt != "mindir":
            model = resolve_onnx(f, variant)
            runners += open_onnx_runners(model, runtimes, provider=provider,
                                         threads=threads, share=share,
                                         ov_precision=ov_precision, keep_failed=keep_failed,
                                         failed_name=f)
            continue
        from .runners.mindir_runner import MindirRunner

        try:
            runners.append(MindirRunner(f, threads=threads))
        except ModelLoadError as exc:
            if not keep_failed:
                raise
            runners.append(FailedCandidate(f, "mindir", "mindspore", "fp32", str(exc)))
    return runners
