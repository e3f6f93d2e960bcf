"""The end-to-end job behind `jumeau run`: split, fit, sample, filter, evaluate, report.

Everything it writes goes to one folder: `artificial.csv` (the filtered cohort, with its
provenance), `model.jumeau`, `report.html`, `privacy.html`, `report.json` and `split.json` (which
rows of the input were held out — row positions, never values — so that `jumeau report` can be
re-run). The files are written into a hidden staging folder inside it and published together
once all exist, replacing an earlier run's together (`jumeau.data.publishing`): an interrupted
run or a full disk leaves the earlier run whole, never a new cohort beside an old report.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from jumeau.data.cohort import Cohort
from jumeau.data.loading import read_table, write_text_atomically
from jumeau.data.publishing import staged_folder
from jumeau.data.schema import CATEGORY_KINDS, Schema
from jumeau.errors import DataError, JumeauError, JumeauWarning
from jumeau.evaluation.evaluate import Evaluation, EvaluationSettings, evaluate
from jumeau.evaluation.pooling import pool_evaluations
from jumeau.evaluation.privacy import SHARED_PROFILE_K
from jumeau.evaluation.similarity import filter_close
from jumeau.evaluation.utility import utility_task
from jumeau.generators.base import Generator
from jumeau.generators.encoding import modelled_schema
from jumeau.generators.provenance import write_provenance
from jumeau.generators.registry import make_generator
from jumeau.report import report_meta, write_report

HOLDOUT_SHARE = 0.3
# Every file `run` writes into its folder: published together, and an earlier run's are replaced
# together, so that a folder never holds files of two runs (`jumeau.data.publishing`)
RUN_FILES = (
    "model.jumeau",
    "artificial.csv",
    "artificial.csv.provenance.json",
    "split.json",
    "report.json",
    "report.html",
    "privacy.html",
)
# `jumeau run` fits a shareable generator (a model file without any training patient's value or
# code) unless told otherwise: what it writes may leave the hospital without a second thought
SHAREABLE_BY_DEFAULT = True
TOP_UP_ROUNDS = 5  # extra sampling rounds to replace patients the similarity filter removed
# Cohorts smaller than this pool their privacy evidence over refits on this many seeded splits
# (the released cohort's split included): one split of 150 patients is a coin toss near a
# threshold (see evaluation/pooling.py). Each extra split draws at most EXTRA_SPLIT_SAMPLE.
SMALL_PRIVACY_COHORT = 300
PRIVACY_SPLITS = 3
EXTRA_SPLIT_SAMPLE = 2000


@dataclass
class RunResult:
    output: Path
    artificial: Cohort
    evaluation: Evaluation
    files: dict[str, Path] = field(default_factory=dict)
    # what of the training patients model.jumeau holds (empty: nothing personal)
    model_personal_data: list[str] = field(default_factory=list)


def _filter_choice(use_filter: bool | None, epsilon: object) -> bool:
    """The similarity filter removes artificial patients by their distance to real ones: a
    step that reads the patients outside the DP budget, so it is off under `epsilon` and
    refused if asked for."""
    if epsilon is None:
        return True if use_filter is None else use_filter
    if use_filter:
        raise JumeauError(
            "the similarity filter compares artificial with real patients, outside the "
            "differential-privacy budget: it would void the guarantee of --epsilon; drop --filter"
        )
    return False


def split_cohort(
    cohort: Cohort, *, share: float = HOLDOUT_SHARE, seed: int = 0, target: str | None = None
) -> tuple[Cohort, Cohort, np.ndarray]:
    """Seeded train/holdout split, stratified on the outcome (target or event) when it is a
    category whose every level has at least two patients. Returns the holdout row positions."""
    if not 0.0 < share < 1.0:
        raise JumeauError(f"the holdout share must be between 0 and 1, not {share}")
    positions = np.arange(len(cohort))
    n_holdout = round(share * len(cohort))
    if n_holdout < 2 or len(cohort) - n_holdout < 2:
        raise JumeauError(
            f"{len(cohort)} patients are too few to hold {share:.0%} out; "
            "at least a few patients are needed on each side"
        )
    task = utility_task(cohort.schema, target)
    labels = None
    if task is not None and cohort.schema.columns[task.target].kind in CATEGORY_KINDS:
        values = cohort.data[task.target].astype(object).map(str)
        counts = values.value_counts()
        if counts.min() >= 2 and len(counts) <= min(n_holdout, len(cohort) - n_holdout):
            labels = values.to_numpy()
    train_rows, holdout_rows = train_test_split(
        positions, test_size=n_holdout, random_state=seed % 2**32, stratify=labels
    )
    train_rows, holdout_rows = np.sort(train_rows), np.sort(holdout_rows)
    return cohort.subset(train_rows), cohort.subset(holdout_rows), holdout_rows


def filtered_sample(
    generator: Generator,
    n: int,
    train: Cohort,
    holdout: Cohort,
    *,
    seed: int,
    percentile: float,
    where: str | None = None,
    shared_profile_k: int = SHARED_PROFILE_K,
) -> tuple[Cohort, int]:
    """n artificial patients that pass the similarity filter: sample, filter, and sample again
    to replace the removed ones (a few rounds). Returns the cohort and how many were removed
    (drawn = len(cohort) + removed, unless the rounds ran out)."""
    if n < 1:
        raise JumeauError(f"ask for at least one artificial patient, not {n}")
    rng = np.random.default_rng(seed)
    kept: list[pd.DataFrame] = []
    removed = 0
    missing, first = n, None
    for _round in range(TOP_UP_ROUNDS + 1):
        if missing <= 0:
            break
        batch = generator.sample(max(missing, 1), seed=int(rng.integers(2**62)), where=where)
        if first is None:
            first = batch
        result = filter_close(
            batch, train, holdout, percentile=percentile, shared_profile_k=shared_profile_k
        )
        removed += result.n_removed
        kept.append(result.kept.data)
        missing -= len(result.kept)
    assert first is not None
    data = pd.concat(kept, ignore_index=True).iloc[:n]
    if len(data) < n:
        warnings.warn(
            f"only {len(data)} of {n} artificial patients passed the similarity filter after "
            f"{TOP_UP_ROUNDS} extra rounds: the model sits close to its training patients",
            JumeauWarning,
            stacklevel=2,
        )
    cohort = Cohort(data, first.schema, source=first.source, artificial=True)
    return cohort, removed


def run(
    cohort: Cohort,
    output: str | Path,
    *,
    model: str = "rhvae",
    n: int = 5000,
    seed: int = 0,
    target: str | None = None,
    params: dict[str, Any] | None = None,
    settings: EvaluationSettings | None = None,
    use_filter: bool | None = None,
    privacy_splits: int | None = None,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
) -> RunResult:
    """Split (stratified, seeded), fit, sample n patients, filter, evaluate, write the report.

    `use_filter`: the similarity filter (None: on, unless the fit is differentially private).
    `privacy_splits`: refits on this many seeded splits whose privacy evidence is pooled (the
    first is the released cohort's); None: PRIVACY_SPLITS under SMALL_PRIVACY_COHORT patients,
    else 1."""
    tell = say or (lambda _text: None)
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise JumeauError(f"{folder} is a file: name a folder for the run's outputs with -o")
    cohort.require_trainable()
    settings = settings or EvaluationSettings(seed=seed, target=target)
    if privacy_splits is None:
        privacy_splits = PRIVACY_SPLITS if len(cohort) < SMALL_PRIVACY_COHORT else 1
    if privacy_splits < 1:
        raise JumeauError(f"privacy splits must be at least 1, not {privacy_splits}")
    train, holdout, holdout_rows = split_cohort(cohort, seed=seed, target=target)
    tell(f"split: {len(train)} training / {len(holdout)} holdout patients")
    params = {"shareable": SHAREABLE_BY_DEFAULT} | (params or {})
    use_filter = _filter_choice(use_filter, params.get("epsilon"))
    generator = make_generator(model, **params)
    generator.fit(train, seed=seed, progress=progress)
    tell(f"fitted {generator!r}")
    sampling: dict[str, Any] = {"requested": n, "seed": seed, "similarity_filter": use_filter}
    if use_filter:
        artificial, removed = filtered_sample(
            generator,
            n,
            train,
            holdout,
            seed=seed,
            percentile=settings.filter_percentile,
            shared_profile_k=settings.shared_profile_k,
        )
        sampling |= {"drawn": len(artificial) + removed, "removed_by_filter": removed}
        tell(f"sampled {len(artificial)} artificial patients ({removed} removed by the filter)")
        if len(artificial) == 0:
            raise JumeauError(
                f"the similarity filter removed every artificial patient: {model} copies its "
                "training patients; try another model or fewer epochs"
            )
    else:
        artificial = generator.sample(n, seed=seed)
        sampling["drawn"] = len(artificial)
        tell(f"sampled {len(artificial)} artificial patients (similarity filter off)")

    def fit_and_sample(real: Cohort, count: int, run_seed: int) -> Cohort:
        small = make_generator(model, **params).fit(real, seed=run_seed, progress=False)
        return small.sample(count, seed=run_seed)

    evaluation = evaluate(
        train, holdout, artificial, settings, fit_and_sample=fit_and_sample, progress=tell
    )
    if use_filter:
        evaluation.filtered_while_sampling = (sampling["drawn"], sampling["removed_by_filter"])
    others = [
        _split_evidence(
            cohort, model, params, min(n, EXTRA_SPLIT_SAMPLE), settings, split, use_filter, tell
        )
        for split in range(1, privacy_splits)
    ]
    evaluation = pool_evaluations(evaluation, others)
    with staged_folder(folder, replaces=RUN_FILES) as staging:
        files = {"model": generator.save(staging / "model.jumeau")}
        files["artificial"] = artificial.to_csv(staging / "artificial.csv")
        files["provenance"] = write_provenance(
            files["artificial"],
            generator,
            model_file=files["model"],
            model_file_shown=folder / "model.jumeau",
            sampling=sampling,
        )
        files["split"] = write_text_atomically(
            staging / "split.json",
            json.dumps(
                {
                    "seed": seed,
                    "holdout_share": HOLDOUT_SHARE,
                    "input_sha256": cohort.sha256,
                    "holdout_rows": holdout_rows.tolist(),
                }
            )
            + "\n",
        )
        meta = report_meta(
            seed=seed,
            inputs={"data": cohort.sha256, "train": train.sha256, "holdout": holdout.sha256},
            title=f"Validation report — {model} on {cohort.schema.name or cohort.source}",
            extra={
                "model": model,
                "params": generator.get_params(),
                "n_requested": n,
                "model_file_personal_data": bool(generator.personal_data_held()),
                "model_file_personal_data_held": generator.personal_data_held(),
                "differential_privacy": getattr(generator, "privacy_", None),
            },
        )
        files["report"], files["report_json"] = write_report(
            evaluation, train, artificial, staging, meta
        )
        files = {key: folder / path.name for key, path in files.items()}
    return RunResult(folder, artificial, evaluation, files, generator.personal_data_held())


def _split_evidence(
    cohort: Cohort,
    model: str,
    params: dict[str, Any],
    n: int,
    settings: EvaluationSettings,
    split: int,
    use_filter: bool,
    tell: Callable[[str], None],
) -> Evaluation:
    """The privacy evidence of one more seeded split: refit, sample, filter, evaluate (no
    utility study). Its seed derives from the run's seed and the split's number, so runs with
    neighbouring seeds do not share splits."""
    split_seed = int(np.random.default_rng([settings.seed, split]).integers(2**31))
    tell(f"privacy evidence on split {split + 1} (refit, seed {split_seed})")
    train, holdout, _rows = split_cohort(cohort, seed=split_seed, target=settings.target)
    generator = make_generator(model, **params).fit(train, seed=split_seed, progress=False)
    split_settings = replace(settings, seed=split_seed, run_utility=False)
    if use_filter:
        artificial, removed = filtered_sample(
            generator,
            n,
            train,
            holdout,
            seed=split_seed,
            percentile=settings.filter_percentile,
            shared_profile_k=settings.shared_profile_k,
        )
    else:
        artificial, removed = generator.sample(n, seed=split_seed), 0
    evaluation = evaluate(train, holdout, artificial, split_settings)
    if use_filter:
        evaluation.filtered_while_sampling = (len(artificial) + removed, removed)
    return evaluation


def load_artificial(path: str | Path, schema: Schema) -> Cohort:
    """An artificial cohort from a file (any tool's), checked against the real data's schema:
    the modelled columns, without identifiers (which an artificial cohort never carries)."""
    table = read_table(path)
    expected = modelled_schema(schema)
    missing = [c for c in expected.names if c not in table.frame.columns]
    if missing:
        raise DataError(
            f"{table.source}: the artificial cohort lacks column(s) {', '.join(missing)} "
            "of the real data"
        )
    frame = table.frame[expected.names]
    return Cohort(frame, expected, source=table.source, sha256=table.sha256, artificial=True)


def report_only(
    train: Cohort,
    holdout: Cohort,
    artificial: Cohort,
    output: str | Path,
    *,
    settings: EvaluationSettings | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[Evaluation, Path, Path]:
    """Evaluate any artificial cohort (another tool's included) and write its report."""
    settings = settings or EvaluationSettings()
    evaluation = evaluate(train, holdout, artificial, settings, progress=say)
    meta = report_meta(
        seed=settings.seed,
        inputs={"train": train.sha256, "holdout": holdout.sha256, "artificial": artificial.sha256},
        title=f"Validation report — {artificial.source}",
    )
    html_path, json_path = write_report(evaluation, train, artificial, output, meta)
    return evaluation, html_path, json_path
