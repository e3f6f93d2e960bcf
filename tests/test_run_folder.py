"""A run folder is never half old, half new: outputs are staged beside it and published together;
an interruption or a full disk leaves the earlier run whole and says so in one line."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import jumeau.data.cohort as cohort_module
import jumeau.data.loading as loading_module
import jumeau.generators.persistence as persistence_module
from jumeau import workflow
from jumeau.cli import app
from jumeau.data import publishing
from jumeau.data.publishing import STAGING_MARK, publish, staged_folder, write_atomically
from jumeau.datasets import load
from jumeau.errors import JumeauError
from jumeau.evaluation.evaluate import EvaluationSettings
from jumeau.generators.provenance import provenance_matches, provenance_path

FAST = EvaluationSettings(seed=0, run_attacks=False, factors=(0,), small_cohort_sizes=())


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


def _leftovers(folder: Path) -> list[str]:
    """Hidden staging files or folders left inside or beside `folder`."""
    inside = [p.name for p in folder.iterdir() if p.name.startswith(".")] if folder.is_dir() else []
    beside = [p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}")]
    return sorted(inside + beside)


# ---------------------------------------------------------------------- staged_folder / publish
def test_files_are_published_together_and_replace_an_earlier_runs(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "report.html").write_text("old report")
    (target / "privacy.html").write_text("old dossier")  # this run does not write one
    (target / "notes.txt").write_text("the user's own file")
    with staged_folder(target, replaces=("report.html", "privacy.html")) as staging:
        (staging / "report.html").write_text("new report")
        (staging / "artificial.csv").write_text("x\n1\n")
        assert not (target / "artificial.csv").exists()  # nothing published before the end
    assert (target / "report.html").read_text() == "new report"
    assert (target / "artificial.csv").read_text() == "x\n1\n"
    assert not (target / "privacy.html").exists()  # an earlier run's file is not left behind
    assert (target / "notes.txt").read_text() == "the user's own file"
    assert _leftovers(target) == []


def test_an_error_before_publishing_leaves_the_earlier_files_untouched(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "report.html").write_text("old report")
    before = _hashes(target)
    with (
        pytest.raises(OSError, match="No space"),
        staged_folder(target, replaces=("report.html",)) as staging,
    ):
        (staging / "report.html").write_text("new report")
        raise OSError(errno.ENOSPC, "No space left on device", str(staging / "x"))
    assert _hashes(target) == before
    assert _leftovers(target) == []


def test_a_failure_while_publishing_puts_the_earlier_files_back(tmp_path, monkeypatch):
    target, staging = tmp_path / "out", tmp_path / "staging"
    target.mkdir()
    staging.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        (target / name).write_text(f"old {name}")
        (staging / name).write_text(f"new {name}")
    before = _hashes(target)
    real_replace, calls = os.replace, []

    def failing_replace(source, destination):
        calls.append(source)
        if (
            Path(source).parent == staging
            and len([c for c in calls if Path(c).parent == staging]) == 2
        ):
            raise OSError(errno.EIO, "Input/output error", str(destination))
        return real_replace(source, destination)

    monkeypatch.setattr(publishing.os, "replace", failing_replace)
    with pytest.raises(OSError, match="Input/output"):
        publish(staging, target)
    monkeypatch.setattr(publishing.os, "replace", real_replace)
    assert _hashes(target) == before


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    target = tmp_path / "out"
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)
    abandoned = target / f"{STAGING_MARK}{dead_pid}-abc"
    abandoned.mkdir(parents=True)
    (abandoned / "model.jumeau").write_text("half a run")
    alive = target / f"{STAGING_MARK}{os.getppid()}-def"  # a running process's: kept
    alive.mkdir()
    with staged_folder(target) as staging:
        (staging / "report.html").write_text("new")
    assert not abandoned.exists()
    assert alive.exists()


def _dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(finished.stdout)


@pytest.mark.parametrize("placed", [0, 1, 2])
def test_a_run_killed_while_publishing_has_the_earlier_files_put_back(tmp_path, placed):
    """SIGKILL between the moves (no `except` runs): the earlier run's files wait aside; the next
    run into the folder puts them back and takes out the new files already placed, before its
    own publication — the folder is never left half old, half new, and nothing earlier is lost."""
    target = tmp_path / "out"
    target.mkdir()
    earlier = {"report.json": "old report", "artificial.csv": "old cohort", "notes.txt": "mine"}
    for name, text in earlier.items():
        (target / name).write_text(text)
    # the state a publisher killed after `placed` of its new files leaves behind
    aside = target / f"{publishing.ASIDE_MARK}{_dead_pid()}-xyz"
    aside.mkdir()
    incoming = ["artificial.csv", "model.jumeau", "report.json"]
    (aside / publishing.INCOMING).write_text("\n".join(incoming))
    for name in ("artificial.csv", "report.json"):
        os.replace(target / name, aside / name)
    for name in incoming[:placed]:
        (target / name).write_text("new")
    with staged_folder(target, replaces=["artificial.csv", "report.json"]) as staging:
        assert {p.name: p.read_text() for p in target.iterdir() if p.is_file()} == earlier
        (staging / "report.json").write_text("newest")
    assert (target / "report.json").read_text() == "newest"
    assert not (target / "artificial.csv").exists()  # replaced by a run that wrote none
    assert (target / "notes.txt").read_text() == "mine"
    assert _leftovers(target) == []


def test_a_publication_that_placed_every_file_is_not_rolled_back(tmp_path):
    target = tmp_path / "out"
    aside = target / f"{publishing.ASIDE_MARK}{_dead_pid()}-xyz"
    aside.mkdir(parents=True)
    (aside / publishing.INCOMING).write_text("report.json")
    (aside / "report.json").write_text("old")
    (aside / publishing.PUBLISHED).touch()
    (target / "report.json").write_text("new")
    with staged_folder(target):
        pass
    assert (target / "report.json").read_text() == "new" and _leftovers(target) == []


def test_a_write_error_names_the_users_path_not_the_hidden_one():
    from jumeau.cli.common import users_path

    assert users_path("ro/.m.jumeau.21742.partial") == "ro/m.jumeau"
    assert users_path(f"out/{STAGING_MARK}123-ab/artificial.csv") == "out/artificial.csv"
    assert users_path("plain/report.json") == "plain/report.json"


# ---------------------------------------------------------------------- jumeau run
@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A finished run's folder; its evaluation is replayed by the faulty runs below, so that
    each costs a fit and a sample, not an evaluation (the writes are what is tested)."""
    folder = tmp_path_factory.mktemp("run") / "out"
    lung = load("lung")
    result = workflow.run(
        lung, folder, model="copula", n=60, seed=0, settings=FAST, privacy_splits=1,
        progress=False,
    )  # fmt: skip
    return lung, folder, result.evaluation


@pytest.fixture
def replayed(earlier_run, monkeypatch):
    """The earlier run's evaluation stands in for a new one."""
    evaluation = earlier_run[2]
    monkeypatch.setattr(workflow, "evaluate", lambda *_a, **_k: evaluation)
    monkeypatch.setattr(workflow, "pool_evaluations", lambda first, _others: first)
    return earlier_run[:2]


def _rerun(lung, folder) -> None:
    workflow.run(
        lung, folder, model="copula", n=40, seed=3, settings=FAST, privacy_splits=1,
        progress=False,
    )  # fmt: skip


def test_the_provenance_names_the_published_model_file(earlier_run):
    _, folder, _ = earlier_run
    record = json.loads((folder / "artificial.csv.provenance.json").read_text())
    assert Path(record["model_file"]["path"]) == folder / "model.jumeau"
    digest = hashlib.sha256((folder / "model.jumeau").read_bytes()).hexdigest()
    assert record["model_file"]["sha256"] == digest
    assert _leftovers(folder) == []


@pytest.mark.parametrize(
    "failure",
    [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device", "report.html")],
    ids=["interrupted", "disk full"],
)
def test_a_run_that_fails_while_writing_leaves_the_earlier_run_whole(
    replayed, monkeypatch, failure
):
    lung, folder = replayed
    before = _hashes(folder)

    def broken_report(*_args, **_kwargs):
        raise failure

    monkeypatch.setattr(workflow, "write_report", broken_report)
    with pytest.raises(type(failure)):
        _rerun(lung, folder)
    assert _hashes(folder) == before  # the new model and cohort were not published either
    assert _leftovers(folder) == []


def test_the_cli_says_a_full_disk_in_one_line(replayed, monkeypatch, tmp_path):
    lung, folder = replayed
    before = _hashes(folder)
    data = lung.to_csv(tmp_path / "lung.csv")

    def full_disk(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "report.html"))

    monkeypatch.setattr(workflow, "write_report", full_disk)
    result = CliRunner().invoke(
        app,
        ["run", str(data), "--model", "copula", "-n", "40", "--no-attacks",
         "--no-small-cohorts", "--quiet", "-o", str(folder)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: No space left on device")
    assert "Traceback" not in result.output
    assert _hashes(folder) == before


def test_a_killed_writers_partial_file_is_removed_by_the_next_write(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    leftover = tmp_path / f".cohort.csv.{int(finished.stdout)}.partial"
    leftover.write_text("half a file")
    write_atomically(tmp_path / "cohort.csv", lambda path: path.write_text("x\n1\n"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.csv"]


def test_a_run_into_a_file_is_refused_before_any_work(tmp_path):
    path = tmp_path / "out"
    path.write_text("a file")
    with pytest.raises(JumeauError, match="is a file"):
        workflow.run(load("lung"), path, model="copula", n=10, settings=FAST, progress=False)


def test_sample_publishes_the_cohort_with_a_provenance_that_names_its_hash(earlier_run, tmp_path):
    _, folder, _ = earlier_run
    output = tmp_path / "drawn.csv"
    stale = provenance_path(output)
    stale.write_text(json.dumps({"artificial_file": {"sha256": "0" * 64}}))  # an earlier pair
    result = CliRunner().invoke(
        app, ["sample", str(folder / "model.jumeau"), "-n", "20", "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert provenance_matches(output) is True
    record = json.loads(stale.read_text())
    assert record["artificial_file"]["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    output.write_text(output.read_text() + "\n")  # edited since: the provenance no longer fits
    assert provenance_matches(output) is False


# ---------------------------------------------------------------------- a fault at every write
RUN_WRITES = 7  # model, cohort, provenance, split, report.json, report.html, privacy.html


@pytest.mark.parametrize("failing_write", range(1, RUN_WRITES + 1))
def test_an_interrupt_at_any_write_leaves_the_earlier_run_whole(
    replayed, monkeypatch, failing_write
):
    lung, folder = replayed
    before = _hashes(folder)
    real_write, calls = publishing.write_atomically, []

    def interrupted(path, write):
        calls.append(Path(path).name)
        if len(calls) == failing_write:
            raise KeyboardInterrupt
        return real_write(path, write)

    # every file of a run is written through write_atomically, imported by these modules
    for module in (cohort_module, loading_module, persistence_module):
        monkeypatch.setattr(module, "write_atomically", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _rerun(lung, folder)
    assert len(calls) == failing_write
    assert _hashes(folder) == before
    assert _leftovers(folder) == []


@pytest.mark.parametrize("failing_move", [1, 4, 8])
def test_an_interrupt_while_publishing_puts_the_earlier_run_back(
    replayed, monkeypatch, failing_move
):
    """Publishing moves the earlier files aside and the new ones in; a fault at any move puts
    the earlier run back whole."""
    lung, folder = replayed
    before = _hashes(folder)
    real_replace, moves = os.replace, []

    def interrupted(source, destination):
        moves.append(source)
        if len(moves) == failing_move:
            raise KeyboardInterrupt
        return real_replace(source, destination)

    monkeypatch.setattr(publishing.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _rerun(lung, folder)
    monkeypatch.setattr(publishing.os, "replace", real_replace)
    assert _hashes(folder) == before
    assert _leftovers(folder) == []


def test_a_write_that_fails_without_a_file_name_is_named_after_the_target(tmp_path):
    """A full disk raises from `write()` with no file name; the error must still name the file
    the user asked for (and leave no partial file)."""

    def full_disk(_temporary: Path) -> None:
        raise OSError(errno.EFBIG, "File too large")

    with pytest.raises(OSError) as caught:
        write_atomically(tmp_path / "model.jumeau", full_disk)
    assert caught.value.filename == str(tmp_path / "model.jumeau")
    assert list(tmp_path.iterdir()) == []
