"""Graph passes over the ONNX-level graph, each in its own module, run in this order."""
from typing import Callable, List, Tuple

from ..errors import ConversionError
from ..onnx_graph import OnnxGraph
from . import (dedup_initializers, drop_noops, fold_constants, fuse_conv_bias, fuse_gelu,
               fuse_gemm, fuse_layernorm, fuse_sibling_matmuls, merge_depthwise_convs,
               readable_names, unflatten_matmuls)


# Correct passes that measured no faster in ONNX Runtime or OpenVINO on the models we deploy
# (bench/bench_passes.py, bench/RUNTIMES.md); off unless asked for by name.
OPTIONAL = {
    "fuse_sibling_matmuls": fuse_sibling_matmuls.run,
}


def optimization_passes(opset: int, extra=()) -> List[Tuple[str, Callable[[OnnxGraph], int]]]:
    unknown = [e for e in extra if e not in OPTIONAL]
    if unknown:
        raise ConversionError(f"unknown optional pass {unknown[0]!r}; optional passes: "
                              f"{', '.join(sorted(OPTIONAL))}")
    passes = [
        ("fold_constants", fold_constants.run),
        ("drop_noops", drop_noops.run),
        ("fuse_conv_bias", fuse_conv_bias.run),
        ("fuse_gemm", fuse_gemm.run),
        ("merge_depthwise_convs", merge_depthwise_convs.run),
        ("unflatten_matmuls", unflatten_matmuls.run),
    ]
    if opset >= 20:
        passes.append(("fuse_gelu", fuse_gelu.run))
    if opset >= 17:
        passes.append(("fuse_layernorm", fuse_layernorm.run))
    passes += [(name, OPTIONAL[name]) for name in extra]
    passes.append(("dedup_initializers", dedup_initializers.run))
    return passes


def pass_names(opset: int) -> List[str]:
    return [name for name, _ in optimization_passes(opset)]


def run_passes(og: OnnxGraph, opset: int, optimize: bool = True, skip=(), extra=()) -> dict:
    """Run the pipeline; returns {pass name: number of changes}. Naming always runs. For
    benchmarks: `skip` names default passes to leave out, `extra` OPTIONAL passes to add."""
    unknown = set(skip) - set(pass_names(opset))
    if unknown:
        raise ConversionError(f"unknown pass {sorted(unknown)[0]!r}; passes at opset {opset}: "
                              f"{', '.join(pass_names(opset))}")
    stats = {}
    steps = [s for s in optimization_passes(opset, extra) if s[0] not in skip] \
        if optimize else []
    steps += [("remove_unused", lambda g: g.remove_unused()), ("readable_names", readable_names.run)]
    for name, fn in steps:
        try:
            stats[name] = fn(og)
        except ConversionError:
            raise
        except Exception as exc:  # a pass meeting a graph it did not foresee: never a traceback
            where = f" at {og.describe(og.visiting)}" if og.visiting is not None else ""
            raise ConversionError(f"pass {name} failed{where} ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from exc
        finally:
            og.visiting = None
    return stats
