"""Public API: convert a MINDIR file to ONNX (file or in-memory model)."""
import time
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple

import onnx

from . import dynamic_axes as axes
from . import ir
from .errors import ConversionError
from .handlers.registry import MAX_OPSET, MIN_OPSET
from .lowering import check_supported, lower
from .mindir_reader import read_mindir
from .onnx_graph import OnnxGraph
from .onnx_writer import EXTERNAL_DATA_THRESHOLD, build_model, provenance_of, write_model
from .passes import run_passes
from .batch import make_batch_dynamic
from .verify import verify

DEFAULT_OPSET = 17


@dataclass
class Provenance:
    """Which ONNX tensor holds which MINDIR node output, both ways.

    `onnx_to_ir[tensor] = (IR node name, output index)`; `ir_to_onnx` is the inverse. Only
    tensors that equal an IR output exactly are listed (intermediates of a decomposed op and
    outputs fused away, e.g. a Conv before its folded bias, are not).
    """
    onnx_to_ir: Dict[str, Tuple[str, int]]
    ir_to_onnx: Dict[Tuple[str, int], str]


@dataclass
class Conversion:
    """Everything one conversion produced, for callers that need more than the file."""
    model: onnx.ModelProto
    ir_graph: ir.Graph
    onnx_graph: OnnxGraph
    provenance: Provenance
    opset: int
    dynamic_batch: bool
    static_batch: Optional[int]
    pass_stats: Dict[str, int]
    timings: Dict[str, float]
    # {tensor: {axis: name}} of the graph inputs' and outputs' symbolic axes
    dynamic_axes: Dict[str, Dict[int, str]] = field(default_factory=dict)
    # the symbolic sizes the last check ran the model at, one dict per run
    check_runs: Sequence[Dict[str, int]] = ()
    # where the ONNX deliberately differs from MindSpore's behaviour, one line each
    notes: Sequence[str] = ()


@dataclass
class ConversionResult:
    onnx_path: str
    opset: int
    dynamic_batch: bool
    mindir_nodes: int
    onnx_nodes: int
    initializers: int
    onnx_op_counts: Dict[str, int]
    timings: Dict[str, float] = field(default_factory=dict)
    conversion: Optional[Conversion] = field(default=None, repr=False)

    @property
    def provenance(self) -> Provenance:
        return self.conversion.provenance

    @property
    def ir_graph(self) -> ir.Graph:
        return self.conversion.ir_graph

    @property
    def dynamic_axes(self) -> Dict[str, Dict[int, str]]:
        return self.conversion.dynamic_axes

    @property
    def notes(self) -> Sequence[str]:
        return self.conversion.notes


def check_opset(opset) -> int:
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise ConversionError(f"opset must be an integer, got {opset!r}")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConversionError(f"opset {opset} is outside the supported range "
                              f"{MIN_OPSET}..{MAX_OPSET}")
    return opset


def _stage(what: str, fn, *args):
    """Run one stage; anything but a ConversionError is a converter bug or a malformed input
    the stage did not foresee, reported as a ConversionError (never a raw traceback)."""
    try:
        return fn(*args)
    except ConversionError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise ConversionError(f"{what}: the model is too large or too deeply nested "
                              f"({type(exc).__name__})") from exc
    except Exception as exc:
        # the message is one bounded line for the CLI; the cause stays chained for API callers
        raise ConversionError(f"{what} failed ({type(exc).__name__}: {str(exc)[:200]})") from exc


def _is_small(model: onnx.ModelProto) -> bool:
    # the in-memory checker and protobuf serialisation stop at 2 GB; bigger models are checked
    # by path, on the temporary file, before it is renamed into place
    return sum(len(i.raw_data) for i in model.graph.initializer) < EXTERNAL_DATA_THRESHOLD


def convert_detailed(mindir_path: str, opset: int = DEFAULT_OPSET, dynamic_batch: bool = False,
                     optimize: bool = True, check: bool = True,
                     skip_passes=(), extra_passes=(),
                     dynamic_axes: Optional[Mapping[Optional[str], Mapping[int, str]]] = None,
                     check_sizes: Optional[Mapping[str, Sequence[int]]] = None) -> Conversion:
    """Read, lower, optimise and build; nothing is written. ConversionError on any failure.

    With `check` the model must pass the full ONNX checker, load in ONNX Runtime and run
    (twice where it has symbolic axes besides the batch: at two sizes of each, see
    `dynamic_axes.check_run_sizes`; `check_sizes` {axis name: sizes} chooses them).
    `dynamic_axes` ({input or None: {axis: name}}, `dynamic_axes.parse_spec`): name the
    symbolic axes (an empty mapping: the default names); the MINDIR must have some.
    """
    check_opset(opset)
    timings = {}
    t0 = time.perf_counter()
    graph = read_mindir(mindir_path)
    timings["read"] = time.perf_counter() - t0
    check_supported(graph, opset)
    if dynamic_axes is not None:
        axes.require_symbolic({v.name: v.shape for v in graph.inputs}, dynamic_batch)
    static_batch = None
    if dynamic_batch:
        t = time.perf_counter()
        static_batch = _stage("--dynamic_batch analysis", make_batch_dynamic, graph) or None
        timings["dynamic_batch"] = time.perf_counter() - t
    t = time.perf_counter()
    og = _stage("lowering", lower, graph, opset)
    timings["lower"] = time.perf_counter() - t
    t = time.perf_counter()
    stats = run_passes(og, opset, optimize=optimize, skip=skip_passes,
                       extra=extra_passes)
    timings["passes"] = time.perf_counter() - t
    t = time.perf_counter()
    names = None
    if dynamic_axes is not None:
        names = axes.name_input_axes({n: og.info[n].shape if n in og.info else None
                                      for n in og.inputs}, dynamic_axes)
    model = _stage("building the ONNX model", build_model, og, opset, names)
    if names:
        axes.name_output_axes(model)
    timings["build"] = time.perf_counter() - t
    runs = axes.check_run_sizes(model, static_batch, check_sizes or {})
    if check and _is_small(model):
        t = time.perf_counter()
        verify(model, runs)
        timings["check"] = time.perf_counter() - t
    onnx_to_ir = {k: (v["node"], v["output"]) for k, v in provenance_of(og).items()}
    provenance = Provenance(onnx_to_ir, {v: k for k, v in onnx_to_ir.items()})
    timings["total"] = time.perf_counter() - t0
    return Conversion(model, graph, og, provenance, opset, bool(dynamic_batch), static_batch,
                      stats, timings, axes.model_axes(model), runs, tuple(og.notes))


def convert_to_model(mindir_path: str, opset: int = DEFAULT_OPSET,
                     dynamic_batch: bool = False) -> onnx.ModelProto:
    """The ONNX model for a MINDIR file, in memory."""
    return convert_detailed(mindir_path, opset, dynamic_batch).model


def convert(mindir_path: str, onnx_path: str, opset: int = DEFAULT_OPSET,
            dynamic_batch: bool = False, optimize: bool = True,
            make_dirs: bool = False, metadata: Optional[Dict[str, str]] = None,
            dynamic_axes: Optional[Mapping[Optional[str], Mapping[int, str]]] = None,
            check_sizes: Optional[Mapping[str, Sequence[int]]] = None) -> ConversionResult:
    """Convert `mindir_path` and write `onnx_path` atomically (nothing is written on error).

    The file is written only after the model passed the full ONNX checker and loaded in ONNX
    Runtime; `make_dirs` creates the output directory if needed. `metadata`: extra
    metadata_props (string keys and values) for the caller's own facts. `dynamic_axes`,
    `check_sizes`: as in `convert_detailed`.
    """
    conv = convert_detailed(mindir_path, opset, dynamic_batch, optimize=optimize,
                            dynamic_axes=dynamic_axes, check_sizes=check_sizes)
    if metadata:
        onnx.helper.set_model_props(conv.model, dict(
            {p.key: p.value for p in conv.model.metadata_props},
            **{str(k): str(v) for k, v in metadata.items()}))
    t = time.perf_counter()
    path = write_model(conv.model, onnx_path,
                       verify=None if _is_small(conv.model) else
                       (lambda path: verify(path, conv.check_runs)), make_dirs=make_dirs)
    conv.timings["write"] = time.perf_counter() - t
    conv.timings["total"] += conv.timings["write"]
    counts: Dict[str, int] = {}
    for n in conv.model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return ConversionResult(path, opset, bool(dynamic_batch), len(conv.ir_graph.nodes),
                            len(conv.model.graph.node), len(conv.model.graph.initializer),
                            dict(sorted(counts.items())), dict(conv.timings), conv)
