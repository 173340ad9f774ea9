"""Conv followed by Add of a per-channel constant (MindSpore's Conv2D + BiasAdd) -> Conv with B."""
import numpy as np

from ..onnx_graph import OnnxGraph
from .pattern import absorb_add, constant_add_after


def _per_channel(bias: np.ndarray, channels: int):
    """The bias as shape (C,) if it adds one value per output channel of an NC... tensor."""
    if bias.ndim in (3, 4) and bias.size == channels:
        shape = bias.shape[-3:] if bias.ndim == 4 else bias.shape
        if bias.ndim == 4 and bias.shape[0] != 1:
            return None
        if shape[0] == channels and all(d == 1 for d in shape[1:]):
            return bias.reshape(channels)
    if bias.ndim == 1 and channels == 1 and bias.size == 1:
        return bias
    return None


def run(og: OnnxGraph) -> int:
    outputs = set(og.outputs)
    fused = 0
    for n in og.each("Conv"):
        found = constant_add_after(og, outputs, n)
        weight = og.const_value(n.inputs[1])
        if found is None or weight is None:
            continue
        add, _, bias = found
        b = _per_channel(bias, weight.shape[0])
        if b is None or b.dtype != weight.dtype:
            continue
        if len(n.inputs) > 2 and n.inputs[2]:
            old = og.const_value(n.inputs[2])
            if old is None:
                continue
            b = b + old
        og.set_inputs(n, n.inputs[:2] + [og.add_initializer(b, "bias")])
        absorb_add(og, n, add)
        fused += 1
    return fused
