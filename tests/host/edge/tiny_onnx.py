"""Tiny ONNX image classifiers built with onnx.helper (no MindSpore, no converter)."""
import numpy as np


def make_tiny_classifier(path, image_size=32, num_classes=10, channels=8, dynamic_batch=True,
                         seed=0, opset=17, batch=1):
    """Conv3x3 -> Relu -> Conv3x3 -> Relu -> GlobalAveragePool -> Flatten -> Gemm: logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    batch = "batch" if dynamic_batch else batch
    w1 = rng.normal(0, 0.3, (channels, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (channels,)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (channels * 2, channels, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, (channels * 2,)).astype(np.float32)
    wf = rng.normal(0, 0.5, (num_classes, channels * 2)).astype(np.float32)
    bf = rng.normal(0, 0.1, (num_classes,)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (wf, "wf"), (bf, "bf")]]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, image_size, image_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, num_classes])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)
