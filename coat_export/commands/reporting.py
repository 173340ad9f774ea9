"""Reporting a parity check's result: the Markdown table on stdout, the JSON report and the
replayable reference file (atomically), and the exit status. Shared by `check` and
`export --check`; computing is elsewhere (edge.parity, host.check)."""
import os


def save_reference(result, path: str) -> None:
    """The run's inputs and reference outputs as a replayable reference file."""
    from ..edge.atomic import write_bytes
    from ..edge.progress import say
    from ..edge.reference import reference_bytes

    ref = result.reference
    source = "mindspore" if ref.get("runtime") == "mindspore" else (
        f"{ref.get('runtime')} ({os.path.basename(str(ref.get('name')))})")
    meta = {"source": source, "model": result.model, "checkpoint": result.checkpoint,
            "weights": result.weights, "versions": result.versions,
            "cpu": result.cpu.get("line"), "inputs": result.inputs}
    write_bytes(path, reference_bytes(result.inputs_array, result.reference_out, meta))
    say(f"reference: {len(result.inputs_array)} inputs and {source}'s outputs -> {path}")


def report_result(result, report_path=None) -> int:
    """Print the Markdown table, write the JSON report; 0 when every comparison passed."""
    from ..edge.progress import say
    from ..edge.report import build_report, to_markdown, write_report

    report = build_report(result)
    print(to_markdown(report), end="", flush=True)
    if report_path:
        write_report(report_path, report)
        say(f"report: {report_path}")
    if not result.passed:
        failed = [r for r in result.results if not r.passed]
        say(f"parity check FAILED for "
            f"{', '.join(f'{os.path.basename(r.path)} ({r.runtime})' for r in failed)}")
        return 1
    return 0
