"""The picture of docs/images.md: real BreastMNIST images beside artificial ones (issue 8).

One image VAE and one image RHVAE per class are fitted on BreastMNIST's training split (default
settings, the seed given); for each class the figure shows one row of real training images, then
rows drawn by the VAE, the RHVAE's geometry-aware sampler and the RHVAE's prior. BreastMNIST is a
public dataset (CC BY 4.0), so its images may be shown; for a user's own cohort, jumeau's report
shows real images only on request.

    python benchmarks/images_figure.py            # about 8 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import torch

from jumeau.images.datasets import load_breastmnist
from jumeau.images.models import ImageGenerator

FIGURE = Path(__file__).parent.parent / "docs" / "images" / "breastmnist-grids.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-row", type=int, default=10)
    parser.add_argument("--out", type=Path, default=FIGURE)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train = load_breastmnist()["train"]
    vae = ImageGenerator("vae").fit(train, seed=args.seed)
    rhvae = ImageGenerator("rhvae").fit(train, seed=args.seed)
    rows: list[tuple[str, np.ndarray]] = []
    for label in train.classes:
        real = train.of_label(label).images
        chosen = np.random.default_rng(args.seed).choice(len(real), args.per_row, replace=False)
        rows += [
            (f"{label}: real", real[chosen]),
            (f"{label}: VAE", vae.sample(args.per_row, label=label, seed=args.seed)),
            (f"{label}: RHVAE geometry", rhvae.sample(args.per_row, label=label, seed=args.seed)),
            (f"{label}: RHVAE prior",
             rhvae.sample(args.per_row, label=label, seed=args.seed, sampler="prior")),
        ]  # fmt: skip
    figure, axes = plt.subplots(len(rows), args.per_row, figsize=(args.per_row, len(rows) * 1.1))
    for (title, images), line in zip(rows, axes, strict=True):
        for axis, image in zip(line, images, strict=True):
            axis.imshow(image, cmap="gray", vmin=0, vmax=1)
            axis.set_xticks([])
            axis.set_yticks([])
        line[0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=90, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
