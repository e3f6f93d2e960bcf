"""Fit one differential-privacy peer (MST, AIM or DP-CTGAN of smartnoise-synth) and sample it.

What: reads TRAIN.csv and SPEC.json, fits ``smartnoise-synth``'s MST or AIM (both on Private-PGM,
``mbi`` 1.x) — or, optionally, its DP-CTGAN — with privacy budget (ε = E, δ = D), samples N rows
and writes them to OUT.csv (same columns, same order as TRAIN.csv, missing values as empty cells;
written to a temporary file beside OUT.csv, then renamed). At the end it prints exactly one JSON
line on stdout::

    {"fit_s": ..., "sample_s": ..., "cpu_s": ..., "synth": "mst", "epsilon": E, "delta": D,
     "versions": {"smartnoise-synth": ..., "mbi": ...}, ...}

``fit_s`` / ``sample_s`` are wall seconds of ``fit`` (the library's preprocessing included) and of
``sample``; ``cpu_s`` is the process CPU time (``time.process_time``, all threads) of both; the
extra keys (``preprocessor_epsilon`` spent, ``bins``, ``bin_values``, ``params``, ``seed``, ``n``;
DP-CTGAN adds ``epochs_trained`` and ``accountant_epsilon``) say what was run. On
failure it exits non-zero with one line on stderr naming the stage, the exception type and its
message. Everything the libraries print (AIM prints to stdout) is discarded, or appended to
``--log FILE``.

Usage (with the peers' own Python, never the project's; this file imports nothing from jumeau)::

    .venv-dp-peers/bin/python benchmarks/dp_peers.py --train TRAIN.csv --spec SPEC.json \
        --synth {mst,aim,dpctgan} --epsilon E --delta D --n N --seed S --out OUT.csv

SPEC.json: ``{"categorical": ["col", ...], "continuous": {"col": [low, high] or null, ...}}``,
every column of TRAIN.csv exactly once, plus an optional ``"nullable": ["col", ...]``.

- Categorical columns are read as text and their values treated as labels (``1`` and ``1.0`` are
  different labels; the output repeats the training file's spelling). smartnoise's
  LabelTransformer takes the set of levels from TRAIN.csv itself (not privately).
- Continuous columns: ``[low, high]`` is a public bound and costs no budget (values outside are
  clamped into it); ``null`` means the bound is found privately by smartnoise's own mechanism
  (``Synthesizer.fit(..., preprocessor_eps=...)``: the TableTransformer splits that ε evenly over
  the columns without a bound and each runs ``snsql``'s ``approx_bounds``, a Laplace-noised
  histogram on power-of-two bins, so a found bound is a power of two such as [0, 128]; only bins
  whose noisy count clears a threshold of about 10 / ε-per-column rows count, so tails beyond them
  are clamped, and with too little ε none clears it and the run fails). When any
  bound is ``null``, ``preprocessor_eps`` = 10 % of E; smartnoise subtracts what the preprocessor
  spent from the synthesizer's ε. **The total privacy budget is E (preprocessor + synthesizer) and
  δ = D** (the bound search is pure ε-DP; all of δ goes to the synthesizer).
- MST and AIM need a discrete domain: continuous columns are cut by smartnoise's BinTransformer
  into ``--bins`` equal-width bins between the bounds (default 10, the library's default for a
  continuous column in its "cube" style); a sampled value is the midpoint of its bin (the library's
  inverse transform), or, with ``--bin-values uniform``, a uniform draw inside the bin
  (post-processing, no budget). DP-CTGAN uses the library's "gan" style (MinMaxTransformer, the
  same bounds).
- Missing values go through smartnoise's nullable support (a null flag beside a binned or scaled
  column, a null level for a categorical one), never dropped. The nullable columns are
  ``"nullable"`` from the spec when given (e.g. the schema's "missing allowed"), otherwise the
  columns with a missing cell in TRAIN.csv (that choice then reads the data, not privately).
- A continuous column whose observed values are all whole numbers is rounded in the output.
- The number of training rows is treated as public (MST passes it to its estimator as known).

Seeding: ``random``, ``numpy`` (its global generator: MST's and AIM's exponential mechanism,
Private-PGM's sampling, MST's domain decompression) and, for DP-CTGAN, ``torch`` are seeded from
``--seed``. The noise itself cannot be seeded: MST's and AIM's Gaussian noise and the bound
search's Laplace noise come from OpenDP's secure generator, so two runs with one seed differ.
DP-CTGAN's discriminator also calls ``torch.manual_seed(0)`` when it is built.

Budget knobs: AIM's run time grows with its number of rounds (library default 16 × the number of
encoded columns) and with the model size it may grow to (``max_model_size``, default 80 MB);
``--aim-rounds`` and ``--aim-max-model-size`` pass them on (default: the library's).
DP-CTGAN trains until its accountant reaches ε or ``--epochs`` (default 300, the library's) end;
its batch is at most half the rows (``min(500, …)``: the library's 500 exceeds small cohorts).
DP-CTGAN caveats (smartnoise 1.0.8, not fixed here): it checks its accountant at the start of each
epoch and stops at the first one already above its ε, so the model returned has trained one epoch
past ε when it stops early (``accountant_epsilon`` in the JSON is that last reading; with all
epochs run the last epoch is not read); and its conditional sampler uses the training data's exact
category frequencies, which no noise protects. Its outputs are not an end-to-end (E, D) release.
Nor does it yield missing values in a continuous column: the null flag comes out of the generator
as a real number and the library's inverse transform only reads exactly 1 as missing.
``--threads`` (default 1) caps BLAS/OpenMP, XLA (jax) and torch threads; set before the imports.

Why a separate environment: smartnoise-synth 1.0.8 pins ``opacus>=0.14,<0.15`` and ``mbi>=1.1,<2``
(which brings jax), while the project needs ``opacus>=1.5`` (and numpy < 1.27); the two cannot
share one environment. Setup (from the repository root; torch first so pip never resolves a CUDA
build; ``packaging`` is a missing dependency of smartnoise's DP-CTGAN module)::

    python3 -m venv .venv-dp-peers
    .venv-dp-peers/bin/pip install --upgrade "pip>=23"
    .venv-dp-peers/bin/pip install torch==2.13.0
    .venv-dp-peers/bin/pip install smartnoise-synth==1.0.8
    .venv-dp-peers/bin/pip install packaging==26.4
    .venv-dp-peers/bin/pip list | grep -i nvidia    # must print nothing

(That resolved to mbi 1.1.0, opacus 0.14.0, opendp 0.14.2, jax 0.10.2, numpy 2.4.6, pandas 2.3.3.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

SYNTHS = ("mst", "aim", "dpctgan")
PREPROCESSOR_SHARE = 0.1  # share of E spent finding bounds privately, when any bound is null
DEFAULT_BINS = 10  # smartnoise's BinTransformer default (its "cube" style for a continuous column)


class PeerError(Exception):
    """A failure with a stage name, reported as one line on stderr."""

    def __init__(self, stage: str, exc: BaseException | str) -> None:
        text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else exc
        super().__init__(f"{stage}: {text}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(f"bad arguments: {message}", code=2)


def _fail(message: str, code: int = 1) -> NoReturn:
    line = " ".join(str(message).split())  # one line, whatever the message held
    sys.stderr.write(f"dp_peers: {line}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _Parser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--train", required=True, type=Path, help="training CSV")
    p.add_argument("--spec", required=True, type=Path, help="column spec JSON")
    p.add_argument("--synth", required=True, choices=SYNTHS)
    p.add_argument("--epsilon", required=True, type=float, help="total ε (preprocessor included)")
    p.add_argument("--delta", required=True, type=float)
    p.add_argument("--n", required=True, type=int, help="rows to sample")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--out", required=True, type=Path, help="output CSV")
    p.add_argument("--bins", type=int, default=DEFAULT_BINS, help="bins per continuous column")
    p.add_argument("--bin-values", choices=("midpoint", "uniform"), default="midpoint")
    p.add_argument("--aim-rounds", type=int, default=None)
    p.add_argument("--aim-max-model-size", type=float, default=None, help="MB")
    p.add_argument("--epochs", type=int, default=300, help="DP-CTGAN's epoch cap")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log", type=Path, default=None, help="append the libraries' output here")
    args = p.parse_args(argv)
    if not (args.epsilon > 0 and math.isfinite(args.epsilon)):
        p.error("--epsilon must be a positive number")
    if not 0 < args.delta < 1:
        p.error("--delta must lie in (0, 1)")
    if args.n < 1:
        p.error("--n must be at least 1")
    if args.bins < 2:
        p.error("--bins must be at least 2")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def _limit_threads(n: int) -> None:
    """Cap the thread pools; must run before numpy, jax or torch is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    if n == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "multi_thread_eigen" not in flags:
            extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()


@contextlib.contextmanager
def _libraries_quiet(log: Path | None) -> Iterator[None]:
    """Send file descriptors 1 and 2 (Python's and C's output) to LOG or /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    target = os.open(log if log else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


def read_spec(path: Path, columns: list[str]) -> dict[str, Any]:
    """Validate SPEC.json against TRAIN.csv's header; return it with nullable as a set or None."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PeerError("reading the spec", exc) from exc
    if not isinstance(spec, dict):
        raise PeerError("reading the spec", "the spec is not a JSON object")
    categorical = spec.get("categorical", [])
    continuous = spec.get("continuous", {})
    if not isinstance(categorical, list) or not isinstance(continuous, dict):
        raise PeerError("reading the spec", "'categorical' must be a list, 'continuous' an object")
    named = [*categorical, *continuous]
    dupes = sorted({c for c in named if named.count(c) > 1})
    missing = [c for c in columns if c not in named]
    unknown = [c for c in named if c not in columns]
    if dupes or missing or unknown:
        raise PeerError(
            "reading the spec",
            f"each column must appear once: repeated {dupes}, absent {missing}, unknown {unknown}",
        )
    for col, bound in continuous.items():
        if bound is None:
            continue
        ok = (
            isinstance(bound, list)
            and len(bound) == 2
            and all(isinstance(b, int | float) and math.isfinite(b) for b in bound)
            and bound[0] < bound[1]
        )
        if not ok:
            raise PeerError("reading the spec", f"bound of {col!r} must be [low, high], low < high")
    nullable = spec.get("nullable")
    if nullable is not None:
        if not isinstance(nullable, list) or any(c not in columns for c in nullable):
            raise PeerError("reading the spec", "'nullable' must list columns of TRAIN.csv")
        nullable = set(nullable)
    return {"categorical": list(categorical), "continuous": dict(continuous), "nullable": nullable}


def read_train(path: Path, spec: dict[str, Any]) -> Any:
    """TRAIN.csv with categorical columns as text (None when missing), continuous as float."""
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError) as exc:
        raise PeerError("reading TRAIN.csv", exc) from exc
    if len(df) == 0:
        raise PeerError("reading TRAIN.csv", "no rows")
    for col in spec["continuous"]:
        try:
            df[col] = pd.to_numeric(df[col], errors="raise").astype(float)
        except (ValueError, TypeError) as exc:
            raise PeerError("reading TRAIN.csv", f"continuous column {col!r}: {exc}") from exc
        if df[col].notna().sum() == 0:
            raise PeerError("reading TRAIN.csv", f"continuous column {col!r} has no value")
    for col in spec["categorical"]:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def build_transformer(df: Any, spec: dict[str, Any], style: str, bins: int) -> Any:
    """One smartnoise column transformer per column, in TRAIN.csv's order."""
    from snsynth.transform import (
        BinTransformer,
        ChainTransformer,
        LabelTransformer,
        MinMaxTransformer,
        OneHotEncoder,
    )
    from snsynth.transform.table import TableTransformer

    declared = spec["nullable"]
    has_missing = {c for c in df.columns if df[c].isna().any()}
    if declared is not None and has_missing - declared:
        raise PeerError(
            "building the transformer",
            f"columns with missing values not declared nullable: {sorted(has_missing - declared)}",
        )
    nullable = declared if declared is not None else has_missing
    transformers = []
    for col in df.columns:
        null = col in nullable
        if col in spec["continuous"]:
            bound = spec["continuous"][col]
            low, high = (None, None) if bound is None else (float(bound[0]), float(bound[1]))
            if style == "cube":
                transformers.append(BinTransformer(bins=bins, lower=low, upper=high, nullable=null))
            else:
                transformers.append(MinMaxTransformer(lower=low, upper=high, nullable=null))
        elif style == "cube":
            transformers.append(LabelTransformer(nullable=null))
        else:
            transformers.append(
                ChainTransformer([LabelTransformer(nullable=null), OneHotEncoder()])
            )
    return TableTransformer(transformers)


def make_synth(args: argparse.Namespace, n_rows: int) -> tuple[Any, dict[str, Any]]:
    from snsynth import Synthesizer

    params: dict[str, Any] = {}
    if args.synth == "aim":
        if args.aim_rounds is not None:
            params["rounds"] = args.aim_rounds
        if args.aim_max_model_size is not None:
            params["max_model_size"] = args.aim_max_model_size
    elif args.synth == "dpctgan":
        # batch at most half the rows (the library's 500 otherwise), so opacus' rate q < 1
        batch = min(500, 2 * max(1, n_rows // 4))
        params = {"epochs": args.epochs, "batch_size": batch, "cuda": False}
    synth = Synthesizer.create(
        args.synth, epsilon=float(args.epsilon), delta=args.delta, verbose=False, **params
    )
    return synth, params


def seed_everything(seed: int, with_torch: bool) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    if with_torch:
        import torch

        torch.manual_seed(seed)


def postprocess(
    sample: Any, train: Any, spec: dict[str, Any], transformer: Any, bin_values: str
) -> Any:
    """TRAIN.csv's column order; integer-valued continuous columns rounded; bins filled if asked."""
    import numpy as np
    import pandas as pd
    from snsynth.transform import BinTransformer, MinMaxTransformer

    out = pd.DataFrame(index=range(len(sample)))
    by_col = dict(zip(train.columns, transformer.transformers, strict=True))
    for col in train.columns:
        values = sample[col]
        if col in spec["categorical"]:
            out[col] = values.astype(object).where(values.notna(), None)
            continue
        x = pd.to_numeric(values, errors="coerce").astype(float).to_numpy(copy=True)
        t = by_col[col]
        if isinstance(t, MinMaxTransformer):  # DP-CTGAN: keep inside the bounds
            x = np.clip(x, t.fit_lower, t.fit_upper)
        if bin_values == "uniform" and isinstance(t, BinTransformer):
            half = (t.fit_upper - t.fit_lower) / t.bins / 2
            seen = ~np.isnan(x)
            x[seen] += np.random.uniform(-half, half, seen.sum())
            x[seen] = np.clip(x[seen], t.fit_lower, t.fit_upper)
        observed = train[col].dropna().to_numpy()
        if np.all(observed == np.round(observed)):
            out[col] = pd.array(np.round(x), dtype="Float64").astype("Int64")
        else:
            out[col] = x
    return out


def write_atomically(df: Any, path: Path) -> None:
    path = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            df.to_csv(fh, index=False, na_rep="")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _versions(synth: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["smartnoise-synth", "mbi", "opendp"]
    if synth == "dpctgan":
        names += ["opacus", "torch"]
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    try:
        import pandas as pd

        header = list(pd.read_csv(args.train, nrows=0, dtype=str).columns)
    except Exception as exc:
        raise PeerError("reading TRAIN.csv", exc) from exc
    spec = read_spec(args.spec, header)
    train = read_train(args.train, spec)
    any_unbounded = any(b is None for b in spec["continuous"].values())
    preprocessor_eps = PREPROCESSOR_SHARE * args.epsilon if any_unbounded else 0.0
    try:
        stage = "building the synthesizer"
        synth, params = make_synth(args, len(train))
        stage = "building the transformer"
        style = "gan" if args.synth == "dpctgan" else "cube"
        transformer = build_transformer(train, spec, style, args.bins)
        seed_everything(args.seed, with_torch=args.synth == "dpctgan")
        stage = "fitting"
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        synth.fit(
            train,
            transformer=transformer,
            categorical_columns=spec["categorical"],
            continuous_columns=list(spec["continuous"]),
            preprocessor_eps=preprocessor_eps,
            nullable=bool(spec["nullable"]) or bool(train.isna().to_numpy().any()),
        )
        fit_s = time.perf_counter() - t0
        stage = "sampling"
        t1 = time.perf_counter()
        sample = synth.sample(args.n)
        sample_s = time.perf_counter() - t1
        cpu_s = time.process_time() - cpu0
        stage = "writing OUT.csv"
        if len(sample) != args.n:
            raise RuntimeError(f"sampled {len(sample)} rows, asked for {args.n}")
        out = postprocess(sample, train, spec, synth._transformer, args.bin_values)
        write_atomically(out, args.out)
        spent, _ = synth._transformer.odometer.spent
        extra = {}
        if args.synth == "dpctgan":  # its accountant's ε when it last looked (see the docstring)
            eps_list = [float(e) for e in synth.epsilon_list]
            extra = {"epochs_trained": len(synth.loss_d_list), "accountant_epsilon": eps_list[-1]}
    except PeerError:
        raise
    except Exception as exc:
        if "could not find bounds" in str(exc):
            n_free = sum(b is None for b in spec["continuous"].values())
            hint = (
                f"{type(exc).__name__}: {exc} (the private bound search had"
                f" ε = {preprocessor_eps:g} over {n_free} column(s),"
                f" {preprocessor_eps / n_free:.3g} each, for {len(train)} rows: too little;"
                " give public bounds or a larger ε)"
            )
            raise PeerError(f"{args.synth} {stage}", hint) from exc
        raise PeerError(f"{args.synth} {stage}", exc) from exc
    return {
        "fit_s": round(fit_s, 3),
        "sample_s": round(sample_s, 3),
        "cpu_s": round(cpu_s, 3),
        "synth": args.synth,
        "epsilon": args.epsilon,
        "delta": args.delta,
        "versions": _versions(args.synth),
        "preprocessor_epsilon": float(spent),
        "bins": args.bins if style == "cube" else None,
        "bin_values": args.bin_values if style == "cube" else None,
        "params": params,
        "seed": args.seed,
        "n": args.n,
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _limit_threads(args.threads)
    try:
        with _libraries_quiet(args.log):
            if args.synth == "dpctgan":
                import torch

                torch.set_num_threads(args.threads)
            result = run(args)
    except PeerError as exc:
        _fail(str(exc))
    except Exception as exc:  # anything the stages above did not name
        _fail(f"{args.synth}: {type(exc).__name__}: {exc}")
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
