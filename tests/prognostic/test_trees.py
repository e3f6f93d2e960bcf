"""Exported trees predict exactly what scikit-learn predicts, and bad arrays are refused."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from jumeau.errors import JumeauError
from jumeau.prognostic.trees import TreeEnsemble


def _fitted(seed: int = 0) -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 4))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take learned routes
    y = np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) ** 2 + rng.normal(size=400) > 0.8
    model = HistGradientBoostingClassifier(max_iter=40, max_depth=4, random_state=seed)
    return model.fit(x, y.astype(int)), x


def test_exported_trees_match_scikit_learn_exactly() -> None:
    model, x = _fitted()
    ensemble = TreeEnsemble.from_sklearn(model)
    assert ensemble.feature.shape[0] == model.n_iter_
    rng = np.random.default_rng(5)
    fresh = rng.normal(size=(300, 4)) * 2
    fresh[rng.random(fresh.shape) < 0.2] = np.nan
    for data in (x, fresh):
        np.testing.assert_allclose(
            ensemble.probability(data), model.predict_proba(data)[:, 1], rtol=0, atol=1e-12
        )


def test_round_trip_through_arrays() -> None:
    ensemble = TreeEnsemble.from_sklearn(_fitted()[0])
    again = TreeEnsemble.from_arrays(ensemble.baseline, ensemble.arrays("t"), "t")
    x = np.random.default_rng(1).normal(size=(50, 4))
    np.testing.assert_array_equal(again.raw(x), ensemble.raw(x))


def test_a_child_pointing_backwards_is_refused() -> None:
    ensemble = TreeEnsemble.from_sklearn(_fitted()[0])
    arrays = ensemble.arrays("t")
    arrays["t.left"] = arrays["t.left"].copy()
    arrays["t.left"][0, 0] = 0  # the root's left child is the root: an endless walk
    with pytest.raises(JumeauError, match="corrupted"):
        TreeEnsemble.from_arrays(ensemble.baseline, arrays, "t")


def test_missing_or_misshapen_arrays_are_refused() -> None:
    ensemble = TreeEnsemble.from_sklearn(_fitted()[0])
    arrays = ensemble.arrays("t")
    with pytest.raises(JumeauError, match="lacks"):
        TreeEnsemble.from_arrays(0.0, {k: v for k, v in arrays.items() if "value" not in k}, "t")
    arrays["t.value"] = arrays["t.value"][:, :3]
    with pytest.raises(JumeauError, match="common"):
        TreeEnsemble.from_arrays(0.0, arrays, "t")


def test_multiclass_models_are_not_exported() -> None:
    x = np.random.default_rng(0).normal(size=(90, 2))
    model = HistGradientBoostingClassifier(max_iter=3).fit(x, np.arange(90) % 3)
    with pytest.raises(JumeauError, match="binary"):
        TreeEnsemble.from_sklearn(model)
