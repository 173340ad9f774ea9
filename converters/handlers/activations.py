"""Activation functions, with opset-specific forms where ONNX added a fused operator."""
import math

import numpy as np

from .. import batch as B
from .registry import op


@op("ReLU6", batch=B.ELEMENTWISE)
def relu6(ctx):
    dt = ctx.out_dtype()
    ctx.set_output(ctx.make("Clip", [ctx.tensor(0), ctx.scalar_like(0, dt), ctx.scalar_like(6, dt)]))


@op("ClampScalar", "Hardtanh", "Clamp", "ClampTensor", batch=B.ELEMENTWISE)
def clamp(ctx):
    dt = ctx.out_dtype()
    if ctx.node.op_type == "ClampTensor" and not (ctx.is_const(1) and ctx.is_const(2)):
        # run-time bounds (element-wise tensors): Clip takes scalars only, so Max then Min
        y = ctx.tensor(0)
        for pos, onnx_op in ((1, "Max"), (2, "Min")):
            if ctx.arg(pos, default=None) is not None:
                y = ctx.make(onnx_op, [y, ctx.tensor(pos)])
        ctx.set_output(y)
        return
    if ctx.node.op_type == "Hardtanh":
        lo, hi = ctx.const(1, default=-1), ctx.const(2, default=1)
    else:
        lo, hi = ctx.const(1, default=None), ctx.const(2, default=None)
    lo_t = "" if lo is None else ctx.tensor_of(np.asarray(lo, dtype=dt))
    hi_t = "" if hi is None else ctx.tensor_of(np.asarray(hi, dtype=dt))
    ctx.set_output(ctx.make("Clip", [ctx.tensor(0), lo_t, hi_t]))


@op("HSigmoid", "HardSigmoid", batch=B.ELEMENTWISE)
def hsigmoid(ctx):
    # MindSpore: relu6(x + 3) / 6
    ctx.set_output(ctx.make("HardSigmoid", [ctx.tensor(0)], alpha=1.0 / 6, beta=0.5))


@op("HSwish", "HardSwish", batch=B.ELEMENTWISE)
def hswish_13(ctx):
    x = ctx.tensor(0)
    ctx.set_output(ctx.make("Mul", [x, ctx.make("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)]))


@op("HSwish", "HardSwish", since=14)
def hswish(ctx):
    ctx.set_output(ctx.make("HardSwish", [ctx.tensor(0)]))


@op("SiLU", "Swish", batch=B.ELEMENTWISE)
def silu(ctx):
    x = ctx.tensor(0)
    ctx.set_output(ctx.make("Mul", [x, ctx.make("Sigmoid", [x])]))


def _gelu_decomposed(ctx, x, approximate):
    dt = ctx.out_dtype()
    half = ctx.scalar_like(0.5, dt)
    one = ctx.scalar_like(1.0, dt)
    if approximate == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = ctx.make("Mul", [ctx.make("Mul", [x, x]), x])
        inner = ctx.make("Add", [x, ctx.make("Mul", [x3, ctx.scalar_like(0.044715, dt)])])
        inner = ctx.make("Mul", [inner, ctx.scalar_like(math.sqrt(2.0 / math.pi), dt)])
        t = ctx.make("Tanh", [inner])
    else:
        t = ctx.make("Erf", [ctx.make("Div", [x, ctx.scalar_like(math.sqrt(2.0), dt)])])
    return ctx.make("Mul", [ctx.make("Mul", [x, half]), ctx.make("Add", [t, one])])


def _gelu_mode(ctx):
    # MindSpore's GeLU primitive is the tanh approximation; GeluExt takes "none"/"tanh".
    if ctx.node.op_type == "GeLU":
        return "tanh"
    mode = ctx.const(1, "approximate", default="none")
    return {0: "none", 1: "tanh"}.get(mode, mode)


@op("GeLU", "GeluExt", batch=B.ELEMENTWISE)
def gelu_13(ctx):
    ctx.set_output(_gelu_decomposed(ctx, ctx.tensor(0), _gelu_mode(ctx)))


@op("GeLU", "GeluExt", since=20)
def gelu(ctx):
    ctx.set_output(ctx.make("Gelu", [ctx.tensor(0)], approximate=_gelu_mode(ctx)))


@op("LeakyReLU", "LeakyReLUExt", batch=B.ELEMENTWISE)
def leaky_relu(ctx):
    alpha = ctx.const(1, "alpha", default=0.01)
    ctx.set_output(ctx.make("LeakyRelu", [ctx.tensor(0)], alpha=float(alpha)))


@op("Elu", batch=B.ELEMENTWISE)
def elu(ctx):
    ctx.set_output(ctx.make("Elu", [ctx.tensor(0)], alpha=float(ctx.const(1, "alpha", 1.0))))


@op("Softplus", batch=B.ELEMENTWISE)
def softplus(ctx):
    ctx.set_output(ctx.make("Softplus", [ctx.tensor(0)]))


@op("Mish", batch=B.ELEMENTWISE)
def mish(ctx):
    x = ctx.tensor(0)
    ctx.set_output(ctx.make("Mul", [x, ctx.make("Tanh", [ctx.make("Softplus", [x])])]))
