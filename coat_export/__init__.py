"""CoaT export toolkit: export, parity checks, edge bundles, quantization, validation, bench.

Importing this package (and its edge-runtime modules: preprocess, predict) never imports
MindSpore; modules that need it import it themselves.
"""
__version__ = "0.1.0"
