"""validate, bench and check on the edge (no MindSpore), with every runtime present."""
import json
import os

import pytest

from .conftest import HELDOUT, digit_images, have, run_tool

RUNTIMES = ["onnxruntime"] + (["openvino"] if have("openvino") else [])


def test_validate_bundle_every_runtime(digits_bundle, trained_meta, tmp_path):
    out = tmp_path / "v.json"
    r = run_tool(["validate", digits_bundle, "--data_dir", HELDOUT, "--runtime", *RUNTIMES,
                  "--json", out, "--no_progress"])
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["results"]
    assert [x["runtime"] for x in rows] == RUNTIMES
    for x in rows:   # the training script's own held-out accuracy, in every runtime
        assert x["correct_top1"] == trained_meta["heldout_correct"], x


def test_validate_refuses_split_roots_and_class_mismatch(digits_bundle, tmp_path):
    root = tmp_path / "root"
    (root / "train").mkdir(parents=True)
    os.symlink(HELDOUT, root / "val")
    r = run_tool(["validate", digits_bundle, "--data_dir", root])
    assert r.returncode == 2 and "--val_split" in r.stderr and "Traceback" not in r.stderr
    ok = run_tool(["validate", digits_bundle, "--data_dir", root, "--val_split", "val",
                   "--limit", "20", "--no_progress"])
    assert ok.returncode == 0, ok.stderr
    few = tmp_path / "few"
    for c in ("0", "1", "2"):
        (few / c).mkdir(parents=True)
        os.symlink(digit_images()[int(c)], few / c / "a.png")
    r = run_tool(["validate", digits_bundle, "--data_dir", few])
    assert r.returncode == 2 and "10 classes" in r.stderr and "3 class folders" in r.stderr


def test_bench_json_contract(digits_bundle, tmp_path):
    out = tmp_path / "b.json"
    r = run_tool(["bench", digits_bundle, os.path.join(digits_bundle, "model.int8_dynamic.onnx"),
                  "--runtime", *RUNTIMES, "--batch_size", "2", "--runs", "5", "--warmup", "1",
                  "--json", out])
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 2 * len(RUNTIMES)
    for row in rows:
        assert {"file", "format", "runtime", "batch_size", "median_ms", "p90_ms"} <= set(row)
        assert row["batch_size"] == 2 and 0 < row["median_ms"] <= row["p90_ms"]
    assert [x["runtime"] for x in rows[:len(RUNTIMES)]] == RUNTIMES


def test_check_bundle_variants_and_runtimes(digits_bundle, tmp_path):
    report = tmp_path / "p.json"
    r = run_tool(["check", digits_bundle, "--runtime", *RUNTIMES, "--images", HELDOUT,
                  "--num_samples", "4", "--report", report])
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads(report.read_text())
    assert rep["passed"] and rep["reference"]["runtime"] == "onnxruntime"
    vs_fp32 = [c for c in rep["comparisons"] if c["reference"] != "mindspore (recorded)"]
    seen = {(os.path.basename(c["candidate"]), c["runtime"]) for c in vs_fp32}
    expected = {("model.int8_dynamic.onnx", rt) for rt in RUNTIMES}
    expected |= {("model.onnx", rt) for rt in RUNTIMES if rt != "onnxruntime"}
    assert seen == expected
    # and every variant in every runtime against MindSpore's recorded outputs
    recorded = {(os.path.basename(c["candidate"]), c["runtime"]) for c in rep["comparisons"]
                if c["reference"] == "mindspore (recorded)"}
    assert recorded == {(f, rt) for f in ("model.onnx", "model.int8_dynamic.onnx")
                        for rt in RUNTIMES}
    for c in rep["comparisons"]:
        assert c["passed"] and c["runtime"] in RUNTIMES
        if c["precision"] == "fp32":   # OpenVINO f32 and ONNX Runtime compute MindSpore's
            assert c["max_abs_diff"] <= 1e-4
    assert rep["inputs"]["count"] == 4 + 450   # images searched recursively


def test_check_reference_exit_codes(digits_bundle, tmp_path):
    ref = os.path.join(digits_bundle, "model.onnx")
    q = os.path.join(digits_bundle, "model.int8_dynamic.onnx")
    r = run_tool(["check", "--reference", ref, ref, q, "--runtime", *RUNTIMES, "--report",
                  tmp_path / "ok.json"])
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads((tmp_path / "ok.json").read_text())
    # agreement gates are judged on enough inputs by default, and the report says where
    assert rep["inputs"]["count"] == 64 and rep["inputs"]["random"] == 64
    assert {c["num_samples"] for c in rep["comparisons"]} == {64}
    assert rep["cpu"]["isa"] and rep["cpu"]["line"] in r.stdout
    # asked for fewer, the table says how coarse that is (the verdict itself is the CPU's)
    r = run_tool(["check", "--reference", ref, q, "--num_samples", "4"])
    assert r.returncode in (0, 1) and "judged by agreement on 4 input(s)" in r.stdout
    # an int8 model held to fp32's bound fails: exit 1, the table says why
    r = run_tool(["check", "--reference", ref, q, "--min_cosine", "0.9999999", "--report",
                  tmp_path / "f.json"])
    assert r.returncode == 1 and "FAIL" in r.stdout
    assert json.loads((tmp_path / "f.json").read_text())["passed"] is False
    # --rtol loosens the fp32 element-wise bound; an absurd --atol 0 fails a bf16 run
    if "openvino" in RUNTIMES:
        r = run_tool(["check", "--reference", ref, ref, "--runtime", "openvino",
                      "--ov_precision", "bf16"])
        assert r.returncode in (0, 1) and "bf16" in r.stdout
    r = run_tool(["check", "--reference", ref, ref, "--atol", "0", "--rtol", "1e-3"])
    assert r.returncode == 0, r.stdout
    # usage errors: exit 2, one line
    r = run_tool(["check", "--reference", q, ref])
    assert r.returncode == 2 and "must be fp32" in r.stderr
    r = run_tool(["check", "--reference", ref, tmp_path / "missing.onnx"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_tool(["check", "--reference", ref, ref, "--report", tmp_path / "no" / "r.json"])
    assert r.returncode == 2 and "does not exist" in r.stderr


@pytest.mark.skipif(have("mindspore"), reason="the host toolchain is installed here")
def test_host_commands_name_the_install(tmp_path):
    for args in (["export", "--format", "onnx"], ["quantize", "a.onnx", "b.onnx", "--mode",
                                                   "dynamic"]):
        r = run_tool(args)
        assert r.returncode == 2 and 'coat-export[export]' in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_version_everywhere(digits_bundle):
    for args in (["--version"], ["predict", "--version"],
                 [os.path.join(digits_bundle, "predict.py"), "--version"]):
        r = run_tool(args)
        assert r.returncode == 0 and r.stdout.startswith("coat-export "), r.stderr
        assert len(r.stdout.strip().splitlines()) == 1


def test_every_flag_has_help():
    from coat_export.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = [f"{name} {a.option_strings or a.dest}" for name, sp in sub.choices.items()
               for a in sp._actions if not a.help]
    assert missing == []


def test_validate_uses_the_bundles_preprocessing(bundle_copy, tmp_path):
    """validate scores with the bundle's own preprocessing, not the defaults: with crop_pct 0.5 and nearest resizing in the manifest, validate's count equals
    the count of the model run here on images preprocessed that way, and differs from what the
    same model scores as a bare .onnx (the defaults)."""
    import numpy as np
    import onnxruntime as ort

    from coat_export.edge.preprocess import PreprocessConfig, list_images, preprocess_batch

    path = bundle_copy / "manifest.json"
    m = json.loads(path.read_text())
    m["preprocessing"].update(crop_pct=0.5, interpolation="nearest")
    path.write_text(json.dumps(m))
    classes = sorted(os.listdir(HELDOUT))
    paths, labels = [], []
    for i, c in enumerate(classes):
        found = list_images(os.path.join(HELDOUT, c))
        paths += found
        labels += [i] * len(found)
    x = preprocess_batch(paths, PreprocessConfig.from_dict(m["preprocessing"]))
    sess = ort.InferenceSession(str(bundle_copy / "model.onnx"),
                                providers=["CPUExecutionProvider"])
    logits = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    expected = int(np.sum(logits.argmax(-1) == np.asarray(labels)))
    counts = {}
    for name, target in (("bundle", bundle_copy), ("bare", bundle_copy / "model.onnx")):
        out = tmp_path / f"{name}.json"
        r = run_tool(["validate", target, "--data_dir", HELDOUT, "--json", out, "--no_progress"])
        assert r.returncode == 0, r.stderr
        counts[name] = json.loads(out.read_text())["results"][0]["correct_top1"]
    assert counts["bundle"] == expected and counts["bare"] != expected, (counts, expected)


def test_the_install_is_one_namespace():
    """`pip install coat-export` puts everything under coat_export/: no top-level `model` or
    `converters` package lands in site-packages (skipped where the package runs from a
    checkout: an editable install has no site-packages copy to judge)."""
    import importlib.util
    from importlib import metadata

    package = os.path.dirname(importlib.util.find_spec("coat_export").origin)
    site = os.path.dirname(package)
    if os.path.exists(os.path.join(site, "pyproject.toml")):
        pytest.skip(f"coat_export runs from the checkout {site}, not from an installed copy")
    dists = [d for d in metadata.distributions(path=[site])
             if (d.metadata["Name"] or "").lower() == "coat-export"]
    files = [str(f).replace("\\", "/") for d in dists for f in (d.files or [])]
    if not any(f.startswith("coat_export/") for f in files):
        pytest.skip(f"coat_export runs from {package}, not from an installed copy")
    tops = {f.split("/")[0] for f in files if f.endswith(".py")}
    assert tops == {"coat_export"}, tops
    assert any(f.startswith("coat_export/converters/") for f in files)
    assert not os.path.exists(os.path.join(site, "model")) and \
        not os.path.exists(os.path.join(site, "converters"))
