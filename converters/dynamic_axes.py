"""Symbolic axes: their names in the ONNX model, and the sizes the last check runs them at.

A MINDIR exported with `Tensor(shape=[None, 3, None, None])` or `[None, None, 80]` records
which input dimensions are symbolic; the converter keeps them symbolic. `--dynamic_axes`
names them: by default from the input's rank and position (`batch`; `height`, `width` of an
image; `depth` of a volume; `sequence` of a sequence), or as the user writes them
(`x:3=time`). An output axis gets an input axis's name where ONNX shape inference proves it is
that axis; otherwise `<output>_dim<i>`.

Only axes the MINDIR records as symbolic can be named: a static dimension is baked into the
graph's shapes and constants (the batch alone can be made dynamic afterwards, by
`--dynamic_batch`'s analysis).
"""
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import onnx

from .errors import ConversionError

BATCH = "batch"
AxisNames = Dict[str, Dict[int, str]]   # tensor name -> {axis: name}

# The last check runs a model with symbolic axes twice, at two sizes of each axis, so that a
# size baked into the graph fails there and not at the user's. Spatial sizes are multiples of
# 32 (a backbone's total stride); sequences long enough for a 4x subsampling front end.
CHECK_SIZES = {"height": (64, 96), "width": (64, 96), "depth": (8, 12),
               "sequence": (16, 24)}
OTHER_CHECK_SIZES = (32, 48)
MAX_CHECK_SIZE = 1 << 16

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPEC = re.compile(r"^(?:(?P<input>[^:=,]+):)?(?P<axes>\d+=[^,=]+(?:,\d+=[^,=]+)*)$")


def default_axis_name(input_name: str, shape: Sequence[Optional[int]], axis: int) -> str:
    """The conventional name of symbolic `axis` of an input of `shape`."""
    rank = len(shape)
    if axis == 0:
        return BATCH
    if rank == 4 and axis >= 2:                       # N, C, H, W
        return ("height", "width")[axis - 2]
    if rank == 5 and axis >= 2:                       # N, C, D, H, W
        return ("depth", "height", "width")[axis - 2]
    first_symbolic = next((i for i in range(1, rank) if shape[i] is None), None)
    if rank in (2, 3) and axis == first_symbolic:     # N, T (tokens) or N, T, F / N, F, T
        return "sequence"
    return f"{input_name}_dim{axis}"


def parse_spec(items: Iterable[str]) -> Dict[Optional[str], Dict[int, str]]:
    """`--dynamic_axes` arguments, `[INPUT:]AXIS=NAME[,AXIS=NAME...]`, as {input: {axis: name}}
    (input None: the model's only input)."""
    spec: Dict[Optional[str], Dict[int, str]] = {}
    for item in items:
        m = _SPEC.match(item.strip())
        if not m:
            raise ConversionError(f"--dynamic_axes {item!r}: write [INPUT:]AXIS=NAME[,AXIS=NAME], "
                                  "e.g. x:2=height,3=width")
        axes = spec.setdefault(m.group("input"), {})
        for pair in m.group("axes").split(","):
            axis, name = pair.split("=")
            if not _NAME.match(name):
                raise ConversionError(f"--dynamic_axes {item!r}: axis name {name!r} must be a "
                                      "letter or '_' followed by letters, digits or '_'")
            axes[int(axis)] = name
    return spec


def parse_check_sizes(items: Iterable[str]) -> Dict[str, Tuple[int, ...]]:
    """`--check_sizes` arguments, `NAME=SIZE[,SIZE]`: the sizes the last check runs an axis at."""
    sizes: Dict[str, Tuple[int, ...]] = {}
    for item in items:
        name, _, values = item.partition("=")
        try:
            parsed = tuple(int(v) for v in values.split(","))
        except ValueError:
            parsed = ()
        if not _NAME.match(name) or not parsed or len(parsed) > 2 or \
                any(not 1 <= v <= MAX_CHECK_SIZE for v in parsed):
            raise ConversionError(f"--check_sizes {item!r}: write NAME=SIZE[,SIZE] with sizes "
                                  f"1..{MAX_CHECK_SIZE}, e.g. width=100,160")
        sizes[name] = parsed
    return sizes


def _shape_text(shape) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def name_input_axes(inputs: Mapping[str, Optional[Sequence[Optional[int]]]],
                    spec: Mapping[Optional[str], Mapping[int, str]]) -> AxisNames:
    """Names for every symbolic axis of the graph inputs (`inputs`: name -> shape, None for a
    symbolic dimension): the user's from `spec`, else the defaults. ConversionError where the
    spec names an input the graph lacks, an axis out of range or an axis the MINDIR fixed."""
    if None in spec:
        if len(inputs) != 1:
            raise ConversionError(f"--dynamic_axes {_spec_text(spec[None])}: the model has "
                                  f"{len(inputs)} inputs ({', '.join(inputs)}); write "
                                  "INPUT:AXIS=NAME")
        spec = dict(spec)
        spec[next(iter(inputs))] = {**spec.pop(None), **spec.get(next(iter(inputs)), {})}
    for input_name, axes in spec.items():
        if input_name not in inputs:
            raise ConversionError(f"--dynamic_axes names input '{input_name}', which the model "
                                  f"does not have (its inputs: {', '.join(inputs)})")
        shape = inputs[input_name]
        for axis in axes:
            if shape is None or axis >= len(shape):
                raise ConversionError(f"--dynamic_axes {input_name}:{axis}: input '{input_name}' "
                                      f"has rank {len(shape) if shape is not None else '?'}")
            if shape[axis] is not None:
                raise ConversionError(
                    f"--dynamic_axes {input_name}:{axis}: that axis is {shape[axis]} in the "
                    f"MINDIR ({input_name} {_shape_text(shape)}); only axes exported as None can "
                    f"be dynamic: export with Tensor(shape=[...None...]) at that position")
    names: AxisNames = {}
    for input_name, shape in inputs.items():
        for axis, d in enumerate(shape or ()):
            if d is None:
                names.setdefault(input_name, {})[axis] = spec.get(input_name, {}).get(
                    axis, default_axis_name(input_name, shape, axis))
    return names


def _spec_text(axes: Mapping[int, str]) -> str:
    return ",".join(f"{a}={n}" for a, n in sorted(axes.items()))


def require_symbolic(inputs: Mapping[str, Optional[Sequence[Optional[int]]]],
                     dynamic_batch: bool) -> None:
    """`--dynamic_axes` on a MINDIR with nothing symbolic: say how to export one."""
    if dynamic_batch or any(d is None for shape in inputs.values() for d in (shape or ())):
        return
    shapes = ", ".join(f"{n} {_shape_text(s)}" for n, s in inputs.items() if s is not None)
    raise ConversionError(f"--dynamic_axes: every input axis is fixed in this MINDIR ({shapes}); "
                          "export it with None for the dynamic axes, e.g. "
                          "mindspore.export(net, Tensor(shape=[None, 3, None, None], "
                          "dtype=mindspore.float32), ...), or use --dynamic_batch for the "
                          "batch axis alone")


def _dims(value_info) -> List[onnx.TensorShapeProto.Dimension]:
    t = value_info.type.tensor_type
    return list(t.shape.dim) if t.HasField("shape") else []


def name_output_axes(model: onnx.ModelProto) -> None:
    """Give an output axis the name of the input axis ONNX shape inference proves it equals
    (in place); a symbolic output axis it does not prove equal to an input axis is
    `<output>_dim<i>`, axis 0 too (a time-major output's axis 0 is not the batch)."""
    input_names = {d.dim_param for i in model.graph.input for d in _dims(i) if d.dim_param}
    if not input_names:
        return
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for out in probe.graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, data_prop=True)
    except Exception:  # inference is only a source of names here; the checker runs later
        return
    for out, found in zip(model.graph.output, inferred.graph.output):
        found_dims = _dims(found)
        dims = _dims(out)
        if len(found_dims) != len(dims):
            continue
        for i, (d, f) in enumerate(zip(dims, found_dims)):
            if d.dim_param and f.dim_param in input_names:
                d.dim_param = f.dim_param
            elif d.dim_param in input_names:  # the writer's guess, unproven
                d.dim_param = f"{out.name}_dim{i}"


def model_axes(model: onnx.ModelProto, outputs: bool = True) -> AxisNames:
    """{tensor: {axis: name}} of the graph inputs' (and outputs') symbolic axes."""
    axes: AxisNames = {}
    for v in list(model.graph.input) + (list(model.graph.output) if outputs else []):
        for i, d in enumerate(_dims(v)):
            if d.dim_param:
                axes.setdefault(v.name, {})[i] = d.dim_param
    return axes


def check_run_sizes(model: onnx.ModelProto, static_batch: Optional[int],
               overrides: Mapping[str, Sequence[int]] = ()) -> List[Dict[str, int]]:
    """The symbolic sizes of the last check's runs: {axis name: size} per run.

    The batch runs at the MINDIR's own batch where `--dynamic_batch` rewrote a static one (a
    graph may hold data valid only there, e.g. boxes that name image 1), else at 1 and 2;
    every other axis at two sizes (CHECK_SIZES, `overrides`). One run where only the batch
    is symbolic."""
    overrides = dict(overrides or {})
    input_axes = model_axes(model, outputs=False).values()
    names = sorted({n for axes in input_axes for n in axes.values()})
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ConversionError(f"--check_sizes names {', '.join(unknown)}, which the model does "
                              f"not have as a symbolic axis (it has: {', '.join(names) or 'none'})")
    # the batch is axis 0, whatever the user named it
    batch_names = {axes[0] for axes in input_axes if 0 in axes} - set(overrides)
    others = [n for n in names if n not in batch_names]
    batch = (static_batch, static_batch) if static_batch else (1, 2)
    runs = []
    for k in range(2 if others else 1):
        run = {n: batch[k] if others else batch[0] for n in batch_names}
        for n in others:
            sizes = tuple(overrides.get(n) or CHECK_SIZES.get(n, OTHER_CHECK_SIZES))
            run[n] = sizes[min(k, len(sizes) - 1)]
        runs.append(run)
    return runs


def describe(model: onnx.ModelProto) -> str:
    """`x [batch, 3, height, width] -> output [batch, 5]`: the graph's inputs and outputs."""
    def one(v):
        return f"{v.name} [{', '.join(d.dim_param or str(d.dim_value) for d in _dims(v))}]"
    return (", ".join(one(v) for v in model.graph.input) + " -> "
            + ", ".join(one(v) for v in model.graph.output))
