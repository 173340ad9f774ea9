"""Merge initializers with identical dtype, shape and bytes (shared weights, repeated constants)."""
import hashlib

from ..onnx_graph import OnnxGraph


def run(og: OnnxGraph) -> int:
    first = {}
    rename = {}
    for name, arr in og.initializers.items():
        key = (arr.dtype.str, arr.shape, hashlib.sha1(arr.tobytes()).digest())
        if key in first:
            rename[name] = first[key]
        else:
            first[key] = name
    if not rename:
        return 0
    for name, keep in rename.items():
        og.replace_uses(name, keep)
        del og.initializers[name]
    return len(rename)
