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

import numpy as np
import pandas as pd

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError

# artificial patients drawn for the baseline (the DCR share's uncertainty lies in the reference
# sets, not in the number of artificial patients: see privacy.dcr_share_standard_error)
BASELINE_PATIENTS = 1000


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
