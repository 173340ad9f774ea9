"""Readable, deterministic node and tensor names from MindSpore scopes.

``Default/serial_blocks1-CellList/0-SerialBlock/factoratt_crpe-FactorAttConvRelPosEnc/q-Dense/
MatMul-op12`` becomes ``serial_blocks1.0.factoratt_crpe.q/Gemm``: each ``attr-CellClass`` path
component is the attribute name under which the cell lives, joined with dots as in parameter
names; the final ``Op-opN`` component is replaced by the ONNX operator. Tensors are named
``<node>_output_<i>``; constants ``<first consumer>_const<i>``. Counters resolve clashes in graph
order, so identical input always gives identical names.
"""
import re
from typing import Dict

from ..onnx_graph import OnnxGraph

_SAFE = re.compile(r"[^A-Za-z0-9_.\-/]")


def cell_path(scope: str) -> str:
    """'Default/a-A/0-B/c-C/Op-op3' -> 'a.0.c' (empty for top-level ops)."""
    parts = [p for p in scope.split("/") if p]
    if parts and parts[0] in ("Default", "Gradients"):
        parts = parts[1:]
    if parts and re.search(r"-op\d+$", parts[-1]):
        parts = parts[:-1]
    names = [p.split("-", 1)[0] if "-" in p else p for p in parts]
    return ".".join(_SAFE.sub("_", n) for n in names if n)


class _Unique:
    """`base`, else `base_k` with the smallest free k. The last k per base is remembered
    (names are never freed, so no smaller one can be free): k copies of one scope cost O(k),
    not O(k^2) probes."""

    def __init__(self, taken=()):
        self.used = set(taken)
        self.last: Dict[str, int] = {}

    def __call__(self, base: str) -> str:
        name, k = base, self.last.get(base, 0)
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.last[base] = k
        self.used.add(name)
        return name


def run(og: OnnxGraph) -> int:
    fresh = og.generated
    fixed = set(og.inputs) | {k for k in og.initializers if k not in fresh}
    unique_nodes = _Unique()
    unique_tensors = _Unique(fixed)
    rename: Dict[str, str] = {}
    outputs = og.outputs
    out_names = ["output"] if len(outputs) == 1 else [f"output_{i}" for i in range(len(outputs))]
    for o, new in zip(outputs, out_names):
        if o not in fixed:
            rename[o] = unique_tensors(new)
    for n in og.nodes:
        origin = n.origin[0] if n.origin else None
        path = cell_path(origin.scope) if origin is not None else ""
        n.name = unique_nodes(f"{path}/{n.op_type}" if path else n.op_type)
        for i, out in enumerate(n.outputs):
            if out and out not in rename and out not in fixed:
                rename[out] = unique_tensors(f"{n.name}_output_{i}")
    # parameters keep their MindSpore names; other constants are named after their first user
    for n in og.nodes:
        for i, inp in enumerate(n.inputs):
            if inp in og.initializers and inp in fresh and inp not in rename:
                rename[inp] = unique_tensors(f"{n.name}_const{i}")
    for name in og.initializers:
        if name not in rename and name in fresh:
            rename[name] = unique_tensors(_SAFE.sub("_", name.split("__")[0]))
    _apply(og, rename)
    return len(rename)


def _apply(og: OnnxGraph, rename: Dict[str, str]) -> None:
    og.rename_all(rename)
