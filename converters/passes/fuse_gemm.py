"""MatMul of a 2-D activation by a constant matrix, plus a constant bias row -> Gemm."""
from ..onnx_graph import OnnxGraph


def run(og: OnnxGraph) -> int:
    users = og.consumers()
    outputs = set(og.outputs)
    fused = 0
    dead = set()
    for n in og.nodes:
        if n.op_type != "MatMul":
            continue
        a, b = n.inputs
        weight = og.const_value(b)
        a_shape = og.shape_of(a)
        if weight is None or weight.ndim != 2 or a_shape is None or len(a_shape) != 2:
            continue
        out = n.outputs[0]
        consumers = users.get(out, [])
        if out in outputs or len(consumers) != 1 or consumers[0].op_type != "Add":
            continue
        add = consumers[0]
        other = add.inputs[1] if add.inputs[0] == out else add.inputs[0]
        bias = og.const_value(other)
        cols = weight.shape[1]
        if bias is None or bias.dtype != weight.dtype or bias.size != cols or \
                bias.shape not in ((cols,), (1, cols)):
            continue
        n.op_type = "Gemm"
        n.inputs = [a, b, other if bias.ndim == 1 else og.add_initializer(bias.reshape(cols))]
        n.outputs = [add.outputs[0]]
        n.origin = n.origin + add.origin
        og.tensor_origin.pop(out, None)
        dead.add(id(add))
        fused += 1
    og.nodes = [n for n in og.nodes if id(n) not in dead]
    return fused
