"""Federated training: simulate a consortium, run its server or a site, make site keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from jumeau.cli.app import app
from jumeau.cli.common import (
    SchemaOption,
    err,
    guarded,
    out,
    parse_params,
)
from jumeau.errors import JumeauError

federated_app = typer.Typer(
    help="Federated training: one generator learned across hospitals; no record leaves a site.",
    no_args_is_help=True,
)
app.add_typer(federated_app, name="federated")


FederatedModel = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="copula (sufficient statistics), vae or rhvae (FedAdam by default)."
    ),
]
ArtificialOption = Annotated[
    int,
    typer.Option(
        "--artificial",
        help="rhvae: artificial patients each site draws from its own codes (filtered there), "
        "written to <output>.artificial.csv.",
    ),
]
RoundsOption = Annotated[
    int | None, typer.Option("--rounds", help="Training rounds at most (neural models; 150).")
]
StrategyOption = Annotated[
    str | None, typer.Option("--strategy", help="fedadam (default), fedavg or fedprox.")
]
LocalEpochsOption = Annotated[
    int | None, typer.Option("--local-epochs", help="Epochs each site trains per round (2).")
]
DpNoiseOption = Annotated[
    float | None,
    typer.Option("--dp-noise", help="vae: DP-SGD at every site with this noise multiplier."),
]
DpClipOption = Annotated[
    float | None, typer.Option("--dp-clip", help="DP-SGD per-patient gradient clip (1.0).")
]
SketchEpsilonOption = Annotated[
    float | None,
    typer.Option(
        "--sketch-epsilon",
        help="ε of every site's column sketches, under (ε, 1e-5)-DP (OpenDP; default 10).",
    ),
]
ExactSketchesOption = Annotated[
    bool,
    typer.Option(
        "--exact-sketches",
        help="Send exact column sketches instead of DP ones: a small site's values can then be "
        "recovered from them (docs/federated.md). Only for sites that may share their values.",
    ),
]


def _federated_settings(
    rounds: int | None,
    strategy: str | None,
    local_epochs: int | None,
    dp_noise: float | None,
    dp_clip: float | None,
    sketch_epsilon: float | None,
    exact_sketches: bool = False,
    **more: Any,
) -> dict[str, Any]:
    given = {
        "rounds": rounds,
        "strategy": strategy,
        "local_epochs": local_epochs,
        "dp_noise_multiplier": dp_noise,
        "dp_max_grad_norm": dp_clip,
        "sketch_epsilon": sketch_epsilon,
    } | more
    settings = {k: v for k, v in given.items() if v is not None}
    if exact_sketches:
        if sketch_epsilon is not None:
            raise JumeauError("--exact-sketches and --sketch-epsilon exclude each other: pick one")
        settings["sketch_epsilon"] = None
    return settings


@federated_app.command(
    "simulate",
    epilog="Example: [bold]jumeau federated simulate --site a.csv --site b.csv --site c.csv "
    "--model vae --rounds 30 -o model.jumeau[/]",
)
def federated_simulate(
    site: Annotated[list[Path], typer.Option("--site", help="One CSV per site (repeatable).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    model: FederatedModel = "copula",
    schema: SchemaOption = None,
    rounds: RoundsOption = None,
    strategy: StrategyOption = None,
    local_epochs: LocalEpochsOption = None,
    artificial: ArtificialOption = 0,
    dp_noise: DpNoiseOption = None,
    dp_clip: DpClipOption = None,
    sketch_epsilon: SketchEpsilonOption = None,
    exact_sketches: ExactSketchesOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Model hyper-parameter key=value (repeatable)."),
    ] = None,
) -> None:
    """Train across sites on one machine (Flower's simulation runtime): to try a consortium."""

    def run() -> None:
        from jumeau.federated.workflow import simulate_files

        out.print(
            str(simulate_files(site, output, model=model, schema=schema, seed=seed,
                           settings=_federated_settings(rounds, strategy, local_epochs,
                                                        dp_noise, dp_clip, sketch_epsilon,
                                                        exact_sketches),
                           params=parse_params(param or []), artificial=artificial))
        )  # fmt: skip

    guarded(run)


@federated_app.command(
    "server",
    epilog="Example: [bold]jumeau federated server --schema schema.yaml --model vae --rounds 30 "
    "--min-sites 3 -o model.jumeau[/]",
)
def federated_server(
    schema: Annotated[Path, typer.Option("--schema", "-s", help="The consortium's schema YAML.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    model: FederatedModel = "copula",
    min_sites: Annotated[int, typer.Option("--min-sites", help="Sites that must join.")] = 2,
    address: Annotated[
        str, typer.Option("--address", help="Address to listen on.")
    ] = "0.0.0.0:8080",
    rounds: RoundsOption = None,
    strategy: StrategyOption = None,
    local_epochs: LocalEpochsOption = None,
    artificial: ArtificialOption = 0,
    dp_noise: DpNoiseOption = None,
    dp_clip: DpClipOption = None,
    sketch_epsilon: SketchEpsilonOption = None,
    exact_sketches: ExactSketchesOption = False,
    seed: Annotated[int, typer.Option(help="Seed of the training run.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Model hyper-parameter key=value (repeatable)."),
    ] = None,
    certificates: Annotated[
        Path | None,
        typer.Option("--certificates", help="Folder with ca.crt, server.pem, server.key (TLS)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the sites to join.")
    ] = 600.0,
    authorized_sites: Annotated[
        Path | None,
        typer.Option(
            "--authorized-sites",
            help="File of `<site> ed25519 <public key>` lines (jumeau federated keygen): only "
            "these sites may join, each proving it holds its key.",
        ),
    ] = None,
) -> None:
    """Run a consortium's server: wait for the sites, train, write the model."""

    def run() -> None:
        from jumeau.federated.workflow import serve_file

        out.print(
            str(serve_file(schema, output, model=model, address=address, seed=seed,
                       settings=_federated_settings(rounds, strategy, local_epochs, dp_noise,
                                                    dp_clip, sketch_epsilon, exact_sketches,
                                                    min_sites=min_sites),
                       params=parse_params(param or []), certificates=certificates,
                       timeout=timeout, artificial=artificial,
                       authorised_sites=authorized_sites))
        )  # fmt: skip

    guarded(run)


@federated_app.command(
    "client",
    epilog="Example: [bold]jumeau federated client --server hub.example.org:8080 "
    "--data local.csv --root-certificate ca.crt[/]",
)
def federated_client(
    server: Annotated[str, typer.Option("--server", help="HOST:PORT of the server.")],
    data: Annotated[Path, typer.Option("--data", help="This site's CSV or Parquet file.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Site name in the server's reports (file stem).")
    ] = None,
    root_certificate: Annotated[
        Path | None,
        typer.Option("--root-certificate", help="CA certificate: encrypt the connection (TLS)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of this site's random streams.")] = 0,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="This site's private key (jumeau federated keygen)."),
    ] = None,
) -> None:
    """Take part in a consortium's training from this site; the records never leave it."""

    def run() -> None:
        from jumeau.federated.workflow import join_file

        if root_certificate is None:
            err.print("[yellow]warning:[/] no --root-certificate: the connection is not encrypted")
        out.print(
            join_file(data, server, name=name, root_certificate=root_certificate, seed=seed,
                      key=key)
        )  # fmt: skip

    guarded(run)


@federated_app.command(
    "keygen",
    epilog="Example: [bold]jumeau federated keygen --name hospital-a --out keys/[/]",
)
def federated_keygen(
    name: Annotated[str, typer.Option("--name", help="The site's name in the consortium.")],
    out_folder: Annotated[
        Path, typer.Option("--out", help="Folder for the private key file.")
    ] = Path("."),
) -> None:
    """Make a site's key pair: the private key stays at the site, the printed line goes to the
    server's authorised-sites file."""

    def run() -> None:
        from jumeau.federated.workflow import make_site_key

        out.print(make_site_key(name, out_folder), highlight=False, soft_wrap=True)

    guarded(run)
