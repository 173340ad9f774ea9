"""Options objects: what a command was asked, built once from its parsed arguments.

One vocabulary from the command line to the JSON report: the flag `--atol` is `atol` here, in
`compare.Tolerance` and in the report's `tolerances`. The argument groups that fill these
live beside the flags (`cli_support` for the edge, `commands.arguments` for the host).
"""
from dataclasses import dataclass, fields
from typing import Optional, Tuple

from .compare import Tolerance, tolerance_for

__all__ = ["RuntimeOptions", "GateOptions", "InputOptions"]


def _from_args(cls, args):
    """cls(**values) from an argparse namespace: each field from the attribute of its name,
    absent ones keep their defaults."""
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


@dataclass(frozen=True)
class RuntimeOptions:
    """Where models run: runtimes (each ONNX model runs in every one), ONNX Runtime's
    execution provider, threads per model, OpenVINO's inference precision."""

    runtimes: Tuple[str, ...] = ("onnxruntime",)
    provider: Optional[str] = None
    threads: Optional[int] = None
    ov_precision: str = "f32"

    @classmethod
    def from_args(cls, args) -> "RuntimeOptions":
        runtime = getattr(args, "runtime", None)
        if runtime is None:
            runtimes: Tuple[str, ...] = ()
        elif isinstance(runtime, str):
            runtimes = (runtime,)
        else:
            runtimes = tuple(runtime)
        return cls(runtimes=runtimes or ("onnxruntime",),
                   provider=getattr(args, "provider", None),
                   threads=getattr(args, "threads", None),
                   ov_precision=getattr(args, "ov_precision", None) or "f32")


@dataclass(frozen=True)
class GateOptions:
    """The user's pass criteria for model outputs; None keeps the precision's default
    (compare.TOLERANCES): fp32 is judged by atol/rtol and cosine, reduced precision by
    agreement."""

    atol: Optional[float] = None
    rtol: Optional[float] = None
    min_cosine: Optional[float] = None
    min_top1: Optional[float] = None

    @classmethod
    def from_args(cls, args) -> "GateOptions":
        return _from_args(cls, args)

    def tolerance(self, precision: str) -> Tolerance:
        return tolerance_for(precision, atol=self.atol, rtol=self.rtol,
                             min_cosine=self.min_cosine, min_top1=self.min_top1)


@dataclass(frozen=True)
class InputOptions:
    """What a parity check feeds: images under a folder and/or seeded random inputs."""

    images: Optional[str] = None
    num_samples: Optional[int] = None
    seed: int = 0

    @classmethod
    def from_args(cls, args) -> "InputOptions":
        return _from_args(cls, args)
