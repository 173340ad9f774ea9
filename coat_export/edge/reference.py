"""Recorded references: inputs and the source network's outputs on them, as plain arrays.

A reference file (`reference.npz` in a bundle, or `check --save_reference REF.npz`) lets a
machine without MindSpore judge its own runtimes against what the trained network computed
(Polygraphy's --save-outputs / --load-outputs; MindSpore Lite's benchmark golden files). It is
untrusted input: read with allow_pickle=False, exactly the arrays `inputs` (N, C, H, W) and
`outputs` (N, K), float32, finite, with a bounded sample count, plus an optional `meta` JSON
string. Anything else is one line (UserError, exit 2) and nothing is run.
"""
import io
import json
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .errors import UserError

__all__ = ["REFERENCE_FILE", "Reference", "load_reference", "reference_bytes",
           "RecordedRunner", "samples_within", "MAX_REFERENCE_SAMPLES"]

REFERENCE_FILE = "reference.npz"
MAX_REFERENCE_SAMPLES = 4096
MAX_REFERENCE_BYTES = 256 << 20
_KEYS = {"inputs", "outputs"}


@dataclass
class Reference:
    inputs: np.ndarray            # (N, C, H, W) float32
    outputs: np.ndarray           # (N, K) float32: what the source network computed
    meta: dict = field(default_factory=dict)   # source, versions, checkpoint, images, ...

    @property
    def source(self) -> str:
        return str(self.meta.get("source") or "recorded")

    def description(self) -> dict:
        """The report's `inputs` for a check run on these recorded inputs."""
        return {"recorded": int(len(self.inputs)), "source": self.source,
                "random": self.meta.get("random"), "seed": self.meta.get("seed"),
                "images": self.meta.get("images") or [], "count": int(len(self.inputs)),
                "shape": [int(d) for d in self.inputs.shape[1:]]}


def samples_within(sample_bytes: int, budget: int, low: int, high: int) -> int:
    """How many samples of sample_bytes fit a byte budget, kept within [low, high]."""
    return max(low, min(high, budget // max(1, sample_bytes)))


def reference_bytes(inputs: np.ndarray, outputs: np.ndarray, meta: Optional[dict] = None) -> bytes:
    """The .npz bytes of a reference (compressed; plain arrays only)."""
    buf = io.BytesIO()
    arrays = {"inputs": np.ascontiguousarray(inputs, dtype=np.float32),
              "outputs": np.ascontiguousarray(outputs, dtype=np.float32)}
    if meta:
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_reference(data: bytes, name: str) -> Reference:
    """A verified Reference from .npz bytes; UserError naming what is wrong."""
    if len(data) > MAX_REFERENCE_BYTES:
        raise UserError(f"{name} is {len(data)} bytes; a reference holds at most "
                        f"{MAX_REFERENCE_BYTES >> 20} MB")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            keys = set(z.files)
            if not _KEYS <= keys or keys - _KEYS - {"meta"}:
                raise UserError(f"{name} must hold the arrays inputs and outputs (found: "
                                f"{', '.join(sorted(keys))[:200]})")
            inputs, outputs = z["inputs"], z["outputs"]
            meta_raw = z["meta"] if "meta" in keys else None
    except UserError:
        raise
    except ValueError as exc:   # object arrays refused by allow_pickle=False, bad headers
        raise UserError(f"{name} is not a plain-array reference file ({str(exc)[:160]})") \
            from exc
    except Exception as exc:    # not a zip, truncated, damaged
        raise UserError(f"cannot read {name} as a reference file "
                        f"({type(exc).__name__}: {str(exc)[:160]})") from exc
    for what, a, ndim in (("inputs", inputs, 4), ("outputs", outputs, 2)):
        if a.dtype != np.float32:
            raise UserError(f"{name}: {what} must be float32, not {a.dtype}")
        if a.ndim != ndim:
            raise UserError(f"{name}: {what} must have {ndim} dimensions, has shape "
                            f"{list(a.shape)}")
    if len(inputs) != len(outputs) or not 0 < len(inputs) <= MAX_REFERENCE_SAMPLES:
        raise UserError(f"{name}: {len(inputs)} inputs and {len(outputs)} outputs (1 to "
                        f"{MAX_REFERENCE_SAMPLES} samples, one output each)")
    if not (np.isfinite(inputs).all() and np.isfinite(outputs).all()):
        raise UserError(f"{name} holds NaN or Inf values")
    meta = {}
    if meta_raw is not None:
        try:
            meta = json.loads(str(meta_raw)) if meta_raw.ndim == 0 else None
        except ValueError:
            meta = None
        if not isinstance(meta, dict):
            raise UserError(f"{name}: meta must be a JSON object")
    return Reference(inputs, outputs, meta)


class RecordedRunner:
    """Stands where a reference runner stands in parity.compare_runners: its outputs come
    from the file, not from running anything."""

    format = "recorded"

    def __init__(self, reference: Reference, name: str):
        self.reference = reference
        self.name = name
        self.runtime = reference.source

    def check_candidate(self, runner) -> None:
        """UserError when a candidate takes or gives other shapes than were recorded."""
        got_in = runner.input.shape
        want_in = list(self.reference.inputs.shape[1:])
        if len(got_in) != 4 or any(isinstance(g, int) and g != w
                                   for g, w in zip(got_in[1:], want_in)):
            raise UserError(f"{runner.name} takes inputs {got_in}; the reference recorded "
                            f"{['N', *want_in]}: is it a model of another network?")
        classes = runner.num_classes
        if classes and classes != self.reference.outputs.shape[1]:
            raise UserError(f"{runner.name} gives {classes} classes; the reference recorded "
                            f"{self.reference.outputs.shape[1]}")
