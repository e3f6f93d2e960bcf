"""Benchmark of jumeau's generators against public peers on bundled real cohorts (issue 3).

For every dataset and seed ``s`` the real cohort is split 70/30 into train and holdout (a numpy
permutation seeded by ``s``). Every model is fitted on the train part and asked for as many
artificial patients as there are training patients; each artificial cohort is then compared with
the train part:

- fit seconds, and seconds to sample 5,000 patients (a separate call; pythae's sampler, which
  draws independent batches of 500, is timed on one batch, × 10);
- column shapes (mean of ``column_shapes``) and pair trends (mean of ``pair_trends``);
- DCR share (``distance_to_closest_record(train, holdout, artificial).share_closer_to_train``:
  about 0.5 for a model that learned the distribution, toward 1 for one that copies) and the
  number of exact copies of training patients;
- detection ROC AUC (a classifier telling real from artificial; 0.5 is best) and |AUC − 0.5|.

The ceiling row ("real holdout") scores real patients the models never saw in the same way: the
holdout against the train part for shapes, pairs and detection; for the DCR share the holdout is
split in two halves A and B, A playing the artificial cohort and B the holdout.

Models: ``copula``, ``vae``, ``rhvae`` (geometry-aware sampler) and ``rhvae-prior`` (the *same*
fitted RHVAE sampled from its N(0, I) prior) from jumeau; SDV's ``GaussianCopulaSynthesizer``
and ``TVAESynthesizer`` with default settings on the modelled columns; adversarial random forests
(``arf``, arfpy defaults; ``fit_arf`` names the two gaps its adapter fills); pythae's ``RHVAE``
with its default configuration, trained on the very matrix jumeau's encoder produces and decoded
back through the same encoder (opt-in ``pythae-rhvae-unit``: the same, with numbers handed to
pythae as uniform scores in (0, 1), which its sigmoid decoder can reach). The peers are optional
(``pip install -e ".[bench]"``); without them their rows read "not installed".

Run ``python benchmarks/generators.py --quick`` for a smoke test (one seed, one dataset, few
epochs); the full run writes every raw measurement to ``--out`` (JSON) and prints one table per
dataset, each cell ``mean ± sd`` over seeds (``--render JSON`` prints them again from that
file). Progress lines go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from jumeau.data.cohort import Cohort
from jumeau.data.loading import write_text_atomically
from jumeau.data.schema import CATEGORY_KINDS, ColumnKind
from jumeau.datasets import load
from jumeau.evaluation import (
    column_shapes,
    detection_auc,
    distance_to_closest_record,
    pair_trends,
)
from jumeau.evaluation.attacks import numpy_global_seed
from jumeau.generators.base import Generator
from jumeau.generators.encoding import TabularEncoder, modelled_schema
from jumeau.generators.registry import make_generator

DEFAULT_DATASETS = ("breast_cancer", "gbsg2", "lung")
TRAIN_SHARE = 0.7
SAMPLE_SEED_OFFSET = 100  # artificial patients for the metrics use seed s + 100
HALVES_SEED_OFFSET = 1000  # the ceiling's split of the holdout into halves A and B
PYTHAE_EVAL_SHARE = 0.15  # pythae needs an eval set to keep a model; jumeau's validation share
CEILING = "real holdout"
NOT_INSTALLED = "not installed"


# ---------------------------------------------------------------------- models
class Fitted(Protocol):
    """A fitted model, whatever its library: n artificial patients as a jumeau Cohort.

    `batch_size` is set by models that sample in independent batches of fixed size (pythae's
    RHVAESampler: 500): their sampling time is measured on one batch and scaled up.
    """

    batch_size: int | None

    def sample(self, n: int, seed: int, options: dict[str, Any]) -> Cohort: ...


@dataclass(frozen=True)
class Settings:
    """What changes between a full run and `--quick`."""

    quick: bool
    timing_n: int  # patients in the timed sampling call
    slow_sample_seconds: float  # past this, the timed sampling is not repeated on later seeds


FitFunction = Callable[[Cohort, int, Settings], Fitted]


@dataclass(frozen=True)
class ModelSpec:
    """One benchmarked row. Rows with the same `fit_key` share one fit per dataset and seed."""

    name: str
    fit_key: str
    requires: str | None = None  # top-level module of an optional peer
    options: tuple[tuple[str, Any], ...] = ()  # keyword arguments for sampling
    default: bool = True  # run unless `--models` says otherwise

    def installed(self) -> bool:
        return self.requires is None or importlib.util.find_spec(self.requires) is not None


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("copula", "copula"),
        ModelSpec("vae", "vae"),
        ModelSpec("rhvae", "rhvae", options=(("sampler", "geometry"),)),
        ModelSpec("rhvae-prior", "rhvae", options=(("sampler", "prior"),)),
        ModelSpec("sdv-copula", "sdv-copula", requires="sdv"),
        ModelSpec("sdv-tvae", "sdv-tvae", requires="sdv"),
        ModelSpec("arf", "arf", requires="arfpy"),
        ModelSpec("pythae-rhvae", "pythae-rhvae", requires="pythae"),
        ModelSpec("pythae-rhvae-unit", "pythae-rhvae-unit", requires="pythae", default=False),
    )
}


@dataclass
class JumeauFitted:
    generator: Generator
    batch_size: int | None = None

    def sample(self, n: int, seed: int, options: dict[str, Any]) -> Cohort:
        return self.generator.sample(n, seed=seed, **options)


def fit_jumeau(name: str) -> FitFunction:
    """A fit function for one of jumeau's own generators (fewer epochs with `--quick`)."""

    def fit(train: Cohort, seed: int, settings: Settings) -> Fitted:
        params: dict[str, Any] = {}
        if settings.quick and name == "vae":
            params = {"epochs": 20}
        elif settings.quick and name == "rhvae":
            params = {"epochs": 20, "flow_epochs": 5}
        generator = make_generator(name, **params)
        generator.fit(train, seed=seed, progress=False)
        return JumeauFitted(generator)

    return fit


# ---------------------------------------------------------------------- SDV
@dataclass
class SDVFitted:
    synthesizer: Any
    table: str
    train: Cohort
    batch_size: int | None = None

    def sample(self, n: int, seed: int, options: dict[str, Any]) -> Cohort:
        # SDV reseeds every sampling run with a fixed seed unless told otherwise.
        self.synthesizer._set_random_state(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = self.synthesizer.sample(num_rows=n)
        frame = output[self.table] if isinstance(output, dict) else output
        return to_artificial(frame, self.train)


def sdv_frame(train: Cohort) -> pd.DataFrame:
    """The modelled columns in types SDV detects: categories as text, integers as floats.

    (SDV's detection fails on pandas categoricals with integer levels and on nullable Int64.)
    """
    frame = train.modelled.copy()
    for name in frame.columns:
        if train.schema.columns[name].kind in CATEGORY_KINDS:
            values = frame[name].astype(object)
            frame[name] = values.map(lambda v: str(v) if pd.notna(v) else None)
        elif train.schema.columns[name].kind is ColumnKind.INTEGER:
            frame[name] = frame[name].astype("float64")
    return frame


def fit_sdv(kind: str) -> FitFunction:
    """A fit function for SDV's GaussianCopulaSynthesizer or TVAESynthesizer (defaults)."""

    def fit(train: Cohort, seed: int, settings: Settings) -> Fitted:
        import torch
        from sdv.metadata import Metadata
        from sdv.single_table import GaussianCopulaSynthesizer, TVAESynthesizer

        table = train.schema.name or "cohort"
        frame = sdv_frame(train)
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            metadata = Metadata.detect_from_dataframes({table: frame}, infer_keys=None)
            if kind == "copula":
                synthesizer: Any = GaussianCopulaSynthesizer(metadata)
            else:
                params = {"epochs": 20} if settings.quick else {}
                synthesizer = TVAESynthesizer(metadata, **params)
            with torch.random.fork_rng():  # TVAE draws from the global torch and numpy RNGs
                torch.manual_seed(seed)
                np.random.seed(seed)
                synthesizer.fit({table: frame})
        return SDVFitted(synthesizer, table, train)

    return fit


# ---------------------------------------------------------------------- ARF (arfpy)
ARF_MISSING = "__missing"  # suffix of the indicator columns the adapter adds for missing values
ARF_TEXT_MISSING = "__missing__"
ARF_DISCRETE_LEVELS = 20  # integer columns with at most this many values go to ARF as levels


@dataclass
class ARFFitted:
    model: Any
    train: Cohort
    indicators: tuple[str, ...]  # columns that had missing values, in the adapter's encoding
    batch_size: int | None = None

    def sample(self, n: int, seed: int, options: dict[str, Any]) -> Cohort:
        with numpy_global_seed(seed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = self.model.forge(n=n)
        for name in self.indicators:
            frame.loc[frame[name + ARF_MISSING].astype(str) == "yes", name] = np.nan
            frame = frame.drop(columns=name + ARF_MISSING)
            if frame[name].dtype == object:
                frame[name] = frame[name].replace(ARF_TEXT_MISSING, np.nan)
        return to_artificial(frame, self.train)


def fit_arf(train: Cohort, seed: int, settings: Settings) -> Fitted:
    """Adversarial random forests (Watson et al., AISTATS 2023) through arfpy, defaults.

    arfpy accepts no missing value and crashes on a leaf where a column is constant (scipy's
    truncated normal refuses a zero scale). The adapter therefore (1) replaces a missing number
    by the column median and a missing category by its own level, with a yes/no indicator column
    per such column that ARF models like any other category and that puts the gaps back after
    sampling; (2) gives constant leaves a 1e-9 spread, so they return their value as arfpy
    intends; (3) hands an integer column of at most ARF_DISCRETE_LEVELS distinct values (a
    Karnofsky score in steps of 10, an ECOG grade) over as text levels, as a user of R's arf
    would declare it a factor: arfpy otherwise draws 67 or 89 between the scores, which any
    detection classifier spots (lung: detection AUC 0.95, rule validity 75 %). Nothing else is
    changed.
    """
    from arfpy import arf

    frame = sdv_frame(train)
    for name in frame.columns:
        if train.schema.columns[name].kind is ColumnKind.INTEGER:
            values = frame[name]
            if values.nunique() <= ARF_DISCRETE_LEVELS:
                frame[name] = values.map(lambda v: f"{v:.0f}" if pd.notna(v) else None)
    indicators: list[str] = []
    extra: dict[str, pd.Series] = {}
    for name in frame.columns:
        gaps = frame[name].isna()
        if not gaps.any():
            continue
        indicators.append(name)
        extra[name + ARF_MISSING] = gaps.map({True: "yes", False: "no"})
        if frame[name].dtype == object:
            frame[name] = frame[name].fillna(ARF_TEXT_MISSING)
        else:
            frame[name] = frame[name].fillna(frame[name].median())
    frame = pd.concat([frame, pd.DataFrame(extra, index=frame.index)], axis=1)
    with numpy_global_seed(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = arf.arf(x=frame, verbose=False, random_state=seed % 2**32)
        model.forde()
    params = model.params
    constant = params["max"] <= params["min"]
    params.loc[constant, "max"] = params.loc[constant, "min"] + 1e-9
    params["sd"] = params["sd"].where(params["sd"] > 0, 1e-9)
    return ARFFitted(model, train, tuple(indicators))


# ---------------------------------------------------------------------- pythae
PYTHAE_SAMPLER_BATCH = 500  # RHVAESampler.sample's default batch_size


@dataclass
class PythaeFitted:
    sampler: Any
    encoder: TabularEncoder
    unit_scale: bool  # numeric coordinates were trained as Φ(score) in (0, 1): map them back
    batch_size: int | None = PYTHAE_SAMPLER_BATCH

    def sample(self, n: int, seed: int, options: dict[str, Any]) -> Cohort:
        import torch

        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(seed)  # the sampler draws from the global torch RNG
            matrix = self.sampler.sample(
                num_samples=n, batch_size=PYTHAE_SAMPLER_BATCH, return_gen=True
            )
        values = matrix.cpu().numpy().astype(np.float64)
        if self.unit_scale:
            numeric = self.encoder.numeric_index
            values[:, numeric] = ndtri(np.clip(values[:, numeric], 1e-6, 1 - 1e-6))
        # Categorical blocks come back as continuous values: inverse_transform takes the argmax.
        frame = self.encoder.inverse_transform(values)
        return Cohort(frame, self.encoder.schema_, source="pythae:rhvae", artificial=True)


def fit_pythae(unit_scale: bool) -> FitFunction:
    """A fit function for pythae's RHVAE (see `_fit_pythae`)."""

    def fit(train: Cohort, seed: int, settings: Settings) -> Fitted:
        return _fit_pythae(train, seed, settings, unit_scale=unit_scale)

    return fit


def _fit_pythae(train: Cohort, seed: int, settings: Settings, *, unit_scale: bool) -> Fitted:
    """pythae's RHVAE with its default config, MLPs and trainer, on jumeau's encoded matrix.

    Only the latent size is set (jumeau's default for the number of modelled columns), the
    trainer's seed follows the benchmark seed, and its output goes to a temporary folder.
    pythae's BaseTrainer keeps a model only when it improves on an eval set, so 15 % of the
    training patients (jumeau's own validation share) are held out as pythae's eval set.

    pythae's default MLP decoder ends in a sigmoid, so it cannot output the negative normal
    scores of numbers below their median. `unit_scale=True` (the opt-in `pythae-rhvae-unit`
    row) hands it Φ(score), a uniform score in (0, 1), instead, and maps samples back.
    """
    import torch
    from pythae.models import RHVAE, RHVAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.samplers import RHVAESampler
    from pythae.trainers import BaseTrainerConfig

    from jumeau.generators.neural.networks import default_latent_dim

    encoder = TabularEncoder().fit(train)
    matrix, _ = encoder.transform(train.data)  # pythae has no use for the observed mask
    if unit_scale:
        matrix[:, encoder.numeric_index] = ndtr(matrix[:, encoder.numeric_index])
    rows = np.random.default_rng(seed).permutation(len(matrix))
    n_eval = max(1, round(PYTHAE_EVAL_SHARE * len(matrix)))
    eval_data, train_data = matrix[rows[:n_eval]], matrix[rows[n_eval:]]
    config = RHVAEConfig(
        input_dim=(matrix.shape[1],),
        latent_dim=default_latent_dim(len(encoder.schema_.names)),
    )
    trainer_params: dict[str, Any] = {"seed": seed}
    if settings.quick:
        trainer_params["num_epochs"] = 5
    folder = tempfile.TemporaryDirectory(prefix="pythae-")
    with folder, _quiet(), torch.random.fork_rng():
        torch.manual_seed(seed)  # the networks' initial weights come from the global torch RNG
        training = BaseTrainerConfig(output_dir=folder.name, **trainer_params)
        pipeline = TrainingPipeline(model=RHVAE(config), training_config=training)
        pipeline(train_data=train_data, eval_data=eval_data)
        # pythae's documented way back: reload the best model from its final folder, which
        # also rebuilds the metric from the stored centroids.
        model = RHVAE.load_from_folder(os.path.join(pipeline.trainer.training_dir, "final_model"))
    return PythaeFitted(RHVAESampler(model=model), encoder, unit_scale)


FITTERS: dict[str, FitFunction] = {
    "copula": fit_jumeau("copula"),
    "vae": fit_jumeau("vae"),
    "rhvae": fit_jumeau("rhvae"),
    "sdv-copula": fit_sdv("copula"),
    "sdv-tvae": fit_sdv("tvae"),
    "arf": fit_arf,
    "pythae-rhvae": fit_pythae(unit_scale=False),
    "pythae-rhvae-unit": fit_pythae(unit_scale=True),
}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the peers' INFO logging and progress bars (tqdm writes to sys.stderr) while they
    train; errors still arrive as exceptions."""
    logging.disable(logging.INFO)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


def to_artificial(frame: pd.DataFrame, train: Cohort) -> Cohort:
    """A peer's output as an artificial jumeau Cohort of the modelled columns.

    Integer columns were handed to the peer as floats; they are rounded back (a no-op when the
    peer kept to whole numbers, as SDV does by default).
    """
    schema = modelled_schema(train.schema)
    frame = frame[schema.names].copy()
    for name in schema.names:
        if schema.columns[name].kind is ColumnKind.INTEGER:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").round()
    return Cohort(frame, schema, source="peer", artificial=True)


# ---------------------------------------------------------------------- measurements
METRICS = ("fit_s", "sample_s", "shapes", "pairs", "dcr_share", "copies", "auc", "auc_gap")


@dataclass
class Measurement:
    """One model (or the ceiling) on one dataset and seed; None where not measured."""

    dataset: str
    seed: int
    model: str
    status: str = "ok"  # ok, failed, not installed
    error: str | None = None
    n_train: int = 0
    n_holdout: int = 0
    n_artificial: int = 0
    fit_s: float | None = None
    sample_s: float | None = None  # seconds to sample `timing_n` patients (5,000)
    timed_n: int | None = None  # patients actually drawn in the timed call
    sample_scaled: bool = False  # sample_s scaled up from one batch of `timed_n` patients
    shapes: float | None = None
    pairs: float | None = None
    dcr_share: float | None = None
    copies: float | None = None
    auc: float | None = None
    auc_gap: float | None = None
    rejection_rate: float | None = None  # jumeau generators: share of draws rejected by rules

    @property
    def failed(self) -> bool:
        if self.status == "failed":
            return True
        values = [getattr(self, m) for m in METRICS]
        return any(isinstance(v, float) and not math.isfinite(v) for v in values)


def split(cohort: Cohort, seed: int) -> tuple[Cohort, Cohort]:
    """70/30 train/holdout, rows permuted by a numpy generator seeded with `seed`."""
    rows = np.random.default_rng(seed).permutation(len(cohort))
    cut = round(TRAIN_SHARE * len(cohort))
    return cohort.subset(rows[:cut]), cohort.subset(rows[cut:])


def score(record: Measurement, train: Cohort, holdout: Cohort, artificial: Cohort) -> None:
    """Fidelity and privacy of one artificial cohort, against the train part."""
    seed = record.seed
    record.shapes = float(np.mean(list(column_shapes(train, artificial).values())))
    record.pairs = float(np.mean(list(pair_trends(train, artificial).values())))
    dcr = distance_to_closest_record(train, holdout, artificial, seed=seed)
    record.dcr_share = dcr.share_closer_to_train
    record.copies = float(dcr.exact_copies)
    record.auc = detection_auc(train, artificial, seed=seed)
    record.auc_gap = abs(record.auc - 0.5)


def ceiling(dataset: str, seed: int, train: Cohort, holdout: Cohort) -> Measurement:
    """Real patients the models never saw, scored as if they were artificial."""
    record = Measurement(dataset, seed, CEILING, n_train=len(train), n_holdout=len(holdout))
    record.n_artificial = len(holdout)
    record.shapes = float(np.mean(list(column_shapes(train, holdout).values())))
    record.pairs = float(np.mean(list(pair_trends(train, holdout).values())))
    record.auc = detection_auc(train, holdout, seed=seed)
    record.auc_gap = abs(record.auc - 0.5)
    rows = np.random.default_rng(seed + HALVES_SEED_OFFSET).permutation(len(holdout))
    half_a, half_b = holdout.subset(rows[: len(rows) // 2]), holdout.subset(rows[len(rows) // 2 :])
    record.dcr_share = distance_to_closest_record(
        train, half_b, half_a, seed=seed
    ).share_closer_to_train
    # holdout_to_train: each holdout patient against the *whole* train part.
    everyone = distance_to_closest_record(train, holdout, half_a, seed=seed)
    record.copies = float((everyone.holdout_to_train == 0).sum())
    return record


@dataclass
class Run:
    """Everything measured so far, with what the printed tables need to say about it."""

    args: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def progress(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:8.1f}s] {text}", file=sys.stderr, flush=True)


def benchmark_dataset(
    run: Run, dataset: str, seeds: Sequence[int], models: Sequence[ModelSpec], settings: Settings
) -> list[Measurement]:
    cohort = load(dataset)
    records: list[Measurement] = []
    timed_once: set[str] = set()  # models whose timed sampling was too slow to repeat
    for seed in seeds:
        train, holdout = split(cohort, seed)
        run.progress(f"{dataset} seed={seed}: {CEILING}")
        records.append(ceiling(dataset, seed, train, holdout))
        fitted: dict[str, FitResult] = {}
        for spec in models:
            record = Measurement(dataset, seed, spec.name, n_train=len(train))
            record.n_holdout = len(holdout)
            records.append(record)
            if not spec.installed():
                record.status = NOT_INSTALLED
                continue
            began = time.perf_counter()
            try:
                if spec.fit_key not in fitted:
                    run.progress(f"{dataset} seed={seed}: fitting {spec.fit_key}")
                model, record.fit_s = fit_shared(fitted, spec.fit_key, train, seed, settings)
                timed = spec.name not in timed_once
                if not timed:
                    run.progress(f"{dataset} seed={seed}: {spec.name}: timed sampling skipped")
                artificial = draw(record, model, dict(spec.options), settings, timed=timed)
                if isinstance(model, JumeauFitted):
                    record.rejection_rate = model.generator.last_sampling_.rejection_rate
                slow = (
                    record.sample_s is not None and record.sample_s > settings.slow_sample_seconds
                )
                if slow:
                    timed_once.add(spec.name)
                score(record, train, holdout, artificial)
            except Exception as exc:
                record.status, record.error = "failed", _describe(exc)
            state = "FAILED: " + (record.error or "") if record.status == "failed" else "ok"
            if record.status == "ok" and record.failed:
                state = "NaN in a metric"
            run.progress(
                f"{dataset} seed={seed}: {spec.name} done in "
                f"{time.perf_counter() - began:.1f}s ({state})"
            )
    return records


FitResult = tuple[Fitted, float] | str  # a fitted model and its fit seconds, or the error


def fit_shared(
    cache: dict[str, FitResult], key: str, train: Cohort, seed: int, settings: Settings
) -> tuple[Fitted, float]:
    """Fit `key` once per dataset and seed: rows that share it reuse the fit (or its error)."""
    if key not in cache:
        start = time.perf_counter()
        try:
            cache[key] = (FITTERS[key](train, seed, settings), time.perf_counter() - start)
        except Exception as exc:
            cache[key] = _describe(exc)
            raise
    result = cache[key]
    if isinstance(result, str):
        raise RuntimeError(f"the shared fit failed: {result}")
    return result


def draw(
    record: Measurement,
    model: Fitted,
    options: dict[str, Any],
    settings: Settings,
    *,
    timed: bool,
) -> Cohort:
    """The artificial cohort scored by the metrics (as many patients as the train part) and,
    when `timed`, the seconds it takes to sample `settings.timing_n` patients.

    A model that samples in independent batches of fixed size is timed on one batch, scaled to
    `timing_n`; that batch also provides the scored patients when it is large enough.
    """
    n, seed = record.n_train, record.seed + SAMPLE_SEED_OFFSET
    batch = model.batch_size
    if timed and batch and settings.timing_n % batch == 0:
        start = time.perf_counter()
        drawn = model.sample(batch, seed, options)
        record.sample_s = (time.perf_counter() - start) * (settings.timing_n // batch)
        record.timed_n, record.sample_scaled = batch, True
        if n <= batch:
            record.n_artificial = n
            first = drawn.data.iloc[:n].reset_index(drop=True)
            return Cohort(first, drawn.schema, source=drawn.source, artificial=True)
    artificial = model.sample(n, seed, options)
    record.n_artificial = len(artificial)
    if timed and record.sample_s is None:
        start = time.perf_counter()
        model.sample(settings.timing_n, seed, options)
        record.sample_s = time.perf_counter() - start
        record.timed_n = settings.timing_n
    return artificial


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


# ---------------------------------------------------------------------- tables
COLUMNS = (
    ("model", None, ""),
    ("fit s", "fit_s", "seconds"),
    ("sample 5k s", "sample_s", "seconds"),
    ("shapes", "shapes", "score"),
    ("pairs", "pairs", "score"),
    ("DCR share", "dcr_share", "score"),
    ("copies", "copies", "count"),
    ("AUC", "auc", "score"),
    ("|AUC-0.5|", "auc_gap", "score"),
    ("failures", None, ""),
)


def _values(records: list[Measurement], metric: str) -> list[float]:
    values = [getattr(r, metric) for r in records if r.status == "ok"]
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _cell(values: list[float], style: str) -> str:
    if not values:
        return "—"
    digits = {"seconds": 2, "score": 3, "count": 1}[style]
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(np.std(values, ddof=1)):.{digits}f}"


def table(records: list[Measurement], order: Sequence[str], timing_n: int) -> str:
    """A fixed-width text table, one row per model, the ceiling first."""
    header = [name for name, _, _ in COLUMNS]
    if timing_n != 5000:
        header[2] = f"sample {timing_n} s"
    rows: list[list[str]] = []
    for model in (CEILING, *order):
        mine = [r for r in records if r.model == model]
        if not mine:
            continue
        if all(r.status == NOT_INSTALLED for r in mine):
            rows.append([model, NOT_INSTALLED, *[""] * (len(COLUMNS) - 2)])
            continue
        if all(r.status == "failed" for r in mine):
            errors = sorted({r.error or "" for r in mine})
            rows.append([model, "error: " + " | ".join(errors), *[""] * (len(COLUMNS) - 2)])
            continue
        row = [model]
        for _, metric, style in COLUMNS[1:-1]:
            row.append(_cell(_values(mine, metric), style) if metric else "")
        if model == CEILING:
            row[1] = row[2] = "—"
        else:
            if any(r.sample_scaled for r in mine):
                row[2] += " †"
            if 0 < len(_values(mine, "sample_s")) < sum(r.status == "ok" for r in mine):
                row[2] += " *"
        row.append(f"{sum(r.failed for r in mine)}/{len(mine)}")
        rows.append(row)
    widths = [len(h) for h in header]
    for row in rows:
        if row[1].startswith(("error:", NOT_INSTALLED)):
            continue  # a long message spills over the other columns
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: list[str]) -> str:
        if cells[1].startswith(("error:", NOT_INSTALLED)):
            return f"{cells[0]:<{widths[0]}} | {cells[1]}"
        first = f"{cells[0]:<{widths[0]}}"
        rest = [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *[line(r) for r in rows]])


def summary(dataset: str, records: list[Measurement], order: Sequence[str]) -> str:
    """Which models keep DCR share ≤ 0.55, no exact copies (any seed) and shapes ≥ 0.90."""
    passing: list[str] = []
    failing: list[str] = []
    for model in order:
        mine = [r for r in records if r.model == model and r.status == "ok"]
        if not mine:
            continue
        dcr, copies, shapes = (_values(mine, m) for m in ("dcr_share", "copies", "shapes"))
        misses = []
        if not dcr or np.mean(dcr) > 0.55:
            misses.append("DCR share")
        if not copies or max(copies) > 0:
            misses.append("copies")
        if not shapes or np.mean(shapes) < 0.90:
            misses.append("shapes")
        if misses:
            failing.append(f"{model} ({', '.join(misses)})")
        else:
            passing.append(model)
    return (
        f"{dataset}: DCR share ≤ 0.55, no exact copies and shapes ≥ 0.90 met by: "
        f"{', '.join(passing) or 'none'}; not by: {', '.join(failing) or 'none'}"
    )


def footnotes(
    measurements: list[Measurement],
    datasets: Sequence[str],
    order: Sequence[str],
    timing_n: int,
    slow_sample_seconds: float,
) -> list[str]:
    """What the † and * marks of the sampling column mean, model by model."""
    notes = []
    for model in order:
        scaled = [r for r in measurements if r.model == model and r.sample_scaled and r.timed_n]
        if scaled:
            batch = scaled[0].timed_n or 1
            notes.append(
                f"† {model}: 'sample' is the time of one batch of {batch} patients (its sampler "
                f"draws independent batches of that size) × {timing_n // batch}; the metrics use "
                "the first n_train patients of that batch"
            )
    for dataset in datasets:
        for model in order:
            ok = [
                r
                for r in measurements
                if r.dataset == dataset and r.model == model and r.status == "ok"
            ]
            timed = [r for r in ok if r.sample_s is not None]
            if timed and len(timed) < len(ok):
                seeds = ("seed " if len(timed) == 1 else "seeds ") + ", ".join(
                    str(r.seed) for r in timed
                )
                slowest = max(r.sample_s or 0.0 for r in timed)
                notes.append(
                    f"* {dataset}, {model}: sampling timed at {seeds} only; it took up to "
                    f"{slowest:.0f} s, and past {slow_sample_seconds:.0f} s it is not repeated"
                )
    return notes


def report(
    measurements: list[Measurement],
    datasets: Sequence[str],
    order: Sequence[str],
    timing_n: int,
    slow_sample_seconds: float,
) -> str:
    """Per dataset a table and a summary line, then what the tables' marks mean."""
    blocks = []
    for dataset in datasets:
        records = [r for r in measurements if r.dataset == dataset]
        if not records:
            continue
        first = next(r for r in records if r.model == CEILING)
        seeds = sorted({r.seed for r in records})
        title = (
            f"== {dataset}: {first.n_train} train / {first.n_holdout} holdout patients, "
            f"seeds {', '.join(map(str, seeds))} =="
        )
        blocks.append("\n".join([title, table(records, order, timing_n)]))
        blocks.append(summary(dataset, records, order))
    notes = [
        "Cells are mean ± sd over seeds (sd omitted for one value); metrics compare each cohort "
        "with the train part.",
        f"'{CEILING}': the holdout scored as if it were artificial (DCR share: holdout half A "
        "against train and half B).",
        "copies: artificial patients identical to a training patient on every modelled column; "
        "failures: seeds with an exception or a NaN metric.",
    ]
    notes += footnotes(measurements, datasets, order, timing_n, slow_sample_seconds)
    return "\n\n".join(blocks) + "\n\n" + "\n".join(notes)


# ---------------------------------------------------------------------- main
def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("jumeau", "numpy", "pandas", "scikit-learn", "torch", "sdv", "pythae"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def write_json(run: Run, path: Path, finished: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    args = run.args
    notes = footnotes(
        run.measurements,
        args["datasets"],
        args["models"],
        args["timing_n"],
        args["slow_sample_seconds"],
    )
    payload = {
        "benchmark": "generators",
        "arguments": run.args,
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "finished": finished,
        "total_seconds": time.perf_counter() - run.started,
        "footnotes": notes,
        "measurements": [asdict(m) | {"failed": m.failed} for m in run.measurements],
    }
    write_text_atomically(path, json.dumps(payload, indent=2, default=str) + "\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=" ".join((__doc__ or "").split("\n\n")[0].split()))
    parser.add_argument("--datasets", default=",".join(DEFAULT_DATASETS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. n-1")
    parser.add_argument(
        "--models",
        default=",".join(name for name, spec in MODELS.items() if spec.default),
        help=f"comma-separated, from: {', '.join(MODELS)}",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generators.json"))
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 1 dataset, few epochs: a smoke test"
    )
    parser.add_argument(
        "--slow-sample-seconds",
        type=float,
        default=100.0,
        help="a model whose timed sampling takes longer is not timed again on later seeds",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print the tables of a run's JSON output again, measuring nothing",
    )
    args = parser.parse_args(argv)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.models = names
    args.datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.quick:
        args.seeds = 1
        args.datasets = args.datasets[:1]
    return args


def render(path: Path) -> str:
    """The printed report of an earlier run, from its JSON output."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    args = payload["arguments"]
    names = {f.name for f in fields(Measurement)}
    measurements = [
        Measurement(**{k: v for k, v in m.items() if k in names}) for m in payload["measurements"]
    ]
    timing_n = args.get("timing_n", 500 if args.get("quick") else 5000)  # older outputs
    text = report(
        measurements, args["datasets"], args["models"], timing_n, args["slow_sample_seconds"]
    )
    return f"{text}\n\ntotal runtime: {payload['total_seconds']:.0f} s"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        print(render(args.render))
        return 0
    settings = Settings(
        quick=args.quick,
        timing_n=500 if args.quick else 5000,
        slow_sample_seconds=args.slow_sample_seconds,
    )
    recorded = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    recorded |= {"timing_n": settings.timing_n, "started": datetime.now(timezone.utc).isoformat()}
    run = Run(args=recorded)
    models = [MODELS[name] for name in args.models]
    for spec in models:
        if not spec.installed():
            run.progress(f"{spec.name}: {spec.requires} is {NOT_INSTALLED}")
    seeds = list(range(args.seeds))
    for dataset in args.datasets:
        run.measurements += benchmark_dataset(run, dataset, seeds, models, settings)
        write_json(run, args.out, finished=False)
    write_json(run, args.out, finished=True)
    timing = (settings.timing_n, settings.slow_sample_seconds)
    print(report(run.measurements, args.datasets, args.models, *timing))
    print(f"\ntotal runtime: {time.perf_counter() - run.started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
