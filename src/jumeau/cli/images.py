"""Medical images: per-class generators, artificial images, the augmentation study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jumeau.cli.app import app
from jumeau.cli.common import (
    ParamOption,
    QuietOption,
    guarded,
    model_params,
    out,
    parse_params,
    split_names,
)

images_app = typer.Typer(
    help="Medical images: per-class VAE/RHVAE, artificial images, augmentation evaluation.",
    no_args_is_help=True,
)
app.add_typer(images_app, name="images")


ImageSource = Annotated[str, typer.Argument(help="Folder of images, or a bundled dataset name.")]
ImageLabels = Annotated[
    Path | None, typer.Option("--labels", help="CSV with columns id, label (folders).")
]


@images_app.command(
    "fit",
    epilog="Examples: [bold]jumeau images fit breastmnist --model rhvae -o m.jumeau[/]  |  "
    "[bold]jumeau images fit scans/ --labels labels.csv -o m.jumeau[/]",
)
def images_fit(
    source: ImageSource,
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    labels: ImageLabels = None,
    model: Annotated[str, typer.Option("--model", "-m", help="vae or rhvae.")] = "rhvae",
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    device: Annotated[
        str, typer.Option(help="auto (a CUDA GPU when present), cpu or cuda.")
    ] = "auto",
    param: ParamOption = None,
    quiet: QuietOption = False,
) -> None:
    """Fit one image model per class (safetensors + JSON; never pickle)."""

    def run() -> None:
        from jumeau.images.workflow import fit_images_file

        out.print(
            fit_images_file(source, output, labels=labels, model=model, device=device,
                            params=parse_params(param or []), seed=seed, progress=not quiet)
        )  # fmt: skip

    guarded(run)


@images_app.command(
    "sample",
    epilog="Example: [bold]jumeau images sample m.jumeau -n 500 --label malignant -o out/[/]",
)
def images_sample(
    model_file: Annotated[Path, typer.Argument(help="Model file of `jumeau images fit`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the images.")],
    label: Annotated[str, typer.Option("--label", help="Class of the images to draw.")],
    n: Annotated[int, typer.Option("-n", help="Number of images.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the sampling run.")] = 0,
    sampler: Annotated[
        str | None, typer.Option("--sampler", help="rhvae: geometry (default) or prior.")
    ] = None,
    real: Annotated[
        str | None,
        typer.Option(
            "--real",
            help="Training images (folder or dataset name): apply the "
            "memorisation filter before writing.",
        ),
    ] = None,
    labels: Annotated[
        Path | None, typer.Option("--labels", help="Labels CSV of the --real folder.")
    ] = None,
) -> None:
    """Draw artificial images of one class: PNG files (2D) or a .npy array (3D)."""

    def run() -> None:
        from jumeau.images.workflow import sample_images_file

        out.print(
            sample_images_file(model_file, output, n=n, label=label, seed=seed, sampler=sampler,
                               real=real, labels=labels)
        )  # fmt: skip

    guarded(run)


@images_app.command(
    "evaluate",
    epilog="Example: [bold]jumeau images evaluate breastmnist --models vae,rhvae --seeds 5 "
    "-o report/[/]",
)
def images_evaluate(
    source: ImageSource,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the report.")],
    labels: ImageLabels = None,
    models: Annotated[str, typer.Option("--models", help="Comma-separated: vae, rhvae.")] = (
        "vae,rhvae"
    ),
    ks: Annotated[str, typer.Option("--ks", help="Artificial images per real one.")] = "1,2,5,10",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds (generators refitted each).")] = 5,
    small: Annotated[
        int, typer.Option("--small", help="Small-data regime: real images per class (0: skip).")
    ] = 50,
    max_epochs: Annotated[int, typer.Option("--max-epochs", help="CNN epochs at most.")] = 60,
    show_real: Annotated[
        bool, typer.Option("--show-real", help="Also draw real images (patient data).")
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="Generator hyper-parameter model.key=value, e.g. rhvae.epochs=200 (repeatable).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Does augmentation help? The same CNN on real, real + k x artificial, artificial only and
    classic augmentation; balanced accuracy and ROC AUC on the real test split."""

    def run() -> None:
        from jumeau.images.workflow import evaluate_images_file

        html, json_path, table = evaluate_images_file(
            source, output, labels=labels, models=split_names(models) or [],
            ks=[int(k) for k in split_names(ks) or []], seeds=seeds, small_per_class=small or None,
            max_epochs=max_epochs, show_real=show_real, progress=not quiet,
            params=model_params(param or []),
        )  # fmt: skip
        out.print(table)
        out.print(f"report: {html}\nreport_json: {json_path}")

    guarded(run)
