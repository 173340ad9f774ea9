"""The edge runtimes, and a resolved model (`sources.OnnxModel`) opened in one of them.

ONNX Runtime is always installed; OpenVINO when present. Each runner module is imported only
when a model is opened in it (Polygraphy's lazy backends).
"""
from typing import List, Optional, Sequence

from .errors import UserError
from .sources import OnnxModel

__all__ = ["RUNTIMES", "installed_runtimes", "open_onnx_runner", "open_onnx_runners"]

RUNTIMES = ("onnxruntime", "openvino")


def open_onnx_runner(model: OnnxModel, runtime: str = "onnxruntime", provider=None,
                     threads: Optional[int] = None, share: int = 1,
                     ov_precision: str = "f32"):
    """The runner of `model` in `runtime` ('onnxruntime' or 'openvino')."""
    runner = _open(model, runtime, provider, threads, share, ov_precision)
    runner.source = model    # validate / check find the bundle's preprocessing through it
    return runner


def _open(model: OnnxModel, runtime: str, provider, threads, share, ov_precision):
    if runtime == "onnxruntime":
        from .runners.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(model.source, name=model.name, precision=model.precision,
                                 provider=provider, threads=threads, share=share)
    if runtime == "openvino":
        from .runners.openvino_runner import OpenVinoRunner

        if provider:
            raise UserError("--provider selects ONNX Runtime execution providers; it does not "
                            "apply to --runtime openvino")
        return OpenVinoRunner(model.source, name=model.name, precision=model.precision,
                              threads=threads, share=share, inference_precision=ov_precision)
    raise UserError(f"unknown runtime '{runtime}'; choose from {', '.join(RUNTIMES)}")


def installed_runtimes() -> List[str]:
    """The runtimes importable here: onnxruntime (always installed), openvino when present."""
    import importlib.util

    return ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])


def open_onnx_runners(model: OnnxModel, runtimes: Sequence[str], provider=None,
                      threads: Optional[int] = None, share: int = 1, ov_precision: str = "f32",
                      keep_failed: bool = False, failed_name: Optional[str] = None) -> list:
    """`model` in each runtime. With keep_failed, a runtime that refuses the model gives a
    parity.FailedCandidate (named failed_name, else the model) instead of raising."""
    from .errors import ModelLoadError
    from .parity import FailedCandidate

    out = []
    for r in runtimes:
        try:
            out.append(open_onnx_runner(model, r, provider=provider if r == "onnxruntime"
                                        else None, threads=threads, share=share,
                                        ov_precision=ov_precision))
        except ModelLoadError as exc:
            if not keep_failed:
                raise
            out.append(FailedCandidate(failed_name or model.name, "onnx", r, model.precision,
                                       str(exc)))
    return out
