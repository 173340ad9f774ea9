"""Strict loading of MindCV checkpoints into a CoaT network.

Strict means: every parameter of the network is in the checkpoint, every shape is equal,
nothing is left over. Training state that MindSpore's ModelCheckpoint stores next to the
weights (optimizer moments, step counters, loss scale) is not part of the network and is
filtered out first, the way timm's checkpoint filters adapt foreign checkpoints.
"""
import os
from typing import Dict, List, Tuple

import numpy as np
import mindspore as ms
from mindspore import nn

__all__ = ["CheckpointError", "read_checkpoint", "read_checkpoint_typed",
           "filter_training_state", "load_checkpoint_strict"]

# Prefixes and names of entries MindSpore training writes beside the network's weights.
_TRAINING_PREFIXES = ("adam_m.", "adam_v.", "moments.", "accum.", "moment1.", "moment2.",
                      "ema.", "swa.")
_TRAINING_NAMES = {"global_step", "learning_rate", "momentum", "beta1_power", "beta2_power",
                   "scale_sense", "current_iterator_step", "last_overflow_iterator_step",
                   "epoch_num", "step_num", "loss_scale", "weight_decay"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the network."""


# MindSpore's tensor_type names -> NumPy dtypes. bfloat16 is widened to float32 on read.
_DTYPES = {"Float16": np.float16, "Float32": np.float32, "Float64": np.float64,
           "BFloat16": np.uint16, "Int8": np.int8, "UInt8": np.uint8, "Int16": np.int16,
           "UInt16": np.uint16, "Int32": np.int32, "UInt32": np.uint32, "Int64": np.int64,
           "UInt64": np.uint64, "Bool": np.bool_}
_FLOAT_TYPES = ("Float16", "Float32", "Float64", "BFloat16")


def _parse(path: str, data: bytes):
    """The Checkpoint protobuf message, parsed by the protobuf library (never MindSpore's C++
    loader, which crashes on inconsistent files)."""
    from mindspore.train.checkpoint_pb2 import Checkpoint

    ckpt = Checkpoint()
    try:
        ckpt.ParseFromString(data)
    except Exception:
        raise CheckpointError(f"cannot read {path} as a MindSpore checkpoint (truncated or not "
                              "a .ckpt file?)") from None
    return ckpt


def read_checkpoint(path: str) -> Dict[str, np.ndarray]:
    """{name: array} of a MindSpore .ckpt (see `read_checkpoint_typed`)."""
    return read_checkpoint_typed(path)[0]


def read_checkpoint_typed(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Read a MindSpore .ckpt into {name: array}, validating its structure first.

    A parameter may be stored in consecutive slices under one tag (MindSpore splits large
    tensors); a tag that comes back later, a size that differs from its declared dims, an
    unknown element type or a map tensor is refused with CheckpointError naming the entry.
    Only element types and sizes are trusted after they were checked against the bytes.
    Returns ({name: array}, {name: the element type the file declares})."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint is empty: {path}")
    with open(path, "rb") as f:
        ckpt = _parse(path, f.read())
    if not ckpt.value:
        raise CheckpointError(f"{path} holds no parameters: not a MindSpore checkpoint")
    out: Dict[str, np.ndarray] = {}
    kinds: Dict[str, str] = {}
    i, values = 0, ckpt.value
    while i < len(values):
        tag = values[i].tag
        if not tag:
            raise CheckpointError(f"{path}: entry {i} has no name: damaged checkpoint")
        if tag in out:
            raise CheckpointError(f"{path}: parameter '{tag}' is stored twice (entries apart); "
                                  "damaged or hand-edited checkpoint")
        chunk = [values[i]]
        while i + len(chunk) < len(values) and values[i + len(chunk)].tag == tag:
            chunk.append(values[i + len(chunk)])
        i += len(chunk)
        out[tag] = _tensor(path, tag, chunk)
        kinds[tag] = chunk[0].tensor.tensor_type if chunk[0].HasField("tensor") else "map"
    return out, kinds


def _tensor(path: str, tag: str, chunk) -> np.ndarray:
    if any(not v.HasField("tensor") for v in chunk):
        raise CheckpointError(f"{path}: '{tag}' is a map tensor, which CoaT has none of")
    t = chunk[0].tensor
    kind = t.tensor_type
    if kind == "str":   # a string entry (MindSpore records some metadata so)
        return np.array(b"".join(v.tensor.tensor_content for v in chunk).decode("utf-32-le",
                                                                                 "replace"))
    if kind not in _DTYPES:
        raise CheckpointError(f"{path}: '{tag}' has unknown element type {kind!r}")
    if any(v.tensor.tensor_type != kind or list(v.tensor.dims) != list(t.dims) for v in chunk):
        raise CheckpointError(f"{path}: the slices of '{tag}' disagree on type or shape")
    dims = [] if list(t.dims) == [0] else [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise CheckpointError(f"{path}: '{tag}' has negative dims {dims}")
    dtype = np.dtype(_DTYPES[kind])
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    size = sum(len(v.tensor.tensor_content) for v in chunk)
    if size != count * dtype.itemsize:
        raise CheckpointError(f"{path}: '{tag}' declares shape {dims} ({kind}: "
                              f"{count * dtype.itemsize} bytes) but holds {size} bytes; "
                              "damaged checkpoint")
    data = b"".join(v.tensor.tensor_content for v in chunk)
    a = np.frombuffer(data, dtype=dtype).reshape(dims).copy()
    if kind == "BFloat16":
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a


def filter_training_state(params: Dict[str, np.ndarray]) -> Tuple[Dict[str, np.ndarray], List[str]]:
    """Split off optimizer/training bookkeeping; return (weights, dropped names)."""
    kept, dropped = {}, []
    for name, value in params.items():
        if name in _TRAINING_NAMES or name.startswith(_TRAINING_PREFIXES):
            dropped.append(name)
        else:
            kept[name] = value
    return kept, dropped


def _describe(items: List[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def check_compatibility(net: nn.Cell, params: Dict[str, np.ndarray]) -> None:
    """Raise CheckpointError naming the first mismatches between net and params."""
    expected = {p.name: tuple(p.shape) for p in net.get_parameters()}
    missing = [n for n in expected if n not in params]
    unexpected = [n for n in params if n not in expected]
    wrong_shape = [f"{n} {list(params[n].shape)} != {list(expected[n])}"
                   for n in expected if n in params and tuple(params[n].shape) != expected[n]]
    problems = []
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} shape mismatch(es): {_describe(wrong_shape)}")
    if missing:
        problems.append(f"{len(missing)} missing: {_describe(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_describe(unexpected)}")
    if problems:
        raise CheckpointError("checkpoint does not fit the model (wrong variant, num_classes or "
                              "architecture?): " + "; ".join(problems))


def load_checkpoint_strict(net: nn.Cell, path: str) -> Dict[str, object]:
    """Load `path` into `net` strictly. Returns facts about the load for reports."""
    raw, kinds = read_checkpoint_typed(path)
    params, dropped = filter_training_state(raw)
    check_compatibility(net, params)
    bad_type = [f"{n} ({kinds[n]})" for n in (p.name for p in net.get_parameters())
                if kinds[n] not in _FLOAT_TYPES]
    if bad_type:
        raise CheckpointError(f"checkpoint stores non-float data for float parameters: "
                              f"{_describe(bad_type)}; it is not a trained CoaT's weights")
    not_finite = [p.name for p in net.get_parameters()
                  if not np.isfinite(np.asarray(params[p.name], dtype=np.float64)).all()]
    if not_finite:
        raise CheckpointError(f"checkpoint has NaN or Inf weights in {_describe(not_finite)}: "
                              "the training diverged or the file is damaged")
    casted = []
    for p in net.get_parameters():
        value = params[p.name]
        if value.dtype != np.float32:
            # AMP O2/O3 training may leave float16 copies; the network computes in float32.
            casted.append(p.name)
            value = value.astype(np.float32)
        p.set_data(ms.Tensor(value))
    return {"path": path, "num_tensors": len(params), "ignored_training_state": dropped,
            "cast_to_float32": casted}
