"""export.py: MINDIR round trips (static and dynamic batch), AIR branches, bad inputs."""
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from support import REPO, SMALL_FULL, SMALL_LITE, TRAINED, fixture_path, pynative_mode


def run_export(*args, cwd=None):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "export.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or REPO, timeout=600)
    return proc


def write_config(path, name, arch, **extra):
    path.write_text(yaml.safe_dump({"model": name, "architecture": arch, **extra}))
    return path


@pytest.fixture(scope="session")
def small_configs(tmp_path_factory):
    d = tmp_path_factory.mktemp("configs")
    return {"lite": write_config(d / "lite.yaml", "small_lite", SMALL_LITE),
            "full": write_config(d / "full.yaml", "small_full", SMALL_FULL)}


def assert_clean_failure(proc, *words):
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, proc.stderr
    for word in words:
        assert word.lower() in error_lines[0].lower(), error_lines[0]


def assert_nothing_written(directory):
    assert not os.path.exists(directory) or os.listdir(directory) == []


_REFERENCES = {}


def reference_logits(config_path, x, ckpt=None):
    """The source network's own output, built independently of the CLI (PyNative: no graph
    compile per input shape; cached, several tests ask for the same inputs)."""
    import hashlib

    import mindspore as ms

    from coat_export.host.config import build_config, resolve_spec
    from coat_export.model import create_model, load_checkpoint_strict

    key = (str(config_path), str(ckpt), x.shape, hashlib.sha256(x.tobytes()).hexdigest())
    if key not in _REFERENCES:
        with pynative_mode():
            spec = resolve_spec(str(config_path))
            ms.set_seed(0)
            net = create_model(build_config(spec))
            net.set_train(False)
            if ckpt:
                load_checkpoint_strict(net, ckpt)
            _REFERENCES[key] = net(ms.Tensor(x)).asnumpy()
    return _REFERENCES[key]


def run_mindir(path, x):
    import mindspore as ms

    return ms.nn.GraphCell(ms.load(str(path)))(ms.Tensor(x)).asnumpy()


# ------------------------------------------------------------------------ happy paths


def test_default_export_is_coat_lite_tiny_with_verified_reload(tmp_path):
    proc = run_export("--format", "mindir", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "exported" / "coat_lite_tiny.mindir"
    assert out.is_file() and proc.stdout.strip().endswith("coat_lite_tiny.mindir")
    assert "RANDOM weights" in proc.stderr
    assert "max_abs_diff=" in proc.stderr  # the verification figure is reported
    for label in ("build", "compile and export", "verify"):
        assert label in proc.stderr
    assert sorted(os.listdir(tmp_path / "exported")) == ["coat_lite_tiny.mindir"]


@pytest.mark.parametrize("kind", ["lite", "full"])
def test_static_batch_round_trip(tmp_path, small_configs, kind):
    proc = run_export("-c", small_configs[kind], "--format", "mindir", "--batch_size", 2,
                      "--output_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    name = f"small_{kind}"
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    got = run_mindir(tmp_path / f"{name}.mindir", x)
    assert np.abs(got - reference_logits(small_configs[kind], x)).max() <= 1e-5


@pytest.mark.parametrize("kind", ["lite", "full"])
def test_dynamic_batch_runs_at_1_3_8(tmp_path, small_configs, kind):
    proc = run_export("-c", small_configs[kind], "--format", "mindir", "--dynamic_batch",
                      "--output_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("-> ok") == 3  # the CLI verified batches 1, 3, 8 itself
    path = tmp_path / f"small_{kind}.mindir"
    for batch in (1, 3, 8):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 64, 64)).astype(np.float32)
        got = run_mindir(path, x)
        assert got.shape == (batch, 10)
        assert np.abs(got - reference_logits(small_configs[kind], x)).max() <= 1e-5


def test_mindcv_checkpoint_through_mindir_reproduces_mindcv_logits(tmp_path):
    import json

    arch = json.load(open(fixture_path("coat_nano.json")))["architecture"]
    cfg = write_config(tmp_path / "nano.yaml", "coat_nano", arch)
    proc = run_export("-c", cfg, "--ckpt_path", fixture_path("coat_nano.ckpt"), "--format",
                      "mindir", "--batch_size", 2, "--output_dir", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    x = np.load(fixture_path("coat_nano.input.npy"))
    got = run_mindir(tmp_path / "out" / "coat_nano.mindir", x)
    assert np.abs(got - np.load(fixture_path("coat_nano.logits.npy"))).max() <= 1e-4


def test_mindcv_training_yaml_is_accepted():
    from coat_export.host.config import build_config, resolve_spec

    spec = resolve_spec(fixture_path("mindcv-configs", "coat_lite_tiny_ascend.yaml"))
    cfg = build_config(spec)
    assert spec.name == "coat_lite_tiny" and spec.ckpt_path is None and spec.crop_pct == 0.9
    assert cfg.num_classes == 1000 and cfg.image_size == 224
    assert cfg.embed_dims == (64, 128, 256, 320)


def test_flags_override_config(tmp_path):
    from coat_export.host.config import build_config, resolve_spec

    cfg_path = write_config(tmp_path / "c.yaml", "coat_lite_mini", {}, num_classes=5,
                            ckpt_path="from_config.ckpt")
    spec = resolve_spec(str(cfg_path), model="coat_tiny", ckpt_path="from_flag.ckpt")
    assert spec.name == "coat_tiny" and spec.ckpt_path == "from_flag.ckpt"
    assert build_config(spec).num_classes == 5


# ------------------------------------------------------------------------ AIR


def test_air_without_ascend_fails_before_any_work(tmp_path):
    proc = run_export("--format", "air", "--output_dir", tmp_path / "out")
    assert_clean_failure(proc, "Ascend", "CANN", "--format mindir")
    assert "build" not in proc.stderr  # refused before building anything
    assert_nothing_written(tmp_path / "out")


def test_air_decision_on_ascend_exports_air(monkeypatch, tmp_path):
    """The Ascend branch, by its decision logic: allowed, and MindSpore is asked for AIR."""
    import mindspore as ms

    from coat_export.host import pipeline
    from coat_export.host.config import ModelSpec, build_model
    from coat_export.host.export_options import check_air_supported

    check_air_supported("Ascend")  # no error
    calls = []

    def fake_export(net, x, file_name, file_format):
        calls.append((x.shape, file_format))
        open(file_name + ".air", "wb").write(b"air")

    monkeypatch.setattr(ms, "export", fake_export)
    built = build_model(ModelSpec("small", overrides=dict(SMALL_LITE)))
    pipeline.export_air(built, str(tmp_path / "small.air"), batch_size=4)
    assert calls == [((4, 3, 64, 64), "AIR")]


# ------------------------------------------------------------------------ bad inputs


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "text.ckpt").write_text("definitely not a checkpoint\n" * 20)
    (d / "trunc.ckpt").write_bytes(open(fixture_path("coat_nano.ckpt"), "rb").read()[:20000])
    (d / "bad.yaml").write_text("model: coat_tiny\narchitecture: [unclosed\n")
    (d / "a_file").write_text("x")
    return d


@pytest.mark.parametrize("args, words", [
    (["--ckpt_path", "{d}/missing.ckpt"], ["not found", "missing.ckpt"]),
    (["--ckpt_path", "{d}/trunc.ckpt"], ["trunc.ckpt"]),
    (["--ckpt_path", "{d}/text.ckpt"], ["text.ckpt"]),
    (["--ckpt_path", "{nano}"], ["does not fit", "shape mismatch"]),
    (["--model", "coat_huge"], ["unknown model", "coat_huge", "coat_lite_tiny"]),
    (["--format", "tflite"], ["invalid choice", "tflite"]),
    (["-c", "{d}/bad.yaml"], ["malformed yaml", "at line 3"]),
    (["-c", "{d}/nope.yaml"], ["config file not found"]),
    (["--output_dir", "{d}/a_file"], ["is a file"]),
    (["--output_dir", "/proc/coat-export-test"], ["cannot create output directory"]),
    (["--batch_size", "0"], ["must be >= 1"]),
    (["--batch_size", "two"], ["whole number"]),
], ids=["missing-ckpt", "truncated-ckpt", "non-ckpt", "other-variant", "unknown-model",
        "unknown-format", "malformed-yaml", "missing-yaml", "outdir-is-file", "outdir-unwritable",
        "batch-0", "batch-text"])
def test_bad_inputs_fail_cleanly(tmp_path, bad_files, args, words):
    args = [a.format(d=bad_files, nano=fixture_path("coat_nano.ckpt")) for a in args]
    if "--format" not in args:
        args += ["--format", "mindir"]
    out = tmp_path / "out"
    if "--output_dir" not in args:
        args += ["--output_dir", out]
    proc = run_export(*args)
    assert_clean_failure(proc, *words)
    assert_nothing_written(out)
    assert sorted(os.listdir(bad_files)) == ["a_file", "bad.yaml", "text.ckpt", "trunc.ckpt"]


# ------------------------------------------------------------------------ ONNX


def run_onnx(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("kind, flags", [("lite", ["--batch_size", "2"]),
                                         ("full", ["--dynamic_batch", "--opset", "20"])])
def test_onnx_export_is_verified_in_onnx_runtime(tmp_path, small_configs, kind, flags):
    proc = run_export("-c", small_configs[kind], "--format", "onnx", *flags,
                      "--output_dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ONNX Runtime" in proc.stderr and "-> ok" in proc.stderr
    path = tmp_path / f"small_{kind}.onnx"
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no intermediate MINDIR left behind
    batches = (1, 3, 8) if "--dynamic_batch" in flags else (2,)
    for batch in batches:
        x = np.random.default_rng(batch).standard_normal((batch, 3, 64, 64)).astype(np.float32)
        assert np.abs(run_onnx(path, x) - reference_logits(small_configs[kind], x)).max() <= 1e-4


def test_mindcv_checkpoint_through_onnx_reproduces_mindcv_logits(tmp_path):
    import json

    arch = json.load(open(fixture_path("coat_lite_nano.json")))["architecture"]
    cfg = write_config(tmp_path / "nano.yaml", "coat_lite_nano", arch)
    proc = run_export("-c", cfg, "--ckpt_path", fixture_path("coat_lite_nano.ckpt"), "--format",
                      "onnx", "--dynamic_batch", "--output_dir", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    got = run_onnx(tmp_path / "out" / "coat_lite_nano.onnx",
                   np.load(fixture_path("coat_lite_nano.input.npy")))
    assert np.abs(got - np.load(fixture_path("coat_lite_nano.logits.npy"))).max() <= 1e-4


def test_onnx_opset_out_of_range_fails_before_work(tmp_path):
    proc = run_export("--format", "onnx", "--opset", "9", "--output_dir", tmp_path / "out")
    assert_clean_failure(proc, "opset", "9")
    assert "build" not in proc.stderr
    assert_nothing_written(tmp_path / "out")


def test_module_cli_takes_the_same_flags(tmp_path):
    """`python -m coat_export export` is the same command as export.py."""
    proc = subprocess.run([sys.executable, "-m", "coat_export", "export", "--format", "air",
                           "--output_dir", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert_clean_failure(proc, "Ascend")
    help_text = subprocess.run([sys.executable, "-m", "coat_export", "export", "--help"],
                               capture_output=True, text=True, cwd=REPO, timeout=300).stdout
    for flag in ("--config", "--model", "--ckpt_path", "--format", "--batch_size",
                 "--dynamic_batch", "--output_dir", "--opset"):
        assert flag in help_text


def test_export_check_bundle_writes_a_verified_bundle(tmp_path, small_configs):
    import json

    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class_{i}" for i in range(10)) + "\n")
    proc = run_export("-c", small_configs["lite"], "--format", "onnx", "--check", "--bundle",
                      "--labels", labels, "--output_dir", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    bundle = tmp_path / "out" / "small_lite_bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["name"] == "small_lite"
    assert manifest["parity"]["passed"] is True  # the export's own parity report
    assert manifest["preprocessing"]["image_size"] == 64
    assert (bundle / "labels.txt").read_text().splitlines()[3] == "class_3"
    x = np.random.default_rng(5).standard_normal((1, 3, 64, 64)).astype(np.float32)
    got = run_onnx(bundle / "model.onnx", x)
    assert np.abs(got - reference_logits(small_configs["lite"], x)).max() <= 1e-4


def test_bundle_needs_onnx_format(tmp_path):
    proc = run_export("--format", "mindir", "--bundle", "--output_dir", tmp_path / "out")
    assert_clean_failure(proc, "--bundle needs --format onnx")
    assert_nothing_written(tmp_path / "out")


def test_exported_onnx_describes_itself(tmp_path):
    """metadata_props: preprocessing, labels, checkpoint sha256, weights, tool version and
    opset, read back with ONNX Runtime; predict and validate on the bare file use them."""
    import hashlib
    import json

    import onnxruntime as ort

    trained = TRAINED
    labels = os.path.join(trained, "digits_labels.txt")
    r = run_export("-c", os.path.join(trained, "coat_lite_digits.yaml"), "--format", "onnx",
                   "--labels", labels, "--output_dir", tmp_path)
    assert r.returncode == 0, r.stderr
    path = tmp_path / "coat_lite_digits.onnx"
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]) \
        .get_modelmeta().custom_metadata_map
    ckpt = os.path.join(trained, "coat_lite_digits.ckpt")
    assert meta["coat_export.checkpoint_sha256"] == hashlib.sha256(open(ckpt, "rb").read()).hexdigest()
    assert meta["coat_export.weights"] == "raw" and meta["coat_export.opset"] == "17"
    assert json.loads(meta["coat_export.preprocessing"])["image_size"] == 32
    names = open(labels).read().split()
    assert json.loads(meta["coat_export.labels"]) == names
    img = os.path.join(trained, "digits_heldout", "3", sorted(os.listdir(
        os.path.join(trained, "digits_heldout", "3")))[0])
    p = subprocess.run([sys.executable, "-m", "coat_export", "predict", str(path), img,
                        "--topk", "1"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0 and "own metadata" in p.stderr and "warning" not in p.stderr
    assert f"{names[3]} (3)" in p.stdout
    v = subprocess.run([sys.executable, "-m", "coat_export", "validate", str(path), "--data_dir",
                        os.path.join(trained, "digits_heldout"), "--json", tmp_path / "v.json",
                        "--no_progress"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert v.returncode == 0, v.stderr
    pre = json.loads((tmp_path / "v.json").read_text())["preprocessing"]
    assert pre == json.loads(meta["coat_export.preprocessing"])


@pytest.mark.slow
def test_full_size_bundle_selftest(tmp_path):
    """A full-size variant's bundle records MindSpore's outputs (as many seeded 224x224 inputs
    as fit the reference budget) and its predict.py --selftest passes in every runtime."""
    import importlib.util
    import json

    out = tmp_path / "out"
    r = run_export("--model", "coat_lite_tiny", "--format", "onnx", "--bundle",
                   "--output_dir", out)
    assert r.returncode == 0, r.stderr
    bundle = out / "coat_lite_tiny_bundle"
    ref = json.loads((bundle / "manifest.json").read_text())["reference"]
    assert ref["source"] == "mindspore" and ref["input_shape"] == [3, 224, 224]
    assert 4 <= ref["num_samples"] <= 64 and (bundle / "reference.npz").stat().st_size < 16 << 20
    runtimes = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])
    s = subprocess.run([sys.executable, str(bundle / "predict.py"), "--selftest", "--runtime",
                        *runtimes, "--json", str(tmp_path / "s.json")],
                       capture_output=True, text=True, timeout=600)
    assert s.returncode == 0, s.stdout + s.stderr
    rows = json.loads((tmp_path / "s.json").read_text())["comparisons"]
    assert len(rows) == len(runtimes) and all(c["precision"] == "fp32" for c in rows)
    assert all(c["passed"] and c["reference"] == "mindspore (recorded)" for c in rows)
