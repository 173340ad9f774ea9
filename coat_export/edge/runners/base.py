"""The runner protocol: one model in one runtime, fed whole batches by one batching policy.

Polygraphy's runners are the model: every backend (ONNX Runtime, OpenVINO here; MindSpore's
network and GraphCell on the host) is one class with the same surface -- graph input/output
metadata, a fixed or dynamic batch, `infer` for one call the model accepts -- and `__call__`
applies the batching policy that every command shares:

* a dynamic-batch model gets the inputs in chunks of `max_batch` (default: all at once);
* a fixed-batch model gets chunks of exactly its batch; the last chunk is padded by repeating
  its last sample and the padding's outputs are dropped, so one image runs on a batch-4 model.
  There is never a silent per-sample loop.
"""
from typing import List, Optional, Sequence

import numpy as np

from ..errors import ModelRunError, UserError, first_line

__all__ = ["ModelIO", "Runner", "run_batched"]


class ModelIO:
    """Name, shape and element type of one graph input or output (dims: int or str)."""

    def __init__(self, name: str, shape: Sequence, type_: str = "float32"):
        self.name, self.shape, self.type = name, list(shape), type_

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": self.shape, "type": self.type}

    @property
    def image_size(self) -> Optional[int]:
        """Spatial size of an NCHW image input with square, static H = W; else None."""
        s = self.shape
        if len(s) == 4 and isinstance(s[2], int) and s[2] > 0 and s[2] == s[3]:
            return s[2]
        return None

    @property
    def fixed_batch(self) -> Optional[int]:
        d = self.shape[0] if self.shape else None
        return d if isinstance(d, int) and d > 0 else None


def run_batched(infer, x: np.ndarray, fixed_batch: Optional[int],
                max_batch: Optional[int] = None) -> np.ndarray:
    """The batching policy (see the module doc): `infer(chunk)` -> outputs of the chunk."""
    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    step = fixed_batch or max_batch or max(n, 1)
    outs: List[np.ndarray] = []
    for start in range(0, n, step):
        chunk = x[start:start + step]
        m = len(chunk)
        if fixed_batch and m < fixed_batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed_batch - m, axis=0)])
        out = np.asarray(infer(np.ascontiguousarray(chunk)))
        if out.ndim == 0 or out.shape[0] != len(chunk):
            raise RuntimeError(f"the model returned shape {list(out.shape)} for a batch of "
                               f"{len(chunk)}")
        outs.append(out[:m])
    if not outs:
        raise ValueError("no inputs to run")
    return np.concatenate(outs, axis=0)


class Runner:
    """Base of every runner. Subclasses set the class attributes and implement `infer`."""

    runtime = ""       # "onnxruntime", "openvino", "mindspore"
    runtime_label = ""  # how messages name it: "ONNX Runtime", "OpenVINO", "MindSpore"
    format = ""        # "onnx", "mindir", "mindspore" (the source network)

    def __init__(self, name: str, input: ModelIO, output: ModelIO,
                 precision: str = "fp32", threads: Optional[int] = None):
        self.name = name              # what reports call it (a path, usually)
        self.input, self.output = input, output
        self.precision = precision    # "fp32", "fp16", "int8"
        self.threads = threads
        self.source = None            # the sources.OnnxModel it runs (its bundle, if any)

    @property
    def path(self) -> str:
        return self.name

    @property
    def fixed_batch(self) -> Optional[int]:
        return self.input.fixed_batch

    @property
    def image_size(self) -> Optional[int]:
        return self.input.image_size

    @property
    def num_classes(self) -> Optional[int]:
        d = self.output.shape[-1] if self.output.shape else None
        return d if isinstance(d, int) and d > 0 else None

    def infer(self, x: np.ndarray) -> np.ndarray:
        """First output for one batch the model accepts (a fixed-batch model: exactly it)."""
        raise NotImplementedError

    def __call__(self, x: np.ndarray, max_batch: Optional[int] = None) -> np.ndarray:
        try:
            return run_batched(self.infer, x, self.fixed_batch, max_batch)
        except (UserError, MemoryError):
            raise
        except Exception as exc:  # the runtime's own exception types, with C++ context
            raise ModelRunError(f"{self.runtime_label or self.runtime} failed running "
                                f"{self.name}: {self.failure_reason(exc)}") from exc

    @staticmethod
    def failure_reason(exc: BaseException) -> str:
        """The runtime's message for a failure, in one bounded line."""
        return first_line(exc, limit=300)

    def close(self) -> None:
        """Release the runtime's resources (sessions, compiled models)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def describe(self) -> str:
        return f"{self.name} ({self.format}, {self.runtime}, {self.precision})"
