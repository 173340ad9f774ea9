"""quantize: modes, gates, bad inputs; the trained digits model keeps its accuracy."""
import os

import numpy as np
import pytest

from .helpers import HELDOUT, run_cli
from coat_export.edge.compare import Tolerance
from coat_export.edge.errors import UserError, VerificationError
from coat_export.host.quantize import QuantizeOptions, quantize_model
from coat_export.edge.runners.onnxruntime_runner import OnnxRuntimeRunner


@pytest.mark.parametrize("mode", ["fp16", "dynamic", "static"])
def test_modes_on_tiny_model(mode, tiny_onnx, tmp_path):
    out = str(tmp_path / f"{mode}.onnx")
    res = quantize_model(tiny_onnx, out, QuantizeOptions(mode, calib_dir=HELDOUT if mode == "static" else None))
    assert res.output_path == out and os.path.isfile(out)
    assert res.check.passed and res.check.cosine > 0.99
    runner = OnnxRuntimeRunner(out)
    assert runner.input.type == "float"  # fp16 keeps float32 I/O
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    assert runner(x).shape == (3, 10)


def test_failed_gate_writes_nothing(tiny_onnx, tmp_path):
    out = tmp_path / "q.onnx"
    with pytest.raises(VerificationError) as e:
        quantize_model(tiny_onnx, str(out), QuantizeOptions("dynamic", tolerance=Tolerance(atol=0.0)))
    assert e.value.exit_code == 1 and "not written" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_static_needs_calibration(tiny_onnx, tmp_path):
    with pytest.raises(UserError, match="calib"):
        quantize_model(tiny_onnx, str(tmp_path / "q.onnx"), QuantizeOptions("static"))


def test_cli_prints_numbers(tiny_onnx, tmp_path):
    out = tmp_path / "d.onnx"
    r = run_cli(["quantize", tiny_onnx, out, "--mode", "dynamic", "--json", tmp_path / "r.json"])
    assert r.returncode == 0, r.stderr
    assert "cosine" in r.stderr and "top1 agreement" in r.stderr and out.exists()


@pytest.mark.parametrize("case", ["unknown_mode", "static_no_calib", "missing_model",
                                  "not_onnx", "empty_calib"])
def test_cli_bad_inputs_one_line(case, tiny_onnx, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out.onnx"
    args = {
        "unknown_mode": ["quantize", tiny_onnx, out, "--mode", "int4"],
        "static_no_calib": ["quantize", tiny_onnx, out, "--mode", "static"],
        "missing_model": ["quantize", tmp_path / "none.onnx", out, "--mode", "fp16"],
        "not_onnx": ["quantize", junk, out, "--mode", "dynamic"],
        "empty_calib": ["quantize", tiny_onnx, out, "--mode", "static", "--calib_dir",
                        tmp_path / "empty"],
    }[case]
    r = run_cli(args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    errors = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(errors) == 1 and "Traceback" not in r.stderr
    assert not out.exists()


# ------------------------------------------------- the trained digits model (needs the converter)

@pytest.fixture(scope="session")
def trained_variants(trained_onnx, tmp_path_factory):
    d = tmp_path_factory.mktemp("trained_variants")
    out = {}
    for mode in ("fp16", "dynamic", "static"):
        path = str(d / f"{mode}.onnx")
        out[mode] = quantize_model(trained_onnx, path, QuantizeOptions(mode, calib_dir=HELDOUT, calib_limit=100))
    return out


@pytest.mark.parametrize("mode", ["fp16", "dynamic", "static"])
def test_trained_variants_pass_gates_and_keep_accuracy(mode, trained_variants, trained_onnx,
                                                       heldout_batch, trained_meta):
    res = trained_variants[mode]
    assert res.check.passed, res.check.failures
    x, y = heldout_batch
    fp32 = OnnxRuntimeRunner(trained_onnx)(x, max_batch=64).argmax(-1)
    q = OnnxRuntimeRunner(res.output_path)(x, max_batch=64).argmax(-1)
    acc32, accq = float(np.mean(fp32 == y)), float(np.mean(q == y))
    assert acc32 == pytest.approx(trained_meta["heldout_accuracy"])
    limit = 0.005 if mode == "fp16" else 0.01
    assert accq >= acc32 - limit, (mode, acc32, accq)


def test_cli_reads_preprocessing_from_a_bundle(tiny_onnx, tmp_path):
    from coat_export.host.bundle_writer import BundleSource, write_bundle

    b = tmp_path / "b"
    write_bundle(tiny_onnx, str(b), BundleSource("t", {}, {"image_size": 32, "crop_pct": 0.5}))
    out = tmp_path / "s.onnx"
    r = run_cli(["quantize", b / "model.onnx", out, "--mode", "static", "--calib_dir", HELDOUT,
                 "--calib_limit", "20"])
    assert r.returncode == 0, r.stderr
    assert "20 calibration images" in r.stderr
    assert "WARNING" not in r.stderr and "out-of-range" not in r.stderr  # quiet by default
    r = run_cli(["quantize", tiny_onnx, out, "--mode", "dynamic", "--manifest", tmp_path])
    assert r.returncode == 2 and "not a bundle" in r.stderr


def test_static_quantization_is_quiet_unless_verbose(trained_onnx, tmp_path):
    """onnxruntime's quantizer logs 'Axis ... out-of-range' for every LayerNorm weight: hidden
    by default, shown with --verbose."""
    base = ["quantize", trained_onnx, tmp_path / "s.onnx", "--mode", "static", "--calib_dir",
            HELDOUT, "--calib_limit", "16", "--no_check", "--per_channel"]
    quiet = run_cli(base)
    assert quiet.returncode == 0, quiet.stderr
    assert "WARNING" not in quiet.stderr and "out-of-range" not in quiet.stderr
    loud = run_cli(base + ["--verbose"])
    assert loud.returncode == 0 and "out-of-range" in loud.stderr


def test_static_recipe_per_runtime(trained_onnx, heldout_batch, trained_meta, tmp_path):
    """--runtime picks the static recipe measured fastest for it and judges it there: S8
    symmetric MatMul/Gemm/Conv QDQ for OpenVINO, all-op per-tensor QDQ for ONNX Runtime."""
    from coat_export.edge.onnx_info import summarize
    from coat_export.edge.runners.openvino_runner import OpenVinoRunner

    x, y = heldout_batch
    for runtime, runner in (("openvino", OpenVinoRunner), ("onnxruntime", OnnxRuntimeRunner)):
        out = str(tmp_path / f"{runtime}.onnx")
        res = quantize_model(trained_onnx, out, QuantizeOptions("static", calib_dir=HELDOUT, calib_limit=32,
                             runtime=runtime))
        assert res.check.passed and f"for {runtime}" in res.method
        ops = summarize(open(out, "rb").read()).op_types
        assert "QuantizeLinear" in ops
        acc = float(np.mean(runner(out)(x, max_batch=64).argmax(-1) == y))
        assert acc >= trained_meta["heldout_accuracy"] - 0.01, (runtime, acc)
    assert "S8 symmetric" in quantize_model(trained_onnx, str(tmp_path / "o2.onnx"), QuantizeOptions("static",
                                            calib_dir=HELDOUT, calib_limit=8, check=False,
                                            runtime="openvino")).method


@pytest.mark.parametrize("mode", ["dynamic", "fp16"])
def test_nothing_beside_the_input_is_created_or_removed(tiny_onnx, tmp_path, mode):
    """onnxruntime's tools write `<name>-inferred.onnx` beside the model they are given and
    delete it: with a user's file of that name there, it was lost. They are only ever given a
    private copy, external data included."""
    import onnx

    src = tmp_path / "in"
    src.mkdir()
    model = onnx.load(str(tiny_onnx))
    onnx.save(model, str(src / "model.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    for decoy in ("model-inferred.onnx", "model-inferred.onnx.data", "pre.onnx"):
        (src / decoy).write_text("the user's own file")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    res = quantize_model(str(src / "model.onnx"), str(tmp_path / "q.onnx"), QuantizeOptions(mode))
    assert res.check.passed and os.path.isfile(tmp_path / "q.onnx")
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_interrupted_static_quantize_leaves_nothing(trained_onnx, tmp_path, sig):
    """onnxruntime's quantizer makes `ort.quant.*` / `pre.quant.*` folders in $TMPDIR, which
    SIGKILL left behind (23 MB): they are made inside the run's own scratch, so SIGTERM
    removes them at once (one line, exit 143) and after SIGKILL the next run does."""
    import signal
    import subprocess
    import sys
    import time

    from .helpers import REPO

    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    out.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONPATH=REPO)
    cmd = [sys.executable, "-m", "coat_export", "quantize", trained_onnx, str(out / "s.onnx"),
           "--mode", "static", "--calib_dir", HELDOUT, "--calib_limit", "64"]
    proc = subprocess.Popen(cmd, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def quantizer_temps():
        return [os.path.join(d, n) for d, dirs, _ in os.walk(tmp) for n in dirs
                if n.startswith(("ort.quant.", "pre.quant."))]
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not quantizer_temps():
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the quantizer made its temporaries"
    # every temporary of the quantizer is inside this run's scratch, none loose in $TMPDIR
    assert all(os.path.dirname(p) != str(tmp) for p in quantizer_temps())
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    if sig == "SIGKILL":
        assert os.listdir(tmp), "SIGKILL leaves the scratch; the next run removes it"
        again = subprocess.run(cmd[:-4] + ["--mode", "dynamic"], cwd=str(tmp_path), env=env,
                               capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr
        assert sorted(os.listdir(out)) == ["s.onnx"]
    else:
        assert proc.returncode == 143 and "Traceback" not in err, err
        assert [l for l in err.splitlines() if l.startswith("error:")] == \
            ["error: terminated; nothing was left half-written"], err
        assert os.listdir(out) == []
    assert os.listdir(tmp) == []
