"""The independent-marginals baseline: how close to its training patients a model comes that has
learned nothing about any patient as a whole.

Any model fitted on n patients reproduces *their* column distributions, which differ from the
population's by sampling noise of order 1/√n; artificial patients then sit a little closer to the
training patients than to unseen ones, and the DCR share rises above 0.5 without any record
being memorised. On a cohort of 100 patients the effect is large: each column drawn independently
from the training patients' own values — no joint record, no correlation — scored DCR shares of
0.567 on burn (108 training patients, mean of 6 splits), 0.522 on pharmacoSmoking, 0.521 on
veteran and 0.511 on stagec. This is the "independent histograms" baseline of Stadler, Oprisanu &
Troncoso (USENIX Security 2022). The memorisation line sets the DCR share beside it: a share no
higher than this baseline's is the cost of learning the cohort's marginals, not a copy of anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.evaluation.privacy import (
    Z95,
    distance_to_closest_record,
    half_set_shares,
    normal_interval,
)

# artificial patients drawn for the baseline (the DCR share's uncertainty lies in the reference
# sets, not in the number of artificial patients: see privacy.dcr_share_standard_error)
BASELINE_PATIENTS = 1000


@dataclass(frozen=True)
class BaselineComparison:
    """The artificial cohort's DCR share beside the independent-marginals baseline's, measured
    on the same reference sets and the same half-set draws."""

    share_interval: tuple[float, float] | None  # the artificial cohort's share, 95 %
    baseline_share: float
    baseline_interval: tuple[float, float] | None
    excess: float  # artificial share − baseline share
    # 95 % interval of the excess from the paired draws: both shares move with the reference
    # sets, and the draws carry whatever covariance they share (measured on gbsg2 thirds, the
    # two move largely apart — they lean on different reference patients — so the difference's
    # interval is about as wide as the two shares' combined: a cautious test)
    excess_interval: tuple[float, float] | None


def compare_with_baseline(
    train: Cohort, holdout: Cohort, artificial: Cohort, share: float, *, seed: int = 0
) -> BaselineComparison:
    """`share` (the artificial cohort's DCR share, measured with this `seed`) beside the
    baseline's, with both intervals and the paired interval of their difference."""
    baseline = independent_marginals(
        train, artificial, min(len(artificial), BASELINE_PATIENTS) or 1, seed=seed
    )
    baseline_share = distance_to_closest_record(
        train, holdout, baseline, seed=seed
    ).share_closer_to_train
    excess = share - baseline_share
    halves = half_set_shares(train, holdout, [artificial, baseline], seed=seed)
    if halves is None:
        return BaselineComparison(None, baseline_share, None, excess, None)
    # a share's variance falls as one over its reference sets' size: halves → full sets, /√2
    errors = [float(np.std(h, ddof=1) / np.sqrt(2.0)) for h in (*halves, halves[0] - halves[1])]
    margin = Z95 * errors[2]
    return BaselineComparison(
        share_interval=normal_interval(share, errors[0]),
        baseline_share=baseline_share,
        baseline_interval=normal_interval(baseline_share, errors[1]),
        excess=excess,
        excess_interval=(excess - margin, excess + margin),
    )


def independent_marginals(train: Cohort, like: Cohort, n: int, *, seed: int = 0) -> Cohort:
    """n patients whose every column (those of `like` that `train` has) is drawn independently,
    with replacement, from the training patients' values of that column."""
    if n < 1 or len(train) == 0:
        raise JumeauError("the independent-marginals baseline needs patients to draw from")
    rng = np.random.default_rng(seed)
    columns = [c for c in like.data.columns if c in train.data.columns]
    frame = pd.DataFrame(
        {c: train.data[c].iloc[rng.integers(len(train), size=n)].to_numpy() for c in columns}
    )
    frame = frame.astype(train.data[columns].dtypes.to_dict())
    return Cohort.from_typed(frame, like.schema, source="independent marginals", artificial=True)
