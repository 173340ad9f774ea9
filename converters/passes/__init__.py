"""Graph passes over the ONNX-level graph, each in its own module, run in this order.

A pass module has `run(og) -> number of changes` and may declare `REQUIRES` (names of passes
that must have run before it, or it finds nothing to do) and `MIN_OPSET` (the opset its
output needs). The pipeline is checked against those declarations whenever it is built.
"""
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

from ..errors import ConversionError
from ..onnx_graph import OnnxGraph
from . import (dedup_initializers, drop_noops, fold_constants, fuse_conv_bias, fuse_gelu,
               fuse_gemm, fuse_layernorm, fuse_sibling_matmuls, merge_depthwise_convs,
               readable_names, unflatten_matmuls)

CHECK_ENV = "COAT_EXPORT_CHECK_GRAPH"  # "1": og.check() after every pass (tests turn it on)


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[OnnxGraph], int]
    requires: Tuple[str, ...] = ()
    min_opset: int = 0

    @classmethod
    def of(cls, module) -> "Pass":
        return cls(module.__name__.rsplit(".", 1)[-1], module.run,
                   tuple(getattr(module, "REQUIRES", ())), getattr(module, "MIN_OPSET", 0))


DEFAULT = [Pass.of(m) for m in (fold_constants, drop_noops, fuse_conv_bias, fuse_gemm,
                                merge_depthwise_convs, unflatten_matmuls, fuse_gelu,
                                fuse_layernorm)]
LAST = [Pass.of(dedup_initializers)]  # after every pass that adds initializers
# Correct passes that measured no faster in ONNX Runtime or OpenVINO on the models we deploy
# (bench/bench_passes.py, bench/RUNTIMES.md); off unless asked for by name.
OPTIONAL = {p.name: p for p in [Pass.of(fuse_sibling_matmuls)]}
# always run, optimised or not
FINAL = [Pass("remove_unused", OnnxGraph.remove_unused), Pass.of(readable_names)]


def check_order(passes: List[Pass], skipped=()) -> None:
    """Every pass's prerequisites come before it in `passes`. A prerequisite left out by `skip`
    while its dependent stays is an error, not a silent second skip: a benchmark leaving out
    fold_constants would otherwise lose the fusions too and credit their effect to folding."""
    seen = set()
    names = {p.name for p in passes}
    for p in passes:
        for r in p.requires:
            if r in skipped:
                raise ConversionError(f"pass {p.name} needs {r}, which skip leaves out; skip "
                                      f"{p.name} as well, or keep {r}")
            if r not in names:
                raise ConversionError(f"pass {p.name} needs {r}, which is not in the pipeline")
            if r not in seen:
                raise ConversionError(f"pass {p.name} is listed before {r}, which must run "
                                      "first")
        seen.add(p.name)


def optimization_passes(opset: int, extra=(), skip=()) -> List[Pass]:
    """The optimisation pipeline at `opset`, checked against what its passes require."""
    unknown = [e for e in extra if e not in OPTIONAL]
    if unknown:
        raise ConversionError(f"unknown optional pass {unknown[0]!r}; optional passes: "
                              f"{', '.join(sorted(OPTIONAL))}")
    passes = [p for p in DEFAULT if opset >= p.min_opset]
    passes += [OPTIONAL[name] for name in extra] + LAST
    unknown = sorted(set(skip) - set(pass_names(opset)))
    if unknown:
        raise ConversionError(f"unknown pass {unknown[0]!r}; passes at opset {opset}: "
                              f"{', '.join(pass_names(opset))}")
    passes = [p for p in passes if p.name not in skip]
    check_order(passes, skip)
    return passes


def pass_names(opset: int) -> List[str]:
    return [p.name for p in DEFAULT + LAST if opset >= p.min_opset]


def prerequisites(name: str, opset: int, extra=()) -> List[Pass]:
    """The passes `name` needs, directly or not, in pipeline order (to run one pass alone)."""
    passes = optimization_passes(opset, extra)
    by_name = {p.name: p for p in passes}
    needed, todo = set(), list(by_name[name].requires)
    while todo:
        r = todo.pop()
        if r not in needed:
            needed.add(r)
            todo.extend(by_name[r].requires)
    return [p for p in passes if p.name in needed]


def run_passes(og: OnnxGraph, opset: int, optimize: bool = True, skip=(), extra=(),
               check_each_pass: Optional[bool] = None) -> dict:
    """Run the pipeline; returns {pass name: number of changes}. Naming always runs. For
    benchmarks: `skip` names default passes to leave out, `extra` OPTIONAL passes to add.
    `check_each_pass` (default: $COAT_EXPORT_CHECK_GRAPH == "1") runs og.check() after each
    pass, so a pass or helper that breaks the graph's indexes is caught where it happens."""
    if check_each_pass is None:
        check_each_pass = os.environ.get(CHECK_ENV) == "1"
    steps = (optimization_passes(opset, extra, skip) if optimize else []) + FINAL
    stats = {}
    for p in steps:
        try:
            stats[p.name] = p.run(og)
        except ConversionError:
            raise
        except Exception as exc:  # a pass meeting a graph it did not foresee: never a traceback
            where = f" at {og.describe(og.visiting)}" if og.visiting is not None else ""
            raise ConversionError(f"pass {p.name} failed{where} ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from exc
        finally:
            og.visiting = None
        if check_each_pass:
            try:
                og.check()
            except AssertionError as exc:
                raise AssertionError(f"after pass {p.name}: {exc}") from exc
    return stats
