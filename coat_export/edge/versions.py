"""The tool's version and the versions of the libraries around it: one place for both."""
from typing import Dict, Iterable, Optional

__version__ = "0.2.0"

# Distributions worth recording in reports and manifests (imports nothing to read them).
REPORTED = ("coat-export", "numpy", "pillow", "onnxruntime", "openvino", "onnx",
            "onnxconverter-common", "mindspore")


def library_versions(names: Iterable[str] = REPORTED) -> Dict[str, Optional[str]]:
    """{distribution: version or None when not installed}, from package metadata."""
    from importlib.metadata import PackageNotFoundError, version

    out: Dict[str, Optional[str]] = {}
    for dist in names:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    out["coat-export"] = __version__  # the running code, also when run from a bundle copy
    return out


def version_line() -> str:
    """What `--version` prints: the tool, Python and the runtimes present."""
    import platform

    v = library_versions(("numpy", "onnxruntime", "openvino", "mindspore"))
    libs = ", ".join(f"{k} {val}" for k, val in v.items() if val and k != "coat-export")
    return f"coat-export {__version__} (Python {platform.python_version()}; {libs})"
