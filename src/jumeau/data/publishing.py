"""Outputs that are never half old, half new.

`jumeau run -o out/` writes a model file, an artificial cohort, its provenance and three reports.
Written one by one into `out/`, an interruption (Ctrl-C, a killed job, a full disk) between two
of them left the new cohort beside the earlier run's privacy report — a report that no longer
describes the file a user would share. Instead every file is written into a hidden staging
folder inside the target folder (the same file system, so moving a file is one atomic rename)
and published only once all of them exist: the earlier run's files are moved aside, the new ones
moved in, the earlier ones deleted. A failure while publishing puts the earlier files back.
Until publication the target's files are untouched, so an interrupted run leaves the earlier run
whole; a killed run leaves its hidden staging folder, which the next run into the same folder
removes once its process is gone. Single files are written the same way (`write_atomically`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING_MARK = ".jumeau-partial-"  # a hidden staging folder inside the target folder
ASIDE_MARK = ".jumeau-previous-"  # where an earlier run's files wait while a run publishes
PARTIAL_SUFFIX = ".partial"
# Inside the aside folder: the names of the files a run is publishing (written before the first
# move), and a mark that every one of them is in place. A publisher killed between the two left
# the target half old, half new; the next run into the folder puts the earlier files back.
INCOMING = ".incoming"
PUBLISHED = ".published"


def write_atomically(path: str | Path, write: Callable[[Path], object]) -> Path:
    """`write(temporary)` writes the file under a hidden temporary name beside `path`, which is
    then renamed into place: a failure or an interruption never leaves half a file under
    `path`, nor (except after SIGKILL) the temporary file. The temporary name carries the
    process id, so that a killed writer's leftover is removed by the next write to `path`."""
    path = Path(path)
    _remove_abandoned_partials(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        write(temporary)
        temporary.replace(path)
    except OSError as exc:
        if exc.filename is None:  # a full disk says which file only if we do
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _remove_abandoned_partials(path: Path) -> None:
    prefix = f".{path.name}."
    for leftover in path.parent.glob(f"{prefix}*{PARTIAL_SUFFIX}"):
        if _owner_gone(leftover.name[len(prefix) : -len(PARTIAL_SUFFIX)]):
            leftover.unlink(missing_ok=True)


@contextmanager
def staged_folder(target: str | Path, replaces: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty hidden staging folder inside `target` (created if need be); when the
    block ends without an error, publish its files into `target`, replacing there the earlier
    files named in `replaces` (an earlier run's, even those this run does not write) and any of
    the same name. On an error nothing is published and the staging folder is removed."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(target)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_MARK}{os.getpid()}-", dir=target))
    try:
        yield staging
        publish(staging, target, replaces)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, target: Path, replaces: Iterable[str] = ()) -> list[Path]:
    """Move every file of `staging` into `target` (the same file system: each move one atomic
    rename), after moving aside the files of `target` they replace and those named in
    `replaces`; on a failure, the earlier files are put back. Returns the published paths."""
    target.mkdir(parents=True, exist_ok=True)
    new_files = sorted(p for p in staging.iterdir() if p.is_file())
    names = sorted({p.name for p in new_files} | set(replaces))
    aside = Path(tempfile.mkdtemp(prefix=f"{ASIDE_MARK}{os.getpid()}-", dir=target))
    (aside / INCOMING).write_text("\n".join(p.name for p in new_files), encoding="utf-8")
    moved_aside: list[str] = []
    placed: list[Path] = []
    try:
        for name in names:
            if (target / name).is_file():
                os.replace(target / name, aside / name)
                moved_aside.append(name)
        for path in new_files:
            os.replace(path, target / path.name)
            placed.append(target / path.name)
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        for name in moved_aside:
            os.replace(aside / name, target / name)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    (aside / PUBLISHED).touch()
    shutil.rmtree(aside, ignore_errors=True)
    return placed


def _remove_abandoned(target: Path) -> None:
    """Leftovers of runs into `target` whose process no longer exists: staging folders (killed
    before publishing: nothing of them was published) are removed; the earlier files that a run
    killed *while* publishing had moved aside are put back, and the files it had already placed
    removed, unless it had placed all of them (then the earlier files were on their way out)."""
    for mark in (STAGING_MARK, ASIDE_MARK):
        for folder in target.glob(f"{mark}*"):
            if not folder.is_dir() or not _owner_gone(folder.name[len(mark) :].split("-", 1)[0]):
                continue
            if mark == ASIDE_MARK and not (folder / PUBLISHED).exists():
                _roll_back(folder, target)
            shutil.rmtree(folder, ignore_errors=True)


def _roll_back(aside: Path, target: Path) -> None:
    """Undo a publication that was killed half-way: the new files out, the earlier ones back."""
    manifest = aside / INCOMING
    incoming = manifest.read_text(encoding="utf-8").split("\n") if manifest.exists() else []
    for name in filter(None, incoming):
        if not (aside / name).exists():  # no earlier file of that name to put back over it
            (target / name).unlink(missing_ok=True)
    for path in aside.iterdir():
        if path.is_file() and path.name not in (INCOMING, PUBLISHED):
            os.replace(path, target / path.name)


def _owner_gone(pid_text: str) -> bool:
    """Whether the process whose id a leftover's name carries no longer exists."""
    return pid_text.isdigit() and not _process_exists(int(pid_text))


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return True  # cannot tell (e.g. Windows): keep the folder
    return True
