"""What the third-party runtimes may do in this process: telemetry, logging, warnings.

Telemetry. ONNX Runtime (1.29+) writes a device id and an event store under
``~/.cache/Microsoft/DeveloperTools/`` and ``$TMPDIR/.ses`` on import, and OpenVINO's Python
package sends an event and writes ``~/intel/`` on import. A deployment tool must not write
outside what its user named, nor talk to the network, so both are off by default through their
own switches: ONNX Runtime's ``ORT_DISABLE_TELEMETRY`` (and ``ORT_TELEMETRY_DISABLED``, the name
later releases read), and for OpenVINO the fallback it ships for a missing
``openvino_telemetry`` package (its documented opt-out, ``opt_in_out --opt_out``, would itself
write ``~/intel/``). A user who sets those variables, or ``COAT_EXPORT_RUNTIME_TELEMETRY=1``,
keeps the runtimes' own behaviour. This runs when ``coat_export.edge`` is imported, before any
runtime is.

Logging. Without ``--verbose`` only the project's own line reaches stderr: ONNX Runtime and
MindSpore's C++ log show fatal/critical messages only (their errors come back to us as
exceptions and are reported in one line), Python warnings are hidden.
"""
import os
import sys

__all__ = ["disable_runtime_telemetry", "quiet_third_party", "verbose", "ort_log_severity"]

_state = {"verbose": False}


def disable_runtime_telemetry() -> None:
    if os.environ.get("COAT_EXPORT_RUNTIME_TELEMETRY", "") == "1":
        return
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")
    # OpenVINO imports openvino_telemetry inside try/except ImportError and falls back to its
    # own stub: a None entry makes that import fail, for this process only
    sys.modules.setdefault("openvino_telemetry", None)


def verbose() -> bool:
    return _state["verbose"]


def ort_log_severity() -> int:
    """ONNX Runtime's severity threshold: 4 (fatal only) unless --verbose (2, warnings)."""
    return 2 if _state["verbose"] else 4


def quiet_third_party(verbose: bool = False) -> None:
    """Hide the libraries' own warnings and logs (MindSpore's C++ log, ONNX Runtime's logger,
    onnxruntime.quantization's root-logger notices, Python deprecation warnings) unless
    --verbose: what the user sees is our progress and our one-line errors."""
    import logging
    import warnings

    _state["verbose"] = bool(verbose)
    if verbose:
        os.environ.setdefault("GLOG_v", "1")
        return
    # MindSpore's C++ log: critical only. Its errors come back as Python exceptions, reported
    # in one line; at ERROR it also dumps every Python exception raised inside a compile
    # callback, e.g. the one our SIGTERM handler raises (59 lines before ours)
    os.environ.setdefault("GLOG_v", "4")
    os.environ.setdefault("GLOG_logtostderr", "1")
    logging.getLogger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
