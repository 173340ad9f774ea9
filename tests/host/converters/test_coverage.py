"""Op-level coverage: every tiny network in coverage_nets.py, exported to MINDIR, converted
static and with --dynamic_batch at opsets 13/17/21 and compared with MindSpore in ONNX Runtime
and OpenVINO. A conversion may be refused (with a reason) only where this file says why; a
mismatch, or a model either runtime has no kernel for, never passes. bench/support_table.py turns the same runs into converters/SUPPORT.md."""
import pytest

from coat_export.converters.handlers import registry
from coverage_nets import CASES
from coverage_run import OPSETS, run_case

# the batch analysis refuses these, with the reason in the message
REFUSED_DYNAMIC = {
    "scatter_elements": "scatters by run-time index",
    "gather_nd_scatter_nd": "run-time index",
    "tensor_scatter_update": "run-time index",
    "tensor_scatter_add_sub_mul": "run-time index",
    "tensor_scatter_max_min": "run-time index",
    # nn.Threshold's fill value is folded to a constant of the export's batch size (2 here);
    # from a batch-1 export it broadcasts and converts
    "threshold": "constant of size 2 along the batch axis",
}


# Defects of a runtime, not of the lowering: the ONNX is valid and ONNX Runtime matches
# MindSpore. Each is reproduced by a hand-built graph of standard ops (named here); the case
# may pass (a fixed runtime) or fail exactly so.
RUNTIME_DEFECTS = {
    # OpenVINO 2026.4 CPU, dynamic shapes only: IsInf of an infinity made by arithmetic in
    # the same fused chain -- Div(x, Relu(x)), Exp(100 x), a run of Muls -- is False
    # (static shapes, or the producer also a graph output: right). IsInf after Log, and IsNaN,
    # are right: the outputs before the one named below match in OpenVINO too.
    ("isnan_isinf", "dynamic"): "MISMATCH (openvino): output 1: ",
    ("isnan_isinf_log", "dynamic"): "MISMATCH (openvino): output 2: ",
}


def _needs_newer_opset(status, opset):
    """Refused only because some primitive has a handler from a later opset on (e.g. Trilu)."""
    if "unsupported MindSpore operator" not in status:
        return False
    names = [part.split(" (x")[0].strip()
             for part in status.split(f"at opset {opset}: ", 1)[1].split(";")]
    return all(registry.opsets(n) and registry.opsets(n)[0] > opset for n in names)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("coverage")


@pytest.mark.parametrize("name,family,cls,shape", CASES, ids=[c[0] for c in CASES])
def test_case_matches_mindspore(name, family, cls, shape, workdir):
    result = run_case(name, cls, shape, workdir)
    for kind in ("static", "dynamic"):
        for opset in OPSETS:
            status = result[kind][opset]
            if status.startswith(RUNTIME_DEFECTS.get((name, kind), "-")):
                result[kind][opset] = "ok"
                continue
            assert not status.startswith(("MISMATCH", "NO KERNEL")), \
                f"{name} {kind} {opset}: {status}"
    for opset in OPSETS:
        static, dyn = result["static"][opset], result["dynamic"][opset]
        if _needs_newer_opset(static, opset):
            continue
        assert static == "ok", f"{name} static {opset}: {static}"
        if name in REFUSED_DYNAMIC and dyn != "ok":
            assert "cannot prove" in dyn and REFUSED_DYNAMIC[name] in dyn, dyn
        else:
            assert dyn == "ok", f"{name} dynamic {opset}: {dyn}"


def test_every_primitive_has_a_batch_rule():
    from coat_export.converters import handlers  # noqa: F401
    missing = [name for name in registry.supported_ops() if registry.batch_rule(name) is None]
    assert not missing


def test_registering_twice_raises():
    from coat_export.converters import handlers  # noqa: F401
    with pytest.raises(registry.RegistrationError, match="twice"):
        registry.op("ReLU")(lambda ctx: None)
    with pytest.raises(registry.RegistrationError, match="two batch rules"):
        registry.op("ReLU", since=20, batch=lambda node, st: None)(lambda ctx: None)
    assert registry.lookup("ReLU", 21).__name__ == "unary"
