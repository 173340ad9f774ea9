"""Hand-written layer norm -> LayerNormalization (ONNX opset >= 17).

Pattern: mean = ReduceMean(x, trailing axes); d = x - mean; var = ReduceMean(d*d or d^2);
y = d / Sqrt(var + eps) [* gamma] [+ beta], the form `x.mean()`-style MindSpore code lowers to.
"""
import numpy as np

from ..onnx_graph import ONode, OnnxGraph
from .pattern import Matcher, replace

MIN_OPSET = 17  # LayerNormalization exists from opset 17


def _trailing_axes(axes, rank):
    if not axes:
        return None
    if rank is not None:
        axes = sorted(a % rank for a in axes)
        if axes != list(range(rank - len(axes), rank)):
            return None
        return -len(axes)
    if sorted(axes) == list(range(-len(axes), 0)):
        return -len(axes)
    return None


def _match(m: Matcher, mean1: ONode):
    og = m.og
    x = mean1.inputs[0]
    shape = og.shape_of(x)
    axis = _trailing_axes(m.reduce_axes(mean1), None if shape is None else len(shape))
    if axis is None or mean1.attrs.get("keepdims", 1) != 1:
        return None
    sub = m.only_user(mean1.outputs[0])
    if sub is None or sub.op_type != "Sub" or sub.inputs != [x, mean1.outputs[0]]:
        return None
    d = sub.outputs[0]
    users = m.users(d)
    if len(users) != 2 or d in m.outputs:
        return None
    sq = next((u for u in users if (u.op_type == "Mul" and u.inputs == [d, d]) or
               (u.op_type == "Pow" and u.inputs[0] == d and m.scalar(u.inputs[1]) == 2.0)), None)
    div = next((u for u in users if u.op_type == "Div" and u.inputs[0] == d), None)
    if sq is None or div is None:
        return None
    mean2 = m.only_user(sq.outputs[0])
    if mean2 is None or mean2.op_type != "ReduceMean" or \
            m.reduce_axes(mean2) != m.reduce_axes(mean1):
        return None
    add = m.only_user(mean2.outputs[0])
    eps = m.scalar(m.other_input(add, mean2.outputs[0])) if add is not None and \
        add.op_type == "Add" else None
    if eps is None:
        return None
    sqrt = m.only_user(add.outputs[0])
    if sqrt is None or sqrt.op_type != "Sqrt" or div.inputs[1] != sqrt.outputs[0] or \
            m.only_user(sqrt.outputs[0]) is not div:
        return None
    nodes = [mean1, sub, sq, mean2, add, sqrt, div]
    scale = bias = None
    tail = div.outputs[0]
    nxt = m.only_user(tail)
    if nxt is not None and nxt.op_type == "Mul":
        gamma = og.const_value(m.other_input(nxt, tail))
        if gamma is not None:
            scale, tail = gamma, nxt.outputs[0]
            nodes.append(nxt)
            nxt = m.only_user(tail)
    if nxt is not None and nxt.op_type == "Add":
        beta = og.const_value(m.other_input(nxt, tail))
        if beta is not None:
            bias, tail = beta, nxt.outputs[0]
            nodes.append(nxt)
    return x, axis, eps, scale, bias, nodes, tail


def _param(og, value, axis, dtype, fill):
    k = -axis
    if value is None:
        return None if fill is None else og.add_initializer(np.full((), fill, dtype))
    if value.ndim > k and all(d == 1 for d in value.shape[:value.ndim - k]):
        value = value.reshape(value.shape[value.ndim - k:])
    if value.ndim > k:
        return False
    return og.add_initializer(value.astype(dtype, copy=False))


def run(og: OnnxGraph) -> int:
    m = Matcher(og)
    fused = 0
    for mean1 in og.each("ReduceMean"):
        found = _match(m, mean1)
        if found is None:
            continue
        x, axis, eps, scale, bias, nodes, tail = found
        dtype = og.dtype_of(x) or np.float32
        if scale is None:
            shape = og.shape_of(x)
            if shape is None or any(not isinstance(d, int) for d in shape[axis:]):
                continue
            scale = np.ones(shape[axis:], dtype)
        s = _param(og, scale, axis, dtype, None)
        b = _param(og, bias, axis, dtype, None) if bias is not None else None
        if s is False or b is False:
            continue
        inputs = [x, s] + ([b] if b else [])
        ln = ONode("LayerNormalization", inputs, [tail], {"axis": axis, "epsilon": eps})
        replace(og, nodes, ln)
        fused += 1
    return fused
