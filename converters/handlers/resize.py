"""Image resizing: bilinear / nearest with align_corners and half_pixel_centers."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from .registry import op


def _sizes(ctx, hw):
    """Resize `sizes` input: N and C from the input tensor (may be symbolic), then (h, w)."""
    shape = ctx.in_shape(0)
    if shape is not None and all(d is not None for d in shape[:2]):
        return ctx.initializer(np.array(list(shape[:2]) + list(hw), np.int64))
    nc = ctx.make("Slice", [ctx.make("Shape", [ctx.tensor(0)]),
                            ctx.initializer(np.array([0], np.int64)),
                            ctx.initializer(np.array([2], np.int64))])
    return ctx.make("Concat", [nc, ctx.initializer(np.array(hw, np.int64))], axis=0)


def _resize(ctx, hw, linear, align_corners, half_pixel):
    if align_corners and half_pixel:
        raise ConversionError(f"{ctx.where()}: align_corners and half_pixel_centers together")
    if any(d is None for d in hw):
        raise ConversionError(f"{ctx.where()}: run-time output size")
    hw = [int(d) for d in hw]
    if linear:
        mode = "align_corners" if align_corners else ("half_pixel" if half_pixel else "asymmetric")
        attrs = dict(mode="linear", coordinate_transformation_mode=mode)
    elif align_corners:
        # TF / MindSpore: src = round(dst * (in - 1) / (out - 1)), halves rounded up
        attrs = dict(mode="nearest", coordinate_transformation_mode="align_corners",
                     nearest_mode="round_prefer_ceil")
    elif half_pixel:
        attrs = dict(mode="nearest", coordinate_transformation_mode="tf_half_pixel_for_nn",
                     nearest_mode="floor")
    else:
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")
    y = ctx.make("Resize", [ctx.tensor(0), "", "", _sizes(ctx, hw)], **attrs)
    ctx.set_output(y)


def _size_arg(ctx, pos, name):
    size = ctx.const(pos, name)
    return [int(s) for s in np.asarray(size).reshape(-1)]


@op("ResizeBilinearV2", "ResizeNearestNeighborV2", batch=B.PER_SAMPLE)
def resize_v2(ctx):
    _resize(ctx, _size_arg(ctx, 1, "size"), ctx.node.op_type == "ResizeBilinearV2",
            bool(ctx.const(2, "align_corners", default=False)),
            bool(ctx.const(3, "half_pixel_centers", default=False)))


@op("ResizeNearestNeighbor", "ResizeBilinear", batch=B.PER_SAMPLE)
def resize_legacy(ctx):
    # (input, size, align_corners, half_pixel_centers) as inputs or primitive attributes
    _resize(ctx, _size_arg(ctx, 1, "size"), ctx.node.op_type == "ResizeBilinear",
            bool(ctx.const(2, "align_corners", default=False)),
            bool(ctx.const(3, "half_pixel_centers", default=False)))


@op("UpsampleBilinear2D", "UpsampleNearest2D", batch=B.PER_SAMPLE)
def upsample(ctx):
    out = ctx.out_shape()
    if out is None:
        raise ConversionError(f"{ctx.where()}: unknown output shape")
    linear = ctx.node.op_type == "UpsampleBilinear2D"
    align = bool(ctx.const(3, default=False)) if linear else False
    if linear:
        _resize(ctx, out[2:], True, align, not align)  # torch-style half-pixel when not aligned
    else:
        _resize(ctx, out[2:], False, False, False)


_GRID_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}  # MindSpore InterpolationMode
_GRID_PADDING = {0: "zeros", 1: "border", 2: "reflection"}  # MindSpore GridSamplerPaddingMode
_GRID_MODES_20 = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic"}


def _enum(value, table, what, where):
    name = table.get(int(value)) if isinstance(value, (int, np.integer)) else str(value).lower()
    if name not in table.values():
        raise ConversionError(f"{where}: {what} {value!r}")
    return name


def _grid_sampler_rule(node, st):
    """x (N, C, H, W) and grid (N, Ho, Wo, 2) are sampled sample by sample: both must carry the
    batch on axis 0 (ONNX GridSample does not broadcast a constant grid)."""
    x, grid = node.inputs[0], node.inputs[1]
    if st.of(x) != 0 or st.of(grid) != 0:
        raise B.Refuse(f"{B.where(node)} needs the batch on axis 0 of both the input and the "
                       f"grid (they have it on {st.of(x)}, {st.of(grid)})")
    B.set_outputs(node, st, 0)


@op("GridSampler2D", since=16, batch=_grid_sampler_rule)
def grid_sampler_2d(ctx):
    """ONNX GridSample (opset 16; opset 20 renamed bilinear/bicubic to linear/cubic). Below
    opset 16 there is no handler, and the unsupported-primitive report names opset 16."""
    where = ctx.where()
    mode = _enum(ctx.const(2, "interpolation_mode", 0), _GRID_MODES, "interpolation mode", where)
    padding = _enum(ctx.const(3, "padding_mode", 0), _GRID_PADDING, "padding mode", where)
    align = int(bool(ctx.const(4, "align_corners", False)))
    if mode == "bicubic":
        # MindSpore's CPU backend has no bicubic grid sampling, so nothing could be checked
        raise ConversionError(f"{where}: bicubic grid sampling is not verified against MindSpore")
    if ctx.opset >= 20:
        mode = _GRID_MODES_20[mode]
    dtype = ctx.out_dtype()
    ctx.set_output(ctx.make("GridSample", [ctx.tensor(0, dtype), ctx.tensor(1, dtype)],
                            mode=mode, padding_mode=padding, align_corners=align))
