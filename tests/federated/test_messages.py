"""What a site sends: never a row of its data, never one array per patient."""

from __future__ import annotations

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.local import run_locally
from jumeau.federated.messages import Reply, pack, unpack
from jumeau.federated.site import Site

from .conftest import NUMBERS, Inspector


@pytest.mark.parametrize("model", ["copula", "vae"])
def test_replies_carry_aggregates_only(
    model: str, gbsg2: Cohort, grade_sites: list[Site], no_patient_in: Inspector
) -> None:
    replies: list[Reply] = []
    params = {"em_iterations": 3} if model == "copula" else {"hidden_dim": 16, "latent_dim": 3}
    settings = FederatedConfig(rounds=2, local_epochs=1)
    coordinator = Coordinator(gbsg2.schema, model, settings=settings, **params)
    run_locally(coordinator, grade_sites, on_reply=replies.append)
    no_patient_in(replies, grade_sites)


def test_pack_and_unpack_round_trip() -> None:
    arrays = {"a": np.arange(3.0), "b": np.eye(2, dtype=np.float32)}
    values, text = pack(arrays, {"task": "x", "n": [1, 2]})
    back, meta = unpack(values, text)
    assert meta == {"task": "x", "n": [1, 2]}
    assert all(np.array_equal(back[k], arrays[k]) for k in arrays)
    with pytest.raises(ValueError):
        unpack(values[:1], text)


def test_the_inspection_catches_a_leaking_site(
    grade_sites: list[Site], no_patient_in: Inspector
) -> None:
    site = grade_sites[0]
    row = site.frame[NUMBERS].astype(float).to_numpy()[5]
    with pytest.raises(AssertionError):
        no_patient_in([Reply(site.name, 1, {"leak": np.concatenate([[9.0], row])})], [site])
    codes = np.zeros((len(site.frame), 3))
    with pytest.raises(AssertionError):
        no_patient_in([Reply(site.name, 1, {"codes": codes})], [site])
