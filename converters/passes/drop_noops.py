"""Drop nodes that compute nothing: Identity, same-shape Reshape/Expand, same-type Cast,
identity Transpose, all-zero Pad."""
import numpy as np

from ..onnx_graph import OnnxGraph


def _same_shape(a, b) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    unknown = [i for i, (x, y) in enumerate(zip(a, b)) if x is None or y is None]
    # one symbolic dimension in the same place: sizes agree because element counts do
    return all(x == y for x, y in zip(a, b) if x is not None and y is not None) and \
        len(unknown) <= 1 and all(a[i] is None and b[i] is None for i in unknown)


def _is_noop(og: OnnxGraph, n) -> bool:
    op = n.op_type
    if op == "Identity":
        return True
    if op in ("Reshape", "Expand") and len(n.outputs) == 1:
        return _same_shape(og.shape_of(n.inputs[0]), og.shape_of(n.outputs[0]))
    if op == "Cast":
        src = og.dtype_of(n.inputs[0])
        return src is not None and np.dtype(src) == np.dtype(n.attrs["to"])
    if op == "Transpose":
        perm = n.attrs.get("perm")
        return perm is not None and list(perm) == list(range(len(perm)))
    if op == "Pad":
        pads = og.const_value(n.inputs[1]) if len(n.inputs) > 1 else None
        return pads is not None and not np.any(pads)
    return False


def run(og: OnnxGraph) -> int:
    removed = 0
    for n in og.each():
        if _is_noop(og, n) and og.bypass(n):
            removed += 1
    return removed
