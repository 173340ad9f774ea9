"""validate and bench: accuracy per format equals the training script's; timing tables."""
import json
import os
import shutil

import numpy as np
import pytest

from .helpers import HELDOUT, run_cli
from coat_export.edge.benchmark import benchmark
from coat_export.edge.validate import validate
from coat_export.edge.options import RuntimeOptions
from coat_export.host.open_models import open_runners


def test_mindspore_net_matches_training_script(trained_net, heldout_batch, trained_meta):
    import mindspore as ms

    x, y = heldout_batch  # batches of 128, as the training script evaluates
    pred = np.concatenate([trained_net(ms.Tensor(x[i:i + 128])).asnumpy().argmax(-1)
                           for i in range(0, len(x), 128)])
    wrong = [int(i) for i in np.flatnonzero(pred != y)]
    assert float(np.mean(pred == y)) == trained_meta["heldout_accuracy"], wrong


def test_validate_mindir_equals_training_accuracy(trained_mindir, trained_meta, tmp_path):
    out = tmp_path / "v.json"
    r = run_cli(["validate", trained_mindir, "--data_dir", HELDOUT, "--batch_size", "150",
                 "--image_size", "32", "--json", out])
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    res = rep["results"][0]
    assert res["format"] == "mindir" and res["num_images"] == trained_meta["split"]["num_test"]
    assert res["top1"] == trained_meta["heldout_accuracy"]
    assert res["correct_top1"] == trained_meta["heldout_correct"]
    assert "validate [" in r.stderr  # progress on stderr
    assert "top-1" in r.stdout


def test_validate_every_fp32_format_agrees(trained_mindir, trained_onnx, trained_meta):
    runners = open_runners([trained_mindir, trained_onnx],
                           RuntimeOptions(("onnxruntime", "openvino")))
    rep = validate(runners, HELDOUT, batch_size=150, progress=False)
    assert [(r.format, r.runtime) for r in rep.results] == [
        ("mindir", "mindspore"), ("onnx", "onnxruntime"), ("onnx", "openvino")]
    for r in rep.results:
        assert r.top1 == trained_meta["heldout_accuracy"], r


def test_validate_skips_corrupt_images(tiny_onnx, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(HELDOUT, data)
    (data / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    n = sum(len(os.listdir(data / c)) for c in os.listdir(data)) - 1
    r = run_cli(["validate", tiny_onnx, "--data_dir", data, "--batch_size", "16",
                 "--json", tmp_path / "v.json"])
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "v.json").read_text())
    assert rep["num_images"] == n and rep["results"][0]["num_images"] == n
    assert len(rep["skipped"]) == 1 and rep["skipped"][0]["path"].endswith("broken.png")
    assert "broken.png" in r.stderr


@pytest.mark.parametrize("case", ["no_data_dir", "flat_dir", "unknown_format", "bad_batch"])
def test_validate_bad_inputs_one_line(case, tiny_onnx, tmp_path):
    (tmp_path / "model.pb").write_text("x")
    args = {
        "no_data_dir": ["validate", tiny_onnx, "--data_dir", tmp_path / "none"],
        "flat_dir": ["validate", tiny_onnx, "--data_dir", tmp_path],
        "unknown_format": ["validate", tmp_path / "model.pb", "--data_dir", HELDOUT],
        "bad_batch": ["validate", tiny_onnx, "--data_dir", HELDOUT, "--batch_size", "0"],
    }[case]
    r = run_cli(args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len([l for l in r.stderr.splitlines() if "error" in l]) == 1
    assert "Traceback" not in r.stderr


def test_bench_api_interleaves_same_input(tiny_onnx, trained_mindir):
    res = benchmark(open_runners([tiny_onnx, trained_mindir]), batch_size=2, runs=5, warmup=1)
    assert [r.format for r in res] == ["onnx", "mindir"]
    for r in res:
        assert r.runs == 5 and r.batch_size == 2
        assert 0 < r.min_ms <= r.median_ms <= r.p90_ms
        assert r.throughput == pytest.approx(2000.0 / r.median_ms)


def test_bench_cli_json(tiny_onnx, tmp_path):
    out = tmp_path / "b.json"
    r = run_cli(["bench", tiny_onnx, tiny_onnx, "--batch_size", "4", "--runs", "5",
                 "--warmup", "1", "--threads", "1", "--json", out])
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 2 and rows[0]["threads"] == 1
    assert {"median_ms", "p90_ms", "throughput"} <= set(rows[0])
    assert "median ms" in r.stdout


def test_bench_bad_input(tmp_path):
    r = run_cli(["bench", tmp_path / "missing.onnx"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
