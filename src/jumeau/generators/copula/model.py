"""Gaussian copula: the statistical baseline. Fast, no neural network, no torch.

Every column becomes a normal coordinate — numbers through their empirical quantiles (the shared
encoder), categories through intervals of [0, 1] sized by their frequency — and the dependence
between columns is one correlation matrix of this latent vector. It is estimated by stochastic EM
(`estimation.py`), which uses incomplete rows without dropping or imputing them first and gives
categories their polyserial rather than attenuated correlations; numbers get a latent mean and
scale, so that values missing at random shift their column's distribution as they should.
Every column that can miss a value also has a present/missing flag coordinate, fitted afterwards
with the values held (`flags.py`), so that holes which go together in the real cohort go together
in the artificial one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from jumeau.data.cohort import Cohort
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
    LatentSampler,
    repaired_correlation,
    stochastic_em,
)
from jumeau.generators.copula.flags import FlagGibbs, standardise_present, tied_flags
from jumeau.generators.encoding import MISSING_LEVEL, CategoricalBlock


class GaussianCopula(Generator):
    """Gaussian copula over mixed clinical columns (see module docstring)."""

    name: ClassVar[str] = "copula"
    config_class = CopulaConfig
    config: CopulaConfig

    def _fit_private(self, cohort: Cohort, *, seed: int, progress: bool) -> None:
        from jumeau.generators.copula.private import fit_private_copula

        fit_private_copula(self, cohort, seed=seed)

    def _fit_matrix(
        self, matrix: np.ndarray, mask: np.ndarray, *, seed: int, progress: bool
    ) -> None:
        rng = np.random.default_rng(seed)
        blocks = self.encoder_.categorical_blocks
        self._set_intervals([matrix[:, b.start : b.stop].sum(axis=0) for b in blocks])
        holes = self.flag_missing(matrix)
        counted = holes.astype(np.int64)
        self.flag_ties_ = tied_flags(counted.T @ counted, len(matrix))
        latent = self._latent_scores(matrix, mask, rng)
        correlation = self._pairwise_correlation(latent)
        sampler = (  # built (it draws starting states) only when the EM will run
            LatentGibbs(
                self.encoder_,
                self.orders_,
                self.edges_,
                matrix,
                mask,
                rng,
                missing_as_level=self.missing_as_level,
            )
            if self.config.em_iterations > 0
            else None
        )
        fit = flag_fit = None
        if sampler is not None and sampler.has_unknowns:
            kept = sampler.coordinates
            fit = self._em(sampler, correlation[np.ix_(kept, kept)])
            latent[:, kept] = sampler.state
            correlation = self._pairwise_correlation(latent)
            if self.flag_positions:
                flags = FlagGibbs(sampler.state, sampler.n_numeric, holes, self.flag_intervals, rng)
                order = self.flag_problem_order
                flag_fit = self._em(flags, correlation[np.ix_(order, order)])
        self._store_latent_law(correlation, fit, flag_fit)

    def _em(self, sampler: LatentSampler, initial: np.ndarray) -> LatentFit:
        return stochastic_em(
            sampler,
            initial,
            iterations=self.config.em_iterations,
            min_eigenvalue=self.config.min_eigenvalue,
        )

    def _set_intervals(self, counts: list[np.ndarray]) -> None:
        """Each category's intervals from its level counts (one array per categorical block:
        the training rows', or the sum over hospitals in federated training). A category that
        can be missing gets a flag coordinate, and its "missing" level no interval."""
        self.orders_: list[np.ndarray] = []  # level positions, in interval order, per block
        self.edges_: list[np.ndarray] = []  # cumulative upper edges of the intervals
        self.flagged_: list[int] = []  # blocks whose missing level is a flag coordinate
        self.flag_orders_: list[np.ndarray] = []  # (present, missing) in interval order
        self.flag_edges_: list[np.ndarray] = []
        self.present_standardised_ = True  # sampling standardises values among present patients
        values = len(latent_coordinates(self.encoder_))
        for j, (block, level_counts) in enumerate(
            zip(self.encoder_.categorical_blocks, counts, strict=True)
        ):
            level_counts = np.asarray(level_counts, dtype=np.float64)
            missing = block.levels.index(MISSING_LEVEL) if MISSING_LEVEL in block.levels else -1
            present = level_counts.sum() - (level_counts[missing] if missing >= 0 else 0.0)
            # A flagged category's level is unknown wherever it is missing; the EM can only place
            # it among the other columns from the patients who have it. Seen in too few of them
            # (medicaldata indo_rct: `bleed` in 19 of 421 training patients, 35 coordinates), its
            # correlations run to ±0.95, the matrix to singular, and every pair bends
            # (|AUC − 0.5| 0.21 → 0.40): such a column keeps "missing" as one of its levels.
            if not block.is_indicator and missing >= 0 and present >= max(20, 2 * values):
                order, edges = self._frequency_intervals(np.array([present, level_counts[missing]]))
                self.flagged_.append(j)
                self.flag_orders_.append(order)
                self.flag_edges_.append(edges)
                level_counts = level_counts.copy()
                level_counts[missing] = 0.0
            order, edges = self._intervals(block, level_counts)
            self.orders_.append(order)
            self.edges_.append(edges)

    # ------------------------------------------------------------------ flag layout
    @property
    def missing_as_level(self) -> frozenset[int]:
        """Blocks whose "missing" is one of their levels when fitting (categories without a
        flag), rather than an unknown level."""
        blocks = self.encoder_.categorical_blocks
        return frozenset(
            j for j, block in enumerate(blocks) if not block.is_indicator and j not in self.flagged_
        )

    @property
    def flag_positions(self) -> list[int]:
        """Latent positions of the flags: numbers' (one per indicator block), then categories'
        (after every block's coordinate)."""
        n_numeric = len(self.encoder_.numeric_index)
        blocks = self.encoder_.categorical_blocks
        numbers = [n_numeric + j for j, block in enumerate(blocks) if block.is_indicator]
        return numbers + [n_numeric + len(blocks) + f for f in range(len(self.flagged_))]

    @property
    def flag_values(self) -> list[int]:
        """Latent position of the value each flag belongs to, in `flag_positions` order."""
        numbers = [b.column for b in self.encoder_.numeric_blocks]
        blocks = self.encoder_.categorical_blocks
        indicators = [numbers.index(b.column) for b in blocks if b.is_indicator]
        return indicators + [len(numbers) + j for j in self.flagged_]

    @property
    def flag_problem_order(self) -> list[int]:
        """Latent positions of the flags' EM state: the values, then the flags."""
        return latent_coordinates(self.encoder_) + self.flag_positions

    @property
    def flag_intervals(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(order, edges) of each flag, in `flag_positions` order; level 0 present, 1 missing."""
        blocks = self.encoder_.categorical_blocks
        indicators = [j for j, block in enumerate(blocks) if block.is_indicator]
        numbers = [(self.orders_[j], self.edges_[j]) for j in indicators]
        return numbers + list(zip(self.flag_orders_, self.flag_edges_, strict=True))

    def flag_missing(self, matrix: np.ndarray) -> np.ndarray:
        """Rows × flags: True where the value is missing, in `flag_positions` order."""
        blocks = self.encoder_.categorical_blocks
        columns = [matrix[:, block.start + 1] > 0 for block in blocks if block.is_indicator]
        columns += [
            matrix[:, blocks[j].start + blocks[j].levels.index(MISSING_LEVEL)] > 0
            for j in self.flagged_
        ]
        if not columns:
            return np.zeros((len(matrix), 0), dtype=bool)
        return np.stack(columns, axis=1)

    def _latent_scores(
        self, matrix: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Each row's latent vector: the numbers' normal scores (NaN where missing), then each
        category drawn uniformly inside its level's interval."""
        scores = [self._numeric_scores(matrix, mask)]
        missing = self.flag_missing(matrix)
        flagged_missing = missing[:, missing.shape[1] - len(self.flagged_) :]
        for j, (block, order, edges) in enumerate(
            zip(self.encoder_.categorical_blocks, self.orders_, self.edges_, strict=True)
        ):
            codes = matrix[:, block.start : block.stop].argmax(axis=1)
            category = self._category_scores(codes, order, edges, rng)
            if j in self.flagged_:  # a missing category's level is unknown
                category[flagged_missing[:, self.flagged_.index(j)]] = np.nan
            scores.append(category[:, None])
        for f, (order, edges) in enumerate(zip(self.flag_orders_, self.flag_edges_, strict=True)):
            codes = flagged_missing[:, f].astype(np.int64)
            scores.append(self._category_scores(codes, order, edges, rng)[:, None])
        return np.concatenate(scores, axis=1)

    def _store_latent_law(
        self, correlation: np.ndarray, fit: LatentFit | None, flag_fit: LatentFit | None = None
    ) -> None:
        """The pairwise correlation of the latent scores, with the stochastic EMs' moments (when
        they ran) on the coordinates they estimated — the flags' rows from their own EM, the
        values' from theirs — repaired into a valid correlation matrix."""
        n_numeric = len(self.encoder_.numeric_index)
        self.numeric_mean_ = np.zeros(n_numeric)
        self.numeric_scale_ = np.ones(n_numeric)
        if flag_fit is not None:
            order, flags = self.flag_problem_order, self.flag_positions
            spread = np.sqrt(np.diag(flag_fit.covariance))
            fitted = flag_fit.covariance / np.outer(spread, spread)
            first_flag = len(order) - len(flags)
            correlation[np.ix_(flags, order)] = fitted[first_flag:]
            correlation[np.ix_(order, flags)] = fitted[:, first_flag:]
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
        if not ordered:
            return self._frequency_intervals(counts)
        order = np.arange(block.width)
        return order, np.cumsum(counts[order] / counts.sum())

    @staticmethod
    def _frequency_intervals(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(-counts, kind="stable")
        return order, np.cumsum(counts[order] / counts.sum())

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
        mean, scale = self.numeric_mean_.copy(), self.numeric_scale_.copy()
        if self.present_standardised_:  # models saved before it sample as they did
            flags, values = self.flag_positions, self.flag_values
            intervals = self.flag_intervals
            deciding = [flags[tie] for tie in self.flag_ties_]
            shown_by = [intervals[tie] for tie in self.flag_ties_]
            standardise_present(latent, deciding, values, shown_by, self.correlation_)
            shown = [value for value in values if value < n_numeric]
            mean[shown], scale[shown] = 0.0, 1.0
        matrix[:, self.encoder_.numeric_index] = mean + scale * latent[:, :n_numeric]
        blocks = self.encoder_.categorical_blocks
        for j, (block, order, edges) in enumerate(
            zip(blocks, self.orders_, self.edges_, strict=True)
        ):
            if not block.is_indicator:  # flags below
                level = level_of(ndtr(latent[:, n_numeric + j]), order, edges)
                matrix[np.arange(n), block.start + level] = 1.0
        missing = np.zeros((n, 0), dtype=bool)
        if self.flag_positions:
            missing = np.stack(
                [
                    level_of(ndtr(latent[:, position]), order, edges) == 1
                    for position, (order, edges) in zip(
                        self.flag_positions, self.flag_intervals, strict=True
                    )
                ],
                axis=1,
            )
        self._write_flags(matrix, missing[:, self.flag_ties_])
        return matrix

    def _write_flags(self, matrix: np.ndarray, missing: np.ndarray) -> None:
        """Put drawn holes (rows × flags, `flag_positions` order) into an encoded matrix."""
        blocks = self.encoder_.categorical_blocks
        indicators = [block for block in blocks if block.is_indicator]
        for f, block in enumerate(indicators):
            matrix[:, block.start] = ~missing[:, f]
            matrix[:, block.start + 1] = missing[:, f]
        for f, j in enumerate(self.flagged_):
            hole, block = missing[:, len(indicators) + f], blocks[j]
            matrix[hole, block.start : block.stop] = 0.0
            matrix[hole, block.start + block.levels.index(MISSING_LEVEL)] = 1.0

    def _impute_matrix(
        self, matrix: np.ndarray, mask: np.ndarray, m: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, float]]:
        sampler = LatentGibbs(self.encoder_, self.orders_, self.edges_, matrix, mask, rng)
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
        for f, (order, edges) in enumerate(zip(self.flag_orders_, self.flag_edges_, strict=True)):
            arrays[f"copula.flag_order.{f}"] = order.astype(np.int64)
            arrays[f"copula.flag_edges.{f}"] = edges
        meta = {
            "blocks": len(self.orders_),
            "flagged": self.flagged_,
            "ties": self.flag_ties_,
            "present_standardised": self.present_standardised_,
        }
        return meta, arrays

    def _load_state(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.correlation_ = arrays["copula.correlation"]
        # files written before the EM fit have a standard-normal latent for every number
        n_numeric = len(self.encoder_.numeric_index)
        self.numeric_mean_ = arrays.get("copula.numeric_mean", np.zeros(n_numeric))
        self.numeric_scale_ = arrays.get("copula.numeric_scale", np.ones(n_numeric))
        count = int(meta["blocks"])
        self.orders_ = [arrays[f"copula.order.{j}"] for j in range(count)]
        self.edges_ = [arrays[f"copula.edges.{j}"] for j in range(count)]
        # files written before the category flags give "missing" an interval of the level's
        # coordinate, and sample as they did
        self.flagged_ = [int(j) for j in meta.get("flagged", [])]
        self.flag_orders_ = [arrays[f"copula.flag_order.{f}"] for f in range(len(self.flagged_))]
        self.flag_edges_ = [arrays[f"copula.flag_edges.{f}"] for f in range(len(self.flagged_))]
        self.flag_ties_ = [int(f) for f in meta.get("ties", range(len(self.flag_positions)))]
        self.present_standardised_ = bool(meta.get("present_standardised", False))
