"""Membership inference: can an attacker who holds the artificial cohort tell who was trained on?

The attack data protection bodies ask about first (Stadler et al., USENIX Security 2022): a person
whose record can be recognised as a training member has had something disclosed — being in a
hospital's cohort is itself health information. Two attacks, each scoring a real patient:

- ``domias`` — density ratio, DOMIAS (van Breugel, Sun, Qian & van der Schaar, AISTATS 2023, their
  equation 2): score(x) = log p_artificial(x) − log p_reference(x). A model that overfits puts more
  density at its training patients than the population has there; dividing by a reference
  density (real patients the model never saw) removes what is merely typical. Densities are
  Gaussian kernel estimates (scikit-learn's ``KernelDensity``, Scott's bandwidth) in a whitened
  principal-component space of the reference patients — the paper's KDE variant. The ``domias``
  PyPI package is not used: its only entry point (``evaluate_performance``) trains its own
  generator from scratch and cannot attack a cohort that was already generated.
- ``distance`` — the closest-artificial-patient attack (GAN-leaks, Chen et al., CCS 2020): the
  smaller a patient's Gower distance to the nearest artificial patient, the likelier a member.

Members are training patients, non-members real holdout patients the generator never saw; the
score's ROC AUC is the attack's power (0.5: no better than a coin). **The ceiling** is the same
attack with an independent real sample in place of the artificial cohort: no information about
membership can be in it, so its AUC shows how far from 0.5 this cohort's sizes let chance go.

The holdout is cut in three (seeded): a reference (DOMIAS's population density), a real sample
(the ceiling's "artificial" cohort) and the non-members being scored. The three roles rotate so
that every holdout patient is scored once, against sets it is not part of, and each rotation
scores its own third of the training patients. The AUC is the mean over rotations; its 95 %
interval comes from DeLong's variance of each rotation's AUC (DeLong et al., Biometrics 1988).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.neighbors import KernelDensity

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.privacy import GowerSpace
from jumeau.evaluation.statistics import delong_auc, mean_auc_interval

ROTATIONS = 3
# DOMIAS's density space: at most this many principal components, and at least this many
# reference patients per component (a kernel estimate from a few dozen points in many dimensions
# is noise)
MAX_COMPONENTS = 8
REFERENCE_PER_COMPONENT = 5
# At most this many artificial patients feed the attacks (the kernel estimate's cost grows with
# them; a few thousand already describe the released density)
MAX_ARTIFICIAL = 3000
MIN_HOLDOUT = 2 * ROTATIONS  # every part needs a patient, and the non-members two in total


@dataclass(frozen=True)
class MembershipResult:
    """One attack's power against the artificial cohort, beside the same attack's ceiling."""

    attack: str  # "domias" or "distance"
    auc: float
    auc_low: float
    auc_high: float
    ceiling_auc: float  # the same attack with an independent real sample as the released cohort
    ceiling_low: float
    ceiling_high: float
    n_members: int
    n_non_members: int

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


# Scores: (real patients to score, the released cohort, the reference patients) → higher means
# "more likely a member"; all three given as rows of one feature space.
Score = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def membership_inference(
    train: Cohort, holdout: Cohort, artificial: Cohort, *, seed: int = 0
) -> list[MembershipResult]:
    """Both attacks' AUCs with 95 % intervals and their real ceilings (see the module's text)."""
    if len(holdout) < MIN_HOLDOUT or len(train) < ROTATIONS:
        raise JumeauError(
            f"membership inference needs at least {MIN_HOLDOUT} holdout and {ROTATIONS} "
            f"training patients, not {len(holdout)} and {len(train)}"
        )
    if len(artificial) == 0:
        raise JumeauError("the artificial cohort is empty: there is nothing to attack")
    rng = np.random.default_rng(seed)
    space = GowerSpace(train, artificial)
    x_train, x_holdout = space.train, space.features(holdout)
    x_art = space.features(artificial)
    if len(x_art) > MAX_ARTIFICIAL:
        x_art = x_art[rng.choice(len(x_art), MAX_ARTIFICIAL, replace=False)]
    holdout_parts = np.array_split(rng.permutation(len(x_holdout)), ROTATIONS)
    member_parts = np.array_split(rng.permutation(len(x_train)), ROTATIONS)
    attacks: dict[str, Score] = {
        "domias": lambda x, released, reference: _domias(space, x, released, reference),
        "distance": lambda x, released, _reference: -space.closest(x, released),
    }
    results = []
    for name, score in attacks.items():
        main: list[tuple[float, float]] = []
        ceiling: list[tuple[float, float]] = []
        for r in range(ROTATIONS):
            reference = x_holdout[holdout_parts[r]]
            real_sample = x_holdout[holdout_parts[(r + 1) % ROTATIONS]]
            members = x_train[member_parts[r]]
            non_members = x_holdout[holdout_parts[(r + 2) % ROTATIONS]]
            for released, store in ((x_art, main), (real_sample, ceiling)):
                store.append(
                    delong_auc(
                        score(members, released, reference),
                        score(non_members, released, reference),
                    )
                )
        auc, low, high = mean_auc_interval(main, independent=True)
        c_auc, c_low, c_high = mean_auc_interval(ceiling, independent=True)
        results.append(
            MembershipResult(
                attack=name,
                auc=auc,
                auc_low=low,
                auc_high=high,
                ceiling_auc=c_auc,
                ceiling_low=c_low,
                ceiling_high=c_high,
                n_members=len(x_train),
                n_non_members=len(x_holdout),
            )
        )
    return results


def _domias(
    space: GowerSpace, x: np.ndarray, released: np.ndarray, reference: np.ndarray
) -> np.ndarray:
    """log p_released(x) − log p_reference(x), kernel densities in the reference's whitened
    principal components (one space for the released cohort and the reference, so that the ratio
    compares like with like)."""
    embed = _Embedding(space, reference)
    z_released, z_reference, z = embed(released), embed(reference), embed(x)
    log_released = _kernel_density(z_released).score_samples(z)
    log_reference = _kernel_density(z_reference).score_samples(z)
    return np.asarray(log_released - log_reference)


def _kernel_density(points: np.ndarray) -> KernelDensity:
    return KernelDensity(kernel="gaussian", bandwidth="scott").fit(points)


class _Embedding:
    """Features → continuous coordinates: numbers centred and scaled by the reference patients
    (a missing number at the centre, with a 0/1 missing flag), categories one-hot; then the
    reference's principal components, whitened."""

    def __init__(self, space: GowerSpace, reference: np.ndarray) -> None:
        self.categorical = space.categorical
        self.levels = [
            np.unique(space.train[:, j][~np.isnan(space.train[:, j])]) if is_category else None
            for j, is_category in enumerate(self.categorical)
        ]
        raw = self._expand(reference, fit=True)
        components = max(
            1, min(MAX_COMPONENTS, len(reference) // REFERENCE_PER_COMPONENT, raw.shape[1])
        )
        components = min(components, max(1, len(reference) - 1))
        self.pca = PCA(n_components=components, whiten=True, random_state=0).fit(raw)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        coordinates = self.pca.transform(self._expand(features, fit=False))
        return np.nan_to_num(coordinates, nan=0.0, posinf=0.0, neginf=0.0)

    def _expand(self, features: np.ndarray, *, fit: bool) -> np.ndarray:
        blocks = []
        if fit:
            with np.errstate(all="ignore"):
                numbers = features[:, ~self.categorical]
                self.centre = np.nan_to_num(np.nanmedian(numbers, axis=0)) if numbers.size else []
                scale = np.nanstd(numbers, axis=0) if numbers.size else np.ones(0)
            self.scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        number_index = 0
        for j, is_category in enumerate(self.categorical):
            column = features[:, j]
            if is_category:
                levels = self.levels[j]
                assert levels is not None
                blocks.append((column[:, None] == levels[None, :]).astype(float))
                continue
            missing = np.isnan(column)
            centred = (column - self.centre[number_index]) / self.scale[number_index]
            blocks.append(np.where(missing, 0.0, centred)[:, None])
            blocks.append(missing.astype(float)[:, None])
            number_index += 1
        if not blocks:
            return np.zeros((len(features), 1))
        return np.hstack(blocks)
