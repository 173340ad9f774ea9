"""Op-level coverage: every tiny network in coverage_nets.py, exported to MINDIR, converted
static and with --dynamic_batch at opsets 13/17/21 and compared with MindSpore in ONNX Runtime
and OpenVINO. A conversion may be refused (with a reason) only where this file says why; a
mismatch, or a model either runtime has no kernel for, never passes. bench/support_table.py turns the same runs into converters/SUPPORT.md."""
import re

import pytest

from coat_export.converters.handlers import registry
from coverage_nets import CASES
from coverage_run import OPSETS, run_case

# the batch analysis refuses these, with the reason in the message
REFUSED_DYNAMIC = {
    "scatter_elements": "scatters by run-time index",
    "gather_nd_scatter_nd": "run-time index",
    # its first scatter replaces one sample (rows [[1]]): a slice assignment into part of
    # the batch axis
    "tensor_scatter_update": "part of the batch axis",
    "tensor_scatter_add_sub_mul": "run-time index",
    "tensor_scatter_max_min": "run-time index",
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
    """Refused only because some primitive has a handler from a later opset on (e.g. Trilu),
    or the lowering of these arguments needs one (bitwise operators on integers)."""
    needs = re.search(r"needs opset >= (\d+)", status)
    if "unsupported MindSpore operator" not in status:
        return bool(needs) and int(needs.group(1)) > opset
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


def test_index_add_whose_in_place_update_is_seen_is_refused(tmp_path):
    """Two index_adds on one tensor: MindSpore's second sees the first's update (checked
    here against a functional reading), which no functional ONNX graph reproduces."""
    import numpy as np

    import mindspore as ms

    from coat_export import converters
    from coverage_nets import IndexAddSeenInPlace

    x = np.random.RandomState(0).randn(2, 4, 6, 8).astype(np.float32)
    net = IndexAddSeenInPlace()
    a, b = [o.asnumpy() for o in net(ms.Tensor(x))]
    functional_b = x + 1.0
    functional_b[:, 1] += x[:, 0]
    # in MindSpore both are the one updated tensor: the second write is seen by the first
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(b, functional_b)
    ms.export(net, ms.Tensor(x), file_name=str(tmp_path / "m"), file_format="MINDIR")
    with pytest.raises(converters.ConversionError, match="updates its input in place"):
        converters.convert_to_model(str(tmp_path / "m.mindir"), opset=17)


def test_roi_align_with_adaptive_sampling_is_refused(tmp_path):
    """sample_num 0: MindSpore takes floor(RoI side / bins) points per bin (checked here:
    NaN where that is 0), ONNX RoiAlign the ceiling; refused, with the remedy."""
    import numpy as np

    import mindspore as ms
    from mindspore import nn, ops

    from coat_export import converters

    class Adaptive(nn.Cell):
        def construct(self, x):
            return ops.ROIAlign(3, 2, 0.25, 0)(x, ms.Tensor([[0, 0.5, 0.5, 9.0, 7.0]],
                                                            ms.float32))

    x = np.random.RandomState(0).randn(1, 4, 6, 8).astype(np.float32)
    assert np.isnan(Adaptive()(ms.Tensor(x)).asnumpy()).all()   # 1.6 px / 3 bins: 0 points
    ms.export(Adaptive(), ms.Tensor(x), file_name=str(tmp_path / "m"), file_format="MINDIR")
    with pytest.raises(converters.ConversionError, match="sample_num > 0"):
        converters.convert_to_model(str(tmp_path / "m.mindir"), opset=17)

