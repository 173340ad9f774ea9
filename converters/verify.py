"""The last gate before a file is written: the full ONNX checker, an ONNX Runtime load and
one seeded run.

A converter bug, or a MINDIR crafted to steer the converter into one, must not produce a file
that the consumers refuse: either the model passes `onnx.checker.check_model(full_check=True)`
(which includes strict shape inference), ONNX Runtime builds a session from it and runs it
once, or the conversion fails with a ConversionError and nothing is written. The run is what
catches shapes a MINDIR declares but its weights contradict (a graph input whose channels
disagree with the first convolution's weights, a bias of the wrong rank): ONNX's shape
inference does not relate them, and a session loads them; they fail only when run.
"""
import os
from typing import Mapping, Sequence, Union

import numpy as np
import onnx

from .errors import ConversionError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def check_onnx(model: Union[onnx.ModelProto, str]) -> None:
    """Full ONNX checker on a ModelProto, or on a path (models over 2 GB)."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # ValidationError, InferenceError, or a protobuf error
        raise ConversionError(f"the converted model fails the ONNX checker: "
                              f"{_first_line(exc)}") from exc


Sizes = Mapping[str, int]   # symbolic dimension name -> the size a run feeds it at


def check_runtime(model: Union[onnx.ModelProto, str], runs: Sequence[Sizes] = ({},)) -> None:
    """ONNX Runtime must load the model and run it once per entry of `runs` (graph
    optimisations off: loading, kernel selection and the shapes met at run time are tested,
    not ONNX Runtime's rewrites); a symbolic dimension a run does not name is fed at 1."""
    # ONNX Runtime's telemetry (a device id under ~/.cache) is off unless the user keeps it
    from coat_export.edge.third_party import disable_runtime_telemetry

    disable_runtime_telemetry()
    try:
        import onnxruntime as ort
    except ImportError:  # the runtime is a dependency; without it the gate cannot be kept
        raise ConversionError("onnxruntime is not installed: cannot verify the converted model")
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    opts.intra_op_num_threads = max(1, min(MAX_GATE_THREADS, cores or 1))
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.inter_op_num_threads = 1
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    try:
        session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"ONNX Runtime refuses the converted model: "
                              f"{_first_line(exc)}") from exc
    for sizes in runs:
        check_runs(session, sizes)


MAX_GATE_THREADS = 8
# The seeded run's inputs: a MINDIR may declare any size, and the run must refuse a hostile
# one rather than allocate it (1 << 27 floats: 512 MB; an image batch of 8 x 3 x 2048 x 2048)
MAX_FEED_ELEMENTS = 1 << 27

_NUMPY_TYPES = {"float": np.float32, "float16": np.float16, "double": np.float64,
                "int64": np.int64, "int32": np.int32, "int16": np.int16,
                "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


def seeded_feeds(session, seed: int = 0, sizes: Sizes = None) -> dict:
    """One input per graph input: symbolic dims at their `sizes` (else 1), floats N(0, 1),
    integers and booleans zero (an index valid for any table); None when an input's type has
    no numpy feed."""
    sizes = sizes or {}
    rng = np.random.default_rng(seed)
    feeds, total = {}, 0
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else sizes.get(d, 1) if isinstance(d, str)
                 else 1 for d in (inp.shape or [])]
        total += int(np.prod(shape, dtype=np.float64))
        if total > MAX_FEED_ELEMENTS:
            raise ConversionError(f"the converted model's inputs declare more than "
                                  f"{MAX_FEED_ELEMENTS} elements (input '{inp.name}' "
                                  f"{shape}): too large to verify; is the MINDIR damaged?")
        dtype = _NUMPY_TYPES.get(inp.type[len("tensor("):-1])
        if dtype is None:   # bfloat16, strings...: no numpy feed to make, no run to judge
            return None
        if np.issubdtype(dtype, np.floating):
            feeds[inp.name] = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        else:
            feeds[inp.name] = np.zeros(shape, dtype)
    return feeds


def check_runs(session, sizes: Sizes = None) -> None:
    """The model runs once on seeded inputs (see the module doc)."""
    feeds = seeded_feeds(session, sizes=sizes)
    if feeds is None:
        return
    try:
        session.run(None, feeds)
    except MemoryError as exc:
        raise ConversionError("the converted model cannot run: it allocates more memory than "
                              "this machine has (sizes in the MINDIR disagree with each "
                              "other?)") from exc
    except Exception as exc:
        at = f" at {_sizes_text(sizes)}" if sizes else ""
        axes = len(sizes or {}) > 1  # sizes of the converter's choosing, beside the batch
        raise ConversionError(f"the converted model cannot run in ONNX Runtime{at} (shapes the "
                              f"MINDIR declares disagree with its weights?"
                              f"{' or sizes the model cannot take: set --check_sizes' if axes else ''}"
                              f"): {_first_line(exc)}") from exc


def _sizes_text(sizes: Sizes) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(sizes.items()))


def verify(model: Union[onnx.ModelProto, str], runs: Sequence[Sizes] = ({},)) -> None:
    """The checker, a load and one seeded run per entry of `runs` (the symbolic sizes to feed:
    `dynamic_axes.check_run_sizes`)."""
    check_onnx(model)
    check_runtime(model, runs)
