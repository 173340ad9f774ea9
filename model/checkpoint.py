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

__all__ = ["CheckpointError", "read_checkpoint", "filter_training_state", "load_checkpoint_strict"]

# Prefixes and names of entries MindSpore training writes beside the network's weights.
_TRAINING_PREFIXES = ("adam_m.", "adam_v.", "moments.", "accum.", "moment1.", "moment2.",
                      "ema.", "swa.")
_TRAINING_NAMES = {"global_step", "learning_rate", "momentum", "beta1_power", "beta2_power",
                   "scale_sense", "current_iterator_step", "last_overflow_iterator_step",
                   "epoch_num", "step_num", "loss_scale", "weight_decay"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be read, or does not fit the network."""


def read_checkpoint(path: str) -> Dict[str, np.ndarray]:
    """Read a MindSpore .ckpt into {name: array}; CheckpointError if it is not a readable one."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint is empty: {path}")
    try:
        params = ms.load_checkpoint(path)
    except Exception as exc:  # MindSpore raises ValueError/RuntimeError with long C++ traces
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot read {path} as a MindSpore checkpoint (truncated or not a .ckpt file?): "
            f"{reason[:200]}") from None
    if not params:
        raise CheckpointError(f"{path} holds no parameters: not a MindSpore checkpoint")
    return {name: p.asnumpy() for name, p in params.items()}


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
    raw = read_checkpoint(path)
    params, dropped = filter_training_state(raw)
    check_compatibility(net, params)
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
