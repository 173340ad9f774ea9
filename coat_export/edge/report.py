"""Parity reports: a `check.CheckResult` as JSON (for machines) and Markdown (for people).

Only formatting here; the numbers come from `parity.compare_runners`. JSON contract:
``passed`` (bool) and ``comparisons``, a list of objects with ``reference``, ``candidate``,
``runtime``, ``max_abs_diff``, ``max_rel_diff``, ``cosine``, ``top1_agreement``, ``passed``;
plus ``mean_abs_diff``, ``top5_agreement``, ``precision``, ``format``, ``num_samples``,
``failures``, ``error`` and ``first_divergence`` per comparison, and the model, inputs,
tolerances, library versions and the CPU (``cpu``: model, instruction set, VNNI; INT8 results
depend on it) at the top level. Non-finite numbers are written as null.
"""
import json
import math
from typing import Any, Dict, List

from .atomic import write_text
from .compare import AGREEMENT_SAMPLES, coarse_agreement

__all__ = ["build_report", "to_json", "to_markdown", "write_report", "SCHEMA_VERSION"]

SCHEMA_VERSION = 2


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _comparison(r, reference: str) -> Dict[str, Any]:
    c = r.comparison
    d: Dict[str, Any] = {
        "reference": reference,
        "candidate": r.path,
        "format": r.format,
        "runtime": r.runtime,
        "precision": r.precision,
        "max_abs_diff": c.max_abs_diff if c else None,
        "max_rel_diff": c.max_rel_diff if c else None,
        "mean_abs_diff": c.mean_abs_diff if c else None,
        "cosine": c.cosine if c else None,
        "top1_agreement": c.top1_agreement if c else None,
        "top5_agreement": c.top5_agreement if c else None,
        "num_samples": c.num_samples if c else 0,
        "passed": r.passed,
        "failures": list(c.failures) if c else [r.error],
        "error": r.error,
        "first_divergence": None,
    }
    if r.localisation is not None:
        loc = r.localisation
        d["first_divergence"] = loc.divergence.to_dict() if loc.divergence else None
        d["localisation"] = {"provenance": loc.provenance_source,
                             "tensors_compared": loc.tensors_compared,
                             "tensors_departing": loc.tensors_departing,
                             "sample_index": loc.sample_index, "note": loc.note}
    return d


def build_report(result) -> Dict[str, Any]:
    """The JSON-ready dict of a CheckResult."""
    return _clean({
        "schema_version": SCHEMA_VERSION,
        "passed": result.passed,
        "model": result.model,
        "checkpoint": result.checkpoint,
        "weights": result.weights,
        "reference": result.reference,
        "inputs": result.inputs,
        "tolerances": result.tolerances,
        "node_tolerance": result.node_tolerance,
        "comparisons": [_comparison(r, r.reference_name or result.reference["name"])
                        for r in result.results],
        "versions": result.versions,
        "cpu": result.cpu,
        "recorded_inputs": result.recorded_inputs,
    })


def to_json(report: Dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, allow_nan=False) + "\n"


def _num(x, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def to_markdown(report: Dict[str, Any]) -> str:
    """A table for the terminal: one row per candidate, then any first divergence."""
    inputs = report.get("inputs", {})
    what = []
    if inputs.get("recorded"):
        what.append(f"{inputs['recorded']} recorded by {inputs.get('source', '?')}")
    elif inputs.get("random"):
        what.append(f"{inputs['random']} random (seed {inputs.get('seed', 0)})")
    if inputs.get("images") and not inputs.get("recorded"):
        what.append(f"{len(inputs['images'])} image(s) from {inputs.get('image_dir', '?')}")
    ref = report.get("reference") or {}
    several = len({c["reference"] for c in report["comparisons"]}) > 1
    lines: List[str] = [
        f"### Parity: {report.get('model')} -- reference {ref.get('name')} "
        f"({ref.get('runtime')})",
        "",
        f"Inputs: {', '.join(what) or 'none'}; shape {inputs.get('shape')}.",
    ]
    if report.get("recorded_inputs"):
        r = report["recorded_inputs"]
        lines.append(f"Recorded reference: {r.get('count')} inputs and outputs of "
                     f"{r.get('source')}.")
    lines += [
        "",
        "| candidate | " + ("reference | " if several else "") + "format | runtime | "
        "precision | max_abs_diff | max_rel_diff | cosine | top1 | top5 | result |",
        "|---|" + ("---|" if several else "") + "---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in report["comparisons"]:
        verdict = "pass" if c["passed"] else "**FAIL**: " + "; ".join(
            str(f) for f in c.get("failures") or [])
        lines.append(
            f"| {c['candidate']} | " + (f"{c['reference']} | " if several else "") +
            f"{c['format']} | {c['runtime']} | {c['precision']} | "
            f"{_num(c['max_abs_diff'], '.2e')} | {_num(c['max_rel_diff'], '.2e')} | "
            f"{_num(c['cosine'], '.8f')} | {_num(c['top1_agreement'], '.3f')} | "
            f"{_num(c['top5_agreement'], '.3f')} | {verdict} |")
    for c in report["comparisons"]:
        d = c.get("first_divergence")
        loc = c.get("localisation")
        if d:
            lines += [
                "",
                f"First divergence in {c['candidate']}:",
                "",
                f"- ONNX node: `{d['onnx_node']}` ({d['onnx_op']}), tensor `{d['onnx_tensor']}` "
                f"{d['shape']}",
                f"- MindSpore node: `{d['mindspore_scope']}` ({d['mindspore_op']}, MINDIR node "
                f"`{d['mindspore_node']}`, output {d['mindspore_output']})",
                f"- max_abs_diff {_num(d['max_abs_diff'], '.3g')} > threshold "
                f"{_num(d['threshold'], '.3g')} (max |MindSpore| {_num(d['reference_max_abs'], '.3g')}), "
                f"max_rel_diff {_num(d['max_rel_diff'], '.3g')}, cosine {_num(d['cosine'], '.6f')}",
            ]
            if len(d.get("region") or []) > 1:
                lines.append(f"- ONNX nodes between the last agreeing tensors and this one: "
                             f"{', '.join('`%s`' % n for n in d['region'])}")
        elif loc and loc.get("note"):
            lines += ["", f"{c['candidate']}: {loc['note']}"]
    coarse = sorted({c["precision"] for c in report["comparisons"] if c.get("num_samples")
                     and coarse_agreement(c["precision"], c["num_samples"])})
    if coarse:
        n = min(c["num_samples"] for c in report["comparisons"] if c["precision"] in coarse)
        lines += ["", f"Note: {'/'.join(coarse)} judged by agreement on {n} input(s): one "
                      f"disagreement moves top-1 by {100 / n:.0f} points; give --images DIR "
                      f"or at least {AGREEMENT_SAMPLES} inputs (the default)."]
    cpu = report.get("cpu") or {}
    if cpu.get("line"):
        lines += ["", f"CPU: {cpu['line']}."]
    lines.append("")
    lines.append(f"Result: {'PASS' if report['passed'] else 'FAIL'}")
    return "\n".join(lines) + "\n"


def write_report(path: str, report: Dict[str, Any]) -> str:
    """Write the JSON report atomically (temporary file, then rename)."""
    write_text(path, to_json(report))
    return path
