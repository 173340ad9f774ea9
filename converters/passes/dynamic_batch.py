"""Make the batch dimension of a static-shape IR graph symbolic, where that can be proven.

MindSpore folds the batch size of a static export into shape constants (Reshape targets such
as (1, 257, 32)). This pass walks the graph and tracks which tensors carry the batch as the
outermost factor of their first dimension (shape (k*B, ...)); that holds for the graph inputs
and is kept by every operator that never mixes samples along axis 0. Reshape targets are
rewritten to (-1, static rest) when the recorded output's first dimension is a multiple of the
static batch, and a slice end equal to the static batch becomes "to the end". Anything that could
mix samples or depend on the batch value is refused with a ConversionError naming the node.
"""
import numpy as np

from .. import ir
from ..errors import ConversionError

_ELEMENTWISE = {
    "Erf", "Tanh", "Sigmoid", "ReLU", "ReLU6", "Exp", "Log", "Neg", "Abs", "Sqrt", "Rsqrt",
    "Reciprocal", "Square", "Floor", "Ceil", "Sign", "Sin", "Cos", "HSwish", "HSigmoid", "SiLU",
    "GeLU", "GeluExt", "LeakyReLU", "LeakyReLUExt", "Elu", "Softplus", "Mish", "Cast",
    "ZerosLike", "OnesLike", "ZerosLikeExt", "OnesLikeExt", "Identity", "Dropout", "ClampScalar",
    "Hardtanh", "Clamp", "LogicalNot", "Round", "StopGradient", "BiasAdd",
    "Add", "AddV2", "AddExt", "InplaceAddExt", "AddScalar", "Adds", "Sub", "SubExt", "SubScalar",
    "Subs", "Mul", "Muls", "InplaceMul", "Div", "RealDiv", "Divs", "Pow", "Maximum", "Minimum",
    "Equal", "NotEqual", "Less", "Greater", "LessEqual", "GreaterEqual", "Select",
}
# operators acting on each sample independently (axis 0 is never touched)
_PER_SAMPLE = {"Conv2D", "Conv2DExt", "Conv2DPadding", "MaxPool", "AvgPool", "AvgPool2D",
               "MaxPool2D", "AdaptiveAvgPool2D", "AdaptiveAvgPool2DExt", "AdaptiveMaxPool2D",
               "BatchNorm", "BatchNormExt", "GroupNorm", "Flatten", "ResizeBilinearV2",
               "ResizeNearestNeighborV2", "ResizeNearestNeighbor", "ResizeBilinear",
               "UpsampleBilinear2D", "UpsampleNearest2D"}
_REDUCE = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "MeanExt",
           "SumExt", "ProdExt", "Argmax", "ArgMaxExt", "ArgMaxWithValue", "ArgMinWithValue",
           "MaxDim", "MinDim"}
_AXIS_ARG = {"Softmax": (1, "axis"), "LogSoftmax": (1, "axis"), "Concat": (1, "axis"),
             "Stack": (1, "axis"), "StackExt": (1, "dim"), "Split": (1, "axis"),
             "SplitWithSize": (2, "dim"), "SplitTensor": (2, "dim"), "Unstack": (1, "axis"),
             "Chunk": (2, "dim"), "LayerNorm": (3, "begin_norm_axis")}
_MATMUL = {"MatMul", "BatchMatMul", "MatMulExt", "BatchMatMulExt", "Dense"}


class _Refuse(ConversionError):
    pass


def _arg(node, pos, name, default=None):
    if pos < len(node.inputs):
        x = node.inputs[pos]
    else:
        x = node.attrs.get(name, default)
    if isinstance(x, ir.Value):
        if x.data is None:
            raise _Refuse(f"{node.op_type} node '{node.name}' has a run-time {name}")
        return x.data
    return x


def _ints(v):
    if v is None:
        return []
    if isinstance(v, (int, np.integer)):
        return [int(v)]
    return [int(a) for a in np.asarray(v).reshape(-1)]


def make_batch_dynamic(graph: ir.Graph) -> int:
    """Rewrite `graph` in place; returns the static batch size that became symbolic."""
    if not graph.inputs:
        raise ConversionError("--dynamic_batch: the graph has no inputs")
    dims = {v.shape[0] if v.shape else "scalar" for v in graph.inputs}
    if None in dims:
        return 0  # already symbolic in the MINDIR
    if len(dims) != 1 or "scalar" in dims:
        raise ConversionError(f"--dynamic_batch: graph inputs disagree on a batch dimension "
                              f"({[v.shape for v in graph.inputs]})")
    batch = int(dims.pop())
    carries = {id(v) for v in graph.inputs}
    nodes = []
    for node in graph.nodes:
        ins = list(ir.iter_values(node.inputs))
        if not any(id(v) in carries for v in ins):
            nodes.append(node)
            continue
        try:
            if node.op_type in ("Concat", "Stack", "StackExt"):
                nodes.extend(_broadcast_constants(node, batch, carries))
            _check(node, batch, carries)
        except _Refuse as exc:
            raise ConversionError(f"--dynamic_batch: cannot prove the batch axis survives: "
                                  f"{exc}") from None
        except Exception as exc:  # malformed node arguments: name the node, never a traceback
            raise ConversionError(f"--dynamic_batch: {node.op_type} node '{node.name}' has "
                                  f"arguments the batch analysis cannot read "
                                  f"({type(exc).__name__}: {str(exc)[:160]})") from None
        nodes.append(node)
        for out in node.outputs:
            if out.shape:
                carries.add(id(out))
    graph.nodes = nodes
    for v in graph.values():
        if id(v) in carries and v.shape:
            v.shape = (None,) + tuple(v.shape[1:])
    return batch


def _broadcast_constants(node, batch, carries):
    """Concat of batch tensors with a sample-independent tensor of batch 1 (e.g. a class token
    that MindSpore folded to a constant): repeat that tensor over the batch."""
    items = node.inputs[0]
    if not isinstance(items, (tuple, list)):
        return []
    ref = next(v for v in items if _carry(v, carries))
    new_nodes, new_items = [], []
    for v in items:
        if _carry(v, carries) or not isinstance(v, ir.Value) or not v.shape or \
                v.shape[0] != 1 or batch != 1:
            new_items.append(v)
            continue
        b = ir.Node(f"{node.name}/broadcast_batch{len(new_nodes)}", "_BroadcastBatch", [v, ref],
                    [], {}, node.scope)
        out = ir.Value(b.name, v.dtype, v.shape, "node", b, 0)
        b.outputs.append(out)
        carries.add(id(out))
        new_nodes.append(b)
        new_items.append(out)
    node.inputs[0] = tuple(new_items)
    return new_nodes


def _carry(v, carries):
    return isinstance(v, ir.Value) and id(v) in carries


def _check(node, batch, carries):
    op = node.op_type
    where = f"{op} node '{node.name}' ({node.scope})"
    out = node.outputs[0] if node.outputs else None
    if op in _ELEMENTWISE:
        out_rank = len(out.shape) if out is not None and out.shape is not None else None
        for v in ir.iter_values(node.inputs):
            if not _carry(v, carries) and v.shape and len(v.shape) == out_rank and v.shape[0] != 1:
                raise _Refuse(f"{where} combines a batch tensor with a constant of first "
                              f"dimension {v.shape[0]}")
        return
    if op in _PER_SAMPLE:
        if any(_carry(v, carries) for v in node.inputs[1:] if isinstance(v, ir.Value)):
            raise _Refuse(f"{where} takes the batch tensor as a weight")
        return
    if op in _REDUCE:
        rank = len(node.inputs[0].shape)
        axes = _ints(_arg(node, 1, "axis", ()))
        if not axes or 0 in [a % rank for a in axes]:
            raise _Refuse(f"{where} reduces over the batch axis")
        return
    if op in _AXIS_ARG:
        pos, name = _AXIS_ARG[op]
        first = node.inputs[0]
        items = list(first) if isinstance(first, (tuple, list)) else [first]
        rank = len(items[0].shape)
        axis = _ints(_arg(node, pos, name, -1 if op in ("Softmax", "LogSoftmax") else 0))[0]
        if axis % (rank + (1 if op in ("Stack", "StackExt") else 0)) == 0:
            raise _Refuse(f"{where} works along the batch axis")
        if any(not _carry(v, carries) for v in items):
            raise _Refuse(f"{where} joins a batch tensor with a constant one")
        return
    handler = _SPECIAL.get(op)
    if handler is None:
        raise _Refuse(f"{where}: no batch rule for {op}")
    handler(node, batch, carries, where)


def _reshape(node, batch, carries, where):
    out = node.outputs[0].shape
    if not out or out[0] is None or any(d is None for d in out):
        raise _Refuse(f"{where} has no static output shape")
    if out[0] % batch:
        raise _Refuse(f"{where} splits the batch: first dimension {out[0]} is not a multiple "
                      f"of the batch size {batch}")
    node.inputs[1] = (-1,) + tuple(int(d) for d in out[1:])


def _transpose(node, batch, carries, where):
    perm = _ints(_arg(node, 1, "perm"))
    if not perm or perm[0] % len(perm) != 0:
        raise _Refuse(f"{where} moves the batch axis (perm {perm})")


def _expand_dims(node, batch, carries, where):
    rank = len(node.inputs[0].shape) + 1
    if int(_arg(node, 1, "axis")) % rank == 0:
        raise _Refuse(f"{where} inserts an axis before the batch axis")


def _squeeze(node, batch, carries, where):
    shape = node.inputs[0].shape
    axes = _ints(_arg(node, 1, "axis", ()))
    axes = [a % len(shape) for a in axes] if axes else [i for i, d in enumerate(shape) if d == 1]
    if 0 in axes:
        raise _Refuse(f"{where} squeezes the batch axis")
    node.inputs[1:] = [tuple(axes)]


def _strided_slice(node, batch, carries, where):
    begin, end, strides = (list(_ints(_arg(node, i, n))) for i, n in
                           ((1, "begin"), (2, "end"), (3, "strides")))
    masks = [int(_arg(node, 4 + i, n, 0)) for i, n in enumerate(
        ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"))]
    if not begin or masks[2] & 1:
        return  # the batch axis is inside the ellipsis / untouched
    if masks[3] & 1 or masks[4] & 1:
        raise _Refuse(f"{where} adds or removes an axis in front of the batch")
    full_begin = masks[0] & 1 or begin[0] in (0, -batch)
    full_end = masks[1] & 1 or end[0] >= batch
    if strides[0] != 1 or not full_begin or not full_end:
        raise _Refuse(f"{where} slices the batch axis")
    end[0] = np.iinfo(np.int64).max
    begin[0] = 0
    node.inputs[1], node.inputs[2] = tuple(begin), tuple(end)


def _gather(node, batch, carries, where):
    axis = int(_arg(node, 2, "axis", 0)) % len(node.inputs[0].shape)
    params_batch, index_batch = _carry(node.inputs[0], carries), _carry(node.inputs[1], carries)
    if params_batch and (axis == 0 or index_batch):
        raise _Refuse(f"{where} gathers along the batch axis")
    if index_batch and axis != 0:
        raise _Refuse(f"{where} uses batch indices on an inner axis")


def _broadcast_to(node, batch, carries, where):
    target = _ints(_arg(node, 1, "shape"))
    if len(target) != len(node.inputs[0].shape):
        raise _Refuse(f"{where} adds leading axes")
    target[0] = -1
    node.inputs[1:] = [tuple(target)]


def _tile(node, batch, carries, where):
    reps = _ints(_arg(node, 1, "multiples"))
    if len(reps) != len(node.inputs[0].shape) or reps[0] != 1:
        raise _Refuse(f"{where} repeats along the batch axis")


def _pad(node, batch, carries, where):
    pads = _ints(_arg(node, 1, "paddings"))
    rank = len(node.inputs[0].shape)
    if len(pads) // 2 >= rank and any(pads[2 * (rank - 1):2 * rank]):
        raise _Refuse(f"{where} pads the batch axis")


def _matmul(node, batch, carries, where):
    a, b = node.inputs[0], node.inputs[1]
    if _carry(b, carries) and len(b.shape) < 3:
        raise _Refuse(f"{where} contracts over the batch")
    if _carry(a, carries):
        ta = bool(_arg(node, 2, "transpose_a", False)) if node.op_type in (
            "MatMul", "BatchMatMul") else False
        if len(a.shape) < 2 or (len(a.shape) == 2 and ta):
            raise _Refuse(f"{where} contracts over the batch")
    for v in (a, b):
        if not _carry(v, carries) and len(v.shape) == len(node.outputs[0].shape) and \
                len(v.shape) > 2 and v.shape[0] != 1:
            raise _Refuse(f"{where} multiplies by a batch-sized constant")


_SPECIAL = {"Reshape": _reshape, "Transpose": _transpose, "ExpandDims": _expand_dims,
            "Squeeze": _squeeze, "StridedSlice": _strided_slice, "Gather": _gather,
            "GatherV2": _gather, "BroadcastTo": _broadcast_to, "Tile": _tile, "PadV3": _pad,
            "ConstantPadND": _pad, **{m: _matmul for m in _MATMUL}}
