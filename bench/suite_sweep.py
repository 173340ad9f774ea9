"""Sweep MindSpore's official model suites (MindYOLO, MindOCR, MindAudio) through the converter.

    python bench/suite_sweep.py --out suite.json [--suites mindyolo,mindocr,mindaudio]
                                [--models mindyolo/yolov8n,...] [--timeout 900] [--workdir DIR]
    python bench/suite_sweep.py --out suite.json --table     # Markdown table of a (partial) run

The suites are not dependencies of this project. Each suite runs in its own side environment
(the driver starts one worker process per model with that environment's interpreter):

* mindyolo==0.5.0 and mindaudio==0.3.0 next to MindSpore 2.10 (--py210, default: this
  interpreter; packages installed with `pip install --no-deps --target SITE`, --site210);
  MindYOLO's networks are defined by the yaml files of its repository (configs/ of tag v0.5.0,
  --mindyolo_configs), not shipped in the wheel;
* mindocr==0.5.0 next to MindSpore 2.7.2 (--py27, --site27).

These, the sources and the MINDIR cache live under $COAT_SUITES_DIR (default
~/.cache/coat-export-suites): site-210/, site-27/, venv-ms27/, mindyolo-src/, work/.

Imports that only the suites' data pipelines, metrics or downloads use (cv2, shapely, lmdb, ...)
are replaced by inert stub modules in the worker (STUB below; the record lists those that were
imported), and so is `mindspore.parallel._transformer` (imported by MindOCR's ABINet layers,
gone from MindSpore 2.7 and 2.10): a network that really needs a stubbed module fails to build,
and that failure is recorded.

For every model (random weights with seeded noise on every parameter, `_perturb`; eval mode;
the suite's documented default input):

1. export two MINDIRs in a subprocess (cached in --workdir, so reruns only redo step 2): one at
   batch 1 and one with a symbolic batch (`Tensor(shape=[None, ...])`), and MindSpore's own
   outputs (PyNative, every output, nested tuples flattened) at batch 1 and batch 2;
2. convert at opsets 13, 17 and 21: `static` (batch-1 MINDIR), `dynamic` (symbolic-batch
   MINDIR with --dynamic_batch) and `dynpass` (batch-1 MINDIR with --dynamic_batch, i.e. the
   converter's batch-rewriting pass), and compare every output in ONNX Runtime with
   MindSpore's: static at batch 1, the dynamic ones at batch 1 and 2, each output within
   1e-4 * max(1, max|ref|);
3. for a model with a parity failure in values: MindSpore's own float32 sensitivity on the
   batch-1 MINDIR (`_ulp_sensitivity`: its graph run against its PyNative reference, and how
   far one ulp of input and weights moves each output), once per record (--redo_sensitivity);
4. for a model whose symbolic-batch MINDIR the converter refuses: whether MindSpore's own graph
   run of that MINDIR works at batch 1 (`_symbolic_run`), so that a graph MindSpore wrote wrong
   is told from one the converter cannot express.

A model that cannot be built or exported gets the informative line of its error; a conversion
the converter refuses gets its message and, for unsupported primitives, their names
(`unsupported`), which the table aggregates. Each model runs in its own process under a
timeout; results are appended to --out as soon as a model is done, so a partial run counts.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

# the zoo sweep's bookkeeping: the converter's commit, incremental saves, failure lines
from zoo_sweep import (converter_commit, failure_reason, one_ulp_moved,  # noqa: E402
                       save_results)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OPSETS = (13, 17, 21)
KINDS = ("static", "dynamic", "dynpass", "dynaxes")
DYN_BATCH = 2

# side environments, suite sources and MINDIR caches (large): outside the repository
SUITES_ROOT = (os.environ.get("COAT_SUITES_DIR")
               or os.path.expanduser("~/.cache/coat-export-suites"))
DEFAULTS = {
    "py210": sys.executable,
    "site210": os.path.join(SUITES_ROOT, "site-210"),
    "py27": os.path.join(SUITES_ROOT, "venv-ms27", "bin", "python"),
    "site27": os.path.join(SUITES_ROOT, "site-27"),
    "mindyolo_configs": os.path.join(SUITES_ROOT, "mindyolo-src", "configs"),
}
SUITE_ENV = {"mindyolo": "210", "mindaudio": "210", "mindocr": "27"}

# modules imported by the suites' data, metric, visualisation or download code only
STUB = ("cv2", "pycocotools", "albumentations", "Levenshtein", "sentencepiece", "mir_eval",
        "moxing", "shapely", "pyclipper", "lanms", "rapidfuzz", "imgaug", "skimage",
        "matplotlib", "huggingface_hub", "requests", "lmdb", "seqeval", "sklearn",
        "mindspore.parallel._transformer")

# MindYOLO: one small member of each family first (a partial run then covers every family)
YOLO_FIRST = ["yolov8/yolov8n", "yolov5/yolov5n", "yolov7/yolov7-tiny", "yolov9/yolov9-t",
              "yolov10/yolov10n", "yolov11/yolov11-n", "yolox/yolox-nano", "yolov3/yolov3",
              "yolov4/yolov4", "yolox/yolox-tiny", "yolov8/yolov8s", "yolov5/yolov5s",
              "yolov5/yolov5n6"]
OCR_FIRST = ["dbnet_mobilenetv3", "crnn_vgg7", "svtr_tiny", "east_mobilenetv3",
             "psenet_mobilenetv3", "cls_mobilenet_v3_small_100_model", "dbnet_resnet18",
             "crnn_resnet34", "rare_resnet34", "visionlan_resnet45", "master_resnet31",
             "robustscanner_resnet31", "abinet", "svtr_ppocrv3_ch", "dbnet_ppocrv3", "yolov8",
             "table_master", "layoutxlm_ser"]

# MindAudio: the networks of its models module, with the hyper-parameters of its examples
# (recipes in the repository's examples/); inputs as (shape without batch, dtype)
AUDIO = {
    "ecapatdnn": dict(inputs=[((200, 80), "float32")]),
    # the decoder's overlap-add matrix is built for 4 s at 8 kHz with L=20
    "conv_tasnet": dict(inputs=[((32000,), "float32")]),
    "tasnet": dict(inputs=[((100, 40), "float32")]),
    "deepspeech2": dict(inputs=[((1, 161, 200), "float32"), ((), "int32")]),
    "conformer_encoder": dict(inputs=[((163, 80), "float32"), ((1, 40), "bool"),
                                      ((40, 40), "bool")]),
}
# Inputs a model reads as something other than data (see _random_inputs): RobustScanner's
# eval inputs are the image, its valid-width mask over the 40 feature columns (all valid) and
# the decoder's word positions 0..39 (MindOCR's RobustScannerRecResizeImg / eval config).
INPUT_VALUES = {"mindocr/robustscanner_resnet31": {1: "ones", 2: "positions"}}
# Models whose input has a variable axis besides the batch (a text line's width, an
# utterance's frames): the `dynaxes` kind exports them with that axis symbolic (None in
# `symbolic`), converts with --dynamic_axes and checks at two sizes (`sizes`: full input specs,
# the first at batch 1, the second at batch 2). Conformer's masks follow its 4x subsampling.
DYNAMIC_AXES = {
    "mindocr/crnn_resnet34": dict(symbolic=[(3, 32, None)],
                                  sizes=[[((3, 32, 100), "float32")],
                                         [((3, 32, 160), "float32")]]),
    "mindocr/crnn_vgg7": dict(symbolic=[(3, 32, None)],
                              sizes=[[((3, 32, 100), "float32")], [((3, 32, 160), "float32")]]),
    "mindocr/svtr_ppocrv3_ch": dict(symbolic=[(3, 48, None)],
                                    sizes=[[((3, 48, 320), "float32")],
                                           [((3, 48, 160), "float32")]]),
    "mindaudio/deepspeech2": dict(symbolic=[(1, 161, None), ()],
                                  sizes=[[((1, 161, 200), "float32"), ((), "int32")],
                                         [((1, 161, 120), "float32"), ((), "int32")]]),
    "mindaudio/ecapatdnn": dict(symbolic=[(None, 80)],
                                sizes=[[((200, 80), "float32")], [((120, 80), "float32")]]),
    "mindaudio/tasnet": dict(symbolic=[(None, 40)],
                             sizes=[[((100, 40), "float32")], [((60, 40), "float32")]]),
    # the masks' axes are the subsampled frames: one name, so the converter's check feeds
    # them a size that matches the frames (`names`: input position -> {axis: name}; the
    # check runs at the sizes of `sizes`)
    "mindaudio/conformer_encoder": dict(
        symbolic=[(None, 80), (1, None), (None, None)],
        sizes=[[((163, 80), "float32"), ((1, 40), "bool"), ((40, 40), "bool")],
               [((99, 80), "float32"), ((1, 24), "bool"), ((24, 24), "bool")]],
        names={0: {1: "frames"}, 1: {2: "subsampled"}, 2: {1: "subsampled", 2: "subsampled"}}),
}


def _named_axes(spec, input_names):
    """(--dynamic_axes mapping, --check_sizes) from a DYNAMIC_AXES entry's `names`; ({}, None)
    (the converter's default names and sizes) without."""
    if not spec or "names" not in spec:
        return {}, None
    axes = {input_names[i]: dict(named) for i, named in spec["names"].items()}
    sizes = {}
    for i, named in spec["names"].items():
        for axis, name in named.items():
            sizes[name] = tuple(run[i][0][axis - 1] for run in spec["sizes"])
    return axes, sizes
HEAVY = ("x6", "e6e", "e6", "d6", "w6", "yolov7-x", "-x", "x.yaml", "l6", "-e", "-c", "m6",
         "darknet53", "152", "yolov8x", "yolov5x", "yolov10x", "yolov10l", "yolov8l",
         "yolov5l", "-l")


# ----------------------------------------------------------------------------- worker side

def _install_stubs():
    """Inert modules for the names in STUB that the environment lacks."""
    import importlib.abc
    import importlib.machinery
    import importlib.util
    import types

    stubbed = []

    class Any(types.ModuleType):
        def __getattr__(self, k):
            if k.startswith("__"):
                raise AttributeError(k)
            return Any(f"{self.__name__}.{k}")

        def __call__(self, *a, **k):  # a decorator passes its function through
            return a[0] if len(a) == 1 and not k and callable(a[0]) else Any(self.__name__)

        def __mro_entries__(self, bases):
            return (object,)

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if any(name == s or name.startswith(s + ".") for s in STUB):
                stubbed.append(name)
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            m = Any(spec.name)
            m.__path__ = []
            return m

        def exec_module(self, module):
            pass

    sys.meta_path.append(Finder())  # last: only what no real finder provides
    return stubbed


def _flatten(out):
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _flatten(o)]
    return [out]


def _outputs(net, xs):
    """MindSpore's outputs for inputs `xs`, flattened; a Python constant among them (YOLOX
    returns (detections, 1)) as a 0-d array, as the converter writes it."""
    import numpy as np
    import mindspore as ms
    return [o.asnumpy() if hasattr(o, "asnumpy") else np.asarray(o)
            for o in _flatten(net(*[ms.Tensor(x) for x in xs]))]


def _random_inputs(specs, batch, seed, values=None):
    """Inputs for `specs` at `batch`: floats uniform in [-1, 1), masks all true, integers
    the full length of the first input's last axis; `values` (input position -> "ones" or
    "positions", from INPUT_VALUES) overrides that for inputs a model reads otherwise."""
    import numpy as np
    rng = np.random.RandomState(seed)
    arrays = []
    for i, (shape, dtype) in enumerate(specs):
        full = (batch,) + tuple(shape)
        kind = (values or {}).get(i)
        if kind == "ones":
            arrays.append(np.ones(full, dtype=dtype))
        elif kind == "positions":
            arrays.append(np.broadcast_to(np.arange(full[-1], dtype=dtype), full).copy())
        elif dtype == "bool":
            arrays.append(np.ones(full, dtype=bool))
        elif dtype.startswith("int"):
            # lengths / sizes: the full length of the first input's last axis
            arrays.append(np.full(full, specs[0][0][-1], dtype=dtype))
        else:
            arrays.append((rng.rand(*full).astype(np.float32) * 2 - 1).astype(dtype))
    return arrays


def _build(suite, name, opts):
    """(network, input specs, note) for suite/name."""
    if suite == "mindyolo":
        from mindyolo.models import create_model
        from mindyolo.utils.config import Config, load_config
        cfg, _, _ = load_config(os.path.join(opts["mindyolo_configs"], name + ".yaml"))
        cfg = Config(cfg)
        note = ""
        if "YOLOv7AuxHead" in str(cfg.network.get("head", "")):
            # MindYOLO 0.5.0's YOLOv7AuxHead divides the yaml's integer anchors in place,
            # which NumPy refuses (int64 output of a true divide): the same anchors as floats
            cfg.network.anchors = [[float(v) for v in a] for a in cfg.network.anchors]
            # ... and YOLOv7 calls the head's _initialize_aux_biases without its underscore
            from mindyolo.models.heads.yolov7_head import YOLOv7AuxHead
            if not hasattr(YOLOv7AuxHead, "initialize_aux_biases"):
                YOLOv7AuxHead.initialize_aux_biases = YOLOv7AuxHead._initialize_aux_biases
            note = ", two MindYOLO build bugs worked around (bench/suite_sweep.py _build)"
        nc = int(cfg.data.nc) if "data" in cfg and "nc" in cfg.data else 80
        size = int(cfg.get("img_size", 640)) if hasattr(cfg, "get") else 640
        net = create_model(model_name=cfg.network.model_name, model_cfg=cfg.network,
                           num_classes=nc)
        return net, [((3, size, size), "float32")], f"nc={nc}{note}"
    if suite == "mindocr":
        from mindocr.models import build_model
        from mindocr.models._registry import model_entrypoint
        fn = model_entrypoint(name)
        cfg = getattr(sys.modules[fn.__module__], "default_cfgs", {}).get(name, {})
        size = cfg.get("input_size")
        note = "input_size from default_cfgs"
        if not size:
            note = "no input_size in default_cfgs: sweep default"
            size = (3, 480, 480) if "table" in name else \
                (3, 32, 100) if name.startswith(("crnn", "rare", "svtr", "abinet")) else \
                (3, 640, 640)
        import inspect

        import mindocr.models.backbones.builder as backbone_builder
        kw = {"pretrained": False}
        if "pretrained_backbone" in inspect.signature(fn).parameters:
            kw["pretrained_backbone"] = False  # its default downloads backbone weights
        load_model = backbone_builder.load_model

        def random_backbone(net, path, *a, **k):
            # EAST's and PSENet's builders pass a backbone checkpoint URL even with
            # pretrained=False: weights stay random, as for every model of the sweep
            if isinstance(path, str) and path.startswith(("http://", "https://")):
                skipped.append(path)
                return None
            return load_model(net, path, *a, **k)
        def no_pretrained(*a, **k):
            # EAST's and PSENet's ResNet-50 builders set their backbone's pretrained=True
            # whenever the model's is False (`pretrained_backbone = not pretrained`)
            skipped.append("load_pretrained")

        skipped = []
        # every module that imported MindOCR's load_pretrained holds its own reference
        holders = [m for m in list(sys.modules.values())
                   if getattr(m, "__name__", "").startswith("mindocr.")
                   and getattr(m, "load_pretrained", None) is not None]
        originals = [(m, m.load_pretrained) for m in holders]
        backbone_builder.load_model = random_backbone
        for m, _ in originals:
            m.load_pretrained = no_pretrained
        try:
            net = build_model(name, **kw)
        finally:
            backbone_builder.load_model = load_model
            for m, fn in originals:
                m.load_pretrained = fn
        if skipped:
            note += "; backbone checkpoint the builder asks for skipped (random weights)"
        # CRNN's neck casts its LSTM to float16 (a MindSpore >= 2.3 workaround for Ascend),
        # which MindSpore's CPU kernels reject: back to float32, as a CPU user must
        for _, cell in net.cells_and_names():
            if getattr(cell, "encoder_cast_to_fp16", False):
                import mindspore as ms
                cell.seq_encoder.to_float(ms.float32)
                cell.encoder_cast_to_fp16 = False
                note += "; neck LSTM kept in float32 (its Ascend float16 cast fails on CPU)"
        specs = [(tuple(size), "float32")]
        if name.startswith("robustscanner"):
            # its head reads (valid_width_mask, word_positions) after the image: ResNet-31's
            # features are a quarter of the image's width; 40 is the head's max_text_len
            specs += [((1, int(size[-1]) // 4), "float32"), ((40,), "int32")]
            note += "; inputs 2-3: valid-width mask (all valid) and word positions 0..39"
        return net, specs, note
    if suite == "mindaudio":
        import mindaudio.models as m
        spec = AUDIO[name]
        if name == "ecapatdnn":
            from mindaudio.models.ecapatdnn import EcapaTDNN
            net = EcapaTDNN(80, channels=[1024, 1024, 1024, 1024, 3072], lin_neurons=192)
        elif name == "conv_tasnet":
            from mindaudio.models.conv_tasnet import ConvTasNet
            net = ConvTasNet(N=512, L=20, B=128, H=512, P=3, X=8, R=3, C=2, norm_type="gLN",
                             causal=False, mask_nonlinear="relu")
        elif name == "tasnet":
            net = m.TasNet(L=40, N=500, hidden_size=500, num_layers=4, bidirectional=False,
                           nspk=2)
        elif name == "deepspeech2":
            class Conf:
                sample_rate, window_size = 16000, 0.02
            net = m.DeepSpeechModel(batch_size=1, labels=list("'ABCDEFGHIJKLMNOPQRSTUVWXYZ _"),
                                    rnn_hidden_size=1024, nb_layers=5, audio_conf=Conf,
                                    rnn_type="LSTM", bidirectional=True)
        elif name == "conformer_encoder":
            net = m.ConformerEncoder(80, output_size=256, attention_heads=4,
                                     linear_units=2048, num_blocks=12)
        else:
            raise ValueError(f"unknown mindaudio model {name}")
        return net, spec["inputs"], "hyper-parameters of the examples/ recipe"
    raise ValueError(f"unknown suite {suite}")


def _perturb(net, seed=0):
    """Seeded random parameters: weights (2-D and up) drawn He-normal, N(0, 2 / fan-in), so
    that activations keep their scale through deep nets; vectors (biases, BN and LN
    parameters) given noise, BN variances scaled to stay positive. With the suites' own
    initialisers a random YOLO's features fade to nothing before the head, whose class biases
    are constant priors: yolov10n's top-300 scores held only 15 distinct values (one before
    the vectors got noise), ties that MindSpore's and ONNX Runtime's top-k order differently,
    so the check compared tie orders, not the conversion. Returns the number changed."""
    import numpy as np
    import mindspore as ms
    rng = np.random.RandomState(seed)
    changed = 0
    for p in net.get_parameters():
        a = p.asnumpy()
        if a.dtype.kind != "f" or a.size == 0:
            continue
        if a.ndim >= 2:
            b = rng.normal(0, np.sqrt(2.0 / max(1, a.size // a.shape[0])), a.shape)
        elif "variance" in p.name:
            b = a * (1 + 0.2 * rng.uniform(-1, 1, a.shape))
        else:
            b = a + rng.normal(0, 0.1 * (float(a.std()) or 1.0), a.shape)
        p.set_data(ms.Tensor(b.astype(a.dtype)))
        changed += 1
    return changed


def _export(model_id, workdir, opts):
    import numpy as np
    import mindspore as ms

    suite, name = model_id.split("/", 1)
    stubbed = _install_stubs()
    ms.set_context(mode=ms.PYNATIVE_MODE, device_target="CPU")
    ms.set_seed(0)
    try:
        ms.set_recursion_limit(2000)
    except Exception:
        pass
    net, specs, note = _build(suite, name, opts)
    net.set_train(False)
    perturbed = _perturb(net)
    base = os.path.join(workdir, model_id.replace("/", "__"))
    data = {}
    rec = {"input_specs": [[list(s), d] for s, d in specs], "input_note": note,
           "mindspore": ms.__version__, "perturbed_parameters": perturbed}
    for batch in (1, DYN_BATCH):
        xs = _random_inputs(specs, batch, seed=batch, values=INPUT_VALUES.get(model_id))
        t = time.perf_counter()
        try:
            outs = _outputs(net, xs)
        except Exception as exc:
            if batch == 1:
                raise
            rec[f"forward_b{batch}_error"] = _first_line(exc)
            continue
        rec[f"ms_forward_b{batch}_s"] = round(time.perf_counter() - t, 2)
        for i, x in enumerate(xs):
            data[f"in{i}_b{batch}"] = x
        for j, o in enumerate(outs):
            data[f"out{j}_b{batch}"] = o
        rec[f"outputs_b{batch}"] = [list(o.shape) for o in outs]
    t = time.perf_counter()
    ms.export(net, *[ms.Tensor(x) for x in _random_inputs(specs, 1, 1,
                                                           INPUT_VALUES.get(model_id))],
              file_name=base + ".static", file_format="MINDIR")
    rec["export_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    try:
        sym = [ms.Tensor(shape=[None] + list(s), dtype=getattr(ms, d)) for s, d in specs]
        ms.export(net, *sym, file_name=base + ".dyn", file_format="MINDIR")
        rec["export_dyn_s"] = round(time.perf_counter() - t, 2)
    except Exception as exc:
        rec["export_dyn_error"] = _first_line(exc)
    if model_id in DYNAMIC_AXES:
        _export_dynamic_axes(net, DYNAMIC_AXES[model_id], base, data, rec)
    rec["stubbed"] = sorted({s.split(".")[0] if not s.startswith("mindspore") else s
                             for s in stubbed})
    np.savez(base + ".npz", **data)
    return rec


def _export_dynamic_axes(net, spec, base, data, rec):
    """The `dynaxes` MINDIR (batch and the variable axes symbolic) and MindSpore's outputs
    at two sizes (data keys ax<k>_in<i> / ax<k>_out<j>)."""
    import mindspore as ms
    dtypes = [d for _, d in spec["sizes"][0]]
    try:
        sym = [ms.Tensor(shape=[None] + list(s), dtype=getattr(ms, d))
               for s, d in zip(spec["symbolic"], dtypes)]
        ms.export(net, *sym, file_name=base + ".axes", file_format="MINDIR")
    except Exception as exc:
        rec["export_axes_error"] = _first_line(exc)
        return
    for k, specs in enumerate(spec["sizes"]):
        xs = _random_inputs(specs, k + 1, seed=10 + k)
        try:
            outs = _outputs(net, xs)
        except Exception as exc:
            rec[f"forward_axes{k}_error"] = _first_line(exc)
            continue
        for i, x in enumerate(xs):
            data[f"ax{k}_in{i}"] = x
        for j, o in enumerate(outs):
            data[f"ax{k}_out{j}"] = o
    rec["axes_inputs"] = [[[list(s), d] for s, d in specs] for specs in spec["sizes"]]


def _first_line(exc) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("-")]
    return f"{type(exc).__name__}: {(lines[0] if lines else '')[:300]}"


def _mindir(base):
    for p in (base + ".mindir", base + "_graph.mindir"):
        if os.path.exists(p):
            return p
    return None


def _compare(actual, ref):
    import numpy as np
    if actual.shape != ref.shape:
        return float("inf"), 0.0
    if ref.dtype == bool or np.issubdtype(ref.dtype, np.integer):
        return float(np.sum(actual != ref)), 0.0
    a, r = actual.astype(np.float64), ref.astype(np.float64)
    finite = np.isfinite(r)
    if not np.array_equal(finite, np.isfinite(a)) or not np.array_equal(a[~finite], r[~finite]):
        return float("inf"), 0.0
    if not finite.any():
        return 0.0, 0.0
    err = float(np.max(np.abs(a[finite] - r[finite])))
    return err, 1e-4 * max(1.0, float(np.max(np.abs(r[finite]))))


def _nonfinite(a) -> str:
    """How many NaN and infinite entries a float array holds, as text."""
    import numpy as np
    if a.dtype.kind != "f":
        return "no NaN or inf"
    return f"{int(np.isnan(a).sum())} NaN and {int(np.isinf(a).sum())} inf of {a.size}"


def _compare_rows(actual, ref):
    """An output of top-k selected rows (YOLOv10's detections: box, score, class) whose
    near-equal scores two runtimes rank differently. Each sample's rows are matched one to one
    with MindSpore's within `_compare`'s tolerance; a row left over on either side must lie at
    the selection's cut: its score (the column MindSpore's rows descend by) within ten times
    the matched rows' score noise of the last selected score. (error, tolerance) of the
    matched rows; (inf, 0) for anything else."""
    import numpy as np
    if actual.shape != ref.shape or ref.ndim < 2 or ref.dtype.kind != "f" or \
            not np.isfinite(ref).all() or not np.isfinite(actual).all():
        return float("inf"), 0.0
    a = actual.astype(np.float64).reshape((-1,) + ref.shape[-2:])
    r = ref.astype(np.float64).reshape(a.shape)
    if r.shape[-1] > 64 or r.shape[1] < 2:   # rows of a few fields, not a map
        return float("inf"), 0.0
    descending = [c for c in range(r.shape[-1]) if np.all(np.diff(r[:, :, c], axis=1) <= 0)
                  and np.all(np.ptp(r[:, :, c], axis=1) > 0)]
    if not descending:
        return float("inf"), 0.0
    score = descending[0]
    if np.any(np.diff(a[:, :, score], axis=1) > 0):    # not selected in score order
        return float("inf"), 0.0
    tol = 1e-4 * max(1.0, float(np.max(np.abs(r))))
    # each column within its own scale's tolerance: scores are small beside box coordinates
    col_tol = 1e-4 * np.maximum(1.0, np.max(np.abs(r), axis=(0, 1)))
    err, noise, left = 0.0, 0.0, []
    for a_s, r_s in zip(a, r):
        dist = np.max(np.abs(r_s[:, None, :] - a_s[None, :, :]) / col_tol, axis=-1) * tol
        free = np.ones(len(a_s), bool)
        unmatched = []
        for i in range(len(r_s)):
            j = int(np.argmin(np.where(free, dist[i], np.inf)))
            if free[j] and dist[i, j] <= tol:
                free[j] = False
                err = max(err, float(dist[i, j]))
                noise = max(noise, abs(float(a_s[j, score] - r_s[i, score])))
            else:
                unmatched.append(r_s[i, score])
        if np.any(np.min(dist[:, free], axis=0) <= tol):   # a duplicate of a selected row
            return float("inf"), 0.0
        cut = r_s[-1, score]
        left += [abs(v - cut) for v in unmatched + list(a_s[free, score])]
    if left and max(left) > 10 * noise + 1e-12:
        return float("inf"), 0.0
    return err, tol


def _checks(kind, dynamic):
    """(label, input key, output key) of each input set a conversion is checked at: the keys
    of the export's data, with {} for the input / output index."""
    if kind == "dynaxes":
        return [(f"size{k}", f"ax{k}_in{{}}", f"ax{k}_out{{}}") for k in (0, 1)]
    return [(f"b{b}", f"in{{}}_b{b}", f"out{{}}_b{b}")
            for b in ((1, DYN_BATCH) if dynamic else (1,))]


# An output that misses the tolerance still agrees with MindSpore as closely as ONNX Runtime
# agrees with itself when it only reorders float32 arithmetic (graph optimisations off):
# within NOISE_FACTOR times that difference, the gap is the network's float32 noise floor.
NOISE_FACTOR = 2.0


def _unoptimised(model, ort):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def _convert_and_check(model_id, workdir):
    import numpy as np
    import onnxruntime as ort
    from coat_export import converters
    from coat_export.converters.dynamic_axes import describe
    from coat_export.converters.errors import UnsupportedOpsError

    base = os.path.join(workdir, model_id.replace("/", "__"))
    data = dict(np.load(base + ".npz"))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sources = {"static": (_mindir(base + ".static"), False),
               "dynamic": (_mindir(base + ".dyn"), True),
               "dynpass": (_mindir(base + ".static"), True),
               "dynaxes": (_mindir(base + ".axes"), True)}
    results = {}
    for opset in OPSETS:
        for kind in KINDS:
            mindir, dynamic = sources[kind]
            key = f"{kind}_{opset}"
            rec = {}
            results[key] = rec
            if mindir is None:
                rec["status"] = "no_mindir"
                continue
            axes = kind == "dynaxes"
            try:
                names, sizes = ({}, None) if not axes else _named_axes(
                    DYNAMIC_AXES.get(model_id),
                    [v.name for v in converters.read_mindir(mindir).inputs])
                t = time.perf_counter()
                conv = converters.convert_detailed(mindir, opset=opset, dynamic_batch=dynamic,
                                                   dynamic_axes=names if axes else None,
                                                   check_sizes=sizes)
                model = conv.model
                rec["convert_s"] = round(time.perf_counter() - t, 3)
                if axes:
                    rec["axes"] = describe(model)
                if conv.notes:
                    rec["converter_notes"] = list(conv.notes)
                sess = ort.InferenceSession(model.SerializeToString(), opts,
                                            providers=["CPUExecutionProvider"])
                names = [i.name for i in sess.get_inputs()]
                ok, plain = True, None
                for label, in_key, out_key in _checks(kind, dynamic):
                    if in_key.format(0) not in data:
                        rec[label] = "no MindSpore reference"
                        continue
                    feed = {n: data[in_key.format(i)] for i, n in enumerate(names)}
                    outs = sess.run(None, feed)
                    refs = [data[out_key.format(j)] for j in range(len(data))
                            if out_key.format(j) in data]
                    if len(outs) != len(refs):
                        rec[label] = f"{len(outs)} outputs, MindSpore has {len(refs)}"
                        ok = False
                        continue
                    errs, tols = map(list, zip(*(_compare(o, r) for o, r in zip(outs, refs))))
                    for j, (o, r) in enumerate(zip(outs, refs)):
                        if errs[j] > tols[j]:
                            e, t = _compare_rows(o, r)
                            if e <= t:   # the same rows up to near-ties in order and at the cut
                                rec.setdefault("tie_order", []).append(f"{label} output {j}")
                                errs[j], tols[j] = e, t
                    if any(e > t for e, t in zip(errs, tols)):
                        plain = plain or _unoptimised(model, ort)
                        floors = [_compare(o, r)[0] for o, r in zip(plain.run(None, feed), outs)]
                        rec[f"noise_floor_{label}"] = floors
                        for j, f in enumerate(floors):
                            if tols[j] < errs[j] <= NOISE_FACTOR * f:
                                rec.setdefault("noise", []).append(f"{label} output {j}")
                                tols[j] = NOISE_FACTOR * f
                    shapes = [f"output {j}: {tuple(o.shape)}, MindSpore {tuple(r.shape)}"
                              for j, (o, r) in enumerate(zip(outs, refs)) if o.shape != r.shape]
                    nonfinite = [f"output {j}: MindSpore {_nonfinite(r)}, ONNX Runtime "
                                 f"{_nonfinite(o)}" for j, (o, r) in enumerate(zip(outs, refs))
                                 if o.shape == r.shape and errs[j] == float("inf")]
                    if shapes or nonfinite:
                        rec["reason"] = f"at {label}: " + "; ".join(shapes + nonfinite)
                    rec[f"max_err_{label}"] = list(errs)
                    rec[f"tol_{label}"] = list(tols)
                    ok = ok and all(e <= t for e, t in zip(errs, tols))
                rec["status"] = ("mismatch" if not ok else "noise" if rec.get("noise") else
                                 "ties" if rec.get("tie_order") else "ok")
            except UnsupportedOpsError as exc:
                rec["status"] = "refused"
                rec["unsupported"] = list(exc.unsupported)
                rec["reason"] = str(exc)[:400]
            except converters.ConversionError as exc:
                rec["status"] = "refused"
                rec["reason"] = str(exc)[:400]
            except Exception as exc:  # a converter bug, or ONNX Runtime rejecting its output
                rec["status"] = "crash"
                rec["reason"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return results


def _inputs_b1(data):
    """The batch-1 inputs an export phase saved (its .npz: in0_b1, in1_b1, ...)."""
    return [data[f"in{i}_b1"] for i in range(len(data)) if f"in{i}_b1" in data]


def _ulp_sensitivity(model_id, workdir):
    """How closely any correct float32 implementation can agree with MindSpore, per output,
    measured by MindSpore alone on the static MINDIR (graph mode): `graph_vs_pynative`, its
    graph run against the PyNative forward the reference outputs came from; `max_diff`, the
    largest of the differences between its run and runs with every input element and float32
    weight moved by one ulp in a random direction (`one_ulp_moved`)."""
    import numpy as np
    import mindspore as ms
    from mindspore import nn

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    base = os.path.join(workdir, model_id.replace("/", "__"))
    mindir = _mindir(base + ".static")
    data = np.load(base + ".npz")
    xs = _inputs_b1(data)
    refs = [data[f"out{j}_b1"] for j in range(len(data)) if f"out{j}_b1" in data]

    graph = nn.GraphCell(ms.load(mindir))
    a = _outputs(graph, xs)
    params = {k: v.asnumpy() for k, v in graph.parameters_dict().items()}
    params = {k: v for k, v in params.items() if v.dtype == np.float32}
    draws = [[_compare(o, r)[0] for o, r in zip(_outputs(cell, moved), a)]
             for cell, moved in one_ulp_moved(mindir, xs, params)]
    return {"graph_vs_pynative": [_compare(o, r)[0] for o, r in zip(a, refs)],
            "ulp_draws": draws, "max_diff": [max(d) for d in zip(*draws)],
            "moved_parameters": len(params)}


def _symbolic_run(model_id, workdir):
    """Whether MindSpore itself runs the symbolic-batch MINDIR it exported (graph mode, the
    batch-1 inputs): measured where the converter refuses that MINDIR, to tell a graph
    MindSpore wrote wrong from one the converter cannot express."""
    import numpy as np
    import mindspore as ms
    from mindspore import nn

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    base = os.path.join(workdir, model_id.replace("/", "__"))
    data = np.load(base + ".npz")
    xs = _inputs_b1(data)
    t = time.perf_counter()
    try:
        outs = _outputs(nn.GraphCell(ms.load(_mindir(base + ".dyn"))), xs)
    except Exception as exc:   # MindSpore's own failure is the measurement
        return {"error": _first_line(exc), "seconds": round(time.perf_counter() - t, 1)}
    return {"ran": True, "output_shapes": [list(o.shape) for o in outs],
            "seconds": round(time.perf_counter() - t, 1)}


def _list_suite(suite, opts):
    _install_stubs()
    if suite == "mindocr":
        from mindocr.models import list_models
        return sorted(list_models())
    raise ValueError(suite)


def worker(args):
    opts = {k: getattr(args, k) for k in DEFAULTS}
    if args.phase == "list":
        out = _list_suite(args.worker, opts)
    elif args.phase == "export":
        out = _export(args.worker, args.workdir, opts)
    elif args.phase == "sensitivity":
        out = _ulp_sensitivity(args.worker, args.workdir)
    elif args.phase == "symbolic_run":
        out = _symbolic_run(args.worker, args.workdir)
    else:
        out = _convert_and_check(args.worker, args.workdir)
    print("RESULT " + json.dumps(out), flush=True)


# ----------------------------------------------------------------------------- driver side

def _env_of(suite, args):
    tag = SUITE_ENV[suite]
    return getattr(args, "py" + tag), getattr(args, "site" + tag)


def _run_phase(target, suite, phase, args):
    # conversion needs no MindSpore: always in the MindSpore 2.10 environment (the 2.7.2 one
    # pins an older protobuf than onnx's generated code needs)
    py, site = _env_of("mindyolo" if phase == "convert" else suite, args)
    cmd = [py, os.path.abspath(__file__), "--worker", target, "--phase", phase,
           "--workdir", args.workdir] + [f"--{k}={getattr(args, k)}" for k in DEFAULTS]
    env = dict(os.environ, GLOG_v="3", PYTHONPATH=os.pathsep.join(
        [site, REPO] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        return None, f"timeout after {args.timeout} s in {phase}"
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]), None
    return None, f"{phase} failed (exit {proc.returncode}): " + failure_reason(proc.stderr or "")


def _models(args):
    suites = args.suites.split(",")
    models = []
    if "mindyolo" in suites:
        cfgs = sorted(os.path.relpath(p, args.mindyolo_configs)[:-5]
                      for p in glob.glob(os.path.join(args.mindyolo_configs, "*", "*.yaml")))
        # network definitions: not hyper-parameter files or the *-base files they extend
        cfgs = [c for c in cfgs if not os.path.basename(c).startswith("hyp")
                and not c.endswith("-base")]
        light = [c for c in cfgs if c not in YOLO_FIRST and not any(h in c for h in HEAVY)]
        models += [f"mindyolo/{c}" for c in YOLO_FIRST if c in cfgs]
        models += [f"mindyolo/{c}" for c in light]
        models += [f"mindyolo/{c}" for c in cfgs if c not in YOLO_FIRST and c not in light]
    if "mindocr" in suites:
        names, err = _run_phase("mindocr", "mindocr", "list", args)
        if err:
            print(f"mindocr: cannot list models: {err}", flush=True)
            names = []
        models += [f"mindocr/{n}" for n in OCR_FIRST if n in names]
        models += [f"mindocr/{n}" for n in names if n not in OCR_FIRST]
    if "mindaudio" in suites:
        models += [f"mindaudio/{n}" for n in AUDIO]
    return models


def _interleave(models):
    """Round-robin over the suites, so a partial run covers each of them."""
    by = {}
    for m in models:
        by.setdefault(m.split("/")[0], []).append(m)
    out = []
    while any(by.values()):
        for s in list(by):
            if by[s]:
                out.append(by[s].pop(0))
    return out


def sweep(args):
    models = args.models.split(",") if args.models else _interleave(_models(args))
    os.makedirs(args.workdir, exist_ok=True)
    results = json.load(open(args.out)) if os.path.exists(args.out) else {}
    commit = converter_commit()
    for model_id in models:
        suite = model_id.split("/")[0]
        rec = results.get(model_id, {"suite": suite})
        if rec.get("conversions") and not args.redo_convert:
            if _needs_sensitivity(rec, args):
                _add_sensitivity(model_id, suite, rec, args)
                save_results(args.out, results)
            continue
        if rec.get("error", "").startswith("export") and not args.redo_export:
            continue
        base = os.path.join(args.workdir, model_id.replace("/", "__"))
        cached = os.path.exists(base + ".npz") and _mindir(base + ".static")
        if args.redo_export or not cached or "export" not in rec:
            t = time.perf_counter()
            exp, err = _run_phase(model_id, suite, "export", args)
            if err:
                results[model_id] = {"suite": suite, "error": "export: " + err,
                                     "export_wall_s": round(time.perf_counter() - t, 1)}
                save_results(args.out, results)
                print(f"{model_id}: {err}", flush=True)
                continue
            rec["export"] = exp
        conv, err = _run_phase(model_id, suite, "convert", args)
        if err:
            rec["error"] = "convert: " + err
        else:
            rec.pop("error", None)
            rec["conversions"] = conv
        rec["converter_commit"] = commit
        if _needs_sensitivity(rec, args):
            _add_sensitivity(model_id, suite, rec, args)
        if _dynamic_refused(rec):
            run, err = _run_phase(model_id, suite, "symbolic_run", args)
            rec["symbolic_run"] = run or {"error": err}
        else:
            rec.pop("symbolic_run", None)
        results[model_id] = rec
        save_results(args.out, results)
        print(f"{model_id}: {_summary(rec)}", flush=True)
    print(table(results))


def _needs_sensitivity(rec, args):
    """A parity failure in values (not in shapes, ranks or non-finite entries, which no
    rounding explains) is measured against MindSpore's own float32 sensitivity, once."""
    fails = [f for r in (rec.get("conversions") or {}).values() if r.get("status") == "mismatch"
             for f in _failing(r)]
    failed = bool(fails) and all(e != float("inf") for _, _, e, _ in fails)
    return failed and (args.redo_sensitivity or "ulp_sensitivity" not in rec)


def _dynamic_refused(rec):
    return any(r.get("status") == "refused" for k, r in (rec.get("conversions") or {}).items()
               if k.startswith("dynamic_"))


def _add_sensitivity(model_id, suite, rec, args):
    sens, err = _run_phase(model_id, suite, "sensitivity", args)
    rec["ulp_sensitivity"] = sens or {"error": err}
    print(f"{model_id}: MindSpore's own sensitivity {rec['ulp_sensitivity']}", flush=True)


def _summary(rec):
    conv = rec.get("conversions")
    if not conv:
        return rec.get("error", "?")
    return " ".join(f"{k}={v['status']}" for k, v in sorted(conv.items()))


MARK = {"ok": "ok", "ties": "ok~", "noise": "ok≈", "refused": "no", "mismatch": "MISMATCH", "crash": "CRASH",
        "no_mindir": "-"}


def _failing(r):
    """(label, output index, error, tolerance) of each output that misses its tolerance."""
    return [(k[len("max_err_"):], j, e, t)
            for k, errs in sorted(r.items()) if k.startswith("max_err_")
            for j, (e, t) in enumerate(zip(errs, r.get("tol_" + k[len("max_err_"):], [])))
            if e > t]


def _within_sensitivity(rec, r):
    """Every failing output of conversion `r` differs from MindSpore by no more than one ulp
    of input and weights moves MindSpore's own batch-1 output (a failure at batch 2 is judged
    against the batch-1 measure: the same network)."""
    sens = (rec.get("ulp_sensitivity") or {}).get("max_diff")
    fails = _failing(r)
    return bool(sens and fails and all(j < len(sens) and e <= sens[j] for _, j, e, _ in fails))


def table(results) -> str:
    lines = ["| model | MS | input | static 13/17/21 | dynamic 13/17/21 | dynpass 13/17/21 | "
             "dynaxes 13/17/21 | convert s (static 17) | max abs err (static 17, per output) "
             "| note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    blocked = {}   # primitive -> models it blocks
    tot = {"tried": 0, "exported": 0, "dyn_exported": 0, "axes_exported": 0}
    tot.update({k: 0 for k in KINDS})
    tot.update({k + "_noise": 0 for k in KINDS})
    mismatches = []
    for model_id in sorted(results):
        rec = results[model_id]
        tot["tried"] += 1
        exp = rec.get("export") or {}
        conv = rec.get("conversions")
        inp = " + ".join("x".join(map(str, s)) or "scalar" for s, _ in
                         exp.get("input_specs", [])) or "-"
        if not conv:
            lines.append(f"| {model_id} | {exp.get('mindspore', '-')} | {inp} | - | - | - | - | - "
                         f"| - | {rec.get('error', '')[:200].replace('|', '/').replace(chr(10), ' ')} |")
            continue
        tot["exported"] += 1
        tot["dyn_exported"] += "export_dyn_error" not in exp
        tot["axes_exported"] += "axes_inputs" in exp
        cells, notes, noise_floors = [], [], []
        prims = set()
        for kind in KINDS:
            marks = []
            for opset in OPSETS:
                r = conv.get(f"{kind}_{opset}", {})
                marks.append(MARK.get(r.get("status"), "?"))
                prims.update(r.get("unsupported", []))
                if r.get("status") == "mismatch":
                    mismatches.append((model_id, f"{kind}_{opset}", _failing(r),
                                       _within_sensitivity(rec, r)))
                if r.get("status") not in ("ok", "no_mindir") and r.get("reason"):
                    # the converter's messages start with the MINDIR's path: not news here
                    reason = re.sub(r"^\S+\.mindir: ", "", r["reason"])
                    notes.append(f"{kind}: {reason[:220]}")
                notes += [f"converter note: {n[:200]}" for n in r.get("converter_notes", [])]
                if r.get("tie_order"):
                    notes.append(f"ok~: {', '.join(r['tie_order'])} equal MindSpore's up to "
                                 "the order of near-equal rows (and, at the top-k cut, "
                                 "which of them)")
                if r.get("noise"):
                    noise_floors += [f for k, v in r.items() if k.startswith("noise_floor")
                                     for f in v]
            if all(m in ("ok", "ok~") for m in marks):
                tot[kind] += 1
            elif all(m in ("ok", "ok~", "ok≈") for m in marks):
                tot[kind + "_noise"] += 1
            cells.append("/".join(marks))
        if noise_floors:
            notes.append(f"ok≈: within {NOISE_FACTOR:g}x ONNX Runtime's own difference "
                         f"between its optimised and unoptimised runs (up to "
                         f"{max(noise_floors):.2g}): float32 noise")
        sens = rec.get("ulp_sensitivity") or {}
        if sens.get("max_diff"):
            failed = sorted({j for r in conv.values() if r.get("status") == "mismatch"
                             for _, j, _, _ in _failing(r)})
            notes.insert(0, "MindSpore's own float32 sensitivity (one ulp of input and "
                         f"weights, {len(sens['ulp_draws'])} draws): output " + ", ".join(
                             f"{j} moves by up to {sens['max_diff'][j]:.3g}" for j in failed))
        elif sens.get("error"):
            notes.insert(0, f"sensitivity: {sens['error'][:120]}")
        for p in prims:
            blocked.setdefault(p, set()).add(model_id)
        run = rec.get("symbolic_run") or {}
        if run.get("error"):
            notes.insert(0, "MindSpore's own graph run of its symbolic-batch MINDIR fails at "
                         f"batch 1: {run['error'][:110]}")
        elif run.get("ran"):
            notes.insert(0, "MindSpore runs its symbolic-batch MINDIR at batch 1")
        if "export_dyn_error" in exp:
            notes.insert(0, f"symbolic-batch export: {exp['export_dyn_error'][:150]}")
        if "export_axes_error" in exp:
            notes.insert(0, f"symbolic-axes export: {exp['export_axes_error'][:150]}")
        axes = conv.get("dynaxes_17", {}).get("axes")
        if axes:
            notes.insert(0, f"dynaxes: {axes}")
        s17 = conv.get("static_17", {})
        errs = s17.get("max_err_b1")
        err_cell = ", ".join(f"{e:.2g}" for e in errs) if errs else "-"
        # the cache folder's path says nothing about the model: file names only
        note = re.sub(r"(?:/[^\s/:']+)+/([^\s/:']+\.mindir)", r"\1",
                      " ; ".join(dict.fromkeys(notes)))
        note = note[:480].replace("|", "/").replace("\n", " ")
        lines.append(f"| {model_id} | {exp.get('mindspore', '-')} | {inp} | {cells[0]} | "
                     f"{cells[1]} | {cells[2]} | {cells[3]} | {s17.get('convert_s', '-')} | "
                     f"{err_cell} | "
                     f"{note} |")
    n = tot["exported"]
    lines += ["", f"Totals: {tot['tried']} models tried, {n} built and exported to MINDIR "
              f"({tot['dyn_exported']} also with a symbolic batch); all three opsets ok: "
              f"static {tot['static']}/{n}, dynamic (symbolic MINDIR) {tot['dynamic']}/{n}, "
              f"dynpass (batch-1 MINDIR + --dynamic_batch) {tot['dynpass']}/{n}; "
              f"dynaxes (symbolic width / frames, --dynamic_axes) "
              f"{tot['dynaxes']}/{tot['axes_exported']}. Within float32 noise (ok≈) besides: "
              + ", ".join(f"{k} {tot[k + '_noise']}" for k in KINDS) + ".", "",
              "Primitives the converter refuses (models blocked, at any opset/kind):", ""]
    for p, ms in sorted(blocked.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"- {p}: {len(ms)} ({', '.join(sorted(ms))})")
    if not blocked:
        lines.append("- none")
    lines += ["", "Parity failures (kind_opset: failing outputs, max abs err > tolerance):", ""]
    lines += [f"- {m} {k}: " + "; ".join(
        f"{label} output {j} " + (f"{e:.3g} > {t:.3g}" if e != float("inf") else
                                  "differs in shape or in non-finite entries")
        for label, j, e, t in fails)
              + (" (within MindSpore's own one-ulp sensitivity: float32 conditioning)"
                 if explained else "")
              for m, k, fails, explained in mismatches] or ["- none"]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="suite_sweep.json")
    p.add_argument("--workdir", default=os.path.join(SUITES_ROOT, "work"))
    p.add_argument("--suites", default="mindyolo,mindocr,mindaudio")
    p.add_argument("--models", default="", help="suite/name,... (mindyolo: config path)")
    p.add_argument("--timeout", type=int, default=900)
    p.add_argument("--table", action="store_true", help="print the table of --out and stop")
    p.add_argument("--redo_convert", action="store_true")
    p.add_argument("--redo_export", action="store_true")
    p.add_argument("--redo_sensitivity", action="store_true",
                   help="measure MindSpore's own float32 sensitivity again for parity failures")
    for k, v in DEFAULTS.items():
        p.add_argument(f"--{k}", default=v)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--phase", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
    elif args.table:
        print(table(json.load(open(args.out))))
    else:
        sweep(args)


if __name__ == "__main__":
    main()
