"""Channel groups through depthwise convs of different kernels -> one depthwise conv.

A layer that splits its channels into groups, runs a depthwise conv with its own kernel size on
each group and concatenates the results (CoaT's convolutional relative position encoding, mixed
depthwise convs such as MixNet's) is one depthwise conv whose smaller kernels are zero-padded to
the largest, centred, and whose padding keeps every group's alignment. One kernel launch replaces
a slice, a conv and a copy per group; the extra multiplications by zero cost less than that on
the small feature maps where such layers sit. Applies when: the channels are cut along axis 1 by
Slices (step 1) or one Split into consecutive ranges covering them all, each range feeds only a
depthwise conv (one output channel per input channel, dilation 1, explicit pads), all convs share
strides, and their outputs are concatenated along axis 1 in the same order and nowhere else.
"""
from typing import List, Optional, Tuple

import numpy as np

from ..onnx_graph import ONode, OnnxGraph

_BIG = 2 ** 62  # Slice ends beyond this mean "to the end"

# passes that must run first (each conv's bias Add sits between it and the Concat until fused)
REQUIRES = ("fuse_conv_bias",)


def _axis1(axis: int, rank: int) -> bool:
    return axis == 1 or (rank is not None and axis == 1 - rank)


def _slice_range(og: OnnxGraph, n: ONode, channels: Optional[int]) -> Optional[Tuple[int, int]]:
    """[start, end) of a Slice that cuts only axis 1 with step 1."""
    if len(n.inputs) < 4:
        return None
    starts, ends, axes = (og.const_value(t) for t in n.inputs[1:4])
    steps = og.const_value(n.inputs[4]) if len(n.inputs) > 4 and n.inputs[4] else None
    if starts is None or ends is None or axes is None or starts.size != 1 or axes.size != 1:
        return None
    shape = og.shape_of(n.inputs[0])
    if not _axis1(int(axes.reshape(-1)[0]), len(shape) if shape is not None else None):
        return None
    if steps is not None and int(steps.reshape(-1)[0]) != 1:
        return None
    start, end = int(starts.reshape(-1)[0]), int(ends.reshape(-1)[0])
    if start < 0 or end < 0:
        return None
    if end >= _BIG:
        if channels is None:
            return None
        end = channels
    return start, end


def _depthwise(og: OnnxGraph, conv: ONode, width: int):
    """(weight, bias or None, strides, pads) of a depthwise conv over `width` channels."""
    w = og.const_value(conv.inputs[1]) if len(conv.inputs) > 1 else None
    a = conv.attrs
    if w is None or w.ndim < 3 or w.shape[0] != width or w.shape[1] != 1 \
            or int(a.get("group", 1)) != width or a.get("auto_pad", "NOTSET") != "NOTSET":
        return None
    spatial = w.ndim - 2
    if any(d != 1 for d in a.get("dilations", [1] * spatial)):
        return None
    bias = None
    if len(conv.inputs) > 2 and conv.inputs[2]:
        bias = og.const_value(conv.inputs[2])
        if bias is None:
            return None
    return (w, bias, tuple(a.get("strides", [1] * spatial)),
            tuple(a.get("pads", [0] * (2 * spatial))))


def _merge(og: OnnxGraph, concat: ONode, x: str, cuts: List[ONode], convs: List[ONode],
           parts) -> bool:
    weights = [p[0] for p in parts]
    spatial = weights[0].ndim - 2
    if any(w.ndim - 2 != spatial or w.dtype != weights[0].dtype for w in weights) or \
            len({p[2] for p in parts}) != 1:
        return False
    big = [max(w.shape[2 + d] for w in weights) for d in range(spatial)]
    begin, end = set(), set()
    for w, _, _, pads in parts:
        extra = [big[d] - w.shape[2 + d] for d in range(spatial)]
        if any(e % 2 for e in extra):
            return False  # an even difference centres the small kernel exactly
        begin.add(tuple(pads[d] + extra[d] // 2 for d in range(spatial)))
        end.add(tuple(pads[spatial + d] + extra[d] // 2 for d in range(spatial)))
    if len(begin) != 1 or len(end) != 1:
        return False  # the groups' outputs would not line up
    padded = []
    for w in weights:
        extra = [(big[d] - w.shape[2 + d]) // 2 for d in range(spatial)]
        padded.append(np.pad(w, [(0, 0), (0, 0)] + [(e, e) for e in extra]))
    weight = np.concatenate(padded)
    inputs = [x, og.add_initializer(weight, "weight")]
    if any(p[1] is not None for p in parts):
        inputs.append(og.add_initializer(np.concatenate(
            [p[1] if p[1] is not None else np.zeros(p[0].shape[0], weight.dtype)
             for p in parts]), "bias"))
    attrs = {"group": int(weight.shape[0]), "kernel_shape": big,
             "strides": list(parts[0][2]), "pads": list(begin.pop() + end.pop()),
             "dilations": [1] * spatial}
    merged = ONode("Conv", inputs, [concat.outputs[0]], attrs)
    og.replace_nodes(list(cuts) + list(convs) + [concat], merged)
    return True


def _try(og: OnnxGraph, outputs, concat: ONode) -> bool:
    rank = len(og.shape_of(concat.outputs[0]) or ()) or None
    if len(concat.inputs) < 2 or not _axis1(int(concat.attrs.get("axis", 0)), rank):
        return False
    convs = [og.producer_of(t) for t in concat.inputs]
    if any(c is None or c.op_type != "Conv" or c.outputs[0] in outputs or
           len(og.users_of(c.outputs[0])) != 1 for c in convs) or len(set(map(id, convs))) \
            != len(convs):
        return False
    sources = [og.producer_of(c.inputs[0]) for c in convs]
    if any(s is None for s in sources):
        return False
    if all(s.op_type == "Slice" for s in sources):
        x = sources[0].inputs[0]
        shape = og.shape_of(x)
        channels = shape[1] if shape is not None and len(shape) > 1 and \
            isinstance(shape[1], int) else None
        ranges = [_slice_range(og, s, channels) for s in sources]
        if any(r is None for r in ranges) or any(s.inputs[0] != x for s in sources):
            return False
        cuts = sources
    elif all(s is sources[0] for s in sources) and sources[0].op_type == "Split":
        split = sources[0]
        if list(split.outputs) != [c.inputs[0] for c in convs] or len(split.inputs) < 2:
            return False
        x = split.inputs[0]
        shape = og.shape_of(x)
        sizes = og.const_value(split.inputs[1])
        if sizes is None or not _axis1(int(split.attrs.get("axis", 0)),
                                       len(shape) if shape is not None else None):
            return False
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        ranges = [(int(offsets[i]), int(offsets[i + 1])) for i in range(len(sizes))]
        channels = int(offsets[-1])
        cuts = [split]
    else:
        return False
    # consecutive ranges from 0 covering every channel of x
    if ranges[0][0] != 0 or any(a[1] != b[0] for a, b in zip(ranges, ranges[1:])):
        return False
    if channels is None or ranges[-1][1] != channels:
        return False
    if any(len(og.users_of(s.outputs[0])) != 1 or s.outputs[0] in outputs
           for s in cuts if s.op_type == "Slice"):
        return False
    if any(len(og.users_of(o)) != 1 for s in cuts if s.op_type == "Split" for o in s.outputs):
        return False
    parts = [_depthwise(og, c, end - start) for c, (start, end) in zip(convs, ranges)]
    if any(p is None for p in parts):
        return False
    return _merge(og, concat, x, cuts, convs, parts)


def run(og: OnnxGraph) -> int:
    outputs = set(og.outputs)
    merged = 0
    for concat in og.each("Concat"):
        if _try(og, outputs, concat):
            merged += 1
    return merged
