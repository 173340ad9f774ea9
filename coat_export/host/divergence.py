"""First divergence: the first ONNX node whose output departs from MindSpore's own value.

How the two sides are obtained
------------------------------
* ONNX: `onnx_intermediates` runs an in-memory copy of the candidate whose graph outputs are
  extended with every intermediate tensor that the provenance map ties to a MindSpore node;
  one ONNX Runtime run gives them all.
* MindSpore: the source network is exported to a temporary MINDIR (`pipeline.export_mindir`,
  same batch mode as the candidate), and `converters.expose_nodes` rewrites a copy of it so
  that the outputs of the MindSpore nodes we need become graph outputs (one extra
  ``MakeTuple`` returned by the graph). `mindspore.load` + `nn.GraphCell` runs it
  (`MindSporeProbe`): every value is computed by MindSpore itself, in one run, never by our
  converter.

Matching
--------
The candidate ONNX carries its provenance (`converters.PROVENANCE_KEY` in metadata_props):
ONNX tensor -> (MINDIR node name, output index, op type, scope). MINDIR node names embed
global counters (``CNode_174:3``) that change with whatever the exporting process compiled
before, so they are not stable across exports; scope names (``Default/patch_embed1-PatchEmbed/
Reshape-op0``) are, and are unique per node. Nodes are therefore matched by (scope, op type),
by name only where the scope is empty or ambiguous, and a match is used only when the
MindSpore value has the ONNX tensor's number of elements (a converter pass may hold the same
row-major elements in another shape, e.g. a projection of (batch, tokens, C) instead of
MindSpore's (batch * tokens, C); the value is compared in the ONNX shape). Without
provenance in the candidate, a fresh conversion of the temporary MINDIR supplies one (tensor
names are deterministic).

Tolerance and the walk
----------------------
A matched tensor departs when ``max|onnx - ms| > atol + rtol * max|ms|`` (or when finiteness
differs), from the statistics of `edge.compare.array_stats` over the positions where both
are finite; integer tensors must be equal. fp32 drift between two correct implementations
grows through the network but stays around 1e-6..1e-5 of a tensor's magnitude (measured on
CoaT: see the report of issue 4); `rtol = 1e-3` leaves two orders of magnitude of headroom
and still catches a weight changed by a few percent. `atol` guards tensors that are (almost)
all zero.

ONNX nodes are walked in topological order. A tensor (`TensorState`) is `ok` (matched, within
tolerance), `bad` (matched, departs), `clean` (unmatched, every input of its producer
ok/clean) or `tainted` (unmatched, downstream of a bad tensor). The first divergence is the
first node with a bad output whose inputs are all ok or clean. Because tensors inside a
decomposed or fused op are unmatched, the report also lists the *region*: the ONNX nodes
between the last matching tensors and the diverging one (where the fault must be).
"""
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..edge.atomic import make_scratch
from ..edge.compare import ArrayStats, array_stats
from ..edge.errors import UserError, first_line
from ..edge.progress import say, step
from .onnx_intermediates import onnx_intermediates, topological_order

__all__ = ["NodeTolerance", "Divergence", "LocalisationResult", "MindSporeProbe", "TensorState",
           "Localiser",
           "locate_first_divergence", "DEFAULT_NODE_RTOL", "DEFAULT_NODE_ATOL"]

DEFAULT_NODE_RTOL = 1e-3
DEFAULT_NODE_ATOL = 1e-5


@dataclass(frozen=True)
class NodeTolerance:
    rtol: float = DEFAULT_NODE_RTOL
    atol: float = DEFAULT_NODE_ATOL

    def threshold(self, ref_max: float) -> float:
        return self.atol + self.rtol * ref_max


class TensorState(str, Enum):
    """Where a tensor stands in the walk (str-valued: it prints and serialises as before)."""

    OK = "ok"              # matched, within tolerance
    BAD = "bad"            # matched, departs
    CLEAN = "clean"        # unmatched, every input of its producer ok or clean
    TAINTED = "tainted"    # unmatched, downstream of a bad tensor


@dataclass
class Divergence:
    """The first diverging node, named in both frameworks, with its statistics."""

    onnx_node: str
    onnx_op: str
    onnx_tensor: str
    mindspore_node: str
    mindspore_op: str
    mindspore_scope: str
    mindspore_output: int
    shape: List[int]
    max_abs_diff: float
    max_rel_diff: float
    mean_abs_diff: float
    cosine: float
    reference_max_abs: float
    threshold: float
    provenance_node: str = ""   # the node's name in the MINDIR the candidate came from
    region: List[str] = field(default_factory=list)   # ONNX nodes that may hold the fault
    matched_inputs: List[str] = field(default_factory=list)  # last agreeing tensors feeding it

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"ONNX node '{self.onnx_node}' ({self.onnx_op}) = MindSpore "
                f"{self.mindspore_op} '{self.mindspore_scope or self.mindspore_node}' "
                f"(node {self.mindspore_node}): max_abs_diff {self.max_abs_diff:.3g} > "
                f"{self.threshold:.3g}, cosine {self.cosine:.6f}")


@dataclass
class LocalisationResult:
    divergence: Optional[Divergence]
    provenance_source: str            # "candidate" | "fresh conversion"
    tensors_compared: int
    tensors_departing: int
    note: str = ""
    sample_index: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["divergence"] = self.divergence.to_dict() if self.divergence else None
        return d


# ----------------------------------------------------------------------------- MindSpore side


class MindSporeProbe:
    """The source network as a temporary MINDIR whose inner node outputs can be read.

    `values(x, names)` -> {IR node name: value or tuple of values}, computed by MindSpore's
    GraphCell on a copy of the MINDIR rewritten by `converters.expose_nodes` (the listed nodes
    become graph outputs)."""

    def __init__(self, built, batch_size: int = 1, dynamic_batch: bool = False):
        from .. import converters

        from . import pipeline

        self._dir = make_scratch("probe")
        self.dynamic_batch = dynamic_batch
        self.batch_size = batch_size
        self.mindir = os.path.join(self._dir, f"{built.name}.mindir")
        try:
            pipeline.export_mindir(built, self.mindir, batch_size, dynamic_batch)
            self.ir = converters.read_mindir(self.mindir)
        except converters.ConversionError as exc:
            self.close()
            raise UserError(f"cannot read the source network's MINDIR: {exc}") from exc
        except BaseException:
            self.close()
            raise
        self._index(self.ir)
        self._fresh = None

    def _index(self, ir):
        # A value an in-place primitive (`out += x` is InplaceAddExt in MindSpore 2.10)
        # writes into is read back after the write: MindSpore's probe would report the
        # updated buffer for the node that produced it, so such nodes are never matched.
        overwritten = {n.inputs[0].producer.name for n in ir.nodes
                       if n.op_type.startswith("Inplace") and n.inputs
                       and getattr(n.inputs[0], "producer", None) is not None}
        nodes = [n for n in ir.nodes if n.name not in overwritten]
        self.by_name = {n.name: n for n in nodes}
        self.by_key: Dict[Tuple[str, str], list] = {}
        for n in nodes:
            self.by_key.setdefault((n.scope, n.op_type), []).append(n)

    def close(self):
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fresh_provenance(self, opset: int = 17) -> dict:
        """Provenance of a fresh conversion of the temporary MINDIR (candidate had none)."""
        if self._fresh is None:
            from .. import converters

            conv = converters.convert_detailed(self.mindir, opset=opset,
                                               dynamic_batch=self.dynamic_batch)
            self._fresh = converters.load_provenance(conv.model) or {}
        return self._fresh

    def match(self, entry: dict):
        """The IR node a provenance entry refers to, or None."""
        key = (entry.get("scope", ""), entry.get("op", ""))
        found = self.by_key.get(key, []) if key[0] else []
        if len(found) == 1:
            return found[0]
        named = self.by_name.get(entry.get("node", ""))
        if named is not None and named.op_type == entry.get("op", named.op_type) \
                and (not found or named in found):
            return named
        return None

    def values(self, x: np.ndarray, names: Sequence[str]) -> Dict[str, object]:
        import mindspore as ms
        from mindspore import nn

        from .. import converters

        with open(self.mindir, "rb") as f:
            data = f.read()
        try:
            exposed = converters.expose_nodes(data, names)
        except converters.ConversionError:  # a graph we cannot rewrite: nothing to compare
            return {}
        path = os.path.join(self._dir, "probe.mindir")
        with open(path, "wb") as f:
            f.write(exposed.data)
        try:
            cell = nn.GraphCell(ms.load(path))
            outs = cell(ms.Tensor(np.ascontiguousarray(x, np.float32)))
        except Exception as exc:  # MindSpore's C++ errors: reported, localisation skipped
            raise RuntimeError(f"MindSpore could not run the probed MINDIR: "
                               f"{first_line(exc)}") from exc
        result = {}
        for name, value in zip(exposed.nodes, outs[1:]):
            if isinstance(value, (tuple, list)):
                result[name] = tuple(v.asnumpy() if hasattr(v, "asnumpy") else v for v in value)
            else:
                result[name] = value.asnumpy() if hasattr(value, "asnumpy") else value
        return result


# ----------------------------------------------------------------------------- the walk


def _integer_stats(ref: np.ndarray, cand: np.ndarray) -> ArrayStats:
    """Integer tensors (shapes, indices) must be equal: any difference departs."""
    bad = not np.array_equal(ref, cand)
    return ArrayStats(max_abs_diff=math.inf if bad else 0.0, max_rel_diff=0.0, mean_abs_diff=0.0,
                      cosine=1.0, reference_max_abs=0.0, finite=True)


def locate_first_divergence(onnx_model, probe: MindSporeProbe, x: np.ndarray,
                            tolerance: NodeTolerance = NodeTolerance(),
                            provider=None) -> LocalisationResult:
    """Compare every matched intermediate tensor of `onnx_model` with MindSpore's value on
    input `x` and name the first node that departs (see the module docstring)."""
    from .. import converters

    provenance = converters.load_provenance(onnx_model)
    source = "candidate"
    if not provenance:
        opset = next((o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")), 17)
        provenance = probe.fresh_provenance(opset)
        source = "fresh conversion"
    graph = onnx_model.graph
    produced = {o for n in graph.node for o in n.output if o}
    matched = {}  # tensor -> (ir node, output index)
    recorded = {}  # tensor -> node name in the candidate's provenance
    for tensor, entry in provenance.items():
        if tensor not in produced:
            continue
        node = probe.match(entry)
        if node is not None:
            matched[tensor] = (node, int(entry.get("output", 0)))
            recorded[tensor] = entry.get("node", "")
    if not matched:
        return LocalisationResult(None, source, 0, 0,
                                  note="no ONNX tensor could be matched to a MindSpore node")
    ms_values = probe.values(x, sorted({n.name for n, _ in matched.values()}))
    onnx_values = onnx_intermediates(onnx_model, sorted(matched), x, provider=provider)

    status: Dict[str, TensorState] = {i.name: TensorState.OK for i in graph.input}
    for init in graph.initializer:
        status[init.name] = TensorState.OK
    stats: Dict[str, ArrayStats] = {}
    compared = departing = 0
    first = None
    producer = {}
    for n in graph.node:
        for o in n.output:
            producer[o] = n
    passing = (TensorState.OK, TensorState.CLEAN)
    for n in topological_order(list(graph.node)):
        inputs_clean = all(status.get(t, TensorState.OK) in passing for t in n.input if t)
        for o in n.output:
            if not o:
                continue
            verdict = None
            if o in matched and o in onnx_values:
                irn, idx = matched[o]
                ref = ms_values.get(irn.name)
                if isinstance(ref, tuple):
                    ref = ref[idx] if idx < len(ref) else None
                cand = onnx_values[o]
                if ref is not None and np.size(ref) == np.size(cand):
                    ref, cand = np.asarray(ref).reshape(np.shape(cand)), np.asarray(cand)
                    if ref.dtype.kind in "biu" or cand.dtype.kind in "biu":
                        s = _integer_stats(ref, cand)
                    else:
                        s = array_stats(ref, cand, finite_only=True)
                    # inf (finiteness differs, integers differ) fails too
                    bad = not s.max_abs_diff <= tolerance.threshold(s.reference_max_abs)
                    stats[o] = s
                    compared += 1
                    departing += int(bad)
                    verdict = TensorState.BAD if bad else TensorState.OK
            if verdict is None:
                verdict = TensorState.CLEAN if inputs_clean else TensorState.TAINTED
            status[o] = verdict
            if verdict is TensorState.BAD and inputs_clean and first is None:
                first = (n, o)
    if first is None and not compared:
        return LocalisationResult(None, source, 0, 0, note="MindSpore values of the matched "
                                  "nodes could not be obtained (no tensor compared)")
    if first is None:
        return LocalisationResult(None, source, compared, departing,
                                  note="every matched intermediate tensor agrees with MindSpore"
                                  if not departing else "no single first diverging node found")
    node, tensor = first
    irn, idx = matched[tensor]
    s = stats[tensor]
    region, matched_inputs = _region(node, producer, status)
    div = Divergence(onnx_node=node.name or tensor, onnx_op=node.op_type, onnx_tensor=tensor,
                     mindspore_node=irn.name, mindspore_op=irn.op_type,
                     mindspore_scope=irn.scope, mindspore_output=idx,
                     shape=[int(d) for d in np.shape(onnx_values[tensor])],
                     max_abs_diff=s.max_abs_diff, max_rel_diff=s.max_rel_diff,
                     mean_abs_diff=s.mean_abs_diff, cosine=s.cosine,
                     reference_max_abs=s.reference_max_abs,
                     threshold=tolerance.threshold(s.reference_max_abs),
                     provenance_node=recorded.get(tensor, ""), region=region,
                     matched_inputs=matched_inputs)
    return LocalisationResult(div, source, compared, departing)


def _region(node, producer, status: Dict[str, TensorState]) -> Tuple[List[str], List[str]]:
    """ONNX nodes from the last matched (agreeing) tensors up to `node`, and those tensors."""
    region, matched_inputs, seen = [], [], set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        region.append(n.name or n.output[0])
        for t in n.input:
            if not t:
                continue
            state = status.get(t)
            if state is TensorState.CLEAN and t in producer:
                stack.append(producer[t])
            elif state is TensorState.OK and t in producer and t not in matched_inputs:
                matched_inputs.append(t)
    return region, matched_inputs


class Localiser:
    """The first-divergence search for a check's failing candidates: which ones are searched
    (fp32 ONNX in ONNX Runtime), on which sample (the one that differs most), and the MindSpore
    probes they share (one per batch mode, closed with the localiser). Called as
    `localise(candidate, inputs, reference_outputs, candidate_outputs)`; None for a candidate
    it does not search (a MINDIR file), or when tolerance is None (no search asked)."""

    def __init__(self, built, tolerance: Optional[NodeTolerance], provider=None):
        self.built, self.tolerance, self.provider = built, tolerance, provider
        self.probes: Dict[Tuple[int, bool], MindSporeProbe] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        for p in self.probes.values():
            p.close()
        self.probes.clear()

    def __call__(self, cand, x: np.ndarray, reference: np.ndarray,
                 out: np.ndarray) -> Optional[LocalisationResult]:
        if self.tolerance is None or cand.format != "onnx":
            return None
        if cand.runtime != "onnxruntime":
            return LocalisationResult(None, "", 0, 0, note=f"per-node localisation runs in "
                                      f"ONNX Runtime; see the onnxruntime row of {cand.name}")
        if cand.precision != "fp32":
            return LocalisationResult(None, "", 0, 0, note=f"{cand.precision} candidate: "
                                      "per-node localisation needs fp32 (reduced precision "
                                      "departs at every node)")
        import onnx

        per_sample = np.abs(reference.astype(np.float64) - out.astype(np.float64))
        per_sample = per_sample.reshape(len(x), -1).max(axis=1)
        worst = int(np.nanargmax(np.where(np.isfinite(per_sample), per_sample, np.inf)))
        batch = cand.fixed_batch or 1
        start = min(worst, len(x) - 1) if batch == 1 else (worst // batch) * batch
        sub = x[start:start + batch]
        if len(sub) < batch:
            sub = np.concatenate([sub, np.repeat(sub[-1:], batch - len(sub), axis=0)])
        key = (batch, cand.fixed_batch is None)
        with step(f"locate the first diverging node of {cand.name}"):
            try:
                if key not in self.probes:
                    self.probes[key] = MindSporeProbe(self.built, batch_size=batch,
                                                      dynamic_batch=cand.fixed_batch is None)
                loc = locate_first_divergence(onnx.load(cand.name), self.probes[key], sub,
                                              tolerance=self.tolerance,
                                              provider=self.provider)
            except UserError:
                raise
            except Exception as exc:  # localisation is a diagnosis: never hide the verdict
                return LocalisationResult(None, "", 0, 0, note=f"localisation failed: "
                                                                 f"{first_line(exc, limit=300)}")
        loc.sample_index = start
        if loc.divergence is not None:
            say(f"     first divergence: {loc.divergence.describe()}")
        elif loc.note:
            say(f"     localisation: {loc.note}")
        return loc
