"""Sibling projections of one activation -> one wider projection and a Split.

Attention layers often project the same input three times (q, k, v as separate Dense layers).
Three Gemms of width N read the activation three times and launch three kernels; one Gemm of
width 3N followed by a Split does the same arithmetic in one pass. Applies to any group of Gemms
(alpha = beta = 1, no transA, one transB) or MatMuls that read the same tensor as their first
input with constant 2-D weights (and constant 1-D biases).
"""
from typing import Dict, List, Tuple

import numpy as np

from ..onnx_graph import ONode, OnnxGraph

# passes that must run first (Dense weights are transposed parameters until folded)
REQUIRES = ("fold_constants",)


def _gemm_key(og: OnnxGraph, n: ONode):
    """(kind, transB, weight dtype, K) for a fusable node; None otherwise."""
    weight = og.const_value(n.inputs[1]) if len(n.inputs) > 1 else None
    if weight is None or weight.ndim != 2 or weight.dtype.kind != "f":
        return None
    if n.op_type == "MatMul":
        return ("MatMul", 0, weight.dtype, weight.shape[0])
    if n.op_type != "Gemm":
        return None
    a = n.attrs
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        return None
    trans_b = int(a.get("transB", 0))
    if len(n.inputs) > 2 and n.inputs[2]:
        bias = og.const_value(n.inputs[2])
        cols = weight.shape[0] if trans_b else weight.shape[1]
        if bias is None or bias.shape != (cols,) or bias.dtype != weight.dtype:
            return None
    return ("Gemm", trans_b, weight.dtype, weight.shape[1] if trans_b else weight.shape[0])


def _fuse(og: OnnxGraph, group: List[ONode], kind: str, trans_b: int) -> None:
    weights = [og.const_value(n.inputs[1]) for n in group]
    col_axis = 0 if trans_b else 1
    widths = [w.shape[col_axis] for w in weights]
    inputs = [group[0].inputs[0], og.add_initializer(np.concatenate(weights, axis=col_axis),
                                                     "weight")]
    if kind == "Gemm" and any(len(n.inputs) > 2 and n.inputs[2] for n in group):
        biases = [og.const_value(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2]
                  else np.zeros(w, weights[0].dtype) for n, w in zip(group, widths)]
        inputs.append(og.add_initializer(np.concatenate(biases), "bias"))
    wide = og.fresh("fused_projection")
    fused = ONode(kind, inputs, [wide], {"transB": trans_b} if kind == "Gemm" and trans_b else {})
    split = ONode("Split", [wide, og.add_initializer(np.array(widths, np.int64), "split")],
                  [n.outputs[0] for n in group], {"axis": -1})
    # first=True: the Split's outputs are read between the old projections
    og.replace_nodes(group, [fused, split], first=True)


def run(og: OnnxGraph) -> int:
    outputs = set(og.outputs)
    groups: Dict[Tuple, List[ONode]] = {}
    for n in og.each("Gemm", "MatMul"):
        if n.op_type not in ("Gemm", "MatMul") or not n.inputs or n.outputs[0] in outputs:
            continue
        key = _gemm_key(og, n)
        if key is not None:
            groups.setdefault((n.inputs[0],) + key, []).append(n)
    fused = 0
    for (_, kind, trans_b, _, _), group in groups.items():
        if len(group) >= 2:
            _fuse(og, group, kind, trans_b)
            fused += len(group)
    return fused
