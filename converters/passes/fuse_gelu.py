"""x * 0.5 * (1 + erf(x / sqrt(2))) -> Gelu (ONNX opset >= 20).

Matches the shapes MindSpore's nn.GELU(approximate=False) lowers to, in any operand order:
Div(x, sqrt2) or Mul(x, 1/sqrt2) -> Erf -> Add 1 -> then (x * a) * 0.5, (x * 0.5) * a or
x * (a * 0.5).
"""
import math

from ..onnx_graph import ONode, OnnxGraph
from .pattern import Matcher, close, replace

MIN_OPSET = 20  # Gelu exists from opset 20


def _match(m: Matcher, erf: ONode):
    scaled = erf.inputs[0]
    pre = m.producer(scaled)
    if pre is None or m.only_user(scaled) is not erf:
        return None
    if pre.op_type == "Div" and close(m.scalar(pre.inputs[1]), math.sqrt(2.0)):
        x = pre.inputs[0]
    elif pre.op_type == "Mul":
        x = next((i for i in pre.inputs if close(m.scalar(m.other_input(pre, i)),
                                                 1 / math.sqrt(2.0))), None)
        if x is None:
            return None
    else:
        return None
    add = m.only_user(erf.outputs[0])
    if add is None or add.op_type != "Add" or \
            not close(m.scalar(m.other_input(add, erf.outputs[0])), 1.0):
        return None
    a = add.outputs[0]
    mul1 = m.only_user(a)
    if mul1 is None or mul1.op_type != "Mul":
        return None
    other = m.other_input(mul1, a)
    if other == x:                                   # (x * a) * 0.5
        mul2 = m.only_user(mul1.outputs[0])
        if mul2 is None or mul2.op_type != "Mul" or \
                not close(m.scalar(m.other_input(mul2, mul1.outputs[0])), 0.5):
            return None
        return x, [pre, erf, add, mul1, mul2]
    if close(m.scalar(other), 0.5):                  # x * (a * 0.5)
        mul2 = m.only_user(mul1.outputs[0])
        if mul2 is None or mul2.op_type != "Mul" or m.other_input(mul2, mul1.outputs[0]) != x:
            return None
        return x, [pre, erf, add, mul1, mul2]
    half = m.producer(other)                     # (x * 0.5) * a
    if half is not None and half.op_type == "Mul" and m.only_user(other) is mul1 and \
            x in half.inputs and close(m.scalar(m.other_input(half, x)), 0.5):
        return x, [pre, erf, add, half, mul1]
    return None


def run(og: OnnxGraph) -> int:
    m = Matcher(og)
    fused = 0
    for erf in og.each("Erf"):
        found = _match(m, erf)
        if found is None:
            continue
        x, nodes = found
        gelu = ONode("Gelu", [x], [nodes[-1].outputs[0]], {"approximate": "none"})
        replace(og, nodes, gelu)
        fused += 1
    return fused
