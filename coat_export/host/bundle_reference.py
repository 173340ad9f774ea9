"""What a bundle exported from a network records in reference.npz: seeded inputs and real
images (up to AGREEMENT_SAMPLES of each folder, through the model's preprocessing), with the
MindSpore network's outputs on them -- what the edge box's self-test replays.
"""
import os
from typing import Optional, Tuple

import numpy as np

from ..edge.progress import step

__all__ = ["REFERENCE_BUDGET_BYTES", "reference_sample_count", "mindspore_reference"]

# what reference.npz may take: the recorded inputs of a 224 model are 0.6 MB each
REFERENCE_BUDGET_BYTES = 8 << 20


def reference_sample_count(sample_shape) -> int:
    """Seeded samples recorded in a bundle: AGREEMENT_SAMPLES where they fit the budget."""
    from ..edge.compare import AGREEMENT_SAMPLES
    from ..edge.reference import samples_within

    size = 4 * int(np.prod(sample_shape))
    return samples_within(size, REFERENCE_BUDGET_BYTES, 4, AGREEMENT_SAMPLES)


def mindspore_reference(built, spec, seed: int,
                        folders: Tuple[Tuple[str, Optional[str]], ...]) -> tuple:
    """(inputs, outputs, meta) for a bundle's reference.npz: seeded inputs and the real images
    in `folders` ((label, directory) pairs), through the model's preprocessing, with the
    MindSpore network's outputs on them."""
    from ..edge.compare import AGREEMENT_SAMPLES
    from ..edge.check_inputs import seeded_input
    from ..edge.preprocess import PreprocessConfig, list_images, preprocess_batch
    from ..edge.versions import library_versions

    shape = built.input_shape
    n = reference_sample_count(shape)
    parts, names = [seeded_input((n, *shape), seed)], []
    cfg = PreprocessConfig.from_dict(spec.preprocessing(built.config.image_size))
    for label, folder in folders:
        if not folder or shape[0] != 3:
            continue
        paths = list_images(folder, recursive=True)[:AGREEMENT_SAMPLES]
        if paths:
            batch, kept, _ = preprocess_batch(paths, cfg, skip_errors=True)
            if len(kept):
                parts.append(batch)
                names += [f"{label}/{os.path.relpath(paths[i], folder)}" for i in kept]
    x = np.concatenate(parts).astype(np.float32)
    with step(f"reference: MindSpore {built.name} on {len(x)} input(s) for reference.npz"):
        out = built.runner(x)
    meta = {"source": "mindspore", "mindspore_version": library_versions(("mindspore",))
            ["mindspore"], "random": int(n), "seed": int(seed), "images": names}
    return x, out, meta
