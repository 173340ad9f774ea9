"""Small CoaT-Lite and CoaT (parallel blocks, bilinear align_corners) against MindSpore:
static and dynamic MINDIRs, --dynamic_batch from a static MINDIR, batches 1/3/8, opsets 13..21."""
import numpy as np
import pytest

from coat_export import converters
from cvt_util import assert_close, ms_forward, ort_forward, session, validate

OPSETS = [13, 17, 21]


@pytest.fixture(scope="module")
def references(small_coats, images64):
    return {name: ms_forward(net, images64)[0] for name, (net, _, _) in small_coats.items()}


@pytest.mark.parametrize("name", ["lite", "parallel"])
@pytest.mark.parametrize("opset", OPSETS)
def test_static_mindir_static_onnx(small_coats, references, images64, name, opset):
    _, static, _ = small_coats[name]
    model = converters.convert_to_model(static, opset=opset)
    validate(model)
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 64, 64]
    assert_close(ort_forward(model, images64[:1]), [references[name][:1]], what=name)


@pytest.mark.parametrize("name", ["lite", "parallel"])
@pytest.mark.parametrize("opset,source", [(13, "static"), (17, "static"), (20, "static"),
                                          (21, "static"), (17, "dynamic"), (13, "dynamic")])
def test_dynamic_batch(small_coats, references, images64, name, opset, source):
    _, static, dynamic = small_coats[name]
    model = converters.convert_to_model(static if source == "static" else dynamic, opset=opset,
                                        dynamic_batch=True)
    validate(model)
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch"
    assert model.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    s = session(model)
    for b in (1, 3, 8):
        assert_close(ort_forward(s, images64[:b]), [references[name][:b]], what=f"batch {b}")


def test_fusions_present_by_opset(small_coats):
    _, static, _ = small_coats["parallel"]
    ops17 = {n.op_type for n in converters.convert_to_model(static, opset=17).graph.node}
    ops13 = {n.op_type for n in converters.convert_to_model(static, opset=13).graph.node}
    ops20 = {n.op_type for n in converters.convert_to_model(static, opset=20).graph.node}
    assert "LayerNormalization" in ops17 and "LayerNormalization" not in ops13
    assert "Gelu" in ops20 and "Gelu" not in ops17 and "Erf" in ops17
    assert {"Gemm", "Resize", "Conv"} <= ops17
    assert "BiasAdd" not in ops17


def test_node_names_and_provenance(small_coats):
    _, static, _ = small_coats["lite"]
    conv = converters.convert_detailed(static)
    names = [n.name for n in conv.model.graph.node]
    assert "serial_blocks1.0.factoratt_crpe.q/MatMul" in names
    assert "patch_embed1.proj/Conv" in names
    assert len(set(names)) == len(names)
    assert not any(n.startswith("CNode") for n in names)
    prov = converters.load_provenance(conv.model)
    # every provenance entry names a tensor of the graph and an IR node
    produced = {o for n in conv.model.graph.node for o in n.output}
    ir_nodes = {n.name: n for n in conv.ir_graph.nodes}
    assert prov and set(prov) <= produced
    for tensor, entry in prov.items():
        node = ir_nodes[entry["node"]]
        assert entry["op"] == node.op_type and entry["scope"] == node.scope
        assert conv.provenance.onnx_to_ir[tensor] == (entry["node"], entry["output"])
        assert conv.provenance.ir_to_onnx[(entry["node"], entry["output"])] == tensor
    # Dense = MatMul + BiasAdd; unflatten_matmuls projects the (batch, tokens, C) tensor: the
    # bias Add holds MindSpore's (batch * tokens, C) BiasAdd value, the same elements
    q = next(n for n in conv.model.graph.node if n.name == "serial_blocks1.0.factoratt_crpe.q/MatMul")
    assert "q-Dense/MatMul" in q.doc_string and "q-Dense/BiasAdd" in q.doc_string
    bias = next(n for n in conv.model.graph.node if n.input and n.input[0] == q.output[0])
    assert bias.op_type == "Add" and prov[bias.output[0]]["op"] == "BiasAdd"


def test_intermediate_tensors_match_mindspore(small_coats, images64):
    """The provenance map is good enough to compare an intermediate tensor with MindSpore."""
    import onnx
    from coat_export.model import CoaT
    net, static, _ = small_coats["lite"]
    conv = converters.convert_detailed(static)
    # the first patch embedding's LayerNorm output equals MindSpore's patch_embed1(x)
    ln = next(n for n in conv.model.graph.node if n.name == "patch_embed1.norm/LayerNormalization")
    tensor = ln.output[0]
    assert conv.provenance.onnx_to_ir[tensor][0] in {n.name for n in conv.ir_graph.nodes}
    model = onnx.ModelProto()
    model.CopyFrom(conv.model)
    model.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT,
                                                                 None))
    out = session(model).run([tensor], {"x": images64[:1]})[0]
    import mindspore as ms
    expected = net.patch_embed1(ms.Tensor(images64[:1])).asnumpy()
    assert isinstance(net, CoaT)
    np.testing.assert_allclose(out, expected, atol=1e-5)
