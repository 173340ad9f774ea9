"""Recurrent layers: MindSpore's fused LSTM primitive (what nn.LSTM becomes on CPU/GPU) -> ONNX LSTM.

The primitive is LSTM(x, h0, c0, w) with attributes input_size, hidden_size, num_layers,
has_bias, bidirectional, dropout, proj_size. x is time-major (T, N, I) (nn.LSTM transposes
around it for batch_first), h0/c0 are (num_layers * D, N, H), and w is one flat (n, 1, 1)
tensor laid out as MindSpore's CPU kernel reads it: every direction's W_ih (4H, I) first, then
every direction's W_hh (4H, H), then, with has_bias, one combined bias (4H,) per direction
(nn.LSTM passes b_ih + b_hh). Gates are in the order i, f, g, o; ONNX wants i, o, f, c.
Outputs: y (T, N, D*H), hy, cy and two workspace tensors (reserve, state) nothing reads.

nn.LSTM emits one single-layer primitive per layer and direction (reversing the sequence
itself for the backward one), so stacks and bidirectional nets arrive as chains of these.
A multi-layer primitive is refused: MindSpore's CPU kernel cannot run it correctly (oneDNN
rejects input_size != hidden_size and gives wrong results otherwise), so it cannot be checked.
"""
import numpy as np

from .. import batch as B
from .. import ir
from ..errors import ConversionError
from .registry import op

_IOFC = np.array([0, 3, 1, 2], np.int64)  # MindSpore blocks (i, f, g, o) -> ONNX (i, o, f, c)
_SHAPE_ONLY = ("StridedSlice", "ExpandDims", "Reshape", "Squeeze", "Cast", "Concat",
               "BroadcastTo", "Tile", "Transpose", "Identity")


def _is_zeros(x, depth: int = 0) -> bool:
    """True when `x` is a constant of zeros, possibly reshaped/sliced/stacked (nn.LSTM without
    an initial state slices h0/c0 out of one zeros constant)."""
    if x is None:
        return True
    if isinstance(x, (tuple, list)):
        return all(_is_zeros(e, depth) for e in x)
    if not isinstance(x, ir.Value):
        return not np.any(np.asarray(x))
    if x.data is not None:
        return not np.any(x.data)
    node = x.producer
    if node is not None and node.op_type == "Zeros":
        return True
    if node is None or depth > 8 or node.op_type not in _SHAPE_ONLY or not node.inputs:
        return False
    return _is_zeros(node.inputs[0], depth + 1)


def _attrs(node):
    a = node.attrs
    return (int(a["input_size"]), int(a["hidden_size"]), int(a.get("num_layers", 1)),
            bool(a.get("has_bias", True)), 2 if a.get("bidirectional", False) else 1,
            int(a.get("proj_size", 0) or 0))


def lstm_batch(node, st: B.BatchState) -> B.Rewrites:
    """time-major: the batch on axis 1 of x, h0, c0, y, hy, cy; a zero initial state (no hx
    given) becomes ONNX's default; any other initial state must carry the batch on axis 1."""
    x = node.inputs[0]
    if st.of(x) != 1:
        raise B.Refuse(f"{B.where(node)} needs the batch on axis 1 of its time-major input "
                       f"(it is on axis {st.of(x)})")
    if len(node.inputs) > 3 and any(st.carries(v) for v in ir.iter_values(node.inputs[3:])):
        raise B.Refuse(f"{B.where(node)} takes a batch tensor as its weights")
    rewrites = {}
    for pos in (1, 2):
        v = node.inputs[pos] if pos < len(node.inputs) else None
        if st.carries(v):
            if st.of(v) != 1:
                raise B.Refuse(f"{B.where(node)}: initial state with the batch on axis "
                               f"{st.of(v)}, not 1")
        elif _is_zeros(v):
            rewrites[pos] = None  # ONNX's default initial state: zeros of any batch size
        else:
            raise B.Refuse(f"{B.where(node)} starts from a constant initial state of the "
                           "export's batch size")
    B.set_outputs(node, st, 1, node.outputs[:3])
    return rewrites


def _refuse_workspace_reads(ctx):
    """Outputs 3 and 4 are the CPU kernel's workspace (reserve, state): nothing ONNX has."""
    spare = {id(v) for v in ctx.node.outputs[3:]}
    graph = ctx.lowering.ir_graph
    readers = [v for n in graph.nodes for v in ir.iter_values(n.inputs)] + list(graph.outputs)
    if any(id(v) in spare for v in readers):
        raise ConversionError(f"{ctx.where()}: its workspace outputs (reserve, state) are read; "
                              "ONNX LSTM has no such outputs")


@op("LSTM", batch=lstm_batch)
def lstm(ctx):
    node = ctx.node
    in_size, hidden, layers, has_bias, dirs, proj = _attrs(node)
    if layers != 1:
        raise ConversionError(f"{ctx.where()}: a multi-layer fused LSTM (num_layers={layers}) "
                              "is not supported: MindSpore's CPU kernel cannot run it, so no "
                              "conversion could be checked (nn.LSTM emits one layer per node)")
    if proj:
        raise ConversionError(f"{ctx.where()}: proj_size={proj} is not supported")
    if len(node.inputs) > 4 and node.inputs[4] is not None:
        raise ConversionError(f"{ctx.where()}: a seq_lengths input is not supported")
    _refuse_workspace_reads(ctx)
    gates = 4 * hidden
    n_ih, n_hh = dirs * gates * in_size, dirs * gates * hidden
    n_b = dirs * gates if has_bias else 0
    w_shape = ctx.in_shape(3)
    if w_shape is not None and all(d is not None for d in w_shape) \
            and int(np.prod(w_shape)) != n_ih + n_hh + n_b:
        raise ConversionError(f"{ctx.where()}: weight of {int(np.prod(w_shape))} elements, "
                              f"expected {n_ih + n_hh + n_b}")
    flat = ctx.make("Reshape", [ctx.tensor(3), ctx.initializer(np.array([-1], np.int64))])

    def block(start, stop, inner):
        """The flat range [start, stop) as (D, 4H, inner), gates reordered to iofc."""
        part = ctx.make("Slice", [flat, ctx.initializer(np.array([start], np.int64)),
                                  ctx.initializer(np.array([stop], np.int64)),
                                  ctx.initializer(np.array([0], np.int64))])
        part = ctx.make("Reshape", [part, ctx.initializer(
            np.array([dirs, 4, hidden, inner], np.int64))])
        part = ctx.make("Gather", [part, ctx.initializer(_IOFC)], axis=1)
        return ctx.make("Reshape", [part, ctx.initializer(
            np.array([dirs, gates, inner], np.int64))])

    w = block(0, n_ih, in_size)
    r = block(n_ih, n_ih + n_hh, hidden)
    inputs = [ctx.tensor(0), w, r]
    if has_bias:
        b = ctx.make("Reshape", [block(n_ih + n_hh, n_ih + n_hh + n_b, 1),
                                 ctx.initializer(np.array([dirs, gates], np.int64))])
        zeros = ctx.initializer(np.zeros((dirs, gates), ctx.in_dtype(0)))
        inputs.append(ctx.make("Concat", [b, zeros], axis=1))  # B = [Wb, Rb], Rb = 0
    else:
        inputs.append("")
    inputs.append("")  # sequence_lens: every sequence runs the full length
    for pos in (1, 2):
        x = node.inputs[pos] if pos < len(node.inputs) else None
        inputs.append("" if _is_zeros(x) else ctx.tensor(pos))
    while inputs[-1] == "":
        inputs.pop()
    y, hy, cy = ctx.make("LSTM", inputs, 3, hidden_size=hidden,
                         direction="bidirectional" if dirs == 2 else "forward")
    # Y is (T, D, N, H): to (T, N, D*H), the directions side by side as MindSpore has them
    if dirs == 2:
        y = ctx.make("Transpose", [y], perm=[0, 2, 1, 3])
        y = ctx.make("Reshape", [y, ctx.initializer(np.array([0, 0, -1], np.int64))])
    else:
        y = ctx.squeeze(y, [1])
    ctx.set_output(y, 0)
    ctx.set_output(hy, 1)
    ctx.set_output(cy, 2)
