"""Deliberately broken ONNX files fail, and the first diverging node is named in both
frameworks: a weight initializer perturbed, an attribute changed, a node's inputs swapped."""
import numpy as np
import onnx
import pytest

from coat_export import converters
from coat_export.edge.options import InputOptions
from coat_export.host.check import run_check
from coat_export.host.divergence import MindSporeProbe, locate_first_divergence
from coat_export.edge.check_inputs import seeded_input as sample_input
from coat_export.edge.report import build_report, to_markdown

from .helpers import corrupt

LITE = "Default/serial_blocks{b}-CellList/0-SerialBlock/"
# (fault, ONNX node, expected MindSpore op, expected MindSpore scope)
LITE_FAULTS = [
    ("weight", "patch_embed2.proj/Conv", "BiasAdd",
     "Default/patch_embed2-PatchEmbed/proj-Conv2d/BiasAdd-op0"),
    # Dense = MatMul + BiasAdd: the weight's fault shows at the MatMul, named as such
    ("weight", "serial_blocks2.0.mlp.fc2/MatMul", "MatMul",
     LITE.format(b=2) + "mlp-Mlp/fc2-Dense/MatMul-op0"),
    ("epsilon", "patch_embed3.norm/LayerNormalization", "LayerNorm",
     "Default/patch_embed3-PatchEmbed/norm-LayerNorm/LayerNorm-op0"),
    # a concat whose output keeps its shape when its inputs are swapped (class token in front
    # of the patches)
    ("swap", "Concat_3", "Concat", "Default/Concat-op4"),
    # GELU's x / sqrt(2) in block 2 -> sqrt(2) / x (the graph reuses block 1's scope for it)
    ("swap", "serial_blocks1.0.mlp.act/Div_1", "Div",
     LITE.format(b=1) + "mlp-Mlp/act-GELU/Div-op1"),
]


@pytest.fixture(scope="module")
def broken_lite(models, tmp_path_factory):
    m = models["lite"]
    d = tmp_path_factory.mktemp("broken")
    src = m.file("onnx")
    return m, {f"{i}-{fault}": corrupt(src, d / f"{i}-{fault}.onnx", fault, node)
               for i, (fault, node, _, _) in enumerate(LITE_FAULTS)}


@pytest.fixture(scope="module")
def lite_result(broken_lite):
    """All broken files in one check (the MindSpore probe is shared)."""
    m, files = broken_lite
    return run_check(m.built, m.spec, list(files.values()),
                     wanted=InputOptions(num_samples=2, seed=3))


@pytest.mark.parametrize("index", range(len(LITE_FAULTS)),
                         ids=[f"{f}-{n}" for f, n, _, _ in LITE_FAULTS])
def test_fault_is_localised(lite_result, index):
    fault, node, ms_op, ms_scope = LITE_FAULTS[index]
    r = lite_result.results[index]
    assert not r.passed and r.comparison is not None and not r.comparison.passed
    d = r.localisation.divergence
    assert d is not None, r.localisation.note
    assert d.onnx_node == node
    assert d.mindspore_op == ms_op
    assert d.mindspore_scope == ms_scope
    assert d.max_abs_diff > d.threshold and r.localisation.provenance_source == "candidate"
    report = build_report(lite_result)
    c = report["comparisons"][index]
    assert c["passed"] is False
    assert c["first_divergence"]["onnx_node"] == node
    assert c["first_divergence"]["mindspore_scope"] == ms_scope
    assert f"`{node}`" in to_markdown(report) and f"`{ms_scope}`" in to_markdown(report)


# Faults whose effect on the logits of a small random-weight CoaT stays below the fp32
# tolerance (attention branches contribute little at init): the check passes, but the
# node-level search still sees them.
SUBTLE_FAULTS = [
    ("axis", "serial_blocks3.0.factoratt_crpe.softmax/Softmax", "Softmax",
     LITE.format(b=3) + "factoratt_crpe-FactorAttConvRelPosEnc/softmax-Softmax/Softmax-op0"),
    ("weight", "serial_blocks3.0.factoratt_crpe.v/MatMul", "MatMul",
     LITE.format(b=3) + "factoratt_crpe-FactorAttConvRelPosEnc/v-Dense/MatMul-op0"),
    ("epsilon", "serial_blocks2.0.norm1/LayerNormalization", "LayerNorm",
     LITE.format(b=2) + "norm1-LayerNorm/LayerNorm-op0"),
]


@pytest.mark.parametrize("fault,node,ms_op,ms_scope", SUBTLE_FAULTS,
                         ids=[f[0] for f in SUBTLE_FAULTS])
def test_subtle_fault_is_localised_below_logit_tolerance(models, tmp_path, fault, node,
                                                         ms_op, ms_scope):
    m = models["lite"]
    bad = onnx.load(corrupt(m.file("onnx"), tmp_path / "bad.onnx", fault, node))
    with MindSporeProbe(m.built, 1, False) as probe:
        loc = locate_first_divergence(bad, probe, sample_input((1, *m.built.input_shape), 3))
    d = loc.divergence
    assert d is not None, loc.note
    assert (d.onnx_node, d.mindspore_op, d.mindspore_scope) == (node, ms_op, ms_scope)


def test_parallel_coat_dynamic_batch_weight(models, tmp_path):
    m = models["full"]
    node = "parallel_blocks.1.factoratt_crpe3.v/MatMul"
    bad = corrupt(m.file("onnx", dynamic=True), tmp_path / "bad.onnx", "weight", node)
    result = run_check(m.built, m.spec, [bad], wanted=InputOptions(num_samples=2))
    d = result.results[0].localisation.divergence
    assert not result.passed and d.onnx_node == node
    assert d.mindspore_scope == ("Default/parallel_blocks-CellList/1-ParallelBlock/"
                                 "factoratt_crpe3-FactorAttConvRelPosEnc/v-Dense/MatMul-op0")


def test_without_provenance_a_fresh_conversion_matches(models, tmp_path):
    m = models["lite"]
    node = "patch_embed3.norm/LayerNormalization"
    path = corrupt(m.file("onnx"), tmp_path / "eps.onnx", "epsilon", node)
    model = onnx.load(path)
    del model.metadata_props[:]
    onnx.save(model, path)
    result = run_check(m.built, m.spec, [path], wanted=InputOptions(num_samples=1))
    loc = result.results[0].localisation
    assert loc.provenance_source == "fresh conversion"
    assert loc.divergence.onnx_node == node
    assert loc.divergence.mindspore_op == "LayerNorm"


def test_unrunnable_candidate_fails_with_its_error(models, tmp_path):
    """Swapped MatMul inputs with incompatible shapes: ONNX Runtime refuses the graph; that is
    a failed comparison (exit 1), not a usage error or a crash."""
    m = models["lite"]
    bad = corrupt(m.file("onnx"), tmp_path / "mm.onnx", "swap",
                  "serial_blocks1.0.factoratt_crpe/MatMul_1")
    result = run_check(m.built, m.spec, [bad], wanted=InputOptions(num_samples=1))
    (r,) = result.results
    assert not result.passed and r.comparison is None
    assert "Incompatible dimensions" in r.error and "MatMul_1" in r.error
    c = build_report(result)["comparisons"][0]
    assert c["passed"] is False and c["max_abs_diff"] is None and c["failures"] == [r.error]


@pytest.mark.parametrize("name,dynamic", [("lite", False), ("full", True),
                                          ("coat_nano", True)])
def test_healthy_graphs_have_no_departing_tensor(models, name, dynamic):
    """Every matched intermediate tensor of a faithful export stays inside the node
    tolerance (rtol 1e-3): measured drift is ~1e-6 of a tensor's magnitude."""
    m = models[name]
    model = onnx.load(m.file("onnx", dynamic=dynamic))
    with MindSporeProbe(m.built, 1, dynamic) as probe:
        loc = locate_first_divergence(model, probe, sample_input((1, *m.built.input_shape), 5))
    matched = len(converters.load_provenance(model))
    assert loc.divergence is None and loc.tensors_departing == 0
    assert loc.tensors_compared >= 0.9 * matched, (loc.tensors_compared, matched)
    assert np.isfinite(loc.tensors_compared)


def test_value_overwritten_in_place_is_not_compared(tmp_path):
    """`out += x` is InplaceAddExt in a MindSpore 2.10 MINDIR: the batch norm's output buffer
    holds the sum once the graph has run, so reading it back would name the (correct) batch
    norm as the first divergence. Such values are left unmatched; the graph is healthy."""
    from types import SimpleNamespace

    from mindspore import nn

    from coat_export.host.config import BuiltModel

    class Residual(nn.Cell):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, pad_mode="same", has_bias=True)
            self.bn = nn.BatchNorm2d(3)
            self.fc = nn.Dense(3, 4)

        def construct(self, x):
            out = self.bn(self.conv(x))
            out += x
            return self.fc(out.mean((2, 3)))

    net = Residual()
    net.set_train(False)
    built = BuiltModel("residual", SimpleNamespace(in_channels=3, image_size=8), net, None)
    x = sample_input((1, 3, 8, 8), 0)
    with MindSporeProbe(built, 1, False) as probe:
        assert "InplaceAddExt" in {n.op_type for n in probe.ir.nodes}
        model = converters.convert_to_model(probe.mindir, opset=17)
        loc = locate_first_divergence(model, probe, x)
    assert loc.divergence is None and loc.tensors_departing == 0
    assert loc.tensors_compared >= 3  # conv, the in-place sum, the head
