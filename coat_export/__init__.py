"""CoaT export toolkit: export, parity checks, edge bundles, quantization, validation, bench.

Layout: `coat_export.edge` is the MindSpore-free runtime (preprocessing, runners for ONNX
Runtime and OpenVINO, bundles, predict, validate, bench, comparator); `coat_export.host` needs
the host toolchain (MindSpore, onnx): export, conversion, MindSpore reference runners,
quantization, bundle writing. Importing this package imports neither.
"""
from .edge.versions import __version__

__all__ = ["__version__"]
