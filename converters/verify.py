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
from typing import Union

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


def check_runtime(model: Union[onnx.ModelProto, str], symbolic_size: int = 1) -> None:
    """ONNX Runtime must load the model and run it once (graph optimisations off: loading,
    kernel selection and the shapes met at run time are tested, not ONNX Runtime's rewrites);
    symbolic dimensions are fed at `symbolic_size`."""
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
    check_runs(session, symbolic_size)


MAX_GATE_THREADS = 8
# The seeded run's inputs: a MINDIR may declare any size, and the run must refuse a hostile
# one rather than allocate it (1 << 27 floats: 512 MB; an image batch of 8 x 3 x 2048 x 2048)
MAX_FEED_ELEMENTS = 1 << 27

_NUMPY_TYPES = {"float": np.float32, "float16": np.float16, "double": np.float64,
                "int64": np.int64, "int32": np.int32, "int16": np.int16,
                "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


def seeded_feeds(session, seed: int = 0, symbolic_size: int = 1) -> dict:
    """One input per graph input: symbolic dims `symbolic_size`, floats N(0, 1), integers and
    booleans zero (an index valid for any table); None when an input's type has no numpy
    feed."""
    rng = np.random.default_rng(seed)
    feeds, total = {}, 0
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else symbolic_size for d in (inp.shape or [])]
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


def check_runs(session, symbolic_size: int = 1) -> None:
    """The model runs once on seeded inputs (see the module doc)."""
    feeds = seeded_feeds(session, symbolic_size=symbolic_size)
    if feeds is None:
        return
    try:
        session.run(None, feeds)
    except MemoryError as exc:
        raise ConversionError("the converted model cannot run: it allocates more memory than "
                              "this machine has (sizes in the MINDIR disagree with each "
                              "other?)") from exc
    except Exception as exc:
        raise ConversionError(f"the converted model cannot run in ONNX Runtime (shapes the "
                              f"MINDIR declares disagree with its weights?): "
                              f"{_first_line(exc)}") from exc


def verify(model: Union[onnx.ModelProto, str], symbolic_size: int = 1) -> None:
    """The checker, a load and one seeded run; a symbolic batch is fed at `symbolic_size`
    (the MINDIR's own batch: a graph may hold data valid only there, e.g. boxes that name
    image 1)."""
    check_onnx(model)
    check_runtime(model, symbolic_size)
