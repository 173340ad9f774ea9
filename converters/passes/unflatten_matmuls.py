"""Reshape to 2-D -> Gemm -> Reshape back  ->  MatMul on the N-D tensor + Add.

MindSpore's Dense flattens a (batch, tokens, K) activation to (batch * tokens, K), multiplies and
restores the leading dims; lowered literally that is two Reshapes around every projection. A
MatMul with a constant 2-D weight accepts the N-D tensor directly (ONNX broadcasts the leading
dims), which leaves runtimes one node fewer to schedule and, for quantized graphs, nothing between
the producer of the activation and the projection that a Quantize step would have to cross.
Applies when the first Reshape keeps the last axis (K) of an activation of rank >= 3 and the
projection's result is only reshaped again, by targets without 0 entries (a row-major reshape of
the same elements gives the same result whatever the shape it starts from).
"""
import numpy as np

from ..onnx_graph import ONode, OnnxGraph, TensorInfo

# passes that must run first (it rewrites the Gemms fuse_gemm makes)
REQUIRES = ("fuse_gemm",)


def _flattened_source(og: OnnxGraph, tensor: str):
    """X when `tensor` = Reshape(X, [-1 or rows, K]) with X of rank >= 3 and last dim K."""
    r = og.producer_of(tensor)
    if r is None or r.op_type != "Reshape" or len(r.inputs) < 2:
        return None
    target = og.const_value(r.inputs[1])
    x_shape = og.shape_of(r.inputs[0])
    if target is None or target.ndim != 1 or target.size != 2 or x_shape is None \
            or len(x_shape) < 3 or not isinstance(x_shape[-1], int) \
            or int(target[1]) != x_shape[-1]:
        return None
    return r.inputs[0]


def run(og: OnnxGraph) -> int:
    outputs = set(og.outputs)
    changed = 0
    for gemm in og.each("Gemm"):
        a = gemm.attrs
        if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            continue
        weight = og.const_value(gemm.inputs[1])
        bias = og.const_value(gemm.inputs[2]) if len(gemm.inputs) > 2 and gemm.inputs[2] \
            else None
        if weight is None or weight.ndim != 2 or (len(gemm.inputs) > 2 and gemm.inputs[2]
                                                  and (bias is None or bias.ndim != 1)):
            continue
        x = _flattened_source(og, gemm.inputs[0])
        users = og.users_of(gemm.outputs[0])
        if x is None or gemm.outputs[0] in outputs or not users or \
                not all(_reshape_without_zeros(og, u, gemm.outputs[0]) for u in users):
            continue
        w = og.add_initializer(np.ascontiguousarray(weight.T), "weight") \
            if a.get("transB", 0) else gemm.inputs[1]
        cols = weight.shape[0] if a.get("transB", 0) else weight.shape[1]
        tokens = og.fresh("projection")
        new = [ONode("MatMul", [x, w], [tokens if bias is not None else gemm.outputs[0]])]
        if bias is not None:
            new.append(ONode("Add", [tokens, gemm.inputs[2]], [gemm.outputs[0]]))
        info = TensorInfo(weight.dtype, tuple(og.shape_of(x)[:-1]) + (cols,))
        og.info[gemm.outputs[0]] = og.info[tokens] = info  # now N-D, no longer (rows, cols)
        # the output keeps its provenance (MindSpore's (rows, cols) value, the same elements);
        # the product before the bias is the Dense's MatMul again, for localisation
        og.replace_nodes([gemm], new)
        matmul = [o for o in gemm.origin if getattr(o, "op_type", "") == "MatMul"]
        if bias is not None and len(matmul) == 1:
            og.record_provenance(tokens, matmul[0])
        changed += 1
    return changed


def _reshape_without_zeros(og: OnnxGraph, node: ONode, data: str) -> bool:
    if node.op_type != "Reshape" or node.inputs[0] != data or len(node.inputs) < 2:
        return False
    target = og.const_value(node.inputs[1])
    return target is not None and not np.any(target == 0)
