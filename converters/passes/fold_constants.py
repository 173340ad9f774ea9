"""Constant and shape-subgraph folding: evaluate nodes whose inputs are all known, in numpy.

Weight preprocessing (transposed Dense weights, reshaped biases, zeros + class token) and the
shape arithmetic of static graphs disappear; results become initializers.
"""
import numpy as np

from ..onnx_graph import OnnxGraph

_MAX_FOLDED_ELEMENTS = 1 << 24  # never blow a tiny Expand / ConstantOfShape up into the file


def _axes(node, inputs, pos):
    if len(inputs) > pos and inputs[pos] is not None:
        return [int(a) for a in inputs[pos]]
    return node.attrs.get("axes")


def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    idx = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        idx[int(a)] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _div(a, b):
    """ONNX Div: true division for floats; integer division truncates toward zero (C-style),
    where numpy's // floors (-7 // 2 == -4, ONNX gives -3)."""
    if a.dtype.kind == "f":
        return a / b
    if np.any(b == 0):
        return None  # left to the runtime rather than folded into a made-up value
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q).astype(np.result_type(a, b))


def _reshape(x, shape):
    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


_EVAL = {
    "Identity": lambda n, x: x[0],
    "Transpose": lambda n, x: np.transpose(x[0], n.attrs.get("perm")),
    "Reshape": lambda n, x: _reshape(x[0], [int(d) for d in x[1]]),
    "Unsqueeze": lambda n, x: np.expand_dims(x[0], tuple(
        a % (x[0].ndim + len(_axes(n, x, 1))) for a in _axes(n, x, 1))),
    "Squeeze": lambda n, x: np.squeeze(x[0], tuple(_axes(n, x, 1))) if _axes(n, x, 1)
    else np.squeeze(x[0]),
    "Concat": lambda n, x: np.concatenate(x, axis=n.attrs["axis"]),
    "Cast": lambda n, x: x[0].astype(n.attrs["to"]),
    "Gather": lambda n, x: np.take(x[0], x[1], axis=n.attrs.get("axis", 0)),
    "Slice": lambda n, x: _slice(*x),
    "Add": lambda n, x: x[0] + x[1],
    "Sub": lambda n, x: x[0] - x[1],
    "Mul": lambda n, x: x[0] * x[1],
    "Div": lambda n, x: _div(x[0], x[1]),
    "Neg": lambda n, x: -x[0],
    "Sqrt": lambda n, x: np.sqrt(x[0]),
    "Reciprocal": lambda n, x: 1 / x[0],
    "Expand": lambda n, x: x[0] * np.ones([int(d) for d in x[1]], x[0].dtype),
    "Tile": lambda n, x: np.tile(x[0], [int(d) for d in x[1]]),
    "ConstantOfShape": lambda n, x: np.full([int(d) for d in x[0]],
                                            n.attrs["value"].reshape(-1)[0],
                                            n.attrs["value"].dtype),
}


def _static_shape(og, name):
    shape = og.shape_of(name)
    if shape is None or any(not isinstance(d, (int, np.integer)) for d in shape):
        return None
    return np.array(shape, np.int64)


def run(og: OnnxGraph) -> int:
    folded = 0
    outputs = set(og.outputs)
    for n in og.each():
        value = None
        if not any(o in outputs for o in n.outputs) and len(n.outputs) == 1:
            if n.op_type == "Shape":
                value = _static_shape(og, n.inputs[0])
            elif n.op_type in _EVAL and n.inputs and all(
                    (i == "" or i in og.initializers) for i in n.inputs):
                args = [og.initializers[i] if i else None for i in n.inputs]
                while args and args[-1] is None:
                    args.pop()
                if n.op_type in ("Expand", "Tile", "ConstantOfShape"):
                    guess = np.prod([int(d) for d in args[-1]]) * max(args[0].size, 1) \
                        if args else 0
                    if guess > _MAX_FOLDED_ELEMENTS:
                        args = None
                value = _EVAL[n.op_type](n, args) if args is not None else None
        if value is None:
            continue
        og.fold(n, value)
        folded += 1
    return folded
