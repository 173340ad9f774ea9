"""MatMul of a 2-D activation by a constant matrix, plus a constant bias row -> Gemm."""
from ..onnx_graph import OnnxGraph
from .pattern import absorb_add, constant_add_after

# passes that must run first (Dense weights are transposed parameters until folded)
REQUIRES = ("fold_constants",)


def run(og: OnnxGraph) -> int:
    outputs = set(og.outputs)
    fused = 0
    for n in og.each("MatMul"):
        a, b = n.inputs
        weight = og.const_value(b)
        a_shape = og.shape_of(a)
        if weight is None or weight.ndim != 2 or a_shape is None or len(a_shape) != 2:
            continue
        found = constant_add_after(og, outputs, n)
        if found is None:
            continue
        add, other, bias = found
        cols = weight.shape[1]
        if bias.dtype != weight.dtype or bias.size != cols or bias.shape not in ((cols,), (1, cols)):
            continue
        n.op_type = "Gemm"
        og.set_inputs(n, [a, b, other if bias.ndim == 1 else og.add_initializer(
            bias.reshape(cols))])
        absorb_add(og, n, add)
        fused += 1
    return fused
