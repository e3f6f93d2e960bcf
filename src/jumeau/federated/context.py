"""The model context every instruction after the sketches carries: schema and merged encoder.

Sites keep nothing between rounds but what they choose to (their Gibbs state in copula training):
each instruction says again which schema and which encoding are in force, so a site process that
restarts mid-training, or a Flower simulation that rebuilds its clients every round, still answers.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from jumeau.data.schema import Schema
from jumeau.generators.encoding import TabularEncoder, modelled_schema


def schema_meta(schema: Schema) -> dict[str, Any]:
    return {"schema": schema.model_dump(mode="json")}


def read_schema(meta: dict[str, Any]) -> Schema:
    return Schema.model_validate(meta["schema"])


def context_message(
    schema: Schema, encoder: TabularEncoder
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    encoder_meta, arrays = encoder.state()
    return arrays, schema_meta(schema) | {"encoder": json.loads(json.dumps(encoder_meta))}


def read_context(
    arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> tuple[Schema, TabularEncoder]:
    """The full schema (to type the site's table) and the merged encoder (modelled columns)."""
    schema = read_schema(meta)
    encoder = TabularEncoder.from_state(meta["encoder"], arrays, modelled_schema(schema))
    return schema, encoder
