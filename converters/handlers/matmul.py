"""Matrix products: MatMul / BatchMatMul (transpose flags), the numpy-style *Ext forms, Dense."""
import numpy as np

from .. import batch as B
from .. import ir
from ..primitive_args import constant
from .registry import op


def _maybe_transpose(ctx, pos, flag):
    t = ctx.tensor(pos)
    if not flag:
        return t
    rank = ctx.in_rank(pos)
    perm = list(range(rank))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return ctx.make("Transpose", [t], perm=perm)


def _transposes(node):
    """Whether A and B enter transposed: MatMul/BatchMatMul say so (inputs 2 and 3, or the
    legacy attributes), Dense is x W^T, the Ext forms never transpose."""
    if node.op_type == "Dense":
        return False, True
    if node.op_type in ("MatMul", "BatchMatMul"):
        return (bool(constant(node, 2, "transpose_a", node.attrs.get("transpose_x1", False))),
                bool(constant(node, 3, "transpose_b", node.attrs.get("transpose_x2", False))))
    return False, False


@B.keeps_outer
def _matmul_rule(node, st: B.BatchState) -> None:
    """Batch on a broadcast (leading) axis, on the rows of A or on the columns of B; never on
    a contracted axis."""
    a, bm = node.inputs[0], node.inputs[1]
    out_rank = B.rank_of(node.outputs[0], node)
    ta, tb = _transposes(node)
    axes = set()
    for v, t, is_a in ((a, ta, True), (bm, tb, False)):
        ax = st.of(v)
        if ax is None:
            continue
        r = B.rank_of(v, node)
        if r == 1:
            raise B.Refuse(f"{B.where(node)} contracts over the batch")
        row, col = (r - 1, r - 2) if t else (r - 2, r - 1)
        if (is_a and ax == col) or (not is_a and ax == row):
            raise B.Refuse(f"{B.where(node)} contracts over the batch")
        if ax == row:
            axes.add(out_rank - 2)
        elif ax == col:
            axes.add(out_rank - 1)
        else:
            axes.add(ax + out_rank - r)
    if len(axes) != 1:
        raise B.Refuse(f"{B.where(node)} multiplies tensors batched on different axes")
    out_b = axes.pop()
    if out_b < out_rank - 2:
        for v in (a, bm):
            if not st.carries(v) and isinstance(v, ir.Value) and v.shape:
                k = out_b - (out_rank - len(v.shape))
                if 0 <= k < len(v.shape) - 2 and v.shape[k] != 1:
                    raise B.Refuse(f"{B.where(node)} multiplies by a batch-sized constant")
    B.set_outputs(node, st, out_b)


@op("MatMul", "BatchMatMul", batch=_matmul_rule)
def matmul(ctx):
    ta, tb = _transposes(ctx.node)
    a, b = _maybe_transpose(ctx, 0, ta), _maybe_transpose(ctx, 1, tb)
    ctx.set_output(ctx.make("MatMul", [a, b]))


@op("MatMulExt", "BatchMatMulExt", "Matmul", "Bmm", "BmmExt", batch=_matmul_rule)
def matmul_ext(ctx):
    ctx.set_output(ctx.make("MatMul", [ctx.tensor(0), ctx.tensor(1)]))


@op("Dense", batch=_matmul_rule)
def dense(ctx):
    """y = x @ W^T + b, W of shape (out, in)."""
    if ctx.is_const(1):
        wt = ctx.initializer(np.ascontiguousarray(np.asarray(ctx.const(1)).T))
    else:
        wt = ctx.make("Transpose", [ctx.tensor(1)], perm=[1, 0])
    y = ctx.make("MatMul", [ctx.tensor(0), wt])
    bias = ctx.arg(2, default=None)
    if bias is not None:
        y = ctx.make("Add", [y, ctx.tensor(2)])
    ctx.set_output(y)
