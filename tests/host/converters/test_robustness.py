"""Errors: corrupt inputs, unsupported operators (all reported at once), opsets, the CLI,
deterministic output bytes."""
import os
import subprocess
import sys

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from coat_export.converters.handlers import unregistered
from cvt_util import export

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def small_mindir(small_coats):
    return small_coats["parallel"][1]


def test_missing_file(tmp_path):
    with pytest.raises(converters.ConversionError, match="not found"):
        converters.convert_to_model(str(tmp_path / "nope.mindir"))


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.5, 0.9, 0.999])
def test_truncated(tmp_path, small_mindir, fraction):
    data = open(small_mindir, "rb").read()
    bad = tmp_path / "t.mindir"
    bad.write_bytes(data[:int(len(data) * fraction)])
    with pytest.raises(converters.ConversionError):
        converters.convert_to_model(str(bad))


def test_random_bytes(tmp_path):
    rng = np.random.RandomState(0)
    for i in range(10):
        bad = tmp_path / f"r{i}.mindir"
        bad.write_bytes(rng.bytes(int(rng.randint(1, 5000))))
        with pytest.raises(converters.ConversionError):
            converters.convert_to_model(str(bad))


def test_bit_flips_never_crash(tmp_path, small_coats):
    """Seeded mutation loop: each mutated file converts or raises ConversionError, nothing else."""
    _, path, _ = small_coats["lite"]
    data = bytearray(open(path, "rb").read())
    # mutate the graph structure (the first part of the file), not only weight bytes
    header = min(len(data), 60000)
    rng = np.random.RandomState(1)
    outcomes = {"ok": 0, "error": 0}
    for i in range(40):
        mutated = bytearray(data)
        for _ in range(int(rng.randint(1, 6))):
            pos = int(rng.randint(0, header))
            mutated[pos] ^= 1 << int(rng.randint(0, 8))
        bad = tmp_path / f"m{i}.mindir"
        bad.write_bytes(bytes(mutated))
        try:
            converters.convert_to_model(str(bad))
            outcomes["ok"] += 1
        except converters.ConversionError:
            outcomes["error"] += 1
    assert sum(outcomes.values()) == 40


def test_unsupported_ops_listed_together(small_mindir):
    with unregistered("Erf", "ResizeBilinearV2", "LayerNorm"):
        with pytest.raises(converters.UnsupportedOpsError) as info:
            converters.convert_to_model(small_mindir)
    err = info.value
    assert set(err.unsupported) == {"Erf", "ResizeBilinearV2", "LayerNorm"}
    counts = converters.read_mindir(small_mindir).op_counts()
    for op_type, (count, example) in err.unsupported.items():
        assert count == counts[op_type]
        assert op_type in example            # an example node's MindSpore scope name
        assert f"{op_type} (x{count}, e.g. " in str(err)


def test_rare_primitive_reported(tmp_path):
    class Rare(nn.Cell):
        def construct(self, x):
            return ops.erfinv(ops.tanh(x)) + ops.lgamma(ops.abs(x) + 1)

    net = Rare()
    path = export(net, tmp_path / "rare", (1, 4))
    with pytest.raises(converters.UnsupportedOpsError,
                       match="Erfinv.*Lgamma|Lgamma.*Erfinv") as info:
        converters.convert_to_model(path)
    # a primitive refused on purpose says why
    assert "no inverse error function" in str(info.value)
    assert set(info.value.reasons) == {"Erfinv"}


def test_unsupported_report_comes_before_batch_analysis(tmp_path):
    """With --dynamic_batch too, the first error is the full list of unsupported primitives."""
    class Rare(nn.Cell):
        def construct(self, x):
            return ops.lgamma(ops.transpose(x, (1, 0)))

    path = export(Rare(), tmp_path / "rare_dyn", (1, 4))
    with pytest.raises(converters.UnsupportedOpsError, match="Lgamma"):
        converters.convert_to_model(path, dynamic_batch=True)


@pytest.mark.parametrize("opset", [12, 22, 0])
def test_opset_out_of_range(small_mindir, opset):
    with pytest.raises(converters.ConversionError, match="outside the supported range 13..21"):
        converters.convert_to_model(small_mindir, opset=opset)


def test_deterministic_bytes(tmp_path, small_mindir):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    converters.convert(small_mindir, str(a), dynamic_batch=True)
    converters.convert(small_mindir, str(b), dynamic_batch=True)
    assert a.read_bytes() == b.read_bytes()


def test_nothing_written_on_error(tmp_path, small_mindir):
    out = tmp_path / "out.onnx"
    with unregistered("Erf"):
        with pytest.raises(converters.ConversionError):
            converters.convert(small_mindir, str(out))
    assert os.listdir(tmp_path) == []
    with pytest.raises(converters.ConversionError, match="does not exist"):
        converters.convert(small_mindir, str(tmp_path / "no" / "dir.onnx"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "coat_export.converters", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_happy_path(tmp_path, small_mindir):
    import onnx
    out = tmp_path / "m.onnx"
    proc = _cli(small_mindir, str(out), "--opset", "18", "--dynamic_batch")
    assert proc.returncode == 0, proc.stderr
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 18
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_cli_errors(tmp_path, small_mindir):
    garbage = tmp_path / "g.mindir"
    garbage.write_bytes(b"\x00\xff garbage" * 10)
    for args in ([str(garbage), str(tmp_path / "o.onnx")],
                 [small_mindir, str(tmp_path / "o.onnx"), "--opset", "30"],
                 [str(tmp_path / "missing.mindir"), str(tmp_path / "o.onnx")]):
        proc = _cli(*args)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_external_data_for_big_models(tmp_path, small_coats, images64, monkeypatch):
    """Models over protobuf's 2 GB limit keep weights in OUT.onnx.data (threshold lowered)."""
    import onnx
    from coat_export.converters import onnx_writer
    from cvt_util import ms_forward, ort_forward
    net, static, _ = small_coats["lite"]
    monkeypatch.setattr(onnx_writer, "EXTERNAL_DATA_THRESHOLD", 1024)
    out = tmp_path / "big.onnx"
    converters.convert(static, str(out))
    assert (tmp_path / "big.onnx.data").stat().st_size > 100_000
    assert out.stat().st_size < 200_000
    model = onnx.load(str(out))
    onnx.checker.check_model(str(out), full_check=True)
    np.testing.assert_allclose(ort_forward(model, images64[:1])[0],
                               ms_forward(net, images64[:1])[0], atol=1e-4)
    # written under their final names: nothing a later run's stale-file cleanup would take
    from coat_export.edge.atomic import clean_stale

    assert sorted(os.listdir(tmp_path)) == ["big.onnx", "big.onnx.data"]
    assert clean_stale(str(tmp_path)) == 0
    # a conversion that fails its gate leaves the previous model and its data untouched
    before = {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)}
    from coat_export.converters import api

    def refuse(path, runs=({},)):
        raise converters.ConversionError("refused by the test")
    monkeypatch.setattr(api, "verify", refuse)
    monkeypatch.setattr(api, "_is_small", lambda model: False)
    with pytest.raises(converters.ConversionError):
        converters.convert(static, str(out), dynamic_batch=True)
    assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == before


def test_cli_sigterm_and_ctrl_c_are_one_line_and_leave_nothing(tmp_path, small_mindir):
    """The signal arrives while the file is being written (its temporary exists): one line,
    exit 143 (SIGTERM) or 130 (Ctrl-C), and the directory is left empty."""
    script = (
        "import os, signal, sys\n"
        "import coat_export.converters.api as api, coat_export.converters.__main__ as cli\n"
        "write = api.write_model\n"
        "def verify(tmp):\n"
        "    assert os.path.exists(tmp)\n"
        "    os.kill(os.getpid(), getattr(signal, sys.argv[1]))\n"
        "    for _ in range(10 ** 6): pass\n"
        "api.write_model = lambda m, p, verify=None, make_dirs=False: write(m, p, verify_, make_dirs)\n"
        "verify_ = verify\n"
        "sys.exit(cli.main(sys.argv[2:]))\n")
    for sig, code in (("SIGTERM", 143), ("SIGINT", 130)):
        out = tmp_path / sig / "m.onnx"
        proc = subprocess.run([sys.executable, "-c", script, sig, small_mindir, str(out)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == code, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "nothing" in lines[0]
        assert os.listdir(out.parent) == []
