"""The device decides: `predict --variant auto`, quantize's record of the CPU, gate sample counts.

Nothing here depends on the instruction set: a variant that computes another network fails
its gates on every CPU, and the choice is checked against the device's own measurements.
"""
import hashlib
import json
import os

import numpy as np
import pytest

from .helpers import HELDOUT, LABELS, run_cli
from coat_export.edge.compare import AGREEMENT_SAMPLES
from coat_export.edge.cpu import cpu_info
from coat_export.edge.device_choice import choose_variant, installed_runtimes
from coat_export.edge.preprocess import PreprocessConfig
from coat_export.host.bundle_writer import BundleOptions, BundleSource, write_bundle


@pytest.fixture(scope="module")
def impostor_bundle(tiny_onnx, tmp_path_factory):
    """A bundle whose fp16 variant is another network (seed 1), its manifest made consistent
    again: it loads, runs and is listed, but computes something else."""
    from .tiny_onnx import make_tiny_classifier

    out = tmp_path_factory.mktemp("choice") / "bundle"
    write_bundle(str(tiny_onnx), str(out), BundleSource("tiny", {}, PreprocessConfig(image_size=32)),
                 BundleOptions(labels_file=LABELS, variants=("fp16",), bench_runs=0))
    fake = out / "model.fp16.onnx"
    make_tiny_classifier(fake, image_size=32, num_classes=10, seed=1)
    path = out / "manifest.json"
    m = json.loads(path.read_text())
    data = fake.read_bytes()
    m["files"]["model.fp16.onnx"] = {"bytes": len(data),
                                     "sha256": hashlib.sha256(data).hexdigest()}
    path.write_text(json.dumps(m))
    return str(out)


def test_auto_never_picks_a_failing_variant(impostor_bundle):
    choice = choose_variant(impostor_bundle, batch_size=2, runs=3)
    rows = {(r["variant"], r["runtime"]): r for r in choice.rows}
    assert set(rows) == {(v, rt) for v in ("fp32", "fp16") for rt in installed_runtimes()}
    for rt in installed_runtimes():
        assert not rows[("fp16", rt)]["passed"] and rows[("fp16", rt)]["failures"]
    assert choice.variant == "fp32" and choice.num_samples == AGREEMENT_SAMPLES
    passing = [r for r in choice.rows if r["passed"]]
    assert choice.median_ms == min(r["median_ms"] for r in passing)
    assert "failing here: fp16@onnxruntime" in choice.describe()


def test_predict_variant_auto_cli(impostor_bundle, tmp_path):
    img = os.path.join(HELDOUT, "3", sorted(os.listdir(os.path.join(HELDOUT, "3")))[0])
    out = tmp_path / "p.json"
    r = run_cli(["predict", impostor_bundle, img, "--variant", "auto", "--runtime",
                 "onnxruntime", "--json", str(out)])
    assert r.returncode == 0, r.stderr
    assert "note: variant auto: fp32 in onnxruntime" in r.stderr
    model = json.loads(out.read_text())["model"]
    assert model["variant"] == "fp32" and model["runtime"] == "onnxruntime"
    cands = model["chosen_on_device"]["candidates"]
    assert [(c["variant"], c["passed"]) for c in cands] == [("fp32", True), ("fp16", False)]
    # auto needs a bundle: one line, exit 2
    r = run_cli(["predict", os.path.join(impostor_bundle, "model.onnx"), img, "--variant",
                 "auto"])
    assert r.returncode == 2 and "bundle directory" in r.stderr and "Traceback" not in r.stderr


def test_quantize_records_the_cpu_it_validated_on(tiny_onnx, tmp_path):
    from coat_export.host.quantize import QuantizeOptions, quantize_model

    res = quantize_model(str(tiny_onnx), str(tmp_path / "q.onnx"), QuantizeOptions("dynamic"))
    assert res.validated_on == {"runtime": "onnxruntime", "cpu": res.validated_on["cpu"],
                                "isa": cpu_info()["isa"], "vnni": cpu_info()["vnni"]}
    assert res.check.num_samples == AGREEMENT_SAMPLES
    assert "7 bits" in res.method            # the recipe that holds on CPUs without VNNI
    given = quantize_model(str(tiny_onnx), str(tmp_path / "q2.onnx"), QuantizeOptions("dynamic",
                           calib_dir=HELDOUT, calib_limit=10))
    assert given.check_inputs == f"10 calibration images + {AGREEMENT_SAMPLES - 10} seeded " \
                                 "random inputs"


def test_cpu_info_shape():
    info = cpu_info()
    assert set(info) == {"machine", "model", "flags", "vnni", "isa"}
    assert info["vnni"] in (True, False, None) and info["isa"]


def test_selftest_fails_on_a_bundle_that_computes_something_else(tmp_path, tiny_onnx):
    """The model changed (weights scaled), its manifest made consistent again: the bundle
    still verifies, but its outputs depart from the recorded ones -> exit 1, naming it."""
    import onnx
    from onnx import numpy_helper

    out = tmp_path / "b"
    write_bundle(str(tiny_onnx), str(out), BundleSource("tiny", {}, PreprocessConfig(image_size=32)),
                 BundleOptions(bench_runs=0))
    m = onnx.load(str(out / "model.onnx"))
    w = m.graph.initializer[0]
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * 1.5, w.name))
    data = m.SerializeToString()
    (out / "model.onnx").write_bytes(data)
    man = json.loads((out / "manifest.json").read_text())
    man["files"]["model.onnx"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (out / "manifest.json").write_text(json.dumps(man))
    r = run_cli(["predict", out, "--selftest", "--runtime", *installed_runtimes()])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "selftest FAIL: model.onnx (onnxruntime)" in r.stderr and "**FAIL**" in r.stdout


def test_save_reference_replays_without_mindspore(trained_onnx, blocker_dir, tmp_path):
    """check against MindSpore with --save_reference on the host; --reference REF.npz with
    MindSpore blocked gives the same verdict and the same numbers."""
    from .helpers import TRAINED

    cfg = os.path.join(TRAINED, "coat_lite_digits.yaml")
    ref = tmp_path / "ref.npz"
    host = run_cli(["check", "-c", cfg, trained_onnx, "--save_reference", ref, "--report",
                    tmp_path / "host.json"])
    assert host.returncode == 0, host.stderr
    edge = run_cli(["check", "--reference", ref, trained_onnx, "--report", tmp_path / "edge.json"],
                   block_mindspore=True, blocker=blocker_dir, marker=str(tmp_path / "m"))
    assert edge.returncode == 0, edge.stderr
    assert not os.path.exists(tmp_path / "m")      # MindSpore was never imported
    h, e = (json.loads((tmp_path / f).read_text())["comparisons"][0]
            for f in ("host.json", "edge.json"))
    assert h["passed"] == e["passed"] and h["max_abs_diff"] == e["max_abs_diff"]
    assert e["reference"].startswith("mindspore (recorded")
    # a reference of another model: one line, exit 2
    other = tmp_path / "other.npz"
    with np.load(ref) as z:
        np.savez(other, inputs=z["inputs"][:, :, :16, :16], outputs=z["outputs"])
    r = run_cli(["check", "--reference", other, trained_onnx])
    assert r.returncode == 2 and "another network" in r.stderr and "Traceback" not in r.stderr


def test_auto_with_nothing_passing_is_one_error(impostor_bundle, monkeypatch):
    """Gates no candidate can meet (cosine above 1): a UserError naming them, no traceback."""
    import coat_export.edge.options as options
    from coat_export.edge.compare import Tolerance
    from coat_export.edge.errors import UserError

    if "openvino" not in installed_runtimes():
        pytest.skip("needs a runtime besides the fp32 reference's")
    monkeypatch.setattr(options, "tolerance_for", lambda *a, **k: Tolerance(min_cosine=2.0))
    with pytest.raises(UserError, match="no variant passes its gates on this device"):
        choose_variant(impostor_bundle, ["openvino"], runs=1)
