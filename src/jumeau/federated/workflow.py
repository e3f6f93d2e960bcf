"""Files in, files out: what `jumeau federated simulate | server | client` do.

The server writes the fitted model (the usual safetensors + JSON model file: `jumeau sample` and
`jumeau report` take it as they take any other) and, beside it, `<model>.federated.json` with the
sites and their sizes, the settings, the seed, the versions and the bytes sent each round.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.data.loading import read_table, write_text_atomically
from jumeau.data.schema import Schema
from jumeau.errors import JumeauError, validation_problems
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import FederatedFit
from jumeau.federated.site import Site
from jumeau.generators.persistence import versions


@dataclass(frozen=True)
class FederatedRun:
    """What a federated command wrote."""

    fit: FederatedFit
    model_file: Path
    record_file: Path
    artificial_file: Path | None = None

    def __str__(self) -> str:
        summary = self.fit.summary()
        exchanged = (summary["bytes_to_sites"] + summary["bytes_from_sites"]) / 1e6
        text = (
            f"federated {summary['model']} on {len(self.fit.sites)} sites "
            f"({self.fit.patients} patients, {summary['rounds']} rounds, "
            f"{exchanged:.1f} MB exchanged) -> {self.model_file}; record: {self.record_file}"
        )
        if self.fit.epsilon:
            spent = max(self.fit.epsilon.values())
            text += f"; DP-SGD: ε ≤ {spent:.2f} per site (δ = {self.fit.settings['dp_delta']})"
        if self.fit.sketch_epsilon:
            sketches = max(self.fit.sketch_epsilon.values())
            text += f"; DP sketches: ε = {sketches:g} per site"
        else:
            text += "; column sketches exact (not differentially private)"
        if self.artificial_file is not None:
            text += f"; site-drawn artificial patients: {self.artificial_file}"
        return text


def site_from_file(path: Path, name: str | None = None, *, seed: int = 0) -> Site:
    """A site's table as raw cells: it is typed by the schema the server sends."""
    table = read_table(path)
    return Site(table.frame, name or Path(path).stem, seed=seed)


def simulate_files(
    site_files: Sequence[Path],
    output: Path,
    *,
    model: str = "copula",
    schema: Path | None = None,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    artificial: int = 0,
) -> FederatedRun:
    """Every site on this machine, on Flower's simulation runtime. Without a schema file, the
    schema is inferred from all sites together (a real consortium agrees on one first)."""
    from jumeau.federated.flower import simulate

    if len(site_files) < 2:
        raise JumeauError("a federated simulation needs at least two --site files")
    sites = [site_from_file(path, seed=seed) for path in site_files]
    resolved = (
        Schema.from_yaml(schema)
        if schema is not None
        else Cohort.from_frame(pd.concat([s.frame for s in sites], ignore_index=True)).schema
    )
    config = _config(settings, min_sites=len(sites))
    fit = simulate(sites, resolved, model, seed=seed, settings=config, artificial=artificial,
                   **(params or {}))  # fmt: skip
    return _write(fit, output)


def serve_file(
    schema: Path,
    output: Path,
    *,
    model: str = "copula",
    address: str = "0.0.0.0:8080",
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    certificates: Path | None = None,
    timeout: float = 600.0,
    artificial: int = 0,
    authorised_sites: Path | None = None,
) -> FederatedRun:
    """The consortium's server: waits for the sites, trains, writes the model. With
    `authorised_sites`, only the sites listed there (name and public key) may take part."""
    from jumeau.federated.auth import load_authorised
    from jumeau.federated.flower import serve

    fit = serve(
        Schema.from_yaml(schema), model, address=address, seed=seed,
        settings=_config(settings), certificates=_server_certificates(certificates),
        timeout=timeout, artificial=artificial,
        authorised=load_authorised(authorised_sites) if authorised_sites else None,
        **(params or {}),
    )  # fmt: skip
    return _write(fit, output)


def join_file(
    data: Path,
    server: str,
    *,
    name: str | None = None,
    root_certificate: Path | None = None,
    seed: int = 0,
    key: Path | None = None,
) -> str:
    """A site's side: answer the server until training ends; the data never leave. `key`: the
    site's private key file (`jumeau federated keygen`), to prove who it is."""
    from jumeau.federated.auth import read_private_key
    from jumeau.federated.flower import connect

    site = site_from_file(data, name, seed=seed)
    if key is not None:
        site.key = read_private_key(key)
    certificate = root_certificate.read_bytes() if root_certificate is not None else None
    tasks = connect(site, server, root_certificate=certificate)
    if not set(tasks) - {"check", "sketch", "idle"}:  # a failed run exits non-zero
        last = tasks[-1] if tasks else "no"
        raise JumeauError(
            f"site {site.name}: the server ended the run at the {last} round, before any "
            "training — its operator has the reason (schema mismatch, or a site not authorised)"
        )
    return (
        f"site {site.name}: training finished ({len(site.frame)} patients took part, "
        f"{len(tasks)} rounds answered)"
    )


def _config(settings: dict[str, Any] | None, **defaults: Any) -> FederatedConfig:
    from pydantic import ValidationError

    try:
        return FederatedConfig(**(defaults | (settings or {})))
    except ValidationError as exc:
        raise JumeauError(f"federated settings: {validation_problems(exc)}") from None


def _server_certificates(folder: Path | None) -> tuple[bytes, bytes, bytes] | None:
    """(CA certificate, server certificate, server key) from a folder holding ca.crt,
    server.pem and server.key (the layout of Flower's certificate script)."""
    if folder is None:
        return None
    names = ("ca.crt", "server.pem", "server.key")
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise JumeauError(f"{folder}: missing {', '.join(missing)} (need {', '.join(names)})")
    ca, certificate, key = ((folder / n).read_bytes() for n in names)
    return ca, certificate, key


def _write(fit: FederatedFit, output: Path) -> FederatedRun:
    model_file = fit.generator.save(output)
    record = fit.summary() | {
        "patients": fit.patients,
        "training_sha256": fit.generator.training_sha256_,
        "versions": versions(),
        "traffic": fit.traffic_table().to_dict(orient="records"),
    }
    artificial_file = None
    if fit.artificial is not None:  # rhvae: drawn at the sites from their own codes
        artificial_file = fit.artificial.to_csv(output.with_name(output.stem + ".artificial.csv"))
        record["artificial"] = {"file": artificial_file.name, "patients": len(fit.artificial)}
        record["site_sampling"] = fit.site_sampling
    record_file = output.with_name(output.name + ".federated.json")
    write_text_atomically(record_file, json.dumps(record, indent=2))
    return FederatedRun(fit, model_file, record_file, artificial_file)


def make_site_key(name: str, folder: Path) -> str:
    """`jumeau federated keygen`: the private key file, and the line for the server's list."""
    from jumeau.federated.auth import generate_key

    path, line = generate_key(name, folder)
    return (
        f"private key of site {name}: {path} (keep it at the site, never share it)\n"
        f"add this line to the server's authorised-sites file:\n{line}"
    )
