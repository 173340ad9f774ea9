"""Strict loading of MindCV checkpoints into a CoaT network.

Strict means: every parameter of the network is in the checkpoint, every shape is equal,
nothing is left over. What training writes beside the weights is recognised by structure, the
way timm's checkpoint filters adapt foreign checkpoints, never by a list of optimizer names
(which always lags behind the optimizers):

* `<prefix>.<name>` where `<name>` is a network parameter of the same shape is a copy kept by
  training: optimizer moments (`adam_m`, `lion_m`, `moment1..3`, `nadam_v`, ...), EMA (`ema`),
  SWA, gradient accumulators. Counted per prefix, dropped -- except `ema`, which *is* the
  network when EMA weights are asked for (MindCV's `load_model_checkpoint(..., ema=True)`).
* scalars and counters that training cells write and that no parameter matches
  (`TRAINING_SCALARS`) are dropped by name;
* anything else is left over, and a strict load refuses it, naming it.
"""
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import mindspore as ms
from mindspore import nn

__all__ = ["CheckpointError", "read_checkpoint", "read_checkpoint_typed", "TRAINING_SCALARS",
           "CheckpointSplit", "split_checkpoint", "load_checkpoint_strict"]

EMA_PREFIX = "ema"
# MindSpore's boost.GradientAccumulation (MindCV's train step with
# gradient_accumulation_steps > 1) holds the optimizer as a child cell, and cell auto-prefixing
# renames the network's own parameters through it: the raw weights are saved as
# optimizer.<name>. (MindCV's own load_model_checkpoint then loads none of them, silently.)
ACCUMULATION_PREFIX = "optimizer"
# Names MindSpore / MindCV training cells give their own scalars and schedules: TrainOneStep*
# and loss-scale cells (scale_sense, *_iterator_step), optimizers (global_step,
# learning_rate, beta powers), MindCV's EMA train step (updates), gradient accumulation
# (accumulate_step; MindSpore's boost.GradientAccumulation, which MindCV's train step uses:
# accumulation_step), ModelCheckpoint's append_info (epoch_num, step_num).
TRAINING_SCALARS = frozenset({
    "global_step", "learning_rate", "momentum", "beta1_power", "beta2_power", "beta1",
    "beta2", "eps", "scale_sense", "current_iterator_step", "last_overflow_iterator_step",
    "epoch_num", "step_num", "loss_scale", "weight_decay", "updates", "accumulate_step",
    "accumulation_step",
    "cur_step", "overflow", "loss_scale_value", "mu_schedule",
})


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
    except Exception as exc:
        raise CheckpointError(f"cannot read {path} as a MindSpore checkpoint (truncated or not "
                              "a .ckpt file?)") from exc
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
    if _is_safetensors(path):
        return _read_safetensors(path)
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


def _is_safetensors(path: str) -> bool:
    """MindSpore's save_checkpoint(..., format="safetensors"): an 8-byte header length, then
    the JSON header (a .ckpt is a protobuf message and never starts so)."""
    with open(path, "rb") as f:
        head = f.read(9)
    return path.endswith(".safetensors") or (len(head) == 9 and head[8:9] == b"{")


# numpy dtypes safetensors hands back -> the element type names a .ckpt declares
_SAFETENSORS_KINDS = {np.dtype(v).name: k for k, v in _DTYPES.items() if k != "BFloat16"}


def _read_safetensors(path: str) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """Read with the safetensors library (it checks the header against the file size and
    every tensor's extent), never by hand."""
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError as exc:
        raise CheckpointError(f"{path} is a safetensors checkpoint: pip install safetensors "
                              "(MindSpore installs it)") from exc
    out: Dict[str, np.ndarray] = {}
    kinds: Dict[str, str] = {}
    try:
        with safe_open(path, framework="numpy") as f:
            for name in f.keys():
                a = np.asarray(f.get_tensor(name))
                kind = _SAFETENSORS_KINDS.get(a.dtype.name)
                if kind is None:
                    raise CheckpointError(f"{path}: '{name}' has element type {a.dtype}, "
                                          "which a CoaT checkpoint does not use")
                out[name], kinds[name] = a, kind
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"cannot read {path} as a safetensors checkpoint (truncated or "
                              f"damaged? {str(exc)[:160]})") from exc
    if not out:
        raise CheckpointError(f"{path} holds no parameters")
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


@dataclass
class CheckpointSplit:
    """A checkpoint's entries sorted by what they are."""

    raw: Dict[str, np.ndarray]                 # entries named like network parameters
    copies: Dict[str, Dict[str, np.ndarray]]   # prefix -> {parameter name: training copy}
    scalars: List[str]                         # training scalars / counters, by name
    leftover: List[str]                        # none of the above: a strict load refuses them
    raw_prefix: str = ""                       # the raw weights were saved as <prefix>.<name>

    def source_name(self, name: str) -> str:
        """The checkpoint entry a raw weight came from."""
        return f"{self.raw_prefix}.{name}" if self.raw_prefix else name

    @property
    def has_ema(self) -> bool:
        return bool(self.copies.get(EMA_PREFIX))

    def dropped_summary(self, used_prefix: Optional[str] = None) -> str:
        """'lion_m 346, ema 346, 3 scalars (global_step, scale_sense, updates)'."""
        parts = [f"{p} {len(c)}" for p, c in sorted(self.copies.items()) if p != used_prefix]
        if self.scalars:
            parts.append(f"{len(self.scalars)} scalar(s) ({', '.join(sorted(self.scalars)[:6])}"
                         f"{', ...' if len(self.scalars) > 6 else ''})")
        return ", ".join(parts)


def split_checkpoint(params: Dict[str, np.ndarray],
                     expected: Dict[str, Tuple[int, ...]]) -> CheckpointSplit:
    """Sort entries by structure against the network's {parameter name: shape}."""
    raw: Dict[str, np.ndarray] = {}
    copies: Dict[str, Dict[str, np.ndarray]] = {}
    scalars: List[str] = []
    leftover: List[str] = []
    for name, value in params.items():
        if name in expected:
            raw[name] = value
            continue
        prefix, rest = _copy_of(name, value, expected)
        if prefix is not None:
            copies.setdefault(prefix, {})[rest] = value
        elif name in TRAINING_SCALARS or name.rsplit(".", 1)[-1] in TRAINING_SCALARS:
            scalars.append(name)
        else:
            leftover.append(name)
    renamed = copies.get(ACCUMULATION_PREFIX, {})
    if not raw and expected and len(renamed) == len(expected):
        # every parameter, each once, under the accumulation cell's prefix (see
        # ACCUMULATION_PREFIX): those are the network's weights, not a training copy
        return CheckpointSplit(copies.pop(ACCUMULATION_PREFIX), copies, scalars, leftover,
                               raw_prefix=ACCUMULATION_PREFIX)
    return CheckpointSplit(raw, copies, scalars, leftover)


def _copy_of(name: str, value, expected) -> Tuple[Optional[str], str]:
    """('<prefix>', '<parameter>') when name is <prefix>.<parameter> with the parameter's
    shape (the shortest such prefix), else (None, '')."""
    start = 0
    while True:
        dot = name.find(".", start)
        if dot < 0:
            return None, ""
        rest = name[dot + 1:]
        if rest in expected and tuple(np.shape(value)) == tuple(expected[rest]):
            return name[:dot], rest
        start = dot + 1


def _describe(items: List[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def check_compatibility(expected: Dict[str, Tuple[int, ...]], params: Dict[str, np.ndarray],
                        leftover: List[str] = ()) -> None:
    """Raise CheckpointError naming the first mismatches between the network's parameters
    and params (plus entries that are neither weights nor training state)."""
    missing = [n for n in expected if n not in params]
    unexpected = [n for n in params if n not in expected] + list(leftover)
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


def _choose_weights(split: CheckpointSplit, expected, ema: bool, path: str):
    """The network's weights: the raw entries, or (ema) the EMA copies -- MindCV's
    load_model_checkpoint(..., ema=True). Returns (weights, taken from raw with ema)."""
    if not ema:
        return dict(split.raw), []
    if not split.has_ema:
        raise CheckpointError(f"EMA weights were asked for (--ema, or ema: True in the yaml) "
                              f"but {path} holds no ema.* entries: it was trained without EMA; "
                              "drop --ema (or pass --no-ema)")
    weights = dict(split.copies[EMA_PREFIX])
    # parameters EMA does not track (MindCV clones only trainable ones) keep their raw value
    from_raw = [n for n in expected if n not in weights and n in split.raw]
    for n in from_raw:
        weights[n] = split.raw[n]
    return weights, from_raw


def load_checkpoint_strict(net: nn.Cell, path: str, ema: bool = False) -> Dict[str, object]:
    """Load `path` into `net` strictly (the EMA copies with ema=True). Returns facts about the
    load for reports: weights ('raw' | 'ema'), has_ema, dropped (summary), casts."""
    raw, kinds = read_checkpoint_typed(path)
    expected = {p.name: tuple(p.shape) for p in net.get_parameters()}
    split = split_checkpoint(raw, expected)
    if not split.raw and not split.copies:
        raise CheckpointError(f"{path} holds no network weights ({len(raw)} entries, none "
                              "named like a CoaT parameter): is it an optimizer checkpoint "
                              "(optim_*.ckpt) or another model's? Give the network checkpoint")
    if not split.raw and not ema and split.copies:
        if split.has_ema:
            raise CheckpointError(f"{path} holds EMA weights (ema.*) but no raw network "
                                  "weights: pass --ema")
        raise CheckpointError(f"{path} holds only optimizer state "
                              f"({split.dropped_summary()}), no network weights: it is an "
                              "optimizer checkpoint (optim_*.ckpt); give the network one")
    params, from_raw = _choose_weights(split, expected, ema, path)
    check_compatibility(expected, params, split.leftover)
    weight_kind = {n: kinds[split.source_name(n)] for n in expected if n in split.raw}
    if ema:
        weight_kind.update({n: kinds[f"{EMA_PREFIX}.{n}"] for n in split.copies[EMA_PREFIX]})
    bad_type = [f"{n} ({weight_kind[n]})" for n in expected
                if weight_kind.get(n) not in _FLOAT_TYPES]
    if bad_type:
        raise CheckpointError(f"checkpoint stores non-float data for float parameters: "
                              f"{_describe(bad_type)}; it is not a trained CoaT's weights")
    not_finite = [n for n in expected
                  if not np.isfinite(np.asarray(params[n], dtype=np.float64)).all()]
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
    used = {split.source_name(n) for n in split.raw} if not ema else set()
    dropped = [n for n in raw if n not in expected and n not in used]
    return {"path": path, "num_tensors": len(expected), "weights": "ema" if ema else "raw",
            "raw_weights_saved_as": f"{split.raw_prefix}.*" if split.raw_prefix else "",
            "has_ema": split.has_ema, "ema_missing_from_raw": from_raw,
            "ignored_training_state": dropped,
            "dropped_summary": split.dropped_summary(EMA_PREFIX if ema else None),
            "cast_to_float32": casted}
