"""The RHVAE across hospitals: its per-patient latent codes never leave their site.

The RHVAE's metric G⁻¹(z) = Σᵢ Mᵢ exp(−‖z − cᵢ‖²/T²) + λI is built on one code cᵢ per training
patient, and its geometry-aware sampler starts chains at those codes. Sending them to the server
would send one vector per patient — a representation that, with the decoder, comes close to the
record itself. So:

- training averages the networks only (encoder, decoder, metric network): the centroids the
  training objective uses are each batch's own codes, computed and dropped at the site;
- the server's model keeps no code at all, and samples from its N(0, I) prior;
- for geometry-aware samples each site computes its own codes with the final networks, runs the
  sampler from them, removes what the similarity filter flags against its own patients (its
  validation patients, never trained on, set the threshold), and sends the artificial patients
  it kept — artificial rows, in proportion to its size. The server pools them.

What the server learns beyond the networks is therefore a set of artificial patients that already
passed each site's own similarity filter.
"""

from __future__ import annotations

from collections.abc import Generator as Coroutine
from typing import Any

import numpy as np
import pandas as pd
import torch

from jumeau.data.cohort import Cohort
from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, Schema
from jumeau.evaluation.similarity import filter_close
from jumeau.federated.context import read_schema
from jumeau.federated.messages import Instruction, Reply
from jumeau.federated.neural import network_message, site_model
from jumeau.federated.site import Site, State, quiet_constant_columns
from jumeau.generators.encoding import numeric_values
from jumeau.generators.rhvae.model import RHVAE

OVERDRAW = 1.3  # draws per kept patient, so that the filter's removals are made up


def seal_without_codes(model: RHVAE) -> None:
    """The server's RHVAE: no per-patient code, prior sampling by default."""
    d = model.latent_dim_
    model.centroids_ = torch.zeros(0, d)
    model.matrices_ = torch.zeros(0, d, d)
    model.config = model.config.model_copy(update={"sampler": "prior"})


def site_sampling(
    model: RHVAE,
    context: tuple[dict[str, np.ndarray], dict[str, Any]],
    n: int,
    sites: dict[str, int],
) -> Coroutine[Instruction, list[Reply], tuple[Cohort, dict[str, dict[str, int]]]]:
    """One round: each site draws its share of `n` geometry-aware patients; returns them pooled,
    and per site how many were drawn, removed by its filter and missing from its share."""
    arrays, meta = context
    total = sum(sites.values())
    shares = {name: round(n * rows / total) for name, rows in sites.items()}
    largest = max(shares, key=lambda name: sites[name])
    shares[largest] += n - sum(shares.values())
    weights, network = network_message(
        model, model.config.model_copy(update={"sampler": "geometry"})
    )
    replies = yield Instruction(
        "rhvae-sample", 0, arrays | weights, meta | network | {"shares": shares}
    )
    frames = [_frame(reply.arrays, model.schema_) for reply in replies]
    pooled = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    cohort = Cohort(pooled, model.schema_, source="jumeau:federated rhvae (site samplers)",
                    artificial=True)  # fmt: skip
    counts = {r.site: {k: int(v) for k, v in r.meta.items()} for r in replies}
    return cohort, counts


def site_sample(site: Site, instruction: Instruction, state: State) -> Reply:
    """Draw this site's share with its own codes, filter against its own patients, send."""
    share = int(instruction.meta["shares"].get(site.name, 0))
    model, x, m, train_rows, validation_rows = site_model(site, instruction)
    if not isinstance(model, RHVAE):
        raise TypeError("site sampling is for the rhvae")
    model._after_training(x, m)  # this site's codes and metric factors: they stay here
    seed = int(site.rng(instruction.round, "sampling").integers(2**62))
    drawn = model.sample(max(1, int(np.ceil(share * OVERDRAW))), seed=seed)
    cohort = site.cohort(read_schema(instruction.meta))
    with quiet_constant_columns():
        train, holdout = cohort.subset(train_rows), cohort.subset(validation_rows)
    kept = filter_close(drawn, train, holdout)
    chosen = kept.kept.data.iloc[:share]
    return Reply(
        site.name,
        len(chosen),
        _columns(chosen, model.schema_),
        {"drawn": len(drawn), "removed": kept.n_removed, "short": share - len(chosen)},
    )


def _columns(frame: pd.DataFrame, schema: Schema) -> dict[str, np.ndarray]:
    """Artificial patients column by column: numbers (dates as days), categories as codes."""
    arrays = {}
    for name in schema.names:
        column = schema.columns[name]
        if column.kind in CATEGORY_KINDS:
            codes = pd.Categorical(frame[name], categories=column.categories).codes
            arrays[f"column.{name}"] = codes.astype(np.float64)
        else:
            arrays[f"column.{name}"] = numeric_values(frame[name], column.kind)
    return arrays


def _frame(arrays: dict[str, np.ndarray], schema: Schema) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for name in schema.names:
        column, values = schema.columns[name], arrays[f"column.{name}"]
        if column.kind in CATEGORY_KINDS:
            levels = np.array(list(column.categories or []), dtype=object)
            codes = values.astype(np.int64)
            picked = levels[np.clip(codes, 0, None)]
            picked[codes < 0] = None
            columns[name] = picked
        elif column.kind is ColumnKind.DATETIME:
            columns[name] = pd.Timestamp("1970-01-01") + pd.to_timedelta(values, unit="D")
        else:
            columns[name] = values
    return pd.DataFrame(columns)
