"""Graph passes over the ONNX-level graph, each in its own module, run in this order."""
from typing import Callable, List, Tuple

from ..errors import ConversionError
from ..onnx_graph import OnnxGraph
from . import (dedup_initializers, drop_noops, fold_constants, fuse_conv_bias, fuse_gelu,
               fuse_gemm, fuse_layernorm, readable_names)


def optimization_passes(opset: int) -> List[Tuple[str, Callable[[OnnxGraph], int]]]:
    passes = [
        ("fold_constants", fold_constants.run),
        ("drop_noops", drop_noops.run),
        ("fuse_conv_bias", fuse_conv_bias.run),
        ("fuse_gemm", fuse_gemm.run),
    ]
    if opset >= 20:
        passes.append(("fuse_gelu", fuse_gelu.run))
    if opset >= 17:
        passes.append(("fuse_layernorm", fuse_layernorm.run))
    passes.append(("dedup_initializers", dedup_initializers.run))
    return passes


def run_passes(og: OnnxGraph, opset: int, optimize: bool = True) -> dict:
    """Run the pipeline; returns {pass name: number of changes}. Naming always runs."""
    stats = {}
    steps = optimization_passes(opset) if optimize else []
    steps += [("remove_unused", lambda g: g.remove_unused()), ("readable_names", readable_names.run)]
    for name, fn in steps:
        try:
            stats[name] = fn(og)
        except ConversionError:
            raise
        except Exception as exc:  # a pass meeting a graph it did not foresee: never a traceback
            raise ConversionError(f"pass {name} failed ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from None
    return stats
