"""Proof that travels: this device's runtimes against the outputs the source network recorded.

A bundle holds `reference.npz` (coat_export.edge.reference): inputs, and what the trained
MindSpore network computed on them where the bundle was made. `selftest` runs every variant in
every runtime asked for on those inputs and judges each against the recorded outputs with the
gates of its precision -- on this CPU, with this runtime build. Needs only numpy and a runtime.
"""
import os
from typing import Optional, Sequence

from .bundle import open_bundle
from .errors import UserError
from .parity import CheckResult, FailedCandidate, compare_runners
from .reference import RecordedRunner, load_reference

__all__ = ["recorded_reference", "run_selftest", "verdict_line"]


def recorded_reference(bundle) -> RecordedRunner:
    """The bundle's recorded reference, verified (sha256, plain arrays, shapes)."""
    rec = bundle.manifest.get("reference")
    if not isinstance(rec, dict) or not isinstance(rec.get("file"), str):
        raise UserError(f"bundle {bundle.directory} has no recorded reference (made by an "
                        "older coat-export?): re-export it with --bundle")
    data = bundle.read(rec["file"], what="recorded reference")
    ref = load_reference(data, os.path.join(bundle.directory, rec["file"]))
    source = ref.meta.get("source") or rec.get("source") or "recorded"
    return RecordedRunner(ref, f"{source} (recorded)")


def run_selftest(bundle_dir: str, runtimes: Sequence[str], provider=None,
                 threads: Optional[int] = None, ov_precision: str = "f32",
                 variants: Optional[Sequence[str]] = None, runners=None) -> CheckResult:
    """Every variant (or `variants`) in every runtime against the recorded outputs; `runners`:
    ones the caller already opened (check BUNDLE), instead of opening them again."""
    from .runtimes import open_onnx_runners
    from .sources import resolve_onnx

    bundle = open_bundle(bundle_dir)
    reference = recorded_reference(bundle)
    ref = reference.reference
    if runners is None:
        runners = []
        for key in (variants or list(bundle.variants)):
            runners += open_onnx_runners(resolve_onnx(bundle_dir, key), runtimes,
                                         provider=provider, threads=threads,
                                         ov_precision=ov_precision, keep_failed=True)
    for runner in runners:
        if not isinstance(runner, FailedCandidate):
            reference.check_candidate(runner)   # shapes that disagree: exit 2, nothing run
    meta = ref.meta
    name = (bundle.manifest.get("model") or {}).get("name") or bundle_dir
    result = compare_runners(reference, ref.outputs, runners, ref.inputs, model=name,
                             checkpoint=meta.get("checkpoint_sha256"),
                             inputs_desc=ref.description())
    result.weights = meta.get("weights")
    for r in result.results:
        r.reference_name = reference.name
    return result


def verdict_line(result: CheckResult) -> str:
    src = result.reference.get("name")
    n = result.inputs.get("count")
    if result.passed:
        runtimes = sorted({r.runtime for r in result.results})
        return (f"selftest PASS: every variant in {', '.join(runtimes)} reproduces {src} on "
                f"{n} recorded inputs on this device")
    failed = [f"{os.path.basename(r.path)} ({r.runtime})" for r in result.results
              if not r.passed]
    return f"selftest FAIL: {', '.join(failed)} depart from {src} on this device"
