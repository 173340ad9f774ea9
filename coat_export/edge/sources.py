"""Which model a path names, and how to open it in a runtime (edge formats: ONNX, bundles).

A path is an `.onnx` file, a bundle directory (its fp32 model or a `variant`), or -- on the
host only -- a `.mindir` file (opened by `coat_export.host.open_models`, not here). An ONNX model's
precision comes from the bundle manifest, else from the graph itself (`onnx_info`), so each
is judged by its own gates.
"""
import os
import stat
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

from .bundle import Bundle, is_bundle, open_bundle, read_regular_file
from .errors import UserError
from .onnx_info import summarize

__all__ = ["model_format", "OnnxModel", "resolve_onnx", "check_external_data", "RUNTIMES",
           "installed_runtimes", "open_onnx_runner", "open_onnx_runners"]

RUNTIMES = ("onnxruntime", "openvino")


def model_format(path: str) -> str:
    """'onnx', 'mindir' or 'bundle'; UserError otherwise."""
    if os.path.isdir(path):
        if is_bundle(path):
            return "bundle"
        raise UserError(f"{path} is a directory without manifest.json (not a bundle)")
    if not os.path.exists(path):
        raise UserError(f"model not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext in (".onnx", ".mindir"):
        return ext[1:]
    raise UserError(f"{path}: unknown model format '{ext or '(none)'}'; expected .onnx, "
                    ".mindir or a bundle directory")


@dataclass
class OnnxModel:
    name: str                       # what reports call it
    source: Union[str, bytes]       # a path, or a bundle member's verified bytes
    precision: str                  # "fp32", "fp16", "int8"
    opset: Optional[int] = None
    bundle: Optional[Bundle] = None
    variant: Optional[str] = None   # the bundle variant key
    metadata: Optional[dict] = None  # a bare file's own coat_export.* metadata_props


def resolve_onnx(path: str, variant: Optional[str] = None) -> OnnxModel:
    """An .onnx file or a bundle's model (default fp32, or `variant`), verified."""
    fmt = model_format(path)
    if fmt == "bundle":
        bundle = open_bundle(path)
        rec = bundle.variant(variant)
        data = bundle.model_bytes(variant)
        name = os.path.join(path, rec["file"])
        summary = _summary(data, name)
        if summary.external:
            raise UserError(f"{name} refers to external data ({summary.external[0].location!r}"
                            "); a bundle's models are self-contained: the bundle is damaged "
                            "or hostile")
        precision = rec.get("precision") or summary.precision
        opset = (bundle.manifest.get("onnx") or {}).get("opset")
        return OnnxModel(name, data, precision, opset, bundle, rec["key"])
    if variant:
        raise UserError("a variant needs a bundle directory, not an .onnx file")
    if fmt != "onnx":
        raise UserError(f"{path} is a MINDIR file: running it needs MindSpore (the host "
                        'toolchain: pip install "coat-export[export]")')
    data = read_regular_file(path, "ONNX model", follow_links=True)
    summary = _summary(data, path)
    check_external_data(path, summary.external)
    # Keep the path (not the bytes) for the runtime: a model with external data needs it.
    return OnnxModel(path, path, summary.precision, summary.opset,
                     metadata=summary.toolkit_metadata)


def _summary(data: bytes, name: str):
    try:
        return summarize(data)
    except ValueError as exc:
        raise UserError(f"{name} is not a readable ONNX file ({exc})") from exc


def check_external_data(model_path: str, tensors) -> None:
    """Every external tensor of a bare .onnx names a regular file inside the model's folder
    that holds the declared bytes -- checked before a runtime opens anything: a path
    outside would be read, a FIFO would block the runtime, a short file is a corrupt model."""
    root = os.path.realpath(os.path.dirname(os.path.abspath(model_path)))
    for t in tensors:
        where = f"{model_path}: tensor {t.tensor[:80]!r} keeps its data in {t.location[:120]!r}"
        parts = t.location.replace("\\", "/").split("/")
        if not t.location or os.path.isabs(t.location) or ".." in parts or "\0" in t.location \
                or (len(t.location) > 1 and t.location[1] == ":"):
            raise UserError(f"{where}, outside the model's folder; refused")
        real = os.path.realpath(os.path.join(root, *parts))
        if os.path.commonpath([root, real]) != root:
            raise UserError(f"{where}, which leads outside the model's folder; refused")
        try:
            st = os.stat(real)
        except OSError as exc:
            raise UserError(f"{where}, which is missing: copy it beside the model") from exc
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{where}, which is not a regular file; refused")
        end = t.offset + (t.length or 0)
        if t.offset > st.st_size or end > st.st_size:
            raise UserError(f"{where} at bytes {t.offset}..{end}, but the file has "
                            f"{st.st_size} bytes (truncated or not this model's data)")


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
