"""The federated copula: sufficient statistics summed across sites give the pooled estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.copula import pairwise_correlation
from jumeau.federated.local import run_locally
from jumeau.federated.site import Site
from jumeau.generators.copula.model import GaussianCopula

# exact sketches (the opt-out): these tests hold the federated fit to the pooled one
EXACT = FederatedConfig(sketch_epsilon=None)


def _pair_sums(block: np.ndarray) -> dict[str, np.ndarray]:
    observed = (~np.isnan(block)).astype(float)
    filled = np.nan_to_num(block)
    return {
        "pair_count": observed.T @ observed,
        "pair_sum": filled.T @ observed,
        "pair_squares": (filled**2).T @ observed,
        "pair_products": filled.T @ filled,
    }


def test_pairwise_correlation_from_summed_blocks_equals_pandas_on_pooled_rows() -> None:
    rng = np.random.default_rng(0)
    data = rng.multivariate_normal([0, 1, 2], [[1, 0.6, 0.2], [0.6, 1, -0.3], [0.2, -0.3, 1]], 300)
    data[rng.random(data.shape) < 0.2] = np.nan
    blocks = [data[:50], data[50:170], data[170:]]
    summed = {k: sum(_pair_sums(b)[k] for b in blocks) for k in _pair_sums(data)}
    expected = pd.DataFrame(data).corr(min_periods=3).to_numpy()
    assert np.allclose(pairwise_correlation(summed), expected)


def test_too_few_pairs_give_no_correlation() -> None:
    data = np.array([[1.0, np.nan], [2.0, 1.0], [3.0, np.nan], [4.0, 2.0]])
    correlation = pairwise_correlation(_pair_sums(data))
    assert correlation[0, 1] == 0.0 and correlation[0, 0] == 1.0


def test_federated_copula_matches_the_pooled_fit(gbsg2: Cohort, grade_sites: list[Site]) -> None:
    """Sites that differ (by tumour grade): the federated EM reaches the pooled correlations
    within Monte Carlo noise, including the strong age–menopause polyserial one."""
    federated = run_locally(
        Coordinator(gbsg2.schema, "copula", settings=EXACT, seed=0), grade_sites
    ).generator
    pooled = GaussianCopula().fit(gbsg2, seed=0, progress=False)
    assert isinstance(federated, GaussianCopula)
    assert np.abs(federated.correlation_ - pooled.correlation_).max() < 0.12
    numbers = [b.column for b in pooled.encoder_.numeric_blocks]
    categories = [b.column for b in pooled.encoder_.categorical_blocks]
    age, menostat = numbers.index("age"), len(numbers) + categories.index("menostat")
    assert abs(federated.correlation_[age, menostat] - pooled.correlation_[age, menostat]) < 0.05
    assert abs(federated.correlation_[age, menostat]) > 0.8


def test_without_em_one_round_of_pairs_suffices(gbsg2: Cohort, random_sites: list[Site]) -> None:
    coordinator = Coordinator(gbsg2.schema, "copula", settings=EXACT, em_iterations=0)
    fit = run_locally(coordinator, random_sites)
    assert [t.task for t in fit.traffic] == ["check", "sketch", "copula-pairs"]
    assert coordinator.max_rounds == 3


def test_the_federated_model_is_an_ordinary_jumeau_model(
    tmp_path, gbsg2: Cohort, random_sites: list[Site]
) -> None:
    from jumeau.generators import load_generator

    fit = run_locally(
        Coordinator(gbsg2.schema, "copula", settings=EXACT, seed=4, em_iterations=3), random_sites
    )
    assert fit.patients == len(gbsg2) and fit.generator.training_rows_ == len(gbsg2)
    assert fit.generator.seed_ == 4
    loaded = load_generator(fit.generator.save(tmp_path / "federated.jumeau"))
    drawn = loaded.sample(300, seed=1)
    assert drawn.validate().ok
    assert set(drawn.data["tgrade"].unique()) == {"I", "II", "III"}
    assert 40 < drawn.data["age"].mean() < 60


def test_same_seed_same_model(gbsg2: Cohort, grade_sites: list[Site]) -> None:
    first = run_locally(
        Coordinator(gbsg2.schema, "copula", settings=EXACT, seed=2, em_iterations=4), grade_sites
    )
    again = run_locally(
        Coordinator(gbsg2.schema, "copula", settings=EXACT, seed=2, em_iterations=4), grade_sites
    )
    assert np.array_equal(first.generator.correlation_, again.generator.correlation_)


def test_federated_flags_match_the_pooled_ones(block_of_holes: tuple[Cohort, np.ndarray]) -> None:
    """A block of holes (a third of the patients miss three columns, one a category): the flags'
    EM, run round by round across two sites, reaches the pooled flag correlations within Monte
    Carlo noise. (On lung, whose flags mark one to three patients, two pooled fits with different
    seeds already differ by 0.6: too rare to compare.)"""
    cohort, _ = block_of_holes
    order = np.random.default_rng(1).permutation(len(cohort))
    sites = [Site(cohort.subset(np.sort(order[i::2])).data, f"half-{i}") for i in range(2)]
    fit = run_locally(
        Coordinator(cohort.schema, "copula", settings=EXACT, seed=0, em_iterations=20), sites
    )
    assert "copula-flags" in [t.task for t in fit.traffic]
    federated = fit.generator
    pooled = GaussianCopula(em_iterations=20).fit(cohort, seed=0, progress=False)
    assert isinstance(federated, GaussianCopula)
    flags = pooled.flag_positions
    assert flags == federated.flag_positions and len(flags) == 3
    assert np.abs(federated.correlation_[np.ix_(flags, flags)]).min() > 0.9
    assert np.abs(federated.correlation_ - pooled.correlation_).max() < 0.15
