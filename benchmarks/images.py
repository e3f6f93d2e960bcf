"""Image augmentation on BreastMNIST: VAE vs RHVAE (geometry sampler) vs RHVAE (prior sampler)
vs classic augmentation vs none (issue 8).

BreastMNIST (bundled, CC BY 4.0): 546 training (147 malignant / 399 benign), 78 validation and
156 test real breast-ultrasound images, 28 × 28. For each seed, one image VAE and one image RHVAE
per class are fitted on the training images (default settings, that seed); the RHVAE is sampled
with its geometry-aware sampler and, on the same fitted model, from the N(0, I) prior. Then
`augmentation_study` trains the same small CNN on real images only, real + k× artificial images
per class, artificial only, and real + k classic augmentations (flips, rotation, shift, elastic,
intensity), choosing the epoch on the real validation split and scoring balanced accuracy and ROC
AUC on the real test split. The small-data regime repeats it with 50 real images per class, the
generators fitted on those 100 images only.

Cells are mean ± sd over seeds; "gain" is the mean paired difference from the real-only CNN of
the same seed. Fidelity (Fréchet distance and k-NN precision/recall in the real-trained CNN's
features) and memorisation (artificial images closer to a training image than real holdout
images come; exact copies) are reported per generator.

Goal (issue 8): the geometry-aware RHVAE beats real-only by ≥ 3 points of balanced accuracy and
beats VAE-prior augmentation.

Usage: python benchmarks/images.py [--seeds 5] [--ks 1 2 5 10] [--small 50] [--out ...] [--resume]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from jumeau.generators.persistence import versions
from jumeau.images.cohort import ImageCohort
from jumeau.images.datasets import load_breastmnist
from jumeau.images.models import ImageGenerator
from jumeau.images.protocol import StudyResult, augmentation_study

RESULTS = Path(__file__).parent / "results"


def generators(train: ImageCohort, seed: int, timings: dict[str, float]) -> dict[str, Any]:
    """The generators compared, fitted on `train` with `seed`."""
    start = time.perf_counter()
    vae = ImageGenerator("vae").fit(train, seed=seed, progress=False)
    timings["vae fit s"] = time.perf_counter() - start
    start = time.perf_counter()
    rhvae = ImageGenerator("rhvae").fit(train, seed=seed, progress=False)
    timings["rhvae fit s"] = time.perf_counter() - start

    def geometry(n: int, *, label: str, seed: int) -> np.ndarray:
        return rhvae.sample(n, label=label, seed=seed, sampler="geometry")

    def prior(n: int, *, label: str, seed: int) -> np.ndarray:
        return rhvae.sample(n, label=label, seed=seed, sampler="prior")

    return {"vae": vae, "rhvae-geometry": geometry, "rhvae-prior": prior}


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--small", type=int, default=50, help="images per class; 0: skip")
    parser.add_argument("--out", type=Path, default=RESULTS / "images")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the seeds already in --out's JSON (run with the same --ks and --small) and "
        "run only the others: a run of several hours can span several sessions",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    splits = load_breastmnist()
    train, val, test = splits["train"], splits["val"], splits["test"]
    runs, fidelity, timings = previous_seeds(args)
    done = {int(t["seed"]) for t in timings}
    for seed in range(args.seeds):
        if seed in done:
            continue
        fit_times: dict[str, float] = {"seed": seed}
        fitted = generators(train, seed, fit_times)

        def small_generators(subset: ImageCohort, seed_: int) -> dict[str, Any]:
            return generators(subset, seed_, {})

        result = augmentation_study(
            train, val, test, fitted, ks=args.ks, seeds=[seed],
            small_per_class=args.small or None,
            make_generators=small_generators if args.small else None, progress=False,
        )  # fmt: skip
        runs.append(result.runs)
        fidelity.append(result.fidelity)
        timings.append(fit_times)
        so_far = StudyResult(pd.concat(runs), pd.concat(fidelity), result.config)
        print(f"seed {seed} done: {fit_times}", flush=True)
        write(so_far, timings, args)  # after every seed: a long run stopped early keeps its seeds


def previous_seeds(
    args: argparse.Namespace,
) -> tuple[list[pd.DataFrame], list[pd.DataFrame], list[dict[str, float]]]:
    """With --resume, the runs, fidelity and fit times of the seeds already written to --out
    (refused if they were run with other --ks or --small: their rows would not be comparable)."""
    path = args.out.with_suffix(".json")
    if not args.resume or not path.exists():
        return [], [], []
    previous = json.loads(path.read_text())
    before = previous["args"]
    if before.get("ks") != str(args.ks) or before.get("small") != str(args.small):
        raise SystemExit(
            f"{path} was run with ks {before.get('ks')} and small {before.get('small')}; "
            "resume with the same settings, or write elsewhere with --out"
        )
    study = previous["study"]
    timings = previous["fit_seconds"]
    print(f"resuming: seeds {sorted(int(t['seed']) for t in timings)} kept from {path}")
    return [pd.DataFrame(study["runs"])], [pd.DataFrame(study["fidelity"])], timings


def write(result: StudyResult, timings: list[dict[str, float]], args: argparse.Namespace) -> None:
    text = render(result, timings)
    print(text, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    payload = {"versions": versions(), "args": {k: str(v) for k, v in vars(args).items()},
               "study": result.as_dict(), "fit_seconds": timings}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1, default=float))


def render(result: StudyResult, timings: list[dict[str, float]]) -> str:
    table = result.table()
    lines = [
        f"BreastMNIST augmentation, {len(timings)} seed(s); mean ± sd over seeds",
        "(balanced accuracy and ROC AUC on the real test split; gain: paired vs real)",
    ]
    for regime, part in table.groupby("regime", sort=False):
        lines.append(f"\n== regime: {regime} (n_train = real images used + artificial) ==")
        rows = [["condition", "k", "n_train", "balanced accuracy", "gain", "ROC AUC", "gain"]]
        for _, r in part.iterrows():
            rows.append([
                str(r["condition"]), str(r["k"]), str(int(r["n_train"])),
                _pm(r["balanced_accuracy_mean"], r["balanced_accuracy_sd"]),
                f"{100 * r['balanced_accuracy_gain']:+.1f} pts",
                _pm(r["auc_mean"], r["auc_sd"]), f"{100 * r['auc_gain']:+.1f} pts",
            ])  # fmt: skip
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    if not result.fidelity.empty:
        lines.append("\n== fidelity and memorisation (mean over seeds) ==")
        lines.append(result.fidelity_table().to_string())
    fits = pd.DataFrame(timings).drop(columns="seed")
    lines.append("\nfit seconds (full training set, 2 threads): " + ", ".join(
        f"{c} {fits[c].mean():.0f} ± {fits[c].std(ddof=1) if len(fits) > 1 else 0:.0f}"
        for c in fits.columns))  # fmt: skip
    return "\n".join(lines)


def _pm(mean: float, sd: float) -> str:
    if not np.isfinite(sd):
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {sd:.3f}"


if __name__ == "__main__":
    main()
