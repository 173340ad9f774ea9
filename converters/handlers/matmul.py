"""Matrix products: MatMul / BatchMatMul (transpose flags), the numpy-style *Ext forms, Dense."""
import numpy as np

from .. import batch as B
from .registry import op


def _maybe_transpose(ctx, pos, flag):
    t = ctx.tensor(pos)
    if not flag:
        return t
    rank = ctx.in_rank(pos)
    perm = list(range(rank))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return ctx.make("Transpose", [t], perm=perm)


@op("MatMul", "BatchMatMul", batch=B.matmul)
def matmul(ctx):
    ta = bool(ctx.const(2, "transpose_a", default=ctx.node.attrs.get("transpose_x1", False)))
    tb = bool(ctx.const(3, "transpose_b", default=ctx.node.attrs.get("transpose_x2", False)))
    a, b = _maybe_transpose(ctx, 0, ta), _maybe_transpose(ctx, 1, tb)
    ctx.set_output(ctx.make("MatMul", [a, b]))


@op("MatMulExt", "BatchMatMulExt", "Matmul", "Bmm", "BmmExt", batch=B.matmul)
def matmul_ext(ctx):
    ctx.set_output(ctx.make("MatMul", [ctx.tensor(0), ctx.tensor(1)]))


@op("Dense", batch=B.matmul)
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
