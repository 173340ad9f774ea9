"""Which model a path names (edge formats: ONNX, bundles), verified before any runtime opens it
(`runtimes` opens the resulting OnnxModel).

A path is an `.onnx` file, a bundle directory (its fp32 model or a `variant`), or -- on the
host only -- a `.mindir` file (opened by `coat_export.host.open_models`, not here). An ONNX model's
precision comes from the bundle manifest, else from the graph itself (`onnx_info`), so each
is judged by its own gates.
"""
import os
from dataclasses import dataclass
from typing import Optional, Union

from .bundle import Bundle, is_bundle, open_bundle, read_regular_file
from .errors import UserError
from .onnx_info import check_external_data, summarize_file

__all__ = ["model_format", "OnnxModel", "resolve_onnx"]


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
        summary = summarize_file(data, name)
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
    summary = summarize_file(data, path)
    check_external_data(path, summary.external)
    # Keep the path (not the bytes) for the runtime: a model with external data needs it.
    return OnnxModel(path, path, summary.precision, summary.opset,
                     metadata=summary.toolkit_metadata)
