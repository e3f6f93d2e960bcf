"""A fitted gradient-boosting classifier as plain arrays, and its prediction in numpy.

Score files must never be pickled (loading a pickle runs code), and scikit-learn has no other
way to save a model. So the trees of a fitted `HistGradientBoostingClassifier` are read out once
(split feature, threshold, where missing values go, children, leaf values) into arrays that
safetensors stores, and prediction walks those arrays: every tree and every patient at once, one
level per step. Tests check the result equals scikit-learn's own prediction. Only numeric splits
occur (categories reach the model as 0/1 columns, see `design.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from jumeau.errors import JumeauError

FIELDS = ("feature", "threshold", "missing_left", "left", "right", "value")


@dataclass
class TreeEnsemble:
    """Trees padded to a common node count: arrays of shape [trees, nodes]."""

    baseline: float
    feature: np.ndarray  # split feature, −1 at leaves
    threshold: np.ndarray  # go left when x ≤ threshold
    missing_left: np.ndarray  # where NaN goes (1 = left)
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray  # leaf values (raw, log-odds scale)

    @classmethod
    def from_sklearn(cls, model: HistGradientBoostingClassifier) -> TreeEnsemble:
        if len(model.classes_) != 2:
            raise JumeauError("only binary gradient-boosting classifiers can be exported")
        trees = [iteration[0].nodes for iteration in model._predictors]
        if any(tree["is_categorical"].any() for tree in trees):
            raise JumeauError("categorical splits are not exported; encode categories as 0/1")
        size = max((len(tree) for tree in trees), default=1)

        def stacked(name: str, fill: float, dtype: type) -> np.ndarray:
            out: np.ndarray = np.full((len(trees), size), fill, dtype=dtype)
            for row, tree in enumerate(trees):
                out[row, : len(tree)] = tree[name]
            return out

        leaf = stacked("is_leaf", 1, np.int64).astype(bool)
        feature = np.where(leaf, -1, stacked("feature_idx", -1, np.int64))
        return cls(
            baseline=float(np.ravel(model._baseline_prediction)[0]),
            feature=feature,
            threshold=stacked("num_threshold", 0.0, np.float64),
            missing_left=stacked("missing_go_to_left", 0, np.int64),
            left=stacked("left", 0, np.int64),
            right=stacked("right", 0, np.int64),
            value=np.where(leaf, stacked("value", 0.0, np.float64), 0.0),
        )

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Log-odds of every row of x."""
        n, trees = len(x), self.feature.shape[0]
        if trees == 0:
            return np.full(n, self.baseline)
        tree_index = np.arange(trees)[None, :]
        node = np.zeros((n, trees), dtype=np.int64)
        rows = np.arange(n)[:, None]
        while True:
            feature = self.feature[tree_index, node]
            inner = feature >= 0
            if not inner.any():
                break
            values = x[rows, np.maximum(feature, 0)]
            go_left = np.where(
                np.isnan(values),
                self.missing_left[tree_index, node] == 1,
                values <= self.threshold[tree_index, node],
            )
            child = np.where(go_left, self.left[tree_index, node], self.right[tree_index, node])
            node = np.where(inner, child, node)
        return self.baseline + self.value[tree_index, node].sum(-1)

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.raw(x)))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{name}": np.ascontiguousarray(getattr(self, name)) for name in FIELDS}

    @classmethod
    def from_arrays(
        cls, baseline: float, arrays: dict[str, np.ndarray], prefix: str
    ) -> TreeEnsemble:
        try:
            parts = {name: arrays[f"{prefix}.{name}"] for name in FIELDS}
        except KeyError as exc:
            raise JumeauError(f"the score file lacks the tree array {exc}") from None
        shapes = {part.shape for part in parts.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise JumeauError("the score file's tree arrays do not have one common 2-D shape")
        ensemble = cls(baseline=baseline, **parts)
        _check_links(ensemble)
        return ensemble


def _check_links(ensemble: TreeEnsemble) -> None:
    """Children must point inside their tree, and deeper (a corrupted file could loop)."""
    nodes = ensemble.feature.shape[1]
    inner = ensemble.feature >= 0
    index = np.arange(nodes)[None, :]
    for child in (ensemble.left, ensemble.right):
        if (inner & ((child <= index) | (child >= nodes))).any():
            raise JumeauError("the score file's trees are corrupted (a child points outside)")
