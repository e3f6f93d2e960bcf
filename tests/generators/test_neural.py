"""The neural generators (VAE and RHVAE) on real clinical data, and the pieces they are built from.

Training never produces NaN weights (lung has missing values), keeps the best validation epoch and
leaves the caller's random state alone; every artificial patient is valid, samples are
reproducible by seed and survive a save/load round trip; the per-type likelihood, the learned
Riemannian metric and the tempering schedule compute what their formulas say.

Settings are tiny (a few epochs, 16 hidden units, 120 patients) so that the file runs in seconds:
these tests check behaviour, not the quality of the fitted models.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file
from torch import nn

import jumeau
from jumeau import Cohort, JumeauError
from jumeau.errors import TooFewRowsError
from jumeau.generators import NotFittedError, generator_class
from jumeau.generators.encoding import TabularEncoder
from jumeau.generators.neural.likelihood import MAX_SCALE, MIN_SCALE, MixedLikelihood
from jumeau.generators.neural.training import TrainingError, TrainingHistory, train
from jumeau.generators.registry import make_generator
from jumeau.generators.rhvae import RHVAE, RHVAEConfig
from jumeau.generators.rhvae import model as rhvae_model
from jumeau.generators.rhvae.metric import (
    MetricNetwork,
    SamplingMetric,
    inverse_metric,
    kinetic_gradient,
    log_det,
)
from jumeau.generators.rhvae.model import _clamp_rows, _tempering
from jumeau.generators.vae import VAE

N_ROWS = 120
VAE_SMALL: dict[str, Any] = {"epochs": 8, "patience": 3, "hidden_dim": 16}
RHVAE_SMALL: dict[str, Any] = VAE_SMALL | {
    "flow_epochs": 3,
    "flow_patience": 2,
    "mcmc_steps": 3,
    "mcmc_leapfrog": 3,
}
MODELS: dict[str, tuple[type[VAE], dict[str, Any]]] = {
    "vae": (VAE, VAE_SMALL),
    "rhvae": (RHVAE, RHVAE_SMALL),
}
# (model, sampler): the VAE has one way to sample, the RHVAE two on the same fitted model
SAMPLERS = [("vae", None), ("rhvae", "geometry"), ("rhvae", "prior")]
SAMPLER_IDS = ["vae", "rhvae-geometry", "rhvae-prior"]
LUNG_WHERE = "age >= 60 and ph_karno >= 80"


def _make(name: str, **changes: Any) -> VAE:
    cls, params = MODELS[name]
    return cls(**(params | changes))


def _sample(model: VAE, n: int, *, seed: int, sampler: str | None, **kwargs: Any) -> Cohort:
    if sampler is None:
        return model.sample(n, seed=seed, **kwargs)
    assert isinstance(model, RHVAE)
    return model.sample(n, seed=seed, sampler=sampler, **kwargs)


def _weights(model: VAE) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.module_.state_dict().items()}


def _same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The networks here are tiny: threads only add contention (and minutes on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cohorts(gbsg2: Cohort, lung: Cohort) -> dict[str, Cohort]:
    return {"gbsg2": gbsg2.subset(range(N_ROWS)), "lung": lung.subset(range(N_ROWS))}


@pytest.fixture(scope="module")
def fitted(cohorts: dict[str, Cohort]) -> dict[tuple[str, str], VAE]:
    """Both models fitted on both cohorts of 120 patients (seed 0)."""
    return {
        (name, data): _make(name).fit(cohort, seed=0, progress=False)
        for name in MODELS
        for data, cohort in cohorts.items()
    }


# ------------------------------------------------------------------ fit
@pytest.mark.parametrize("name", list(MODELS))
def test_fit_returns_self_and_learned_state_ends_in_underscore(
    name: str, cohorts: dict[str, Cohort]
) -> None:
    model = _make(name)
    assert not [k for k in vars(model) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        model.sample(5, seed=0)
    assert model.fit(cohorts["lung"], seed=3, progress=False) is model
    for attribute in ("module_", "encoder_", "schema_", "history_", "likelihood_", "seed_"):
        assert hasattr(model, attribute), attribute
    assert isinstance(model.history_, TrainingHistory)
    assert isinstance(model.encoder_, TabularEncoder)
    assert model.seed_ == 3
    assert model.training_rows_ == N_ROWS
    assert model.training_sha256_ == cohorts["lung"].sha256
    assert model.hidden_dim_ == 16
    assert model.latent_dim_ >= 1
    assert not model.module_.training  # left in evaluation mode
    assert model.schema.names == cohorts["lung"].schema.modelled_columns
    if name == "rhvae":
        assert isinstance(model.warmup_history_, TrainingHistory)
        assert not hasattr(model, "_phase")  # the training phase marker is cleaned up


def test_rhvae_keeps_one_centroid_and_one_metric_matrix_per_training_patient(
    cohorts: dict[str, Cohort], fitted: dict[tuple[str, str], VAE]
) -> None:
    for data, cohort in cohorts.items():
        model = fitted["rhvae", data]
        assert isinstance(model, RHVAE)
        d = model.latent_dim_
        assert model.centroids_.shape == (len(cohort), d)
        assert model.matrices_.shape == (len(cohort), d, d)
        matrices = model.matrices_.double()
        assert torch.allclose(matrices, matrices.transpose(-1, -2), atol=1e-6)
        eigenvalues = torch.linalg.eigvalsh(matrices)
        assert eigenvalues.min() >= -1e-5 * max(1.0, float(eigenvalues.max()))
        # the centroids are the encoder means of the training patients
        matrix, _ = model.encoder_.transform(cohort.data)
        with torch.no_grad():
            mean, _ = model.module_.encode(torch.as_tensor(matrix))
        assert torch.allclose(model.centroids_, mean, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", list(MODELS))
def test_weights_stay_finite_on_lung_with_missing_values(
    name: str, seed: int, lung: Cohort
) -> None:
    assert lung.modelled.isna().any().any()  # the check means something
    model = _make(name).fit(lung, seed=seed, progress=False)
    for key, value in model.module_.state_dict().items():
        assert torch.isfinite(value).all(), key
    histories = [model.history_]
    if isinstance(model, RHVAE):
        histories.append(model.warmup_history_)
        assert torch.isfinite(model.centroids_).all()
        assert torch.isfinite(model.matrices_).all()
    for history in histories:
        assert history.train_loss and all(math.isfinite(v) for v in history.train_loss)
        assert all(math.isfinite(v) for v in history.validation_loss)
        assert history.skipped_batches <= 1
    sample = model.sample(40, seed=seed)
    assert sample.validate().ok


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_is_deterministic_for_a_seed(name: str, cohorts: dict[str, Cohort]) -> None:
    first = _make(name).fit(cohorts["lung"], seed=5, progress=False)
    again = _make(name).fit(cohorts["lung"], seed=5, progress=False)
    other = _make(name).fit(cohorts["lung"], seed=6, progress=False)
    assert _same_weights(_weights(first), _weights(again))
    assert not _same_weights(_weights(first), _weights(other))
    assert first.history_ == again.history_
    pd.testing.assert_frame_equal(first.sample(30, seed=1).data, again.sample(30, seed=1).data)


# ------------------------------------------------------------------ random state of the caller
@pytest.mark.parametrize("name", list(MODELS))
def test_fit_and_sample_leave_the_global_random_state_alone(
    name: str, cohorts: dict[str, Cohort]
) -> None:
    torch.manual_seed(1234)
    np.random.seed(1234)
    torch_before = torch.get_rng_state()
    numpy_before = np.random.get_state()
    model = _make(name).fit(cohorts["lung"], seed=0, progress=False)
    model.sample(20, seed=0)
    if isinstance(model, RHVAE):
        model.sample(20, seed=0, sampler="prior")
    assert torch.equal(torch.get_rng_state(), torch_before)
    numpy_after = np.random.get_state()
    assert numpy_after[0] == numpy_before[0]
    assert np.array_equal(numpy_after[1], numpy_before[1])
    assert numpy_after[2:] == numpy_before[2:]


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_does_not_depend_on_the_global_torch_seed(
    name: str, cohorts: dict[str, Cohort]
) -> None:
    torch.manual_seed(1)
    first = _make(name).fit(cohorts["lung"], seed=2, progress=False)
    torch.manual_seed(99)
    second = _make(name).fit(cohorts["lung"], seed=2, progress=False)
    assert _same_weights(_weights(first), _weights(second))


# ------------------------------------------------------------------ sampling
@pytest.mark.parametrize(("name", "sampler"), SAMPLERS, ids=SAMPLER_IDS)
@pytest.mark.parametrize("data", ["gbsg2", "lung"])
def test_every_sampled_patient_passes_validation(
    name: str,
    sampler: str | None,
    data: str,
    cohorts: dict[str, Cohort],
    fitted: dict[tuple[str, str], VAE],
) -> None:
    model = fitted[name, data]
    sample = _sample(model, 150, seed=1, sampler=sampler)
    assert isinstance(sample, Cohort)
    assert len(sample) == 150
    report = sample.validate()
    assert report.ok, str(report)
    modelled = cohorts[data].schema.modelled_columns
    assert list(sample.data.columns) == modelled
    assert sample.schema.names == modelled
    assert sample.schema == model.schema
    assert sample.source == f"jumeau:{name}:seed=1"
    assert sample.artificial
    assert model.last_sampling_.accepted >= 150


def test_lung_samples_never_hold_the_excluded_column(
    fitted: dict[tuple[str, str], VAE],
) -> None:
    for name in MODELS:
        assert "inst" not in fitted[name, "lung"].sample(20, seed=0).data.columns


@pytest.mark.parametrize(("name", "sampler"), SAMPLERS, ids=SAMPLER_IDS)
def test_same_seed_same_sample_other_seed_other_sample(
    name: str, sampler: str | None, fitted: dict[tuple[str, str], VAE]
) -> None:
    model = fitted[name, "lung"]
    first = _sample(model, 80, seed=7, sampler=sampler).data
    pd.testing.assert_frame_equal(first, _sample(model, 80, seed=7, sampler=sampler).data)
    assert not first.equals(_sample(model, 80, seed=8, sampler=sampler).data)


@pytest.mark.parametrize(("name", "sampler"), SAMPLERS, ids=SAMPLER_IDS)
def test_where_returns_exactly_n_matching_patients(
    name: str, sampler: str | None, fitted: dict[tuple[str, str], VAE]
) -> None:
    model = fitted[name, "lung"]
    sample = _sample(model, 60, seed=4, sampler=sampler, where=LUNG_WHERE)
    assert len(sample) == 60
    assert (sample.data["age"] >= 60).all()
    assert (sample.data["ph_karno"] >= 80).all()
    assert len(sample.select(LUNG_WHERE)) == 60
    assert sample.validate().ok
    report = model.last_sampling_
    assert report.where == LUNG_WHERE
    assert report.rejected_by["where"] > 0


def test_rhvae_prior_and_geometry_samplers_work_on_one_fitted_model(
    fitted: dict[tuple[str, str], VAE],
) -> None:
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    assert model.config.sampler == "geometry"
    geometry = model.sample(100, seed=3, sampler="geometry").data
    prior = model.sample(100, seed=3, sampler="prior").data
    assert not geometry.equals(prior)
    # the default is the configured sampler, and choosing one does not stick
    pd.testing.assert_frame_equal(model.sample(100, seed=3).data, geometry)
    assert model.config.sampler == "geometry"
    assert not hasattr(model, "_active_sampler")


def _latent_codes(model: RHVAE, n: int, *, seed: int, sampler: str = "geometry") -> torch.Tensor:
    """Latent codes from one of the RHVAE's samplers, without decoding them."""
    model._active_sampler = sampler
    try:
        return model._latent_samples(n, torch.Generator().manual_seed(seed))
    finally:
        del model._active_sampler


def test_rhvae_geometry_codes_stay_near_the_training_codes(
    fitted: dict[tuple[str, str], VAE],
) -> None:
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    distances = {}
    for sampler in ("geometry", "prior"):
        codes = _latent_codes(model, 1000, seed=0, sampler=sampler)
        assert codes.shape == (1000, model.latent_dim_)
        assert torch.isfinite(codes).all()
        distances[sampler] = torch.cdist(codes, model.centroids_).min(-1).values.mean()
    assert distances["geometry"] < 0.75 * distances["prior"]


def _aggregate_second_moments(model: RHVAE, cohort: Cohort) -> torch.Tensor:
    matrix, _ = model.encoder_.transform(cohort.data)
    with torch.no_grad():
        mean, logvar = model.module_.encode(torch.as_tensor(matrix))
    return (mean.pow(2) + logvar.exp()).mean(0)


@pytest.mark.parametrize("data", ["gbsg2", "lung"])
def test_rhvae_envelope_is_calibrated_to_the_codes_second_moments(
    data: str, cohorts: dict[str, Cohort]
) -> None:
    # the default chains: the small ones of the other tests barely leave their training codes
    settings = {k: v for k, v in RHVAE_SMALL.items() if not k.startswith("mcmc")}
    model = RHVAE(**(settings | {"prior_weight": None})).fit(cohorts[data], seed=0, progress=False)
    target = _aggregate_second_moments(model, cohorts[data])
    assert model.envelope_.shape == (model.latent_dim_,)
    low, high = rhvae_model._ENVELOPE_RANGE
    assert bool(((model.envelope_ >= low) & (model.envelope_ <= high)).all())
    # fresh draws (another seed than the calibration's) land near the target, dimension by
    # dimension; the fixed N(0, I) envelope it replaced does not
    moments = _latent_codes(model, 3000, seed=7).pow(2).mean(0)
    error = (moments / target).log().abs()
    assert float(error.max()) < math.log(1.5), (moments, target)
    fixed = RHVAE(**(settings | {"prior_weight": 1.0}))
    fixed.__dict__.update({k: v for k, v in model.__dict__.items() if k != "config"})
    fixed_moments = _latent_codes(fixed, 3000, seed=7).pow(2).mean(0)
    assert float((fixed_moments / target).log().abs().mean()) > float(error.mean())


def test_rhvae_with_a_fixed_prior_weight_is_not_calibrated(
    fitted: dict[tuple[str, str], VAE],
) -> None:
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    assert model.config.prior_weight == 1.0  # the default: a fixed N(0, I) envelope
    assert not hasattr(model, "envelope_")
    assert torch.equal(model._envelope_precision(), torch.ones(model.latent_dim_))
    half = model.config.model_copy(update={"prior_weight": 0.5})
    changed = RHVAE(**RHVAE_SMALL)
    changed.__dict__.update(model.__dict__ | {"config": half})
    assert torch.equal(changed._envelope_precision(), torch.full((model.latent_dim_,), 0.5))


def test_rhvae_calibrates_on_demand_as_it_would_have_at_fit(
    fitted: dict[tuple[str, str], VAE], cohorts: dict[str, Cohort]
) -> None:
    """prior_weight=None set after a default fit calibrates at the first draw, to the same
    envelope as a fit with prior_weight=None (the pilot draws have their own fixed seed)."""
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    eager = RHVAE(**(RHVAE_SMALL | {"prior_weight": None})).fit(
        cohorts["lung"], seed=0, progress=False
    )
    late = RHVAE(**RHVAE_SMALL)
    late.__dict__.update(model.__dict__ | {"config": eager.config})
    assert not hasattr(late, "envelope_")
    late.sample(10, seed=0)
    assert torch.equal(late.envelope_, eager.envelope_)
    assert not torch.equal(eager.envelope_, torch.ones(eager.latent_dim_))


def test_rhvae_files_without_the_calibration_target_sample_with_the_unit_envelope(
    fitted: dict[tuple[str, str], VAE],
) -> None:
    """Model files written before the calibration hold no target: they sample as they did."""
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    meta, arrays = model._state()
    assert "rhvae.code_moments" in arrays
    del arrays["rhvae.code_moments"]
    old = RHVAE(**(RHVAE_SMALL | {"prior_weight": None}))
    kept = {k: v for k, v in model.__dict__.items() if k not in ("config", "code_moments_")}
    old.__dict__.update(kept)
    old._load_state(meta, arrays)
    assert not hasattr(old, "code_moments_")
    assert old.config.prior_weight is None  # asks for the calibration, which has no target
    assert torch.equal(old._envelope_precision(), torch.ones(model.latent_dim_))


def test_rhvae_samples_with_the_sampling_floor_not_the_training_lambda(
    fitted: dict[tuple[str, str], VAE], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sampler's metric gets `sampling_floor` as λ; training's `regularization` is not
    touched, and a floor set after the fit takes effect at the next draw."""
    import jumeau.generators.rhvae.metric as metric_module

    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    assert (model.config.regularization, model.config.sampling_floor) == (0.01, 1.0)
    floors: list[float] = []
    original_init = metric_module.SamplingMetric.__init__

    def recording_init(self: SamplingMetric, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        floors.append(self.lam)

    monkeypatch.setattr(metric_module.SamplingMetric, "__init__", recording_init)
    config = model.config
    _latent_codes(model, 50, seed=0)
    model.config = config.model_copy(update={"sampling_floor": 0.3})
    try:
        _latent_codes(model, 50, seed=0)
    finally:
        model.config = config
    assert floors == [1.0, 0.3]


def test_rhvae_the_prior_sized_floor_spreads_samples_the_kernels_shrank(
    fitted: dict[tuple[str, str], VAE], cohorts: dict[str, Cohort]
) -> None:
    """With training's λ = 0.01 the kernels around the codes take nearly all the density's mass
    and, times the N(0, I) envelope, pull the samples inward: their second moments fall well
    below the codes' aggregate posterior's. λ = 1 (the default floor) keeps them closer."""
    model = fitted["rhvae", "gbsg2"]
    assert isinstance(model, RHVAE)
    target = _aggregate_second_moments(model, cohorts["gbsg2"])
    config = model.config

    def mean_log_error(floor: float) -> float:
        # the default chains: the small ones of the fixture barely leave their training codes
        chains = {k: RHVAEConfig.model_fields[k].default for k in ("mcmc_steps", "mcmc_leapfrog")}
        model.config = config.model_copy(update=chains | {"sampling_floor": floor})
        try:
            moments = _latent_codes(model, 2000, seed=3).pow(2).mean(0)
        finally:
            model.config = config
        return float((moments / target).log().abs().mean())

    assert mean_log_error(1.0) < mean_log_error(0.01)


def test_rhvae_files_from_before_the_sampling_floor_sample_at_the_training_lambda(
    fitted: dict[tuple[str, str], VAE],
) -> None:
    """A file's state without `sampling_floor` was written when the sampler used training's λ:
    loading it keeps that λ (same samples as before); a current file keeps its floor."""
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    meta, arrays = model._state()
    assert meta["sampling_floor"] == model.config.sampling_floor
    current = RHVAE(**RHVAE_SMALL)
    current.encoder_, current.schema_ = model.encoder_, model.schema_
    current._load_state(meta, arrays)
    assert current.config.sampling_floor == 1.0
    del meta["sampling_floor"]
    old = RHVAE(**RHVAE_SMALL)
    old.encoder_, old.schema_ = model.encoder_, model.schema_
    old._load_state(meta, arrays)
    assert old.config.sampling_floor == old.config.regularization == 0.01


@pytest.mark.parametrize(("n", "draws", "thinning"), [(7, 4, 2), (9, 1, 1), (5, 8, 3)])
def test_rhvae_geometry_sampler_returns_exactly_n_codes_for_any_draws_per_chain(
    n: int, draws: int, thinning: int, fitted: dict[tuple[str, str], VAE]
) -> None:
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    original = model.config
    model.config = original.model_copy(update={"mcmc_draws": draws, "mcmc_thinning": thinning})
    try:
        codes = model._geometry_samples(n, torch.Generator().manual_seed(0))
        again = model._geometry_samples(n, torch.Generator().manual_seed(0))
    finally:
        model.config = original
    assert codes.shape == (n, model.latent_dim_)
    assert torch.isfinite(codes).all()
    assert torch.equal(codes, again)  # seeded
    assert len(torch.unique(codes, dim=0)) > 1


def test_rhvae_draws_from_one_chain_are_not_copies_of_each_other(
    fitted: dict[tuple[str, str], VAE],
) -> None:
    """With 4 draws per chain, the codes of one chain are 4 different points (the chain moved)."""
    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    codes = model._geometry_samples(400, torch.Generator().manual_seed(1))
    assert model.config.mcmc_draws > 1
    assert len(torch.unique(codes, dim=0)) > 0.8 * len(codes)


def test_rhvae_past_the_exact_limit_a_scaled_random_subset_stands_for_every_code(
    fitted: dict[tuple[str, str], VAE], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to `exact_metric_limit` patients the metric sums over every code; past it over a
    random subset whose matrices are scaled by N / subset, and the sampled codes look like the
    full metric's (same mean distance to the data)."""
    import jumeau.generators.rhvae.metric as metric_module

    model = fitted["rhvae", "lung"]
    assert isinstance(model, RHVAE)
    built: list[SamplingMetric] = []
    original_init = metric_module.SamplingMetric.__init__

    def recording_init(self: SamplingMetric, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        built.append(self)

    def nearest_distance(codes: torch.Tensor) -> float:
        return float(torch.cdist(codes, model.centroids_).min(-1).values.mean())

    monkeypatch.setattr(metric_module.SamplingMetric, "__init__", recording_init)
    config, count = model.config, len(model.centroids_)
    full = model._geometry_samples(600, torch.Generator().manual_seed(2))
    limit = count // 2
    model.config = config.model_copy(update={"exact_metric_limit": limit})
    try:
        subset = model._geometry_samples(600, torch.Generator().manual_seed(2))
    finally:
        model.config = config
    assert [len(metric.centroids) for metric in built] == [count, limit]
    # each kept code with its own matrix, scaled by N / subset
    kept = torch.cdist(built[1].centroids, model.centroids_).argmin(-1)
    rows, cols = built[1].rows, built[1].cols
    expected = model.matrices_[kept][:, rows, cols] * (count / limit)
    torch.testing.assert_close(built[1].upper, expected)
    assert torch.isfinite(subset).all()
    assert nearest_distance(subset) == pytest.approx(nearest_distance(full), rel=0.25)


@pytest.mark.parametrize("sampler", ["hmc", "Prior", "GEOMETRY", 3])
def test_invalid_sampler_name_raises(sampler: Any, fitted: dict[tuple[str, str], VAE]) -> None:
    model = fitted["rhvae", "lung"]
    with pytest.raises(JumeauError, match="sampler must be 'geometry' or 'prior'"):
        model.sample(5, seed=0, sampler=sampler)
    assert not hasattr(model, "_active_sampler")


def test_empty_sampler_name_raises(fitted: dict[tuple[str, str], VAE]) -> None:
    with pytest.raises(JumeauError, match="sampler must be"):
        fitted["rhvae", "lung"].sample(5, seed=0, sampler="")


# ------------------------------------------------------------------ early stopping
class _RecordingVAE(VAE):
    """Keeps a copy of the weights at every validation pass (one per epoch)."""

    def _loss(self, x: torch.Tensor, mask: torch.Tensor, epoch: int | None) -> torch.Tensor:
        if epoch is None:
            self.__dict__.setdefault("snapshots", []).append(_weights(self))
        return super()._loss(x, mask, epoch)


class _RecordingRHVAE(RHVAE):
    """Keeps the weights at every validation pass of each phase, and those the flow starts from."""

    def _loss(self, x: torch.Tensor, mask: torch.Tensor, epoch: int | None) -> torch.Tensor:
        snapshots = self.__dict__.setdefault("snapshots", {"vae": [], "flow": []})
        if epoch is None:
            snapshots[self._phase].append(_weights(self))
        elif self._phase == "flow" and "flow_start" not in snapshots:
            snapshots["flow_start"] = _weights(self)
        return super()._loss(x, mask, epoch)


def _check_early_stop(history: TrainingHistory, epochs: int, patience: int) -> None:
    assert history.stopped_early
    ran = len(history.train_loss)
    assert ran == len(history.validation_loss) < epochs
    assert ran == history.best_epoch + patience + 1
    best = history.validation_loss[history.best_epoch]
    # an improvement must beat the best by a relative 1e-4 to count
    assert best <= min(history.validation_loss) + 1e-4 * abs(best)
    assert all(v >= best - 1e-4 * abs(best) for v in history.validation_loss[history.best_epoch :])


def test_vae_stops_early_and_keeps_the_best_epoch(cohorts: dict[str, Cohort]) -> None:
    model = _RecordingVAE(epochs=300, patience=1, hidden_dim=16).fit(
        cohorts["lung"], seed=0, progress=False
    )
    history = model.history_
    _check_early_stop(history, 300, 1)
    snapshots = model.__dict__["snapshots"]
    assert len(snapshots) == len(history.validation_loss)
    assert _same_weights(_weights(model), snapshots[history.best_epoch])
    if history.best_epoch + 1 < len(snapshots):
        assert not _same_weights(_weights(model), snapshots[-1])


def test_rhvae_stops_early_in_both_phases_and_keeps_the_best_epochs(
    cohorts: dict[str, Cohort],
) -> None:
    params = RHVAE_SMALL | {"epochs": 300, "patience": 1, "flow_epochs": 100, "flow_patience": 1}
    model = _RecordingRHVAE(**params).fit(cohorts["lung"], seed=0, progress=False)
    snapshots = model.__dict__["snapshots"]
    warmup, flow = model.warmup_history_, model.history_
    _check_early_stop(warmup, 300, 1)
    _check_early_stop(flow, 100, 1)
    assert len(snapshots["vae"]) == len(warmup.validation_loss)
    assert len(snapshots["flow"]) == len(flow.validation_loss)
    # the flow phase starts from the best warm-up weights, and the model keeps the best flow ones
    assert _same_weights(snapshots["flow_start"], snapshots["vae"][warmup.best_epoch])
    assert _same_weights(_weights(model), snapshots["flow"][flow.best_epoch])


def test_train_keeps_the_weights_of_the_best_validation_epoch() -> None:
    """The training loop alone, with validation losses chosen in advance."""
    torch.manual_seed(0)
    module = nn.Linear(2, 1)
    x, mask = torch.randn(16, 2), torch.ones(16, 2)
    scripted = iter([5.0, 3.0, 4.0, 3.5, 1.0, 9.0])
    seen: list[dict[str, torch.Tensor]] = []

    def loss_fn(xb: torch.Tensor, mb: torch.Tensor, epoch: int | None) -> torch.Tensor:
        if epoch is None:
            seen.append({k: v.detach().clone() for k, v in module.state_dict().items()})
            return torch.tensor(next(scripted))
        return module(xb).pow(2).mean() + 1.0

    history = train(
        module,
        loss_fn,
        x,
        mask,
        validation=(x[:4], mask[:4]),
        epochs=50,
        batch_size=8,
        learning_rate=0.1,
        weight_decay=0.0,
        patience=2,
        clip_norm=1.0,
        progress=False,
        label="test",
        generator=torch.Generator().manual_seed(0),
    )
    assert history.validation_loss == [5.0, 3.0, 4.0, 3.5]
    assert history.best_epoch == 1
    assert history.stopped_early
    assert len(history.train_loss) == 4
    assert history.skipped_batches == 0
    assert _same_weights(module.state_dict(), seen[1])
    assert not _same_weights(module.state_dict(), seen[-1])
    assert not module.training


def test_train_skips_non_finite_batches_and_refuses_to_go_on_without_any() -> None:
    torch.manual_seed(0)
    module = nn.Linear(2, 1)
    x, mask = torch.randn(16, 2), torch.ones(16, 2)
    common = {
        "validation": (x[:4], mask[:4]),
        "epochs": 3,
        "batch_size": 8,
        "learning_rate": 0.01,
        "weight_decay": 0.0,
        "patience": 5,
        "clip_norm": 1.0,
        "progress": False,
        "label": "test",
    }
    calls = {"n": 0}

    def every_other_nan(xb: torch.Tensor, mb: torch.Tensor, epoch: int | None) -> torch.Tensor:
        loss = module(xb).pow(2).mean()
        if epoch is None:
            return loss
        calls["n"] += 1
        return loss * float("nan") if calls["n"] % 2 else loss

    history = train(
        module, every_other_nan, x, mask, generator=torch.Generator().manual_seed(0), **common
    )
    assert history.skipped_batches == 3  # two batches per epoch, one of them NaN
    assert all(math.isfinite(v) for v in history.train_loss)
    assert all(torch.isfinite(p).all() for p in module.parameters())

    def always_nan(xb: torch.Tensor, mb: torch.Tensor, epoch: int | None) -> torch.Tensor:
        return module(xb).pow(2).mean() * float("nan")

    with pytest.raises(TrainingError, match="non-finite loss"):
        train(module, always_nan, x, mask, generator=torch.Generator().manual_seed(0), **common)


# ------------------------------------------------------------------ save / load
@pytest.fixture(scope="module")
def model_files(
    fitted: dict[tuple[str, str], VAE], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("neural-models")
    return {name: fitted[name, "lung"].save(folder / f"{name}.jumeau") for name in MODELS}


def _header_text(path: Path) -> str:
    with safe_open(str(path), framework="numpy") as reader:
        return (reader.metadata() or {})["jumeau"]


@pytest.mark.parametrize(("name", "sampler"), SAMPLERS, ids=SAMPLER_IDS)
def test_loaded_model_gives_identical_samples(
    name: str,
    sampler: str | None,
    fitted: dict[tuple[str, str], VAE],
    model_files: dict[str, Path],
) -> None:
    model = fitted[name, "lung"]
    loaded = jumeau.load(str(model_files[name]))
    assert type(loaded) is type(model)
    for seed in (0, 11):
        pd.testing.assert_frame_equal(
            _sample(loaded, 60, seed=seed, sampler=sampler).data,
            _sample(model, 60, seed=seed, sampler=sampler).data,
        )
    pd.testing.assert_frame_equal(
        _sample(loaded, 20, seed=2, sampler=sampler, where=LUNG_WHERE).data,
        _sample(model, 20, seed=2, sampler=sampler, where=LUNG_WHERE).data,
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_loaded_model_has_the_same_state(
    name: str, fitted: dict[tuple[str, str], VAE], model_files: dict[str, Path]
) -> None:
    model = fitted[name, "lung"]
    loaded = jumeau.load(str(model_files[name]))
    assert isinstance(loaded, VAE)
    assert loaded.get_params() == model.get_params()
    assert loaded.schema == model.schema
    assert loaded.seed_ == 0
    assert loaded.training_rows_ == N_ROWS
    assert loaded.training_sha256_ == model.training_sha256_
    assert (loaded.latent_dim_, loaded.hidden_dim_) == (model.latent_dim_, model.hidden_dim_)
    assert _same_weights(_weights(loaded), _weights(model))
    assert not loaded.module_.training
    if isinstance(model, RHVAE):
        assert isinstance(loaded, RHVAE)
        assert torch.equal(loaded.centroids_, model.centroids_)
        assert torch.equal(loaded.matrices_, model.matrices_)
        assert torch.equal(loaded.code_moments_, model.code_moments_)
    assert generator_class(name) is type(model)


@pytest.mark.parametrize("name", list(MODELS))
def test_header_never_holds_a_training_row(
    name: str,
    cohorts: dict[str, Cohort],
    model_files: dict[str, Path],
    assert_no_training_row: Callable[..., None],
) -> None:
    text = _header_text(model_files[name])
    header = json.loads(text)
    assert header["model"] == name
    assert header["training"]["rows"] == N_ROWS
    numeric = ["time", "age", "ph_karno", "pat_karno", "meal_cal", "wt_loss"]
    assert_no_training_row(text, cohorts["lung"], numeric)


def test_only_the_rhvae_file_holds_per_patient_latent_codes(
    fitted: dict[tuple[str, str], VAE], model_files: dict[str, Path]
) -> None:
    vae_arrays = load_file(str(model_files["vae"]))
    assert not [k for k in vae_arrays if k.startswith("rhvae.")]
    for key, array in vae_arrays.items():
        if key.startswith("module."):
            assert N_ROWS not in array.shape, key
    rhvae = fitted["rhvae", "lung"]
    assert isinstance(rhvae, RHVAE)
    arrays = load_file(str(model_files["rhvae"]))
    # by design (documented in the module): one latent code and one metric per training patient
    assert arrays["rhvae.centroids"].shape == (N_ROWS, rhvae.latent_dim_)
    assert arrays["rhvae.matrices"].shape == (N_ROWS, rhvae.latent_dim_, rhvae.latent_dim_)
    assert rhvae_model.__doc__ is not None
    assert "one latent code" in rhvae_model.__doc__


# ------------------------------------------------------------------ the per-type likelihood
@pytest.fixture(scope="module")
def encoded(cohorts: dict[str, Cohort]) -> tuple[TabularEncoder, torch.Tensor, torch.Tensor]:
    encoder = TabularEncoder().fit(cohorts["lung"])
    matrix, mask = encoder.transform(cohorts["lung"].data)
    return encoder, torch.as_tensor(matrix), torch.as_tensor(mask)


def _random_params(likelihood: MixedLikelihood, rows: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, likelihood.n_params, generator=generator)


def test_likelihood_layout_matches_the_encoder(encoded: Any) -> None:
    encoder, _, _ = encoded
    likelihood = MixedLikelihood(encoder)
    positions = [int(i) for i in likelihood.numeric_index]
    for start, stop in likelihood.blocks:
        positions.extend(range(start, stop))
    assert sorted(positions) == list(range(encoder.width_))  # every coordinate exactly once
    assert likelihood.n_numeric == len(encoder.numeric_blocks) > 0
    assert len(likelihood.blocks) == len(encoder.categorical_blocks) > 0
    assert likelihood.n_params == 2 * likelihood.n_numeric + likelihood.n_logits
    mean, scale, logits = likelihood.split(_random_params(likelihood, 5) * 50)
    assert mean.shape == scale.shape == (5, likelihood.n_numeric)
    assert logits.shape == (5, likelihood.n_logits)
    assert (scale >= MIN_SCALE).all() and (scale <= MAX_SCALE).all()


def test_log_prob_is_gaussian_on_observed_numbers_plus_log_softmax_of_levels(
    encoded: Any,
) -> None:
    encoder, x, mask = encoded
    likelihood = MixedLikelihood(encoder)
    params = _random_params(likelihood, len(x)).double()
    x, mask = x.double(), mask.double()
    mean, scale, logits = likelihood.split(params)
    index = likelihood.numeric_index
    gaussian = -0.5 * ((x[:, index] - mean) / scale) ** 2 - torch.log(scale)
    gaussian = gaussian - 0.5 * math.log(2 * math.pi)
    expected = (gaussian * mask[:, index]).sum(-1)
    offset = 0
    for start, stop in likelihood.blocks:
        width = stop - start
        observed = x[:, start:stop].argmax(-1)
        log_softmax = torch.log_softmax(logits[:, offset : offset + width], -1)
        expected = expected + log_softmax[torch.arange(len(x)), observed]
        offset += width
    result = likelihood.log_prob(params, x, mask)
    assert result.shape == (len(x),)
    assert torch.allclose(result, expected, atol=1e-9)


def test_log_prob_ignores_missing_numbers(encoded: Any) -> None:
    encoder, x, mask = encoded
    likelihood = MixedLikelihood(encoder)
    index = likelihood.numeric_index
    masked = mask[:, index] == 0
    assert masked.any()  # lung has missing numbers: the check means something
    params = _random_params(likelihood, len(x))
    before = likelihood.log_prob(params, x, mask)
    changed = x.clone()
    numbers = changed[:, index]
    numbers[masked] = 1e3  # anything at all where the number was not observed
    changed[:, index] = numbers
    assert torch.equal(likelihood.log_prob(params, changed, mask), before)
    # the predicted mean there does not matter either
    other = params.clone()
    means = other[:, : likelihood.n_numeric]
    means[masked] = -50.0
    other[:, : likelihood.n_numeric] = means
    assert torch.equal(likelihood.log_prob(other, x, mask), before)
    # while an observed number does count
    observed = changed.clone()
    row, column = map(int, torch.nonzero(~masked)[0])
    observed[row, index[column]] += 1.0
    assert likelihood.log_prob(params, observed, mask)[row] != before[row]


def test_sample_gives_one_level_per_block_and_numbers_at_their_positions(
    encoded: Any,
) -> None:
    encoder, _, _ = encoded
    likelihood = MixedLikelihood(encoder)
    rows = 500
    params = _random_params(likelihood, rows) * 3
    means = torch.arange(1, likelihood.n_numeric + 1, dtype=torch.float32) * 100.0
    params[:, : likelihood.n_numeric] = means
    params[:, likelihood.n_numeric : 2 * likelihood.n_numeric] = -30.0  # smallest scale
    out = likelihood.sample(params, torch.Generator().manual_seed(0))
    assert out.shape == (rows, encoder.width_)
    numbers = out[:, likelihood.numeric_index]
    assert (numbers - means).abs().max() < 8 * MIN_SCALE
    for start, stop in likelihood.blocks:
        block = out[:, start:stop]
        assert set(block.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(block.sum(-1), torch.ones(rows))
    # decodes into a frame of the modelled columns
    frame = encoder.inverse_transform(out.numpy())
    assert list(frame.columns) == encoder.schema_.names


def test_sampled_levels_follow_the_softmax_probabilities(encoded: Any) -> None:
    encoder, _, _ = encoded
    likelihood = MixedLikelihood(encoder)
    rows = 20_000
    logits = torch.randn(likelihood.n_logits, generator=torch.Generator().manual_seed(3))
    params = torch.zeros(rows, likelihood.n_params)
    params[:, 2 * likelihood.n_numeric :] = logits
    out = likelihood.sample(params, torch.Generator().manual_seed(4))
    offset = 0
    for start, stop in likelihood.blocks:
        width = stop - start
        expected = torch.softmax(logits[offset : offset + width], -1)
        frequencies = out[:, start:stop].mean(0)
        assert torch.allclose(frequencies, expected, atol=0.02), (start, frequencies, expected)
        offset += width
    # sampled, not argmax'ed: a level that is not the most likely still comes out
    first_start, first_stop = likelihood.blocks[0]
    assert (out[:, first_start:first_stop].sum(0) > 0).sum() > 1


def test_sample_is_reproducible_with_a_generator(encoded: Any) -> None:
    encoder, _, _ = encoded
    likelihood = MixedLikelihood(encoder)
    params = _random_params(likelihood, 50)
    first = likelihood.sample(params, torch.Generator().manual_seed(9))
    assert torch.equal(first, likelihood.sample(params, torch.Generator().manual_seed(9)))
    assert not torch.equal(first, likelihood.sample(params, torch.Generator().manual_seed(10)))


# ------------------------------------------------------------------ the Riemannian metric
def _metric_example(
    n: int = 7, d: int = 3, batch: int = 5, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centroids = torch.randn(n, d, generator=generator, dtype=torch.float64)
    factors = torch.randn(n, d, d, generator=generator, dtype=torch.float64).tril()
    matrices = factors @ factors.transpose(-1, -2)
    z = torch.randn(batch, d, generator=generator, dtype=torch.float64)
    return z, centroids, matrices


def test_inverse_metric_is_symmetric_positive_definite() -> None:
    z, centroids, matrices = _metric_example()
    lam = 0.01
    inverse = inverse_metric(z, centroids, matrices, 1.5, lam)
    assert inverse.shape == (len(z), 3, 3)
    assert torch.allclose(inverse, inverse.transpose(-1, -2), atol=1e-12)
    assert torch.linalg.eigvalsh(inverse).min() >= lam - 1e-10
    # far from every centroid only λI is left
    far = inverse_metric(z + 1e3, centroids, matrices, 1.5, lam)
    assert torch.allclose(far, lam * torch.eye(3, dtype=torch.float64).expand(len(z), 3, 3))


def test_kinetic_gradient_is_the_gradient_of_the_kinetic_energy() -> None:
    z, centroids, matrices = _metric_example()
    rho = torch.randn(z.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    temperature, lam = 1.5, 0.01
    leaf = z.clone().requires_grad_(True)
    inverse = inverse_metric(leaf, centroids, matrices, temperature, lam)
    energy = 0.5 * torch.einsum("bi,bij,bj->b", rho, inverse, rho)
    (expected,) = torch.autograd.grad(energy.sum(), leaf)
    result = kinetic_gradient(z, rho, centroids, matrices, temperature)
    assert result.shape == z.shape
    assert expected.abs().max() > 1e-3  # the check means something
    assert torch.allclose(result, expected, atol=1e-6)


def test_log_det_matches_torch_logdet() -> None:
    z, centroids, matrices = _metric_example()
    inverse = inverse_metric(z, centroids, matrices, 1.5, 0.01)
    assert torch.allclose(log_det(inverse), torch.logdet(inverse), atol=1e-9)


def _full_log_det_and_gradient(
    z: torch.Tensor, centroids: torch.Tensor, matrices: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: autograd through log det of the full O(N) metric."""
    leaf = z.clone().requires_grad_(True)
    value = log_det(inverse_metric(leaf, centroids, matrices, 1.5, 0.01))
    (gradient,) = torch.autograd.grad(value.sum(), leaf)
    return value.detach(), gradient


def test_sampling_metric_matches_autograd_on_the_full_metric() -> None:
    z, centroids, matrices = _metric_example()
    expected_value, expected_gradient = _full_log_det_and_gradient(z, centroids, matrices)
    value, gradient = SamplingMetric(centroids, matrices, 1.5, 0.01).log_det_and_gradient(z)
    assert expected_gradient.abs().max() > 1e-2  # the check means something
    assert torch.allclose(value, expected_value, atol=1e-9)
    assert torch.allclose(gradient, expected_gradient, atol=1e-8)


def test_metric_network_gives_lower_triangular_factors_with_a_positive_diagonal() -> None:
    torch.manual_seed(0)
    network = MetricNetwork(width=6, hidden=8, latent_dim=4)
    factors = network(torch.randn(10, 6) * 100)
    assert factors.shape == (10, 4, 4)
    assert torch.equal(factors, factors.tril())
    assert (torch.diagonal(factors, dim1=-2, dim2=-1) > 0).all()
    assert torch.isfinite(factors).all()
    one = MetricNetwork(width=6, hidden=8, latent_dim=1)(torch.randn(3, 6))
    assert one.shape == (3, 1, 1) and (one > 0).all()


@pytest.mark.parametrize("beta_zero", [0.1, 0.3, 0.9, 1.0])
def test_tempering_rises_from_sqrt_beta_zero_to_one(beta_zero: float) -> None:
    total = 5
    schedule = [_tempering(k, total, beta_zero) for k in range(total + 1)]
    assert schedule[0] == pytest.approx(math.sqrt(beta_zero))
    assert schedule[-1] == pytest.approx(1.0)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(schedule))
    # the momentum rescalings of the flow multiply to √β₀ overall: ρ_K = ρ_0 · √β₀ / 1
    product = math.prod(schedule[k - 1] / schedule[k] for k in range(1, total + 1))
    assert product == pytest.approx(math.sqrt(beta_zero))


def test_clamp_rows_rescales_long_rows_and_keeps_short_ones() -> None:
    values = torch.tensor([[3.0, 4.0], [30.0, 40.0], [float("nan"), 1.0], [float("inf"), 0.0]])
    clamped = _clamp_rows(values, 10.0)
    assert torch.isfinite(clamped).all()
    assert torch.equal(clamped[0], values[0])
    assert torch.allclose(clamped[1], torch.tensor([6.0, 8.0]))
    assert (clamped.norm(dim=-1) <= 10.0 + 1e-5).all()


# ------------------------------------------------------------------ bad use
@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"epochs": 0}, "epochs"),
        ({"validation_share": 0.6}, "validation_share"),
        ({"latentdim": 4}, "latentdim"),
    ],
)
def test_invalid_parameters_raise_naming_the_parameter(
    name: str, params: dict[str, Any], named: str
) -> None:
    with pytest.raises(JumeauError, match=rf"{name}: invalid parameter.*{named}"):
        MODELS[name][0](**params)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"sampler": "hmc"}, "sampler"),
        ({"n_leapfrog": 0}, "n_leapfrog"),
        ({"beta_zero": 0}, "beta_zero"),
        ({"beta_zero": 1.5}, "beta_zero"),
        ({"temperature": -1}, "temperature"),
        ({"nearest_centroids": 0}, "nearest_centroids"),
    ],
)
def test_invalid_rhvae_parameters_raise_naming_the_parameter(
    params: dict[str, Any], named: str
) -> None:
    with pytest.raises(JumeauError, match=rf"rhvae: invalid parameter.*{named}"):
        RHVAE(**params)


def test_flow_parameters_are_not_vae_parameters() -> None:
    with pytest.raises(JumeauError, match=r"vae: invalid parameter.*flow_epochs"):
        VAE(flow_epochs=3)
    model = RHVAE(config=RHVAEConfig(latent_dim=3), flow_epochs=4)
    assert model.get_params()["latent_dim"] == 3
    assert model.get_params()["flow_epochs"] == 4
    assert repr(model) == "RHVAE(latent_dim=3, flow_epochs=4)"


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_on_too_few_rows_raises(name: str, lung: Cohort) -> None:
    with pytest.raises(TooFewRowsError, match="19 rows is too few"):
        _make(name).fit(lung.subset(range(19)), progress=False)


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_on_twenty_rows_works(name: str, lung: Cohort) -> None:
    model = _make(name, epochs=2, flow_epochs=1) if name == "rhvae" else _make(name, epochs=2)
    model.fit(lung.subset(range(20)), seed=0, progress=False)
    assert model.sample(10, seed=0).validate().ok


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_on_something_else_than_a_cohort_raises(name: str, lung: Cohort) -> None:
    with pytest.raises(JumeauError, match="expects a jumeau Cohort, got DataFrame"):
        _make(name).fit(lung.data, progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_invalid_seed_raises(seed: Any, lung: Cohort) -> None:
    with pytest.raises(JumeauError, match="seed must be"):
        _make("vae").fit(lung, seed=seed, progress=False)


# ------------------------------------------------------------------ seed bounds
@pytest.mark.parametrize("name", ["copula", "vae", "rhvae"])
def test_every_model_takes_the_same_seed_range(name: str, cohorts: dict[str, Cohort]) -> None:
    """0 ≤ seed ≤ 2**63 − 1 everywhere (the flow phase's derived seed must not overflow)."""
    model = make_generator(name, **({} if name == "copula" else MODELS[name][1]))
    model.fit(cohorts["lung"], seed=2**63 - 1, progress=False)
    with pytest.raises(JumeauError, match="seed must be"):
        model.fit(cohorts["lung"], seed=2**63, progress=False)


@pytest.mark.parametrize("name", ["copula", "vae"])
def test_a_column_never_observed_in_the_training_rows_comes_out_missing(
    name: str, lung: Cohort
) -> None:
    """The small-cohort study refits on 50 patients: a sparse column can be empty in them. The
    generator fits, and its patients have that column missing, as every training patient had."""
    part = lung.subset(np.flatnonzero(lung.data["meal_cal"].isna().to_numpy()))
    params = VAE_SMALL if name == "vae" else {}
    generator = make_generator(name, **params).fit(part, seed=0, progress=False)
    drawn = generator.sample(100, seed=1)
    assert drawn.data["meal_cal"].isna().all()
    assert drawn.data.drop(columns="meal_cal").notna().any().all()
