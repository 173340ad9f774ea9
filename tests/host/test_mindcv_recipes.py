"""Checkpoints written by MindCV's own training machinery, for every MindCV optimizer and for
each of MindCV's four CoaT recipes; compared with what MindCV itself loads and scores.

* Every optimizer MindCV offers, with and without EMA (and with gradient accumulation): the
  checkpoint `mindcv.utils.create_trainer(...)` + `mindspore.save_checkpoint(train_network)`
  writes loads into this toolkit's network with exactly the weights MindCV's
  `create_model(..., checkpoint_path=..., ema=...)` (what its validate.py calls) loads.
* Each recipe (`tests/fixtures/mindcv-configs/*.yaml`, MindCV's own files): its optimizer,
  EMA and AMP level through MindCV's trainer; `export.py -c RECIPE --check --bundle` gives an
  ONNX model equal to MindCV's validate network (<= 1e-4 x max(1, max|ref|)) and a bundle
  recording the weights used; `validate -c RECIPE --ckpt_path CKPT --data_dir ROOT` scores
  what MindCV's validate flow (its dataset, transforms, loader, network, AMP level and top-k
  metrics) scores on the same folder -- for a lite recipe and the seed recipe (coat_tiny,
  EMA): the four yamls share that flow's settings (transforms, crop, AMP O2, metrics), and
  each recipe's network is compared with MindCV's above.
Needs MindCV (the test extra)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from support import REPO, fixture_path, pynative_mode

mindcv = pytest.importorskip("mindcv")

RECIPES = fixture_path("mindcv-configs")
OPTIMIZERS = ["adamw", "lion", "adan", "nadam", "momentum", "sgd", "rmsprop"]


def _recipe(name):
    import yaml

    with open(os.path.join(RECIPES, f"{name}_ascend.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def mindcv_train_checkpoint(path, model_name, opt, ema, amp_level="O0", accumulate=1,
                            loss_scale=1024.0):
    """The checkpoint MindCV's training writes: its model, optimizer and train step
    (create_trainer), saved from the train network as its StateMonitor callback does. On CPU
    MindCV allows only a fixed loss scale without overflow dropping (a recipe's dynamic one
    needs Ascend); no step is run (the optimizer's state is its initial one), and the EMA
    copies are moved away from the raw weights so that the two are different networks."""
    import mindspore as ms
    from mindcv.loss import create_loss
    from mindcv.models import create_model
    from mindcv.optim import create_optimizer
    from mindcv.utils import create_trainer

    net = create_model(model_name, num_classes=1000)
    optimizer = create_optimizer(net.trainable_params(), opt=opt, lr=1e-3, weight_decay=0.05,
                                 loss_scale=loss_scale)
    loss = create_loss(name="CE", label_smoothing=0.1)
    trainer = create_trainer(net, loss, optimizer, metrics=None, amp_level=amp_level,
                             amp_cast_list=None, loss_scale_type="fixed",
                             loss_scale=loss_scale, drop_overflow_update=False, ema=ema,
                             ema_decay=0.9995, gradient_accumulation_steps=accumulate)
    train = trainer.train_network
    if ema:
        rng = np.random.default_rng(0)
        for p in train.ema_weight:
            a = p.asnumpy()
            p.set_data(ms.Tensor((a + 0.02 * rng.standard_normal(a.shape)).astype(a.dtype)))
    ms.save_checkpoint(train, str(path))
    return str(path)


def mindcv_network(model_name, ckpt, ema, amp_level="O0"):
    """MindCV's validate.py network: create_model(..., checkpoint_path, ema), eval mode, its
    AMP level."""
    import mindspore as ms
    from mindcv.models import create_model

    net = create_model(model_name, num_classes=1000, checkpoint_path=ckpt, ema=ema)
    net.set_train(False)
    ms.amp.auto_mixed_precision(net, amp_level=amp_level)
    return net


def _weights(net):
    return {p.name: p.asnumpy() for p in net.get_parameters()}


@pytest.fixture(scope="module")
def ms_graph():
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_every_mindcv_optimizer_loads_the_weights_mindcv_loads(ms_graph, tmp_path, opt):
    from coat_export.model import create_model, load_checkpoint_strict

    for ema in (True, False):
        ckpt = mindcv_train_checkpoint(tmp_path / f"{opt}_{ema}.ckpt", "coat_lite_tiny", opt,
                                       ema)
        for use_ema in ((True, False) if ema else (False,)):
            ours = create_model("coat_lite_tiny")
            info = load_checkpoint_strict(ours, ckpt, ema=use_ema)
            assert info["weights"] == ("ema" if use_ema else "raw")
            assert info["has_ema"] == ema and info["dropped_summary"]
            theirs = _weights(mindcv_network("coat_lite_tiny", ckpt, use_ema))
            mine = _weights(ours)
            assert mine.keys() == theirs.keys()
            for k, v in theirs.items():
                np.testing.assert_array_equal(mine[k], v, err_msg=f"{opt} ema={use_ema} {k}")
        if not ema:   # --ema on a checkpoint without EMA weights: refused, as MindCV does
            with pytest.raises(Exception, match="EMA"):
                load_checkpoint_strict(create_model("coat_lite_tiny"), ckpt, ema=True)
        os.remove(ckpt)


def test_gradient_accumulation_checkpoint(ms_graph, tmp_path):
    """MindCV's train step with gradient_accumulation_steps > 1 wraps the optimizer in
    MindSpore's GradientAccumulation, whose auto-prefixing saves the network's own weights as
    optimizer.<name> (MindCV's load_model_checkpoint then silently loads none of them): the
    raw weights are read from there, the EMA ones as MindCV reads them."""
    import mindspore as ms
    from coat_export.model import create_model, load_checkpoint_strict

    ckpt = mindcv_train_checkpoint(tmp_path / "acc.ckpt", "coat_lite_tiny", "adamw", True,
                                   accumulate=2)
    saved = ms.load_checkpoint(ckpt)
    assert "patch_embed1.proj.weight" not in saved and "accumulation_step" in saved
    raw = create_model("coat_lite_tiny")
    info = load_checkpoint_strict(raw, ckpt)
    assert info["weights"] == "raw" and info["raw_weights_saved_as"] == "optimizer.*"
    for name, value in _weights(raw).items():
        np.testing.assert_array_equal(value, saved[f"optimizer.{name}"].asnumpy())
    ema = create_model("coat_lite_tiny")
    load_checkpoint_strict(ema, ckpt, ema=True)
    theirs = _weights(mindcv_network("coat_lite_tiny", ckpt, True))
    for name, value in _weights(ema).items():
        np.testing.assert_array_equal(value, theirs[name])


# ----------------------------------------------------------------------------- the recipes

def _photos(directory, count=8):
    """JPEG crops, flips and turns of scikit-learn's two photos."""
    import sklearn
    from PIL import Image, ImageOps

    src = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    photos = [Image.open(os.path.join(src, n)).convert("RGB")
              for n in ("china.jpg", "flower.jpg")]
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i in range(count):
        img = photos[i % 2]
        w, h = img.size
        f = 0.5 + 0.12 * (i // 2)
        left, top = int((w - w * f) * ((i * 37) % 11) / 10), int((h - h * f) * ((i * 53) % 7) / 6)
        img = img.crop((left, top, left + int(w * f), top + int(h * f)))
        if i % 3 == 1:
            img = ImageOps.mirror(img)
        if i % 4 == 2:
            img = img.rotate(90, expand=True)
        path = os.path.join(directory, f"img{i:02d}.jpg")
        img.save(path, quality=95)
        paths.append(path)
    return paths


def _mindcv_eval_inputs(paths, cfg):
    """MindCV's eval transforms (create_transforms) applied to each file, eagerly."""
    from mindcv.data import create_transforms

    transforms = create_transforms(dataset_name="imagenet", is_training=False,
                                   image_resize=cfg["image_resize"], crop_pct=cfg["crop_pct"],
                                   interpolation=cfg["interpolation"])
    out = []
    for p in paths:
        x = np.fromfile(p, np.uint8)
        for t in transforms:
            x = t(x)
        out.append(np.asarray(x, np.float32))
    return np.stack(out)


def _mindcv_validate(root, model_name, ckpt, cfg):
    """MindCV's validate.py, step by step: create_dataset / create_transforms / create_loader,
    create_model(..., checkpoint_path, ema), auto_mixed_precision, Model.eval with
    Top1/Top5CategoricalAccuracy."""
    import mindspore as ms
    from mindcv.data import create_dataset, create_loader, create_transforms
    from mindcv.loss import create_loss
    from mindspore import nn

    ds = create_dataset(name="imagenet", root=str(root), split="val", shuffle=False)
    transforms = create_transforms(dataset_name="imagenet", is_training=False,
                                   image_resize=cfg["image_resize"], crop_pct=cfg["crop_pct"],
                                   interpolation=cfg["interpolation"])
    loader = create_loader(dataset=ds, batch_size=8, drop_remainder=False, is_training=False,
                           transform=transforms)
    net = mindcv_network(model_name, ckpt, bool(cfg.get("ema", False)), cfg["amp_level"])
    metrics = {"top1": nn.Top1CategoricalAccuracy(), "top5": nn.Top5CategoricalAccuracy()}
    loss = create_loss(name=cfg.get("loss", "CE"),
                       label_smoothing=cfg.get("label_smoothing", 0.0))
    with pynative_mode():
        return ms.Model(net, loss_fn=loss, metrics=metrics).eval(loader,
                                                                 dataset_sink_mode=False)


# the recipes whose accuracy is also scored by MindCV's validate flow and by ours (~2 minutes
# each on 2 CPU cores); the other two differ from these only in the network, checked above
VALIDATED = ("coat_lite_tiny", "coat_tiny")


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["coat_lite_tiny", "coat_lite_mini", "coat_mini", "coat_tiny"])
def test_recipe_exports_checks_bundles_and_validates_as_mindcv(ms_graph, tmp_path, recipe):
    import mindspore as ms
    import onnxruntime as ort

    cfg = _recipe(recipe)
    yaml_path = os.path.join(RECIPES, f"{recipe}_ascend.yaml")
    ema = bool(cfg.get("ema", False))
    ckpt = mindcv_train_checkpoint(tmp_path / f"{recipe}-300_5004.ckpt", cfg["model"],
                                   cfg["opt"], ema, amp_level=cfg["amp_level"],
                                   loss_scale=float(cfg["loss_scale"]))

    # export --check --bundle, with the recipe's yaml as MindCV users pass it
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, os.path.join(REPO, "export.py"), "-c", yaml_path,
                        "--ckpt_path", ckpt, "--format", "onnx", "--check", "--bundle",
                        "--output_dir", str(out)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "warning" not in r.stderr, r.stderr          # MindCV's own keys are known
    weights = "ema" if ema else "raw"
    onnx_path = out / f"{cfg['model']}.onnx"
    parity = json.loads((out / f"{cfg['model']}.parity.json").read_text())
    assert parity["passed"] and parity["weights"] == weights
    manifest = json.loads((out / f"{cfg['model']}_bundle" / "manifest.json").read_text())
    assert manifest["weights"] == weights

    # the ONNX model computes MindCV's validate network (fp32: the recipe's O2 is for Ascend)
    x = np.random.default_rng(3).standard_normal((2, 3, 224, 224)).astype(np.float32)
    fp32 = mindcv_network(cfg["model"], ckpt, ema)
    with pynative_mode():
        ref = fp32(ms.Tensor(x)).asnumpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def onnx_logits(batch):   # the exported model has a batch of 1
        return np.concatenate([sess.run(None, {sess.get_inputs()[0].name: batch[i:i + 1]})[0]
                               for i in range(len(batch))])

    got = onnx_logits(x)
    assert np.abs(got - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max()))
    if recipe not in VALIDATED:
        return

    # an ImageFolder whose labels make MindCV's accuracy a known fraction: an image whose
    # top-1 is clear is filed under it (correct), the others under MindCV's least likely
    # class (wrong at top-1 and top-5)
    # (the ONNX model, just shown equal to MindCV's fp32 network, gives the logits: MindSpore's
    # CPU fp16 kernels took 66 s for coat_mini's 8 photos; the margin below covers the AMP)
    paths = _photos(tmp_path / "photos")
    logits = onnx_logits(_mindcv_eval_inputs(paths, cfg))
    order = np.argsort(-logits, axis=1)
    gaps = logits[np.arange(len(paths)), order[:, 0]] - logits[np.arange(len(paths)), order[:, 1]]
    # clear: in the upper half, and by a margin that preprocessing and AMP differences
    # (MindSpore's C++ resize vs PIL's, fp16 vs fp32) cannot close
    spread = logits.max(axis=1) - logits.min(axis=1)
    clear = (gaps >= np.median(gaps)) & (gaps > 0.02 * spread)
    labels = np.where(clear, order[:, 0], order[:, -1])
    root = tmp_path / "data"
    for c in range(1000):
        (root / "val" / f"n{c:04d}").mkdir(parents=True)
    for p, c in zip(paths, labels):
        os.replace(p, root / "val" / f"n{c:04d}" / os.path.basename(p))
    expected = float(np.mean(clear))
    theirs = _mindcv_validate(root, cfg["model"], ckpt, cfg)
    assert theirs["top1"] == pytest.approx(expected) and theirs["top5"] == pytest.approx(expected)

    report = tmp_path / "v.json"
    r = subprocess.run([sys.executable, "-m", "coat_export", "validate", "-c", yaml_path,
                        "--ckpt_path", ckpt, "--data_dir", str(root), "--val_split", "val",
                        str(onnx_path), "--json", str(report), "--no_progress"],
                       cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = json.loads(report.read_text())["results"]
    assert [row["format"] for row in rows] == ["mindspore", "onnx"]
    for row in rows:
        assert row["top1"] == pytest.approx(theirs["top1"]), row
        assert row["top5"] == pytest.approx(theirs["top5"]), row
