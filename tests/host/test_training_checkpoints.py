"""Checkpoints as training writes them: MindSpore's own train cells and optimizers, MindCV's
naming (Lion's lion_m, Adan's moment1..3 / prev_gradient, the EMA train step's ema.* and
updates), loss scale; EMA weights chosen as MindCV's load_model_checkpoint(..., ema=True)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from support import REPO, SMALL_LITE, fixture_path, pynative_mode

MINDCV_YAML = fixture_path("mindcv-configs", "coat_tiny_ascend.yaml")


def _net():
    from coat_export.model import CoaTConfig, create_model

    return create_model(CoaTConfig(**SMALL_LITE))


def _train_network(net, optimizer: str, loss_scale: bool, ema: bool):
    import mindspore as ms
    from mindspore import nn, ParameterTuple, Parameter, Tensor

    loss = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    params = net.trainable_params()
    builtin = {"adam": lambda: nn.Adam(params, 1e-3), "adamw": lambda: nn.AdamWeightDecay(params),
               "momentum": lambda: nn.Momentum(params, 0.01, 0.9),
               "rmsprop": lambda: nn.RMSProp(params), "lamb": lambda: nn.Lamb(params, 1e-3)}
    opt = builtin[optimizer]() if optimizer in builtin else nn.Momentum(params, 0.01, 0.9)
    if loss_scale:
        train = nn.TrainOneStepWithLossScaleCell(
            loss, opt, scale_sense=nn.DynamicLossScaleUpdateCell(2.0 ** 10, 2, 100))
    else:
        train = nn.TrainOneStepCell(loss, opt)
    train.set_train(True)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32))
    y = ms.Tensor(np.array([1, 2], np.int32))
    if not loss_scale:   # the loss-scale cell's overflow check has no CPU kernel: its state
        with pynative_mode():   # is what it writes at construction
            train(x, y)
    weights = ParameterTuple(params)
    # MindCV's own optimizers and EMA step keep their state as clones of the weights
    if optimizer == "lion":
        train.lion_m = weights.clone(prefix="lion_m", init="zeros")
    if optimizer == "adan":
        for prefix in ("moment1", "moment2", "moment3", "prev_gradient"):
            setattr(train, prefix, weights.clone(prefix=prefix, init="zeros"))
    if optimizer == "nadam_accumulate":   # NAdam, with MindCV's gradient accumulation
        train.nadam_m = weights.clone(prefix="nadam_m", init="zeros")
        train.nadam_v = weights.clone(prefix="nadam_v", init="zeros")
        train.accumulated_grads = weights.clone(prefix="accumulated_grads", init="zeros")
        train.accumulate_step = Parameter(Tensor(0, ms.int32), name="accumulate_step")
    if ema:
        train.ema_weight = weights.clone(prefix="ema", init="same")
        train.updates = Parameter(Tensor(3.0, ms.float32), name="updates")
        for p in train.ema_weight:   # an EMA that differs from the raw weights
            p.set_data(ms.Tensor(p.asnumpy() * 0.9 + 0.01))
    return train


def _save(tmp_path, optimizer, loss_scale=False, ema=False):
    import mindspore as ms

    net = _net()
    train = _train_network(net, optimizer, loss_scale, ema)
    path = str(tmp_path / f"{optimizer}{'_ls' if loss_scale else ''}{'_ema' if ema else ''}.ckpt")
    ms.save_checkpoint(train, path)          # as MindCV's StateMonitor saves the train network
    raw = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    return path, raw


def _mindcv_ema_weights(path):
    """MindCV's load_model_checkpoint(..., ema=True): every ema.<name>, prefix stripped."""
    import mindspore as ms

    return {k[len("ema."):]: v.asnumpy() for k, v in ms.load_checkpoint(path).items()
            if k.startswith("ema.")}


@pytest.mark.parametrize("optimizer,loss_scale", [
    ("adam", True), ("adamw", False), ("momentum", True), ("rmsprop", False), ("lamb", True),
    ("lion", True), ("adan", False), ("nadam_accumulate", False)])
def test_train_network_checkpoints_load_strictly(ms_graph, tmp_path, optimizer, loss_scale):
    from coat_export.model import load_checkpoint_strict

    path, raw = _save(tmp_path, optimizer, loss_scale)
    net = _net()
    info = load_checkpoint_strict(net, path)
    assert info["weights"] == "raw" and not info["has_ema"]
    for p in net.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), raw[p.name])
    assert info["dropped_summary"]           # the note names what was dropped, per prefix
    if loss_scale:
        assert {"scale_sense", "last_overflow_iterator_step"} <= set(info["ignored_training_state"])


def test_ema_weights_as_mindcv_loads_them(ms_graph, tmp_path):
    from coat_export.model import CheckpointError, load_checkpoint_strict

    path, raw = _save(tmp_path, "lion", loss_scale=True, ema=True)
    ema = _mindcv_ema_weights(path)
    net = _net()
    info = load_checkpoint_strict(net, path, ema=True)
    assert info["weights"] == "ema" and info["has_ema"]
    for p in net.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), ema[p.name])
    net = _net()
    info = load_checkpoint_strict(net, path)    # not asked: the raw weights
    assert info["weights"] == "raw" and info["has_ema"] and "ema" in info["dropped_summary"]
    for p in net.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), raw[p.name])
    plain, _ = _save(tmp_path, "adamw")
    with pytest.raises(CheckpointError, match="holds no ema"):
        load_checkpoint_strict(_net(), plain, ema=True)


def test_leftovers_and_optimizer_checkpoints_are_refused(ms_graph, tmp_path):
    import mindspore as ms

    from coat_export.model import CheckpointError, load_checkpoint_strict

    path, raw = _save(tmp_path, "adamw")
    entries = [{"name": n, "data": v} for n, v in ms.load_checkpoint(path).items()]
    odd = str(tmp_path / "odd.ckpt")
    ms.save_checkpoint(entries + [{"name": "mystery.tensor",
                                   "data": ms.Tensor(np.zeros(3, np.float32))}], odd)
    with pytest.raises(CheckpointError, match="1 unexpected: mystery.tensor"):
        load_checkpoint_strict(_net(), odd)
    optim = str(tmp_path / "optim_coat-1_1.ckpt")   # MindCV's separate optimizer checkpoint
    ms.save_checkpoint([e for e in entries if e["name"].startswith("adam_")
                        or e["name"] == "global_step"], optim)
    with pytest.raises(CheckpointError, match="optimizer checkpoint"):
        load_checkpoint_strict(_net(), optim)


def test_mindcv_yaml_keys_are_known(capsys):
    from coat_export.host.config import read_yaml, spec_from_config

    for name in sorted(os.listdir(os.path.dirname(MINDCV_YAML))):
        path = os.path.join(os.path.dirname(MINDCV_YAML), name)
        data = read_yaml(path)
        assert spec_from_config(data, path).ema is data.get("ema")
    assert capsys.readouterr().err == ""
    spec_from_config({"modle": "coat_tiny", "fancy_new_key": 1}, "x.yaml")
    err = capsys.readouterr().err
    assert "'modle' ignored (did you mean 'model'?)" in err
    assert "neither MindCV nor coat-export knows, ignored: fancy_new_key" in err


def _export(args, cwd):
    return subprocess.run([sys.executable, os.path.join(REPO, "export.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=900)


def test_export_with_ema_end_to_end(ms_graph, tmp_path):
    """export --check on an EMA checkpoint: the yaml's ema: True picks the EMA weights, the
    ONNX computes what MindCV's EMA network computes, the report and bundle say so."""
    import mindspore as ms

    from coat_export.model import CoaTConfig, create_model

    path, raw = _save(tmp_path, "lion", loss_scale=True, ema=True)
    arch = {k: v for k, v in SMALL_LITE.items() if k not in ("num_classes", "image_size")}
    yaml_text = (f"model: small_lite\nnum_classes: 10\nimage_resize: 64\nema: True\n"
                 f"opt: lion\nloss_scale_type: dynamic\nval_while_train: True\nmode: 0\n"
                 f"architecture: {json.dumps(arch)}\n")
    cfg = tmp_path / "recipe.yaml"
    cfg.write_text(yaml_text)
    out = tmp_path / "out"
    r = _export(["-c", cfg, "--ckpt_path", path, "--format", "onnx", "--check", "--bundle",
                 "--output_dir", out], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warning: " not in r.stderr.replace("warning: no --ckpt_path", "")
    assert "EMA weights (ema.*)" in r.stderr and "dropped training state: lion_m" in r.stderr
    parity = json.loads((out / "small_lite.parity.json").read_text())
    assert parity["passed"] and parity["weights"] == "ema"
    assert json.loads((out / "small_lite_bundle" / "manifest.json").read_text())["weights"] == "ema"
    # independent reference: MindCV's way of building the EMA network
    net = create_model(CoaTConfig(**SMALL_LITE))
    ema = _mindcv_ema_weights(path)
    for p in net.get_parameters():
        p.set_data(ms.Tensor(ema[p.name]))
    net.set_train(False)
    x = np.random.default_rng(5).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with pynative_mode():
        ref = net(ms.Tensor(x)).asnumpy()
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / "small_lite.onnx"), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: x[i:i + 1]})[0]
                          for i in range(2)])
    assert np.abs(got - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
    # --no-ema overrides the yaml: the raw weights, and a note that EMA ones exist
    r = _export(["-c", cfg, "--ckpt_path", path, "--format", "onnx", "--no-ema",
                 "--output_dir", tmp_path / "raw"], tmp_path)
    assert r.returncode == 0 and "--ema (or ema: True in the yaml) selects" in r.stderr
    # asked for but absent: one line, exit 2
    plain, _ = _save(tmp_path, "adamw")
    r = _export(["-c", cfg, "--ckpt_path", plain, "--format", "onnx", "--output_dir",
                 tmp_path / "none"], tmp_path)
    assert r.returncode == 2 and "holds no ema.* entries" in r.stderr
    assert "Traceback" not in r.stderr


def test_safetensors_checkpoint_of_a_train_network(ms_graph, tmp_path):
    """MindSpore's save_checkpoint(..., format="safetensors") of a train network with EMA:
    read by the safetensors library, strict, EMA selectable; a damaged one is one error."""
    import mindspore as ms

    from coat_export.model import CheckpointError, load_checkpoint_strict

    net = _net()
    train = _train_network(net, "lion", loss_scale=True, ema=True)
    path = str(tmp_path / "coat.safetensors")
    ms.save_checkpoint(train, path, format="safetensors")
    ema = {p.name[len("ema."):]: p.asnumpy() for p in train.ema_weight}
    loaded = _net()
    info = load_checkpoint_strict(loaded, path, ema=True)
    assert info["weights"] == "ema"
    for p in loaded.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), ema[p.name])
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(open(path, "rb").read()[:-100])
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint_strict(_net(), str(cut))


@pytest.mark.parametrize("level", ["O2", "O3"])
def test_amp_train_network_checkpoints(ms_graph, tmp_path, level):
    """MindSpore's amp.build_train_network (MindCV's amp_level) around the network."""
    import mindspore as ms
    from mindspore import nn

    from coat_export.model import load_checkpoint_strict

    net = _net()
    train = ms.amp.build_train_network(
        net, nn.Momentum(net.trainable_params(), 0.01, 0.9),
        nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"), level=level,
        loss_scale_manager=None)   # (a loss-scale manager needs Ascend/GPU)
    path = str(tmp_path / f"{level}.ckpt")
    ms.save_checkpoint(train, path)
    raw = {p.name: p.asnumpy() for p in net.get_parameters()}
    loaded = _net()
    info = load_checkpoint_strict(loaded, path)
    assert "moments" in info["dropped_summary"]
    for p in loaded.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), raw[p.name].astype(np.float32))
