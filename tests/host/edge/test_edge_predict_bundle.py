"""predict through bundles without MindSpore; bundle manifests; bad inputs."""
import hashlib
import json
import os

import numpy as np
import pytest

from .helpers import CKPT, HELDOUT, LABELS, run_cli, sklearn_images
from coat_export import __version__
from coat_export.edge.bundle import open_bundle
from coat_export.host.bundle_writer import BundleOptions, BundleSource, write_bundle
from coat_export.edge.errors import UserError
from coat_export.edge.preprocess import PreprocessConfig


def read_manifest(path):
    return open_bundle(path).manifest


def verify_bundle(path):
    open_bundle(path).verify_all()


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="session")
def tiny_bundle(tiny_onnx, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bundles") / "tiny")
    write_bundle(tiny_onnx, out,
                 BundleSource("tiny_classifier", {"embed_dims": [8, 16]},
                              PreprocessConfig(image_size=32, crop_pct=0.875), opset=17,
                              checkpoint_path=CKPT),
                 BundleOptions(labels_file=LABELS, variants=("fp16", "dynamic", "static"),
                               calib_dir=HELDOUT),
                 parity={"fp32": {"max_abs_diff": 1e-6, "passed": True}})
    return out


def test_manifest_contents(tiny_bundle, tiny_onnx):
    m = read_manifest(tiny_bundle)
    assert m["model"] == {"name": "tiny_classifier", "architecture": {"embed_dims": [8, 16]},
                          "num_classes": 10}
    assert m["checkpoint"] == {"file": "coat_lite_digits.ckpt", "sha256": _sha(CKPT)}
    assert m["tool"] == {"name": "coat-export", "version": __version__}
    v = m["versions"]
    import onnx
    import onnxruntime
    assert v["onnx"] == onnx.__version__ and v["onnxruntime"] == onnxruntime.__version__
    assert v["numpy"] == np.__version__ and "mindspore" in v
    assert m["onnx"]["opset"] == 17
    assert m["onnx"]["inputs"] == [{"name": "input", "shape": ["batch", 3, 32, 32],
                                    "type": "float"}]
    assert m["onnx"]["outputs"][0]["name"] == "logits"
    assert m["onnx"]["outputs"][0]["shape"] == ["batch", 10] and m["onnx"]["dynamic_batch"]
    assert m["preprocessing"] == PreprocessConfig(image_size=32, crop_pct=0.875).to_dict()
    assert m["parity"] == {"fp32": {"max_abs_diff": 1e-6, "passed": True}}
    assert m["labels"] == "labels.txt"
    assert set(m["variants"]) == {"fp32", "fp16", "int8_dynamic", "int8_static"}
    from coat_export.edge.cpu import cpu_info
    for key in ("fp16", "int8_dynamic", "int8_static"):
        assert m["variants"][key]["check"]["passed"]
        # where the gates were judged: INT8 agreement depends on the instruction set
        assert m["variants"][key]["validated_on"]["isa"] == cpu_info()["isa"]
        assert m["variants"][key]["check"]["num_samples"] >= 64
    files = sorted(os.listdir(tiny_bundle))
    assert files == sorted({n.split("/")[0] for n in m["files"]} | {"manifest.json"})
    assert {"predict.py", "README.md", "coat_edge/predict.py",
            "coat_edge/runners/openvino_runner.py"} <= set(m["files"])
    for name, rec in m["files"].items():
        p = os.path.join(tiny_bundle, *name.split("/"))
        assert rec == {"bytes": os.path.getsize(p), "sha256": _sha(p)}
    assert m["files"]["model.onnx"]["sha256"] == _sha(tiny_onnx)
    bench = m["host_benchmark"]   # every variant in every runtime installed, timed here
    assert {(r["variant"], r["runtime"]) for r in bench["results"]} == {
        (v, rt) for v in m["variants"] for rt in ("onnxruntime", "openvino")}
    assert bench["fastest"]["median_ms"] == min(r["median_ms"] for r in bench["results"])
    verify_bundle(tiny_bundle)


def test_bundle_is_atomic_and_refuses_overwrite(tiny_onnx, tmp_path):
    out = tmp_path / "b"
    with pytest.raises(UserError):  # static without calibration images: nothing written
        write_bundle(tiny_onnx, str(out), BundleSource("t", {}), BundleOptions(variants=("static",)))
    with pytest.raises(UserError):  # unreadable calibration dir fails mid-way
        write_bundle(tiny_onnx, str(out), BundleSource("t", {}),
                     BundleOptions(variants=("static",), calib_dir=str(tmp_path / "nowhere")))
    assert os.listdir(tmp_path) == []  # no partial directory left behind
    write_bundle(tiny_onnx, str(out), BundleSource("t", {}))
    write_bundle(tiny_onnx, str(out), BundleSource("t2", {}))   # a bundle is replaced, atomically
    assert read_manifest(str(out))["model"]["name"] == "t2"
    assert sorted(os.listdir(tmp_path)) == ["b"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a bundle"):  # anything else is never replaced
        write_bundle(tiny_onnx, str(other), BundleSource("t", {}))
    assert os.listdir(other) == ["notes.txt"]


def test_bundle_rejects_mismatches(tiny_onnx, tmp_path):
    with pytest.raises(UserError, match="opset"):
        write_bundle(tiny_onnx, str(tmp_path / "x"), BundleSource("t", {}, opset=13))
    with pytest.raises(UserError, match="image_size"):
        write_bundle(tiny_onnx, str(tmp_path / "x"), BundleSource("t", {}, {"image_size": 64}))
    labels = tmp_path / "l.txt"
    labels.write_text("a\nb\n")
    with pytest.raises(UserError, match="2 names"):
        write_bundle(tiny_onnx, str(tmp_path / "x"), BundleSource("t", {}),
                     BundleOptions(labels_file=str(labels)))


def test_predict_bundle_never_imports_mindspore(tiny_bundle, blocker_dir, tmp_path):
    marker = tmp_path / "imports.txt"
    r = run_cli(["predict", tiny_bundle, *sklearn_images(), "--topk", "3", "--json"],
                block_mindspore=True, blocker=blocker_dir, marker=str(marker))
    assert r.returncode == 0, r.stderr
    assert not marker.exists(), marker.read_text()
    out = json.loads(r.stdout)
    assert [os.path.basename(x["image"]) for x in out["results"]] == ["china.jpg", "flower.jpg"]
    names = open(LABELS).read().split()
    for res in out["results"]:
        assert len(res["top"]) == 3
        assert all(t["label"] == names[t["class"]] for t in res["top"])
        probs = [t["prob"] for t in res["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert out["preprocessing"]["crop_pct"] == 0.875


def test_predict_in_process_leaves_mindspore_unimported(tiny_bundle):
    """The same check as the brief states it: sys.modules after predict (fresh interpreter)."""
    import subprocess
    import sys

    from .helpers import REPO

    code = ("import sys\nfrom coat_export.cli import main\n"
            f"rc = main(['predict', {tiny_bundle!r}, {sklearn_images()[0]!r}, '--variant', "
            "'int8_static'])\n"
            "assert rc == 0, rc\nassert 'mindspore' not in sys.modules\n"
            "assert not any(m.split('.')[0] in ('model', 'converters') for m in sys.modules)\n"
            "print('clean')")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "clean" in r.stdout, r.stderr


def test_predict_text_output_and_onnx_without_manifest(tiny_onnx):
    r = run_cli(["predict", tiny_onnx, sklearn_images()[1], "--labels", LABELS, "--topk", "2"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].endswith("flower.jpg") and len(lines) == 3
    assert "warning: no manifest.json" in r.stderr  # defaults, with a warning


def test_onnx_with_manifest_beside_it_uses_the_manifest(tiny_bundle):
    r = run_cli(["predict", os.path.join(tiny_bundle, "model.onnx"), sklearn_images()[0],
                 "--json"])
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr
    assert json.loads(r.stdout)["preprocessing"]["crop_pct"] == 0.875


def test_tampered_bundle_is_refused(tiny_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundle, copy)
    with open(copy / "model.onnx", "ab") as f:
        f.write(b"\0")
    r = run_cli(["predict", str(copy), sklearn_images()[0]])
    assert r.returncode == 2 and "records 6670" not in r.stdout and "bytes" in r.stderr
    data = bytearray((copy / "model.onnx").read_bytes()[:-1])
    data[-5] ^= 1   # same size, other bytes
    (copy / "model.onnx").write_bytes(bytes(data))
    r = run_cli(["predict", str(copy), sklearn_images()[0]])
    assert r.returncode == 2 and "sha256" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("case", ["missing_model", "non_image", "dir_not_bundle", "bad_topk",
                                  "bad_labels"])
def test_predict_bad_inputs_one_line(case, tiny_onnx, tmp_path):
    img = sklearn_images()[0]
    text = tmp_path / "a.jpg"
    text.write_text("hello")
    labels = tmp_path / "labels.txt"
    labels.write_text("only\ntwo\n")
    args = {
        "missing_model": ["predict", str(tmp_path / "none.onnx"), img],
        "non_image": ["predict", tiny_onnx, str(text)],
        "dir_not_bundle": ["predict", str(tmp_path), img],
        "bad_topk": ["predict", tiny_onnx, img, "--topk", "0"],
        "bad_labels": ["predict", tiny_onnx, img, "--labels", str(labels)],
    }[case]
    r = run_cli(args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = [l for l in r.stderr.strip().splitlines() if not l.startswith("warning:")]
    assert len(err) == 1 and "error" in err[0] and "Traceback" not in r.stderr


def test_bundle_cli(tiny_onnx, tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"architecture": {"embed_dims": [1, 2]}}))
    out = tmp_path / "bundle"
    r = run_cli(["bundle", tiny_onnx, "--output_dir", out, "--architecture", arch,
                 "--labels", LABELS, "--variants", "dynamic", "--crop_pct", "0.95"])
    assert r.returncode == 0, r.stderr
    m = read_manifest(str(out))
    assert m["model"]["architecture"] == {"embed_dims": [1, 2]}
    assert m["preprocessing"]["crop_pct"] == 0.95 and "int8_dynamic" in m["variants"]
    r = run_cli(["bundle", tiny_onnx, "--output_dir", tmp_path])
    assert r.returncode == 2 and "not a bundle" in r.stderr and "Traceback" not in r.stderr


def test_trained_bundle_predicts_digits_without_mindspore(trained_onnx, trained_meta, blocker_dir,
                                                          tmp_path):
    """End to end: the trained CoaT as a bundle; predict (MindSpore blocked) names the digits."""
    out = tmp_path / "digits_bundle"
    write_bundle(trained_onnx, str(out),
                 BundleSource(trained_meta["model"], trained_meta["architecture"],
                              trained_meta["preprocessing"], opset=17, checkpoint_path=CKPT),
                 BundleOptions(labels_file=LABELS, variants=("dynamic",), calib_dir=HELDOUT))
    images = [os.path.join(HELDOUT, str(c), sorted(os.listdir(os.path.join(HELDOUT, str(c))))[0])
              for c in range(10)]
    marker = tmp_path / "imports.txt"
    names = open(LABELS).read().split()
    for variant in ("fp32", "int8_dynamic"):
        r = run_cli(["predict", out, *images, *sklearn_images(), "--topk", "1", "--json",
                     "--variant", variant], block_mindspore=True, blocker=blocker_dir,
                    marker=str(marker))
        assert r.returncode == 0, r.stderr
        assert not marker.exists()
        res = json.loads(r.stdout)["results"]
        assert [x["top"][0]["label"] for x in res[:10]] == names
        assert len(res) == 12
