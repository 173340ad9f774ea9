"""A model that loads but cannot run, and one the runtime cannot load: in every edge command
and both runtimes, one line naming the model, the runtime and the node, exit 2, and none of
the runtimes' own log lines."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from .helpers import HELDOUT, REPO, run_cli

RUNTIMES = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
LABEL = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}


def _image():
    d = os.path.join(HELDOUT, "0")
    return os.path.join(d, sorted(os.listdir(d))[0])


@pytest.fixture(scope="module")
def runs_badly(tmp_path_factory):
    """Valid ONNX (the full checker passes) that fails at the first run: [N,3,32,32] reshaped to
    [-1, 10] is impossible for every N, which neither runtime can know before it runs."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "shape"], ["logits"], name="head/Reshape")],
        "runs_badly",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[numpy_helper.from_array(np.array([-1, 10], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("runs_badly") / "runs_badly.onnx"
    onnx.save(model, str(path))
    return str(path)


def _one_error_line(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "[E:onnxruntime" not in r.stderr, r.stderr
    # our progress ("[..] step") and warnings may precede it; nothing of the runtimes'
    errors = [line for line in r.stderr.splitlines()
              if not line.startswith(("warning:", "["))]
    assert len(errors) == 1 and errors[0].startswith("error: "), r.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("command", ["predict", "validate", "bench"])
def test_run_failure_is_one_line(runs_badly, runtime, command):
    args = {"predict": ["predict", runs_badly, _image()],
            "validate": ["validate", runs_badly, "--data_dir", HELDOUT, "--limit", "2"],
            "bench": ["bench", runs_badly, "--runs", "1", "--warmup", "0"]}[command]
    line = _one_error_line(run_cli(args + ["--runtime", runtime]),
                           f"{LABEL[runtime]} failed running", "runs_badly.onnx", "Reshape")
    assert len(line) < 500


def test_check_reports_a_run_failure_as_a_failed_comparison(runs_badly, tiny_onnx):
    """`check --reference`: the candidate that cannot run is a failed row (exit 1), and the
    reason is the runtime's, in one line."""
    r = run_cli(["check", runs_badly, "--reference", tiny_onnx, "--runtime", *RUNTIMES])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "[E:onnxruntime" not in r.stderr
    assert "failed running" in r.stdout + r.stderr


EXTERNAL_CASES = ["missing", "outside", "absolute", "fifo", "short", "link_out"]


@pytest.mark.parametrize("case", EXTERNAL_CASES)
def test_external_data_is_checked_before_any_runtime(tiny_onnx, tmp_path, case):
    """A bare model's external data is untrusted: it must be a regular file inside the
    model's folder holding the declared bytes. Checked before a runtime opens it (a FIFO
    blocked ONNX Runtime; a path outside was read): one line, exit 2, in both runtimes."""
    import onnx

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    outside = tmp_path / "outside.bin"
    path = model_dir / "ext.onnx"
    onnx.save(onnx.load(tiny_onnx), str(path), save_as_external_data=True,
              location="ext.weights", size_threshold=0)
    weights = model_dir / "ext.weights"
    outside.write_bytes(weights.read_bytes())
    model = onnx.load(str(path), load_external_data=False)
    relocate = {"outside": "../outside.bin", "absolute": str(outside)}.get(case)
    if relocate:
        for t in model.graph.initializer:
            for e in t.external_data:
                if e.key == "location":
                    e.value = relocate
        onnx.save(model, str(path))
        weights.unlink()
    elif case == "missing":
        weights.unlink()
    elif case == "fifo":
        weights.unlink()
        os.mkfifo(weights)
    elif case == "short":
        weights.write_bytes(weights.read_bytes()[:100])
    elif case == "link_out":
        weights.unlink()
        os.symlink(outside, weights)
    word = {"missing": "missing", "fifo": "not a regular file", "short": "bytes"}.get(
        case, "outside the model's folder")
    for runtime in RUNTIMES:
        r = run_cli(["predict", path, _image(), "--runtime", runtime], timeout=60)
        _one_error_line(r, "ext.onnx", word)


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files + [""])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_no_telemetry_or_caches_written(tiny_onnx, tmp_path, runtime):
    """A run writes nothing into HOME or TMPDIR: the runtimes' telemetry (ONNX Runtime's
    device id and event store, OpenVINO's ~/intel) is off by default."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = dict(os.environ, HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=REPO,
               PYTHONDONTWRITEBYTECODE="1")
    for key in ("ORT_DISABLE_TELEMETRY", "ORT_TELEMETRY_DISABLED",
                "COAT_EXPORT_RUNTIME_TELEMETRY", "XDG_CACHE_HOME"):
        env.pop(key, None)
    r = subprocess.run([sys.executable, "-m", "coat_export", "predict", tiny_onnx, _image(),
                        "--runtime", runtime], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _tree(home) == ["."] and _tree(tmp) == ["."], (_tree(home), _tree(tmp))


def test_external_data_of_a_constant_in_a_subgraph_is_checked(tmp_path):
    """External data is found wherever a tensor is: here a Constant inside an If branch."""
    import onnx
    from onnx import TensorProto, helper

    value = helper.make_tensor("c", TensorProto.FLOAT, [1, 10], [0.0] * 10)
    value.ClearField("float_data")
    value.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../outside.bin"), ("offset", "0"), ("length", "40")):
        value.external_data.add(key=k, value=v)
    branch = helper.make_graph([helper.make_node("Constant", [], ["c"], value=value)], "b", [],
                               [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 10])])
    graph = helper.make_graph(
        [helper.make_node("ReduceMax", ["input"], ["m"], keepdims=0),
         helper.make_node("Greater", ["m", "zero"], ["cond"]),
         helper.make_node("If", ["cond"], ["logits"], then_branch=branch, else_branch=branch)],
        "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=[helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (tmp_path / "outside.bin").write_bytes(b"\0" * 40)
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "sub.onnx"
    path.write_bytes(model.SerializeToString())
    for runtime in RUNTIMES:
        _one_error_line(run_cli(["predict", path, _image(), "--runtime", runtime], timeout=60),
                        "sub.onnx", "outside the model's folder")
