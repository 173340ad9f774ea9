"""The seven full-size CoaT variants (224x224, seeded random weights): one export each at batch 1,
converted at opset 17 (static and --dynamic_batch), compared with MindSpore once, in ONNX
Runtime and in OpenVINO.

The whole set takes several minutes on 2 cores (MindSpore's export dominates), so the larger
variants are marked slow; deselect them with -m "not slow"."""
import numpy as np
import pytest

import mindspore as ms

from coat_export import converters
from cvt_util import export, ms_forward, ort_forward, session, validate

FAST = ["coat_lite_tiny"]
SLOW = ["coat_lite_mini", "coat_lite_small", "coat_lite_medium", "coat_tiny", "coat_mini",
        "coat_small"]


@pytest.mark.parametrize("variant", FAST + [pytest.param(v, marks=pytest.mark.slow) for v in SLOW])
def test_variant_matches_mindspore(tmp_path, variant):
    from coat_export.model import create_model
    ms.set_seed(42)
    net = create_model(variant)
    net.set_train(False)
    x = np.random.RandomState(0).randn(1, 3, 224, 224).astype(np.float32)
    expected = ms_forward(net, x)[0]
    path = export(net, tmp_path / variant, (1, 3, 224, 224))
    model = converters.convert_to_model(path, opset=17, dynamic_batch=True)
    validate(model, strict=True)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess = session(model)
    (out,) = ort_forward(sess, x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
    # The symbolic batch really works: at batch 3 the sample MindSpore computed is still
    # reproduced, whatever stands beside it.
    others = np.random.RandomState(1).randn(2, 3, 224, 224).astype(np.float32)
    (out3,) = ort_forward(sess, np.concatenate([others[:1], x, others[1:]]))
    assert out3.shape == (3, expected.shape[1])
    np.testing.assert_allclose(out3[1:2], expected, rtol=0, atol=1e-4)
    # OpenVINO (f32, set explicitly) runs the same file to the same numbers
    from coat_export.edge.runners.openvino_runner import OpenVinoRunner

    ov = OpenVinoRunner(model.SerializeToString(), name=variant)
    assert ov.compiled.get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
    np.testing.assert_allclose(ov(x), expected, rtol=0, atol=1e-4)
