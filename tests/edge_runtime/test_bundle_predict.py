"""A host-exported bundle on the edge: its own predict.py, coat-export predict, runtimes."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from .conftest import LABELS, digit_images, have, photos, run_tool

RUNTIMES = ["onnxruntime"] + (["openvino"] if have("openvino") else [])
NAMES = open(LABELS, encoding="utf-8").read().split()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bundle_script_equals_cli(digits_bundle, runtime):
    """One implementation: BUNDLE/predict.py and `coat-export predict BUNDLE` print the same."""
    images = digit_images() + photos()
    args = [*images, "--topk", "3", "--json", "--runtime", runtime]
    script = run_tool([os.path.join(digits_bundle, "predict.py"), *args],
                      env={"PYTHONPATH": ""})
    cli = run_tool(["predict", digits_bundle, *args])
    assert script.returncode == 0 and cli.returncode == 0, (script.stderr, cli.stderr)
    assert json.loads(script.stdout) == json.loads(cli.stdout)
    out = json.loads(cli.stdout)
    assert out["model"]["runtime"] == runtime and out["model"]["precision"] == "fp32"
    assert [r["top"][0]["label"] for r in out["results"][:10]] == NAMES
    text = run_tool([os.path.join(digits_bundle, "predict.py"), *images[:2], "--runtime",
                     runtime], env={"PYTHONPATH": ""})
    assert text.returncode == 0 and text.stdout == run_tool(
        ["predict", digits_bundle, *images[:2], "--runtime", runtime]).stdout


def test_bundle_runtime_is_the_package_runtime(digits_bundle):
    """The bundle carries the package's edge modules byte for byte, listed with sha256."""
    import coat_export.edge as edge

    manifest = json.load(open(os.path.join(digits_bundle, "manifest.json"), encoding="utf-8"))
    root = os.path.dirname(edge.__file__)
    carried = {n for n in manifest["files"] if n.startswith("coat_edge/")}
    package = set()
    for d, _, files in os.walk(root):
        package |= {"coat_edge/" + os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
                    for f in files if f.endswith(".py")}
    if os.environ.get("COAT_EDGE_BUNDLE") is None:  # exported by this very checkout
        assert carried == package
        for name in carried:
            with open(os.path.join(root, *name.split("/")[1:]), "rb") as a, \
                    open(os.path.join(digits_bundle, *name.split("/")), "rb") as b:
                assert a.read() == b.read(), name
    assert {"predict.py", "README.md", "model.onnx", "model.int8_dynamic.onnx",
            "labels.txt"} <= set(manifest["files"])


def test_variant_and_bundle_member(digits_bundle):
    r = run_tool(["predict", digits_bundle, *digit_images(), "--topk", "1", "--json",
                  "--variant", "int8_dynamic"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model"]["precision"] == "int8" and out["model"]["variant"] == "int8_dynamic"
    assert [x["top"][0]["label"] for x in out["results"]] == NAMES
    # an .onnx file inside the bundle uses the bundle's manifest (no default-preprocessing note)
    r = run_tool(["predict", os.path.join(digits_bundle, "model.onnx"), digit_images()[3]])
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_predict_imports_neither_mindspore_nor_onnx(digits_bundle):
    code = ("import sys\nfrom coat_export.cli import main\n"
            f"rc = main(['predict', {digits_bundle!r}, {digit_images()[0]!r}])\n"
            "assert rc == 0, rc\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('mindspore', 'onnx', 'model', 'converters', 'coat_export.host')]\n"
            "bad += [m for m in sys.modules if m.startswith('coat_export.host')]\n"
            "assert not bad, bad\nprint('clean')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "clean" in r.stdout, r.stderr


def test_copied_bundle_works_anywhere(digits_bundle, tmp_path):
    """The bundle is self-contained: copied elsewhere, run from another directory."""
    dst = tmp_path / "moved"
    shutil.copytree(digits_bundle, dst)
    r = run_tool([dst / "predict.py", digit_images()[7], "--topk", "1"], cwd=str(tmp_path),
                 env={"PYTHONPATH": ""})
    assert r.returncode == 0, r.stderr
    assert "1. seven (7)" in r.stdout


def _fresh_python(version: str):
    """A pyenv interpreter of `version` (e.g. '3.9'), or None."""
    root = os.path.expanduser("~/.pyenv/versions")
    if not os.path.isdir(root):
        return None
    for v in sorted(os.listdir(root), reverse=True):
        if v.startswith(version + "."):
            exe = os.path.join(root, v, "bin", f"python{version}")
            if os.path.exists(exe):
                return exe
    return None


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_bundle_predict_in_a_bare_environment(digits_bundle, version, tmp_path_factory):
    """Python 3.9 / 3.13 with only onnxruntime, numpy and pillow (no toolkit installed): the
    bundle's predict.py gives what the toolkit gives here."""
    if os.environ.get("COAT_SKIP_FRESH_ENVS"):
        pytest.skip("COAT_SKIP_FRESH_ENVS set")
    python = _fresh_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter here")
    cache = os.environ.get("COAT_FRESH_ENV_DIR") or str(tmp_path_factory.mktemp("envs"))
    env_dir = os.path.join(cache, f"bare-py{version}")
    py = os.path.join(env_dir, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([python, "-m", "venv", env_dir], check=True, timeout=300)
        r = subprocess.run([py, "-m", "pip", "install", "-q", "onnxruntime", "numpy", "pillow"],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.skip(f"cannot install onnxruntime for Python {version}: "
                        f"{r.stderr.strip().splitlines()[-1:]}")
    images = digit_images()
    r = subprocess.run([py, os.path.join(digits_bundle, "predict.py"), *images, "--json",
                        "--topk", "2"], capture_output=True, text=True, timeout=300,
                       env={"PATH": os.environ.get("PATH", "")})
    assert r.returncode == 0, r.stderr
    here = run_tool(["predict", digits_bundle, *images, "--json", "--topk", "2"])
    bare, ours = json.loads(r.stdout), json.loads(here.stdout)
    assert [[t["class"] for t in x["top"]] for x in bare["results"]] == \
        [[t["class"] for t in x["top"]] for x in ours["results"]]
    for a, b in zip(bare["results"], ours["results"]):
        for ta, tb in zip(a["top"], b["top"]):
            assert abs(ta["prob"] - tb["prob"]) < 1e-4   # other ORT/NumPy builds, same model
    assert [x["top"][0]["label"] for x in bare["results"]] == NAMES
