"""The longitudinal VAE and its random-walk baseline: contract, validity, files, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jumeau.cli import app
from jumeau.data.datasets.longitudinal import load_longitudinal_dataset
from jumeau.data.longitudinal import LongitudinalCohort
from jumeau.errors import JumeauError, TooFewRowsError
from jumeau.generators import ModelFileError, NotFittedError, SamplingError, load_generator
from jumeau.longitudinal import LongitudinalVAE, load_longitudinal_model
from jumeau.longitudinal.baseline import RandomWalkBaseline

QUICK = {"epochs": 8, "patience": 8}


@pytest.fixture(scope="module")
def stanford() -> LongitudinalCohort:
    return load_longitudinal_dataset("stanford")


@pytest.fixture(scope="module")
def fitted(stanford: LongitudinalCohort) -> LongitudinalVAE:
    return LongitudinalVAE(**QUICK).fit(stanford, seed=0, progress=False)


def assert_valid_courses(artificial: LongitudinalCohort, real: LongitudinalCohort) -> None:
    columns = artificial.columns
    data = artificial.data
    assert list(data.columns) == [
        n for n in real.schema.names if n in data.columns
    ]  # same columns, same order
    for _, visits in data.groupby(columns.id):
        times = visits[columns.time].to_numpy(float)
        assert (np.diff(times) > 0).all()  # no two visits at once, in order
        assert times[0] >= 0
        assert visits[columns.followup].iloc[0] >= times[-1]
    for name in columns.varying:
        if real.schema.columns[name].kind.value in ("continuous", "integer"):
            values = pd.to_numeric(data[name]).dropna()
            observed = pd.to_numeric(real.data[name]).dropna()
            assert values.between(observed.min(), observed.max()).all()
    assert artificial.visit_counts.max() <= real.visit_counts.max()
    assert not set(data[columns.id]) & set(real.data[columns.id].astype(str))


def test_sample_returns_valid_courses_in_the_input_format(fitted, stanford) -> None:
    artificial = fitted.sample(150, seed=1)
    assert artificial.n_patients == 150 and artificial.artificial
    assert_valid_courses(artificial, stanford)
    assert fitted.last_sampling_.requested == 150


def test_same_seed_same_courses_and_another_seed_differs(fitted) -> None:
    first, again = fitted.sample(40, seed=5), fitted.sample(40, seed=5)
    assert first.data.equals(again.data)
    assert not first.data.equals(fitted.sample(40, seed=6).data)


def test_where_applies_to_the_baseline(fitted) -> None:
    artificial = fitted.sample(30, seed=2, where="surgery == 1")
    assert (artificial.patients["surgery"].astype(int) == 1).all()
    with pytest.raises(JumeauError, match="unknown column"):
        fitted.sample(5, seed=2, where="transplant == 1")


def test_rules_on_measured_columns_hold_at_every_visit() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for p in range(60):
        level = rng.normal(100, 15)
        for j, t in enumerate(np.cumsum(np.r_[0.0, rng.exponential(1.0, rng.integers(1, 5))])):
            rows.append({"pid": p, "t": t, "sbp": level + rng.normal(0, 10) - 3 * j,
                         "dbp": 0.6 * level + rng.normal(0, 5), "arm": "AB"[p % 2]})  # fmt: skip
    cohort = LongitudinalCohort.from_frame(pd.DataFrame(rows), id="pid", time="t")
    cohort = LongitudinalCohort(cohort.data, cohort.schema.with_rules("dbp < sbp - 5"))
    model = LongitudinalVAE(**QUICK).fit(cohort, seed=0, progress=False)
    artificial = model.sample(80, seed=0)
    assert (artificial.data["dbp"] < artificial.data["sbp"] - 5).all()
    assert sum(model.last_sampling_.rejected_by.values()) > 0  # the rule did reject courses


def test_save_and_load_give_the_same_model(fitted, tmp_path) -> None:
    path = fitted.save(tmp_path / "course.jumeau")
    loaded = load_longitudinal_model(path)
    assert loaded.sample(25, seed=9).data.equals(fitted.sample(25, seed=9).data)
    assert loaded.get_params() == fitted.get_params()
    with pytest.raises(ModelFileError, match="longitudinal model"):
        load_generator(path)


def test_damaged_or_foreign_files_are_refused(fitted, tmp_path) -> None:
    path = fitted.save(tmp_path / "course.jumeau")
    raw = bytearray(path.read_bytes())
    raw[-50] ^= 0xFF
    damaged = tmp_path / "damaged.jumeau"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError):
        load_longitudinal_model(damaged)
    (tmp_path / "text.jumeau").write_text("not a model")
    with pytest.raises(ModelFileError):
        load_longitudinal_model(tmp_path / "text.jumeau")


def test_contract_errors(stanford) -> None:
    with pytest.raises(NotFittedError):
        LongitudinalVAE().sample(3)
    with pytest.raises(JumeauError, match="expects a LongitudinalCohort"):
        LongitudinalVAE().fit(stanford.static_cohort())  # type: ignore[arg-type]
    with pytest.raises(TooFewRowsError):
        LongitudinalVAE().fit(stanford.subset_patients(range(10)), progress=False)
    with pytest.raises(JumeauError, match="unknown model"):
        LongitudinalVAE(static_model="gan")
    with pytest.raises(JumeauError, match="latent_dim"):
        LongitudinalVAE(latent_dim=0)


def test_impossible_condition_is_a_sampling_error(fitted) -> None:
    with pytest.raises(SamplingError):
        fitted.sample(5, seed=0, where="age > 1000")


def test_learns_the_visit_process_of_a_scheduled_trial() -> None:
    """aids: visits planned at 0, 2, 6, 12, 18 months; the model must keep to the schedule
    and to the distribution of the number of visits (dropout)."""
    pytest.importorskip("SurvSet")
    real = load_longitudinal_dataset("aids")
    model = LongitudinalVAE(epochs=60).fit(real, seed=0, progress=False)
    artificial = model.sample(real.n_patients, seed=1)
    assert_valid_courses(artificial, real)
    on_schedule = artificial.data["months"].isin([0, 2, 6, 12, 18]).mean()
    assert on_schedule > 0.85
    real_counts = np.bincount(real.visit_counts, minlength=6) / real.n_patients
    counts = np.bincount(artificial.visit_counts, minlength=6)[:6] / artificial.n_patients
    assert 0.5 * np.abs(real_counts - counts).sum() < 0.15  # total variation
    real_deaths = real.patients["death"].astype(int).mean()
    assert abs(artificial.patients["death"].astype(int).mean() - real_deaths) < 0.08


def test_random_walk_baseline_keeps_the_format(stanford) -> None:
    baseline = RandomWalkBaseline().fit(stanford, seed=0)
    artificial = baseline.sample(60, seed=1)
    assert artificial.n_patients == 60
    assert_valid_courses(artificial, stanford)
    assert artificial.data.equals(baseline.sample(60, seed=1).data)


def test_cli_fits_and_samples_a_longitudinal_model(tmp_path, stanford) -> None:
    data = tmp_path / "visits.csv"
    stanford.data.to_csv(data, index=False)
    runner = CliRunner(env={"COLUMNS": "200"})
    model = tmp_path / "course.jumeau"
    fit = runner.invoke(app, ["fit", str(data), "--longitudinal", "--id", "patient", "--time",
                              "day", "--followup", "followup", "--event", "death", "-o",
                              str(model), "--quiet", "-p", "epochs=3"])  # fmt: skip
    assert fit.exit_code == 0, fit.output
    assert "103 patients" in fit.output
    out = tmp_path / "artificial.csv"
    sampled = runner.invoke(app, ["sample", str(model), "-n", "20", "-o", str(out)])
    assert sampled.exit_code == 0, sampled.output
    frame = pd.read_csv(out)
    assert frame["patient"].nunique() == 20
    assert (tmp_path / "artificial.csv.provenance.json").is_file()
    missing = runner.invoke(app, ["fit", str(data), "--longitudinal", "-o", str(model)])
    assert missing.exit_code != 0 and "--id and --time" in missing.output
