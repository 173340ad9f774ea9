"""Resampling and warping: resize (nearest, bilinear, trilinear, bicubic; align_corners and
half-pixel conventions), grid sampling, affine grids, ROI align."""
import numpy as np

from .. import batch as B
from ..errors import ConversionError
from .registry import op


def _sizes(ctx, hw):
    """Resize `sizes` input: N and C from the input tensor (may be symbolic), then (h, w),
    constants or run-time values (a size computed from another tensor's shape)."""
    shape = ctx.in_shape(0)
    constant = isinstance(hw, (list, tuple)) and all(isinstance(d, int) for d in hw)
    if constant and shape is not None and all(d is not None for d in shape[:2]):
        return ctx.initializer(np.array(list(shape[:2]) + list(hw), np.int64))
    nc = ctx.make("Slice", [ctx.make("Shape", [ctx.tensor(0)]),
                            ctx.initializer(np.array([0], np.int64)),
                            ctx.initializer(np.array([2], np.int64))])
    hw = hw if isinstance(hw, str) else ctx.ints(hw)  # str: already an ONNX int64 vector
    return ctx.make("Concat", [nc, hw], axis=0)


def _resize(ctx, hw, linear, align_corners, half_pixel):
    if align_corners and half_pixel:
        raise ConversionError(f"{ctx.where()}: align_corners and half_pixel_centers together")
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
    """The output size: a list of ints, or the run-time value(s) it is computed from."""
    size = ctx.arg(pos, name, default=None)
    if size is None or not _is_constant_size(ctx, size):
        return size
    return [int(s) for s in np.asarray(ctx.literal(size)).reshape(-1)]


def _is_constant_size(ctx, size):
    try:
        ctx.literal(size)
        return True
    except ConversionError:
        return False


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


@op("UpsampleBilinear2D", "UpsampleNearest2D", "UpsampleTrilinear3D", batch=B.PER_SAMPLE)
def upsample(ctx):
    out = ctx.out_shape()
    if out is None:
        raise ConversionError(f"{ctx.where()}: unknown output shape")
    linear = ctx.node.op_type != "UpsampleNearest2D"
    align = bool(ctx.const(3, default=False)) if linear else False
    size = list(out[2:])
    if any(d is None for d in size):  # a symbolic input: the size is computed at run time
        size = _size_arg(ctx, 1, "output_size")
        if size is None:
            size = _scaled_size(ctx, ctx.const(2, "scales"))
    if linear:
        _resize(ctx, size, True, align, not align)  # torch-style half-pixel when not aligned
    else:
        _resize(ctx, size, False, False, False)


def _scaled_size(ctx, scales):
    """floor(input size * scale) per spatial axis, at run time (MindSpore's output size)."""
    scales = [float(f) for f in np.asarray(scales, np.float64).reshape(-1)]
    spatial = ctx.make("Slice", [ctx.make("Shape", [ctx.tensor(0)]), ctx.ints((2,)),
                                 ctx.ints((2 + len(scales),))])
    scaled = ctx.make("Mul", [ctx.cast(spatial, np.float64),
                              ctx.initializer(np.array(scales, np.float64))])
    return ctx.cast(ctx.make("Floor", [scaled]), np.int64)


# TensorFlow's bicubic kernel (MindSpore's is a copy) reads Keys' coefficients from a table at
# 1/1024 steps of the fractional offset: up to ~4e-4 (relative) from exact cubic weights, which
# ONNX Resize(cubic) computes -- so the resize is emitted as the kernel's own weights.
_CUBIC_TABLE_STEPS = 1024


def _keys(t: np.ndarray, a: float) -> np.ndarray:
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0))


def bicubic_weights(n_in: int, n_out: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """(n_out, n_in): MindSpore's ResizeBicubic along one axis. Half-pixel centres: a = -0.5,
    taps outside the input dropped and the rest renormalised; otherwise a = -0.75 with taps
    clamped to the edge. Offsets quantised to the kernel's table."""
    scale = ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0) if align_corners else n_in / n_out
    a = -0.5 if half_pixel else -0.75
    w = np.zeros((n_out, n_in))
    for o in range(n_out):
        src = (o + 0.5) * scale - 0.5 if half_pixel else o * scale
        base = int(np.floor(src))
        t = np.rint((src - base) * _CUBIC_TABLE_STEPS) / _CUBIC_TABLE_STEPS
        for k in range(-1, 3):
            i = base + k
            if half_pixel and not 0 <= i < n_in:
                continue
            w[o, min(max(i, 0), n_in - 1)] += _keys(np.array(t - k), a)
        if half_pixel:
            w[o] /= w[o].sum()
    return w


@op("ResizeBicubic", batch=B.PER_SAMPLE)
def resize_bicubic(ctx):
    """MindSpore's bicubic resize, NCHW, as two MatMuls with its own separable weights
    (`bicubic_weights`: exact where ONNX Resize(cubic) is ~4e-4 off; every opset)."""
    hw = _size_arg(ctx, 1, "size")
    if not isinstance(hw, list):
        raise ConversionError(f"{ctx.where()}: bicubic resize to a size computed at run time: "
                              "MindSpore's weights are exact only as constants for one size "
                              "(ONNX Resize(cubic) is about 1e-3 off); export the MINDIR with a "
                              "fixed output size")
    align = bool(ctx.const(2, "align_corners", default=False))
    half = bool(ctx.const(3, "half_pixel_centers", default=False))
    if align and half:
        raise ConversionError(f"{ctx.where()}: align_corners and half_pixel_centers together")
    shape = ctx.in_shape(0)
    if shape is None or len(shape) != 4 or shape[2] is None or shape[3] is None:
        raise ConversionError(f"{ctx.where()}: needs a 4-D input of known height and width")
    dtype = ctx.out_dtype()
    rows = bicubic_weights(int(shape[2]), hw[0], align, half).astype(dtype)
    cols = bicubic_weights(int(shape[3]), hw[1], align, half).T.astype(dtype)
    y = ctx.make("MatMul", [ctx.tensor(0, dtype), ctx.initializer(cols)])  # (N, C, H, Wo)
    ctx.set_output(ctx.make("MatMul", [ctx.initializer(rows), y]))          # (N, C, Ho, Wo)


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


def _grid_args(ctx):
    where = ctx.where()
    mode = _enum(ctx.const(2, "interpolation_mode", 0), _GRID_MODES, "interpolation mode", where)
    padding = _enum(ctx.const(3, "padding_mode", 0), _GRID_PADDING, "padding mode", where)
    align = bool(ctx.const(4, "align_corners", False))
    if mode == "bicubic":
        # MindSpore's CPU backend has no bicubic grid sampling, so nothing could be checked
        raise ConversionError(f"{where}: bicubic grid sampling is not verified against MindSpore")
    return mode, padding, align


@op("GridSampler2D", since=16, batch=_grid_sampler_rule)
def grid_sampler_2d(ctx):
    """ONNX GridSample (opset 16; opset 20 renamed bilinear/bicubic to linear/cubic)."""
    mode, padding, align = _grid_args(ctx)
    if ctx.opset >= 20:
        mode = _GRID_MODES_20[mode]
    dtype = ctx.out_dtype()
    ctx.set_output(ctx.make("GridSample", [ctx.tensor(0, dtype), ctx.tensor(1, dtype)],
                            mode=mode, padding_mode=padding, align_corners=int(align)))


class _GridGather:
    """Grid sampling before opset 16 (no GridSample): pixel coordinates from the normalised
    grid, padded as GridSample pads them, and the neighbours fetched per sample by GatherND
    (batch_dims=1) from the NHWC input. Coordinates are (x, y) on the grid's last axis, so each
    step works on both at once against the vector of sizes (W, H)."""

    def __init__(self, ctx, dtype):
        self.ctx, self.dtype = ctx, dtype
        x = ctx.tensor(0, dtype)
        hw = ctx.make("Slice", [ctx.make("Shape", [x]), self.ints([2]), self.ints([4])])
        self.size_i = ctx.make("Gather", [hw, self.ints([1, 0])], axis=0)      # (W, H)
        self.size = ctx.cast(self.size_i, dtype)
        self.nhwc = ctx.make("Transpose", [x], perm=[0, 2, 3, 1])

    def ints(self, values):
        return self.ctx.initializer(np.array(values, np.int64))

    def num(self, value):
        return self.ctx.initializer(np.array(value, self.dtype))

    def op(self, op_type, *inputs, **attrs):
        return self.ctx.make(op_type, list(inputs), **attrs)

    def unnormalise(self, grid, align):
        one = self.num(1.0)
        if align:    # -1 and 1 are the corner pixels' centres
            return self.op("Mul", self.op("Div", self.op("Add", grid, one), self.num(2.0)),
                           self.op("Sub", self.size, one))
        # -1 and 1 are the corner pixels' outer edges
        return self.op("Div", self.op("Sub", self.op("Mul", self.op("Add", grid, one),
                                                     self.size), one), self.num(2.0))

    def clip(self, c):
        return self.op("Min", self.op("Max", c, self.num(0.0)),
                       self.op("Sub", self.size, self.num(1.0)))

    def reflect(self, c, align):
        """Reflect about the border (pixel centres with align_corners, edges without), then
        clip; a size of 1 with align_corners has no span and maps everything to 0."""
        low = self.num(0.0 if align else -0.5)
        span = self.op("Sub", self.size, self.num(1.0)) if align else self.size
        zero_span = self.op("Equal", span, self.num(0.0))
        safe = self.op("Where", zero_span, self.num(1.0), span)
        dist = self.op("Abs", self.op("Sub", c, low))
        extra = self.op("Mod", dist, safe, fmod=1)
        flips = self.op("Floor", self.op("Div", dist, safe))
        odd = self.op("Sub", flips, self.op("Mul", self.num(2.0), self.op(
            "Floor", self.op("Div", flips, self.num(2.0)))))
        back = self.op("Add", self.op("Sub", safe, extra), low)
        out = self.op("Where", self.op("Equal", odd, self.num(0.0)), self.op("Add", extra, low),
                      back)
        return self.clip(self.op("Where", zero_span, self.num(0.0), out))

    def corner(self, c_int, weight, bounded):
        """weight * x at integer (x, y) coordinates c_int; zero where they are outside the
        image unless `bounded` (border/reflection coordinates are inside already)."""
        if not bounded:
            inside = self.op("And", self.op("GreaterOrEqual", c_int, self.ints(0)),
                             self.op("Less", c_int, self.size_i))
            inside = self.op("Cast", inside, to=np.dtype(self.dtype))
            inside = self.ctx.reduce("ReduceProd", inside, [-1], True)
            weight = inside if weight is None else self.op("Mul", weight, inside)
        clamped = self.op("Min", self.op("Max", c_int, self.ints(0)),
                          self.op("Sub", self.size_i, self.ints(1)))
        yx = self.op("Gather", clamped, self.ints([1, 0]), axis=-1)
        value = self.op("GatherND", self.nhwc, yx, batch_dims=1)           # (N, Ho, Wo, C)
        return value if weight is None else self.op("Mul", value, weight)

    def sample(self, mode, padding, align):
        grid = self.ctx.tensor(1, self.dtype)
        c = self.unnormalise(grid, align)
        if padding == "border":
            c = self.clip(c)
        elif padding == "reflection":
            c = self.reflect(c, align)
        bounded = padding != "zeros"
        if mode == "nearest":     # Round is half to even, as GridSample's nearest
            out = self.corner(self.op("Cast", self.op("Round", c), to=np.dtype(np.int64)),
                              None, bounded)
        else:
            c0 = self.op("Floor", c)
            frac = self.op("Sub", c, c0)
            c0 = self.op("Cast", c0, to=np.dtype(np.int64))
            fx, fy = (self.op("Slice", frac, self.ints([i]), self.ints([i + 1]), self.ints([-1]))
                      for i in (0, 1))
            one = self.num(1.0)
            out = None
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                wx = fx if dx else self.op("Sub", one, fx)
                wy = fy if dy else self.op("Sub", one, fy)
                term = self.corner(self.op("Add", c0, self.ints([dx, dy])),
                                   self.op("Mul", wx, wy), bounded)
                out = term if out is None else self.op("Add", out, term)
        return self.op("Transpose", out, perm=[0, 3, 1, 2])


@op("GridSampler2D", batch=_grid_sampler_rule)
def grid_sampler_2d_by_gather(ctx):
    mode, padding, align = _grid_args(ctx)
    shape = ctx.in_shape(0)
    if shape is not None and len(shape) != 4:
        raise ConversionError(f"{ctx.where()}: needs a 4-D input")
    ctx.set_output(_GridGather(ctx, np.dtype(ctx.out_dtype())).sample(mode, padding, align))


def _affine_grid_rule(node, st):
    """One grid per affine map: theta carries the batch on axis 0, and so does the grid (the
    size argument's batch entry is the export's and is not used)."""
    if st.of(node.inputs[0]) != 0:
        raise B.Refuse(f"{B.where(node)} needs the batch on axis 0 of theta")
    B.set_outputs(node, st, 0)


def _grid_coords(n: int, align_corners: bool) -> np.ndarray:
    """Normalised pixel centres along one axis: corners at +-1, or pixel edges at +-1."""
    c = np.linspace(-1.0, 1.0, n)
    return c if align_corners else c * (n - 1) / n


@op("AffineGrid", batch=_affine_grid_rule)
def affine_grid(ctx):
    """Sampling grids of affine maps theta (N, 2, 3) or (N, 3, 4): the output's normalised
    coordinates (x, y[, z], 1) as a constant, times theta transposed -- one MatMul at every
    opset (ONNX AffineGrid is opset 20)."""
    size = [int(d) for d in np.asarray(ctx.const(1, "output_size")).reshape(-1)]
    align = bool(ctx.const(2, "align_corners", default=False))
    spatial = size[2:]
    if len(spatial) not in (2, 3):
        raise ConversionError(f"{ctx.where()}: output size {size} (4-D or 5-D only)")
    dtype = ctx.out_dtype()
    grids = np.meshgrid(*[_grid_coords(n, align) for n in spatial], indexing="ij")
    base = np.stack(list(reversed(grids)) + [np.ones_like(grids[0])], -1)
    base = ctx.initializer(base.reshape(-1, len(spatial) + 1).astype(dtype))
    theta = ctx.make("Transpose", [ctx.tensor(0, dtype)], perm=[0, 2, 1])
    grid = ctx.make("MatMul", [base, theta])
    ctx.set_output(ctx.make("Reshape", [grid, ctx.initializer(
        np.array([-1, *spatial, len(spatial)], np.int64))]))


def _roi_align_rule(node, st):
    """The feature map carries the batch on axis 0 (a box names its image by index); boxes
    that carry it on their axis 0 give an output that does, constant boxes one that does
    not."""
    x, rois = node.inputs[0], node.inputs[1]
    if st.of(x) not in (0, None):
        raise B.Refuse(f"{B.where(node)} needs the batch on axis 0 of the feature map")
    if st.carries(rois):
        if st.of(rois) != 0:
            raise B.Refuse(f"{B.where(node)} has boxes with the batch on axis {st.of(rois)}")
        B.set_outputs(node, st, 0)


@op("ROIAlign", batch=_roi_align_rule)
def roi_align(ctx):
    """MindSpore's ROIAlign (boxes [K, 5]: image index, x1, y1, x2, y2) as ONNX RoiAlign
    (average) with the pixel model MindSpore uses: no half-pixel shift and RoI sides of at
    least one pixel (ONNX's output_half_pixel, the only one before opset 16); roi_end_mode
    adds one pixel to the end corner before scaling."""
    ph, pw = int(ctx.const(None, "pooled_height")), int(ctx.const(None, "pooled_width"))
    scale = float(ctx.const(None, "spatial_scale"))
    sample = int(ctx.const(None, "sample_num", 2))
    end = int(ctx.const(None, "roi_end_mode", 1))
    if sample <= 0:
        # measured on MindSpore 2.10's CPU kernel: floor(RoI side / bins) points per bin (NaN
        # under one pixel per bin); ONNX RoiAlign's adaptive sampling takes the ceiling
        raise ConversionError(f"{ctx.where()}: adaptive sampling (sample_num 0) takes "
                              "floor(RoI size / bins) points per bin in MindSpore and the "
                              "ceiling in ONNX RoiAlign, which has no other form: give "
                              "sample_num > 0")
    dtype = ctx.in_dtype(0)
    rois = ctx.tensor(1, dtype)
    axis1 = ctx.initializer(np.array([1], np.int64))
    boxes = ctx.make("Slice", [rois, axis1, ctx.initializer(np.array([5], np.int64)), axis1])
    if end:
        boxes = ctx.make("Add", [boxes, ctx.initializer(np.array([0, 0, end, end], dtype))])
    first = ctx.make("Slice", [rois, ctx.initializer(np.array([0], np.int64)), axis1, axis1])
    index = ctx.cast(ctx.make("Reshape", [first, ctx.initializer(np.array([-1], np.int64))]),
                     np.int64)
    mode = {"coordinate_transformation_mode": "output_half_pixel"} if ctx.opset >= 16 else {}
    ctx.set_output(ctx.make("RoiAlign", [ctx.tensor(0), boxes, index], mode="avg",
                            output_height=ph, output_width=pw, sampling_ratio=sample,
                            spatial_scale=scale, **mode))

