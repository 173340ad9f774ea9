"""ONNX side of first-divergence localisation: intermediate tensors of a candidate, read back.

An in-memory copy of the candidate has its graph outputs extended with the intermediate
tensors asked for (typed from shape inference where the candidate infers, float otherwise);
one ONNX Runtime run (session set up by `edge.runners.onnxruntime_runner.create_session`)
gives them all. The candidate's nodes are walked in `topological_order`.
"""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..edge.atomic import scratch_dir

__all__ = ["onnx_batch_info", "topological_order", "onnx_intermediates"]


def onnx_batch_info(model) -> Tuple[Optional[int], bool]:
    """(fixed batch or None, dynamic?) of the first graph input."""
    inp = model.graph.input[0]
    dims = inp.type.tensor_type.shape.dim
    if not dims:
        return None, True
    d0 = dims[0]
    if d0.HasField("dim_value") and d0.dim_value > 0:
        return int(d0.dim_value), False
    return None, True


def topological_order(nodes) -> List:
    """ONNX nodes in dependency order, ties in file order; the converter's sort (a broken
    candidate need not be sorted). Nodes on a cycle follow in file order."""
    from ..converters import dependency_order

    # "" marks an omitted optional input or output: not a tensor
    order = dependency_order([[t for t in n.input if t] for n in nodes],
                             [[o for o in n.output if o] for n in nodes])
    if len(order) != len(nodes):
        seen = set(order)
        order += [i for i in range(len(nodes)) if i not in seen]
    return [nodes[i] for i in order]


def onnx_intermediates(model, tensors: Sequence[str], x: np.ndarray,
                       provider=None) -> Dict[str, np.ndarray]:
    """Run a copy of `model` with `tensors` added as graph outputs; name -> value."""
    import onnx

    from ..edge.runners.onnxruntime_runner import create_session

    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {o.name for o in m.graph.output}
    try:
        inferred = onnx.shape_inference.infer_shapes(m)
        types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    except Exception:  # a broken candidate may not infer: declare float and hope
        types = {}
    for t in tensors:
        if t not in existing:
            m.graph.output.append(onnx.helper.make_tensor_value_info(
                t, types.get(t) or onnx.TensorProto.FLOAT, None))
    with scratch_dir("check") as tmp:
        path = os.path.join(tmp, "probe.onnx")
        onnx.save_model(m, path)
        session = create_session(path, provider=provider)
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {session.get_inputs()[0].name: x})
    return dict(zip(names, values))
