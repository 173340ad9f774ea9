"""Train a tiny CoaT-Lite on scikit-learn's digits: a test fixture that learned something.

    /work/venv/bin/python training/train_digits.py [--out_dir tests/fixtures/trained]

Reproducible (seeded data split, weights, shuffling). What it writes into --out_dir:

* coat_lite_digits.ckpt   the network's weights (MindSpore checkpoint, no optimizer state)
* coat_lite_digits.json   architecture, preprocessing, held-out split definition, training
                          settings and this script's own held-out accuracy
* digits_heldout/<0..9>/<index>.png   the held-out images (8x8 8-bit grayscale PNG)
* digits_labels.txt       class names, one per line, in class-index order

The images are the 8x8 digits (0..16) scaled to 8-bit (round(v * 255 / 16)) and saved as
grayscale PNG. Training and evaluation feed the network exactly what `coat_export predict`
and `validate` compute from those files: `coat_export.edge.preprocess.preprocess_image` (decode to
RGB, bicubic resize of the shorter side to int(32 / 0.9) = 35, center crop 32, ImageNet
mean/std). The held-out accuracy is measured on the PNG files as written.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from coat_export.edge.preprocess import PreprocessConfig, preprocess_batch, preprocess_image  # noqa: E402

NAME = "coat_lite_digits"
LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ARCH = dict(embed_dims=(16, 32, 48, 64), serial_depths=(1, 1, 1, 1), parallel_depth=0,
            num_heads=8, mlp_ratios=(2, 2, 2, 2), num_classes=10, image_size=32)
PREPROCESS = PreprocessConfig(image_size=32, crop_pct=0.9)
SPLIT = dict(source="sklearn.datasets.load_digits", function="sklearn.model_selection.train_test_split",
             test_size=0.25, random_state=0, stratify=True)


def digit_images():
    """(images uint8 (N, 8, 8), labels (N,)) from sklearn's digits, 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.rint(d.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return images, d.target.astype(np.int32)


def split_indices(labels):
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train, test = train_test_split(idx, test_size=SPLIT["test_size"],
                                   random_state=SPLIT["random_state"], stratify=labels)
    return np.sort(train), np.sort(test)


def write_heldout(out_dir, images, labels, test_idx):
    from PIL import Image

    root = os.path.join(out_dir, "digits_heldout")
    paths = []
    for c in range(10):
        os.makedirs(os.path.join(root, str(c)), exist_ok=True)
    for i in test_idx:
        p = os.path.join(root, str(int(labels[i])), f"{int(i):04d}.png")
        Image.fromarray(images[i], "L").save(p, optimize=True)
        paths.append(p)
    return root, paths


def evaluate(net, x, batch=128):
    import mindspore as ms

    net.set_train(False)
    preds = []
    for s in range(0, len(x), batch):
        logits = net(ms.Tensor(x[s:s + batch])).asnumpy()
        preds.append(logits.argmax(-1))
    return np.concatenate(preds)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out_dir", default=os.path.join(ROOT, "tests", "fixtures", "trained"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch_size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import mindspore as ms
    from mindspore import nn
    from coat_export.model import CoaTConfig, create_model

    t0 = time.time()
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    ms.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out_dir, exist_ok=True)

    images, labels = digit_images()
    train_idx, test_idx = split_indices(labels)
    x_train = np.stack([preprocess_image(_pil(images[i]), PREPROCESS) for i in train_idx])
    y_train = labels[train_idx]
    heldout_dir, heldout_paths = write_heldout(args.out_dir, images, labels, test_idx)

    config = CoaTConfig(**ARCH)
    net = create_model(config)
    steps_per_epoch = len(x_train) // args.batch_size
    total = steps_per_epoch * args.epochs
    lr = nn.cosine_decay_lr(1e-5, args.lr, total, steps_per_epoch, args.epochs)
    warm = min(steps_per_epoch * 2, total)
    lr = [args.lr * (i + 1) / warm if i < warm else v for i, v in enumerate(lr)]
    opt = nn.AdamWeightDecay(net.trainable_params(), learning_rate=lr, weight_decay=0.05)
    loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), opt)
    step.set_train(True)

    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        losses = []
        for s in range(steps_per_epoch):
            b = order[s * args.batch_size:(s + 1) * args.batch_size]
            xb = x_train[b]
            # light augmentation: one random shift (wrap-around roll) of up to 2 pixels per batch
            dy, dx = rng.integers(-2, 3, size=2)
            xb = np.roll(xb, (int(dy), int(dx)), axis=(2, 3))
            losses.append(float(step(ms.Tensor(xb), ms.Tensor(y_train[b])).asnumpy()))
        print(f"epoch {epoch + 1}/{args.epochs} loss {np.mean(losses):.4f} "
              f"({time.time() - t0:.0f}s)", flush=True)
    train_seconds = time.time() - t0

    net.set_train(False)
    ckpt = os.path.join(args.out_dir, f"{NAME}.ckpt")
    ms.save_checkpoint(net, ckpt)

    # Held-out accuracy, measured on the PNG files as written, with the edge preprocessing.
    x_test = preprocess_batch(heldout_paths, PREPROCESS)
    y_test = np.array([int(os.path.basename(os.path.dirname(p))) for p in heldout_paths])
    pred = evaluate(net, x_test)
    acc = float(np.mean(pred == y_test))
    print(f"held-out accuracy {acc:.4f} on {len(y_test)} images; trained in {train_seconds:.0f}s")

    with open(os.path.join(args.out_dir, "digits_labels.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(LABELS) + "\n")
    meta = {
        "model": NAME,
        "architecture": config.to_dict(),
        "preprocessing": PREPROCESS.to_dict(),
        "checkpoint": f"{NAME}.ckpt",
        "labels": "digits_labels.txt",
        "heldout_dir": "digits_heldout",
        "split": {**SPLIT, "num_images": int(len(labels)), "num_train": int(len(train_idx)),
                  "num_test": int(len(test_idx)), "test_indices": [int(i) for i in test_idx]},
        "pixel_encoding": "uint8 = round(v * 255 / 16) of load_digits().images, 8x8 L PNG",
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                     "optimizer": "AdamWeightDecay(wd=0.05), cosine decay, 2 warm-up epochs",
                     "augmentation": "random roll of up to 2 pixels per batch",
                     "seed": args.seed, "seconds": round(train_seconds, 1),
                     "mindspore": ms.__version__},
        "heldout_accuracy": acc,
        "heldout_correct": int(np.sum(pred == y_test)),
        "heldout_predictions": {os.path.relpath(p, args.out_dir): int(k)
                                for p, k in zip(heldout_paths, pred)},
    }
    with open(os.path.join(args.out_dir, f"{NAME}.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return 0 if acc >= 0.9 else 1


def _pil(a):
    from PIL import Image

    return Image.fromarray(a, "L")


if __name__ == "__main__":
    sys.exit(main())
