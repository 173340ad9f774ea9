"""The edge runtime: everything needed to run exported CoaT classifiers without MindSpore.

Rules that keep this subpackage deployable on its own (a bundle carries a verbatim copy of it
as `coat_edge/`, so `BUNDLE/predict.py` runs with only numpy, pillow and onnxruntime or
openvino installed):

* imports only the standard library, numpy and pillow at import time; onnxruntime and openvino
  are imported by the runner that needs them; never MindSpore, onnx or anything from the
  host side;
* imports inside the subpackage are relative, so the copy works under another package name;
* Python 3.9 syntax, and NumPy 1.x or 2.x.
"""
from .third_party import disable_runtime_telemetry
from .versions import __version__

disable_runtime_telemetry()  # before any runtime is imported (see third_party)

__all__ = ["__version__"]
