"""Gaussian copula: the statistical baseline. Fast, no neural network, no torch.

Every column becomes a normal coordinate — numbers through their empirical quantiles (the shared
encoder), categories through intervals of [0, 1] sized by their frequency — and the dependence
between columns is one correlation matrix of this latent vector. It is estimated by stochastic EM
(`estimation.py`), which uses incomplete rows without dropping or imputing them first and gives
categories their polyserial rather than attenuated correlations; numbers get a latent mean and
scale, so that values missing at random shift their column's distribution as they should.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from jumeau.data.schema import ColumnKind
from jumeau.generators.base import Generator
from jumeau.generators.copula.conditional import (
    LatentGibbs,
    gibbs_draws,
    latent_coordinates,
    level_of,
)
from jumeau.generators.copula.config import CopulaConfig
from jumeau.generators.copula.estimation import (
    LatentFit,
    repaired_correlation,
    stochastic_em,
)
from jumeau.generators.encoding import CategoricalBlock


class GaussianCopula(Generator):
    """Gaussian copula over mixed clinical columns (see module docstring)."""

    name: ClassVar[str] = "copula"
    config_class = CopulaConfig
    config: CopulaConfig

    def _fit_matrix(
        self, matrix: np.ndarray, mask: np.ndarray, *, seed: int, progress: bool
    ) -> None:
        rng = np.random.default_rng(seed)
        blocks = self.encoder_.categorical_blocks
        self._set_intervals([matrix[:, b.start : b.stop].sum(axis=0) for b in blocks])
        latent = self._latent_scores(matrix, mask, rng)
        correlation = self._pairwise_correlation(latent)
        sampler = (  # built (it draws starting states) only when the EM will run
            LatentGibbs(
                self.encoder_, self.orders_, self.edges_, matrix, mask, rng, missing_is_level=True
            )
            if self.config.em_iterations > 0
            else None
        )
        fit = None
        if sampler is not None and sampler.has_unknowns:
            kept = sampler.coordinates
            fit = stochastic_em(
                sampler,
                correlation[np.ix_(kept, kept)],
                iterations=self.config.em_iterations,
                min_eigenvalue=self.config.min_eigenvalue,
            )
            # the present/missing flags stay outside the EM (see conditional.py); their
            # correlations are taken against the completed latent rows
            latent[:, kept] = sampler.state
            correlation = self._pairwise_correlation(latent)
        self._store_latent_law(correlation, fit)

    def _set_intervals(self, counts: list[np.ndarray]) -> None:
        """Each category's intervals from its level counts (one array per categorical block:
        the training rows', or the sum over hospitals in federated training)."""
        self.orders_: list[np.ndarray] = []  # level positions, in interval order, per block
        self.edges_: list[np.ndarray] = []  # cumulative upper edges of the intervals
        for block, level_counts in zip(self.encoder_.categorical_blocks, counts, strict=True):
            order, edges = self._intervals(block, level_counts)
            self.orders_.append(order)
            self.edges_.append(edges)

    def _latent_scores(
        self, matrix: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Each row's latent vector: the numbers' normal scores (NaN where missing), then each
        category drawn uniformly inside its level's interval."""
        scores = [self._numeric_scores(matrix, mask)]
        for block, order, edges in zip(
            self.encoder_.categorical_blocks, self.orders_, self.edges_, strict=True
        ):
            codes = matrix[:, block.start : block.stop].argmax(axis=1)
            scores.append(self._category_scores(codes, order, edges, rng)[:, None])
        return np.concatenate(scores, axis=1)

    def _store_latent_law(self, correlation: np.ndarray, fit: LatentFit | None) -> None:
        """The pairwise correlation of the latent scores, with the stochastic EM's moments (when
        it ran) on the coordinates it estimated, repaired into a valid correlation matrix."""
        n_numeric = len(self.encoder_.numeric_index)
        self.numeric_mean_ = np.zeros(n_numeric)
        self.numeric_scale_ = np.ones(n_numeric)
        if fit is not None:
            kept = latent_coordinates(self.encoder_)
            spread = np.sqrt(np.diag(fit.covariance))
            correlation[np.ix_(kept, kept)] = fit.covariance / np.outer(spread, spread)
            self.numeric_mean_ = fit.mean[:n_numeric]
            self.numeric_scale_ = spread[:n_numeric]
        self.correlation_ = repaired_correlation(
            correlation, shrinkage=self.config.shrinkage, min_eigenvalue=self.config.min_eigenvalue
        )

    def _numeric_scores(self, matrix: np.ndarray, mask: np.ndarray) -> np.ndarray:
        index = self.encoder_.numeric_index
        return np.where(mask[:, index] > 0, matrix[:, index], np.nan)

    def _intervals(
        self, block: CategoricalBlock, counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ordinal levels keep their clinical order (so monotone relations survive); other
        categories are sorted by frequency, as is usual for copulas."""
        column = self.schema_.columns.get(block.column)
        ordered = (
            column is not None and column.kind is ColumnKind.ORDINAL and not block.is_indicator
        )
        order = np.arange(block.width) if ordered else np.argsort(-counts, kind="stable")
        probabilities = counts[order] / counts.sum()
        return order, np.cumsum(probabilities)

    @staticmethod
    def _category_scores(
        codes: np.ndarray, order: np.ndarray, edges: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        position = np.argsort(order)[codes]  # interval of each row's level
        lower = np.concatenate([[0.0], edges[:-1]])[position]
        upper = edges[position]
        u = lower + (upper - lower) * rng.uniform(0.02, 0.98, size=codes.size)
        return ndtri(np.clip(u, 1e-9, 1 - 1e-9))

    @staticmethod
    def _pairwise_correlation(latent: np.ndarray) -> np.ndarray:
        return pd.DataFrame(latent).corr(min_periods=3).fillna(0.0).to_numpy()

    def _sample_matrix(self, n: int, rng: np.random.Generator) -> np.ndarray:
        cholesky = np.linalg.cholesky(self.correlation_)
        latent = rng.standard_normal((n, len(cholesky))) @ cholesky.T
        matrix = np.zeros((n, self.encoder_.width_))
        n_numeric = len(self.encoder_.numeric_index)
        matrix[:, self.encoder_.numeric_index] = (
            self.numeric_mean_ + self.numeric_scale_ * latent[:, :n_numeric]
        )
        blocks = self.encoder_.categorical_blocks
        for j, (block, order, edges) in enumerate(
            zip(blocks, self.orders_, self.edges_, strict=True)
        ):
            level = level_of(ndtr(latent[:, n_numeric + j]), order, edges)
            matrix[np.arange(n), block.start + level] = 1.0
        return matrix

    def _impute_matrix(
        self, matrix: np.ndarray, mask: np.ndarray, m: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, float]]:
        sampler = LatentGibbs(
            self.encoder_, self.orders_, self.edges_, matrix, mask, rng, missing_is_level=False
        )
        kept = sampler.coordinates
        n_numeric = len(self.encoder_.numeric_index)
        scale = np.ones(len(kept))
        scale[:n_numeric] = self.numeric_scale_
        mean = np.zeros(len(kept))
        mean[:n_numeric] = self.numeric_mean_
        covariance = self.correlation_[np.ix_(kept, kept)] * np.outer(scale, scale)
        draws = gibbs_draws(
            sampler,
            mean,
            covariance,
            matrix,
            m,
            burn_in=self.config.gibbs_burn_in,
            thinning=self.config.gibbs_thinning,
        )
        return draws, {
            "gibbs_burn_in": float(self.config.gibbs_burn_in),
            "gibbs_thinning": float(self.config.gibbs_thinning),
        }

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays = {
            "copula.correlation": self.correlation_,
            "copula.numeric_mean": self.numeric_mean_,
            "copula.numeric_scale": self.numeric_scale_,
        }
        for j, (order, edges) in enumerate(zip(self.orders_, self.edges_, strict=True)):
            arrays[f"copula.order.{j}"] = order.astype(np.int64)
            arrays[f"copula.edges.{j}"] = edges
        return {"blocks": len(self.orders_)}, arrays

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.correlation_ = arrays["copula.correlation"]
        # files written before the EM fit have a standard-normal latent for every number
        n_numeric = len(self.encoder_.numeric_index)
        self.numeric_mean_ = arrays.get("copula.numeric_mean", np.zeros(n_numeric))
        self.numeric_scale_ = arrays.get("copula.numeric_scale", np.ones(n_numeric))
        count = int(meta["blocks"])
        self.orders_ = [arrays[f"copula.order.{j}"] for j in range(count)]
        self.edges_ = [arrays[f"copula.edges.{j}"] for j in range(count)]
