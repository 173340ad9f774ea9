"""Primitives the converter refuses on purpose, with the reason a user is told.

They have no handler (so they appear in the one unsupported-primitive report, which quotes these
reasons) and are listed in converters/SUPPORT.md. A primitive leaves this table when a handler
for it is written and checked against MindSpore's own output.
"""
REFUSED = {
    "Erfinv": "ONNX has no inverse error function",
    "Cummax": "ONNX has no cumulative maximum",
    "Cummin": "ONNX has no cumulative minimum",
    "Roll": "MindSpore's CPU backend cannot run it, so no conversion could be checked",
    "Einsum": "MindSpore's CPU backend cannot run it, so no conversion could be checked",
    "InstanceNorm": "MindSpore's CPU backend cannot run it, so no conversion could be checked",
    "UniformReal": "random sampling (e.g. RReLU in training mode) has no deterministic export",
    "StandardNormal": "random sampling has no deterministic export",
    "Im2Col": "unfold to patches is not implemented (no single ONNX operator)",
    "ExtractImagePatches": "not implemented (no single ONNX operator)",
    "Cdist": "not implemented (pairwise distances: decomposable, not written yet)",
    "NanToNum": "not implemented",
    "Fmin": "NaN handling differs from ONNX Min",
    "Fmax": "NaN handling differs from ONNX Max",
    "Atan2": "not implemented",
    "Meshgrid": "not implemented",
    "Conv3DTranspose": "not implemented",
    "MaxPoolWithArgmax": "MindSpore's flat argmax indices differ from ONNX's",
}
