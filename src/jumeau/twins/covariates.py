"""Categorical covariate effects: a level of a covariate (sex, a genotype, a treatment group, a
low Apgar score) shifts a parameter's typical value.

On the parameter's transformed scale each non-reference level adds β (normal prior, sd 1): a
log-normal parameter is multiplied by e^β — "clearance is 30 % lower in women" — a logit or signed
one shifted. The reference level is the most frequent one in the study, so that the typical
values describe most patients and β the others. Levels are compared as text (1 and "1" agree).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jumeau.errors import JumeauError
from jumeau.twins.models import MechanisticModel


@dataclass(frozen=True)
class CategoricalEffects:
    """Each effect is (covariate, level, parameter); `references` names each covariate's
    reference level."""

    effects: tuple[tuple[str, str, str], ...]
    references: dict[str, str]

    @classmethod
    def declare(
        cls, spec: Mapping[str, Sequence[str]], table: pd.DataFrame, model: MechanisticModel
    ) -> CategoricalEffects:
        """From `{"SEX": ["CL", "V"]}` and the study's covariate table (one row per subject)."""
        if not isinstance(spec, Mapping) or not spec:
            raise JumeauError("categorical effects are given as {covariate: [parameters]}")
        effects: list[tuple[str, str, str]] = []
        references: dict[str, str] = {}
        for covariate, parameters in spec.items():
            if covariate not in table.columns:
                raise JumeauError(
                    f"no covariate {covariate!r} in the study (covariates: "
                    f"{', '.join(c for c in table.columns if c != 'ID') or 'none'})"
                )
            targets = [parameters] if isinstance(parameters, str) else list(parameters)
            unknown = [p for p in targets if p not in model.parameter_names]
            if not targets or unknown:
                raise JumeauError(
                    f"{covariate}: {model.name} has no parameter {', '.join(unknown) or '(none)'}; "
                    f"choose among {', '.join(model.parameter_names)}"
                )
            values = table[covariate]
            if values.isna().any():
                raise JumeauError(f"every subject needs a value of {covariate!r}")
            counts = values.astype(str).value_counts()
            if len(counts) < 2:
                raise JumeauError(f"{covariate!r} has one level only: no effect to estimate")
            # the most frequent level is the reference; ties broken by the level's text
            reference = sorted(counts.index, key=lambda level: (-counts[level], level))[0]
            references[covariate] = reference
            for level in sorted(counts.index):
                if level != reference:
                    effects += [(covariate, level, parameter) for parameter in targets]
        return cls(tuple(effects), references)

    def design(self, table: pd.DataFrame) -> np.ndarray:
        """(rows, effects): 1 where the row has the effect's level."""
        columns = []
        for covariate, level, _ in self.effects:
            if covariate not in table.columns:
                raise JumeauError(f"the fit has an effect of {covariate!r}: give that column")
            values = table[covariate].astype(str)
            known = {self.references[covariate]} | {
                lv for c, lv, _ in self.effects if c == covariate
            }
            strange = sorted(set(values) - known)
            if strange or table[covariate].isna().any():
                raise JumeauError(
                    f"{covariate}: level(s) {', '.join(strange) or 'missing'} were not in the "
                    f"fitted study ({', '.join(sorted(known))})"
                )
            columns.append((values == level).to_numpy(dtype=np.float64))
        return np.stack(columns, axis=1) if columns else np.zeros((len(table), 0))

    def mapping(self, model: MechanisticModel) -> np.ndarray:
        """(effects, parameters): which parameter each effect shifts."""
        matrix = np.zeros((len(self.effects), len(model.parameters)))
        for row, (_, _, parameter) in enumerate(self.effects):
            matrix[row, model.parameter_names.index(parameter)] = 1.0
        return matrix

    def labels(self, model: MechanisticModel) -> list[str]:
        """How the summary names each effect: a factor for log parameters, a shift otherwise."""
        transforms = {p.name: p.transform for p in model.parameters}
        return [
            f"{parameter} {'×' if transforms[parameter] == 'log' else '+'} ({covariate}={level})"
            for covariate, level, parameter in self.effects
        ]

    def to_json(self) -> dict[str, object]:
        return {"effects": [list(e) for e in self.effects], "references": self.references}

    @classmethod
    def from_json(cls, payload: Mapping[str, object]) -> CategoricalEffects:
        effects = payload["effects"]
        references = payload["references"]
        if not isinstance(effects, list) or not isinstance(references, dict):
            raise JumeauError("damaged categorical effects")
        return cls(tuple((str(c), str(lv), str(p)) for c, lv, p in effects), dict(references))
