"""Whatever table a user hands the commands they run first on a new file — `jumeau validate`,
`jumeau schema infer`, `jumeau fit` then `jumeau sample` — the answer is a result or one clean
error line, in bounded time and memory, and no patient's value ever becomes a column name of an
output (issue 31's fuzz suite, the table half; tests/data/test_fuzz_schema.py is the schema half).

The tables are generated: odd column names (unicode, blanks, duplicates, numbers), extreme
numbers, missing markers, mixed, constant and all-missing columns, long texts, identifiers, dates
in mixed formats, 0 to 30 rows, headerless files, four separators, BOMs, CRLF and CR line ends,
UTF-16 with and without a BOM, cp1252, and now and then the same table as Parquet. The commands
run in-process (click's CliRunner on the app's command, built once), as a user would type them,
derandomised: the same examples on every run.

Bugs the fuzzing found (all fixed) are pinned below as named regressions: a number spelled two
ways in a text column, headerless files whose first line is words, codes or timestamps, line
breaks inside header cells, 17-digit numbers, UTF-16 without a BOM holding non-Latin text."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import resource
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jumeau import load as load_model
from jumeau.cli import app

runner = CliRunner()
COMMAND = typer.main.get_command(app)  # built once: typer rebuilds it on every invoke (~0.2 s)

# each case ends fast and small whatever it holds; fitting gets longer than reading
CASE_SECONDS = 10.0
FIT_SECONDS = 20.0
CASE_MEMORY_BYTES = 512 * 2**20  # growth of the process's peak memory during one command
ERROR_CHARACTERS = 300  # an error line's own words, besides the command line and quoted cells

MISSING_MARKERS = ["", "nan", "NA", "NaN", "N/A", "null", "None", ".", "?", "-", " "]
MISSING = st.sampled_from(MISSING_MARKERS)
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(
        ["1e308", "-1e308", "1.7976931348623157e308", "1e309", "-0.0", "0.0", "5e-324",
         "2.2250738585072014e-308", "1e-300", "inf", "-inf", "00012", "+3", "3.", ".5", "1,5",
         "1 000", "<0.1"]
    ),
)  # fmt: skip
WORDS = st.sampled_from(
    ["F", "M", "yes", "no", "stage II", "Ω", "é", "  padded  ", '"quoted"', "a,b", "a;b", "a|b",
     "tab\there", "line\nbreak", "名前", "🙂", "TRUE", "false"]
)  # fmt: skip
DATES = st.sampled_from(
    ["2020-01-31", "31/01/2020", "01/31/2020", "2020-1-5", "5 Jan 2020", "Jan 5, 2020",
     "2020-01-31T12:30:00", "2020-01-31 12:30", "20200131", "1900-01-01", "9999-12-31",
     "2020-02-30", "0000-00-00", "31.01.2020"]
)  # fmt: skip
PLAIN_NAMES = st.sampled_from(
    ["age", "sex", "sbp", "Stage", "ÉCOG", "poids (kg)", "date de naissance", "x y", " lead",
     "trail ", "a,b", "a;b", 'q"uote', "名前", "🙂", "#", "id", "NA", "visit\nday"]
)  # fmt: skip
ODD_NAMES = st.one_of(
    st.sampled_from(["", "  ", "1", "2019", "3.5", "-2", "1e3", "2020-01-01"]),
    st.text(min_size=1, max_size=8),
)
LINE_BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines cuts
KINDS = ["number", "integer", "word", "date", "id", "long", "mixed", "missing", "constant"]
TAME_KINDS = ["number", "number", "integer", "integer", "word", "word", "date", "id", "long",
              "missing", "constant"]  # fmt: skip
TAME_NUMBERS = st.one_of(
    st.floats(-1e6, 1e6).map(repr), st.sampled_from(["-0.0", "1e-300", "5e-324", "1e150", "3."])
)
SEPARATORS = ",;\t|"
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252"]


@dataclass(frozen=True)
class Table:
    """A generated file, what was meant to be its header, and every cell of its data rows."""

    content: bytes
    suffix: str
    header: list[str] | None  # None: a headerless file, its first line is a patient's
    rows: list[list[str]]
    options: tuple[str, ...] = ()  # how the user says how to read it (--sep, --encoding)
    cuts: str = ""  # where a reader may cut a name or cell: a guessed separator, line breaks

    def names(self) -> set[str]:
        """The column names a reader may find in the header, give or take whitespace."""
        return {_squash(piece) for piece in self._pieces(self.header or [])}

    def data_values(self) -> set[str]:
        """Every cell of the data rows (stripped), less the header's own names: none of them
        may be a column name in an output."""
        cells = (cell for row in self.rows for cell in row)
        return self._pieces(cells) - self._pieces(self.header or [])

    def _pieces(self, texts: Iterable[str]) -> set[str]:
        """Texts as a reader may cut them: whole, or at `cuts` (and then a piece's own quotes
        may be read as quoting)."""
        texts = list(texts)
        whole = {text.strip() for text in texts}
        if not self.cuts:
            return whole
        cuts = re.compile(f"[{re.escape(self.cuts)}]")
        pieces = {piece.strip() for text in texts for piece in cuts.split(text)}
        return whole | pieces | {piece.strip('"') for piece in pieces}

    def quoted(self) -> set[str]:
        """Long names and cells, which an error line may quote (and then be long)."""
        texts = itertools.chain(self.header or [], *self.rows)
        return {text for text in texts if len(text) > 20}


@st.composite
def column_cells(draw: st.DrawFn, rows: int, hostile: bool) -> list[str]:
    """One column's cells: mostly of one kind, with missing markers sprinkled in. Tame columns
    (for fitting: a file a model can be fitted on) keep numbers in range and kinds unmixed."""
    kind = draw(st.sampled_from(KINDS if hostile else TAME_KINDS))
    if kind == "id":
        return [f"P{i:04d}" for i in range(rows)]
    if kind == "constant":
        return [draw(st.one_of(NUMBERS, WORDS))] * rows
    if kind == "missing":
        return [draw(MISSING) for _ in range(rows)]
    if kind == "long":
        return [draw(st.sampled_from("xé名")) * draw(st.integers(200, 5_000)) for _ in range(rows)]
    cells = {
        "number": NUMBERS if hostile else TAME_NUMBERS,
        "integer": st.integers(-5, 120).map(str),
        "word": WORDS,
        "date": DATES,
        "mixed": st.one_of(NUMBERS, WORDS, DATES, st.text(max_size=10)),
    }[kind]
    gaps = draw(st.sampled_from([0.0, 0.0, 0.2]))
    return [draw(MISSING) if draw(st.floats(0, 1)) < gaps else draw(cells) for _ in range(rows)]


@st.composite
def tables(
    draw: st.DrawFn,
    rows: st.SearchStrategy[int] = st.sampled_from([0, 1, 2, 5, 30]),
    hostile: bool = True,
) -> Table:
    """A CSV (or Parquet) file as it might come out of a hospital's export, sane or not; a tame
    one (hostile=False) has names and cells a model can be fitted on, in any dialect."""
    n_columns, n_rows = draw(st.integers(1, 6)), draw(rows)
    name = st.one_of(PLAIN_NAMES, PLAIN_NAMES, ODD_NAMES) if hostile else PLAIN_NAMES
    names = draw(st.lists(name, min_size=n_columns, max_size=n_columns, unique_by=str.strip))
    if hostile and n_columns > 1 and draw(st.integers(0, 7)) == 0:  # a duplicated name
        names[draw(st.integers(1, n_columns - 1))] = names[0]
    columns = [draw(column_cells(n_rows, hostile)) for _ in range(n_columns)]
    data = [list(row) for row in zip(*columns, strict=True)]
    headerless = bool(data) and draw(st.integers(0, 5)) == 0
    if not headerless and draw(st.integers(0, 7)) == 0:
        content = _parquet(names, data)
        if content is not None:
            return Table(content, ".parquet", names, data)
    sep = draw(st.sampled_from([",", *SEPARATORS]))
    eol = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    lines = data if headerless else [names, *data]
    sloppy = hostile and draw(st.integers(0, 5)) == 0
    if sloppy:  # joined by hand: unquoted, maybe ragged
        ragged = draw(st.booleans())
        text = eol.join(sep.join(line[: len(line) - (ragged and i % 3 == 1)])
                        for i, line in enumerate(lines))  # fmt: skip
        text += draw(st.sampled_from(["", eol]))
    else:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=sep, lineterminator=eol).writerows(lines)
        text = buffer.getvalue()
    encoding = draw(st.sampled_from(ENCODINGS))
    if encoding == "cp1252":  # what the reader gets back is what the file holds
        names, data = ([_cp1252(c) for c in names], [[_cp1252(c) for c in r] for r in data])
    content = text.encode(encoding, errors="replace")
    options = draw(st.sampled_from([(), (), (), ("--sep", sep), ("--encoding", encoding)]))
    # without --sep the separator is guessed, and a one-column file's "a,b" may be cut at ","
    cuts = "" if "--sep" in options else SEPARATORS
    if sloppy:  # and no quoting to keep a separator or line break inside a cell
        cuts += sep + "".join(LINE_BREAKS)
    return Table(content, ".csv", None if headerless else names, data, options, cuts)


def _cp1252(text: str) -> str:
    return text.encode("cp1252", errors="replace").decode("cp1252")


def _parquet(names: list[str], rows: list[list[str]]) -> bytes | None:
    """The same table as Parquet, as an export would write it: missing markers as nulls,
    numbers as numbers where a whole column reads as such; None where Parquet itself cannot hold
    it (duplicate names)."""
    cells = [[None if cell in MISSING_MARKERS else cell for cell in row] for row in rows]
    frame = pd.DataFrame(cells, columns=range(len(names)), dtype=object)
    for position in frame.columns:
        try:
            frame[position] = pd.to_numeric(frame[position])
        except (ValueError, TypeError):
            frame[position] = frame[position].astype("string")
    frame.columns = names
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False)
    except (ValueError, TypeError, OSError):
        return None
    return buffer.getvalue()


@pytest.fixture(scope="module", autouse=True)
def _imported() -> None:
    """What `jumeau sample` imports on first use (torch, ~200 MB) is not a case's memory."""
    import jumeau.longitudinal.workflow  # noqa: F401


def _run(*args: str) -> Result:
    return runner.invoke(COMMAND, list(args))


def _invoke(*args: str, table: Table, seconds: float = CASE_SECONDS) -> Result | None:
    """One CLI run, bounded in time and memory, whose answer is clean: exit 0 (or 1 where the
    command means 'rows break a rule'), or exit 2 with one short 'error:' line, the last one —
    never a traceback, never an exception other than SystemExit."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    result = _run(*args)
    elapsed = time.perf_counter() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak
    context = f"{' '.join(args)} -> exit {result.exit_code}\n{result.output}"
    event(f"{args[0]} exit {result.exit_code}")  # --hypothesis-show-statistics: what was reached
    assert elapsed < seconds, f"{elapsed:.1f} s: {context}"
    assert grown < CASE_MEMORY_BYTES, f"{grown / 2**20:.0f} MiB more: {context}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r}: {context}"
    )
    assert "Traceback" not in result.output, context
    assert result.exit_code in (0, 1, 2), context
    lines = [line for line in result.output.split("\n") if line.strip()]  # only \n ends a line
    errors = [line for line in lines if line.startswith("error:")]
    if result.exit_code == 2:
        assert len(errors) == 1 and lines[-1] == errors[0], context
        words = errors[0]
        for cell in sorted(table.quoted(), key=len, reverse=True):
            words = words.replace(cell, "…")
        assert len(words) < ERROR_CHARACTERS + len(" ".join(args)), context
    else:
        assert not errors, context
    return result


def _written(table: Table, folder: Path) -> Path:
    path = folder / f"data{table.suffix}"
    path.write_bytes(table.content)
    return path


def _assert_named_by_header(names: list[str], table: Table, what: str) -> None:
    """An output's column names are the header's own (give or take whitespace), and none is a
    value of a data row: a file without a header line is refused, not read as one."""
    if table.header is None and not _reads_as_values(table.rows[0], table.rows[1:]):
        return  # a first line of words never seen below cannot be told from a header
    leaked = set(names) & table.data_values()
    assert not leaked, f"{what} names a column after a patient's value: {sorted(leaked)[:5]}"
    if table.header is None:
        return
    if any(set(name) & LINE_BREAKS for name in table.header):
        # csv.writer quotes a cell only for the line terminator it writes: another line break
        # in a name is unquoted, and the file really has a line more
        return
    renamed = {_squash(name) for name in names} - table.names()
    assert not renamed, f"{what} has columns the header does not name: {sorted(renamed)[:5]}"


def _squash(name: str) -> str:
    """A column name as written, give or take its whitespace (which a reader may tidy)."""
    return " ".join(name.split())


SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


ANY_TABLE = st.one_of(tables(), tables(), tables(hostile=False))


@settings(max_examples=150, **SETTINGS)
@given(ANY_TABLE)
def test_validate_answers_any_table_cleanly(table: Table) -> None:
    """`jumeau validate` is the first command a user runs on a new file: exit 0, 1 or one line."""
    with tempfile.TemporaryDirectory() as folder:
        data = str(_written(table, Path(folder)))
        result = _invoke("validate", data, *table.options, table=table)
        assert result is None or result.exit_code != 1 or "rows valid" in result.output


@settings(max_examples=80, **SETTINGS)
@given(ANY_TABLE)
def test_schema_infer_answers_any_table_cleanly(table: Table) -> None:
    """The inferred data dictionary is a file users share: its column names are the header's,
    never a patient's values (a headerless file is refused)."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        written = folder / "schema.yaml"
        data = str(_written(table, folder))
        result = _invoke("schema", "infer", data, "-o", str(written), *table.options, table=table)
        if result is None:
            return
        assert result.exit_code in (0, 2)
        if result.exit_code == 0:
            names = [str(name) for name in yaml.safe_load(written.read_text("utf-8"))["columns"]]
            _assert_named_by_header(names, table, "the inferred schema")


@settings(max_examples=60, **SETTINGS)
@given(tables(st.sampled_from([30, 30, 30, 22, 5]), hostile=False), st.sampled_from(["1", "7"]))
def test_fit_then_sample_any_table(table: Table, n: str) -> None:
    """The copula (the fastest model, without its EM sweeps) fits or refuses in one line; an
    artificial CSV's header is the model's columns and holds no value of a real patient."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model, artificial = folder / "m.jumeau", folder / "artificial.csv"
        fitted = _invoke(
            "fit", str(_written(table, folder)), "-m", "copula", "-p", "em_iterations=0",
            "-o", str(model), "--quiet", *table.options, table=table, seconds=FIT_SECONDS,
        )  # fmt: skip
        if fitted is None:
            return
        assert fitted.exit_code in (0, 2)
        if fitted.exit_code == 2:
            assert not model.exists()
            return
        columns = list(load_model(str(model)).schema.names)
        _assert_named_by_header(columns, table, "the model file")
        sampled = _invoke("sample", str(model), "-n", n, "-o", str(artificial), table=table,
                          seconds=FIT_SECONDS)  # fmt: skip
        assert sampled is not None and sampled.exit_code in (0, 2)
        if sampled.exit_code == 0:
            with artificial.open(encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle))
            assert header == columns
            _assert_named_by_header(header, table, "the artificial CSV")


# ---- regressions: what the fuzzing found, each as its smallest file ----------------------------

# a text column holding one number spelled two ways (1 and 1.0) beside a word
SPELLINGS = "age\n1\n1.0\nF\nF\n"
# a header cell holding a line break, as Excel writes "Poids<Alt+Enter>(kg)" (quoted, valid CSV)
LINE_BREAK_HEADERS = {
    "renamed": [["age", "Poids\n(kg)"]] + [[str(40 + i), str(60 + i)] for i in range(30)],
    "duplicate": [["Poids\n(kg)", "age", "age"]] + [["60", str(40 + i), "1"] for i in range(30)],
    "blank": [["Poids\n(kg)", "age", ""]] + [["60", str(40 + i), "1"] for i in range(30)],
    "headerless": [[f"note\nline {i}", str(60 + i), str(120 + i)] for i in range(30)],
}
# headerless files whose first patient's fields are mostly not plain numbers or dates
HEADERLESS = {
    "words": "".join(f"P{i:04d},{'FM'[i % 2]},{'yes' if i % 3 else 'no'},{40 + i}\n"
                     for i in range(30)),
    "timestamps": "".join(f"2020-01-{1 + i % 28:02d}T08:00:00,2021-02-{1 + i % 28:02d}T12:30:00,"
                          f"{'FM'[i % 2]}\n" for i in range(30)),
}  # fmt: skip


def _inferred_names(folder: Path, text: str) -> list[str]:
    """The column names `schema infer` gives a CSV text ([] when it refuses it)."""
    (folder / "d.csv").write_text(text, encoding="utf-8")
    result = _run("schema", "infer", str(folder / "d.csv"), "-o", str(folder / "s.yaml"))
    if result.exit_code != 0:
        return []
    return [str(name) for name in yaml.safe_load((folder / "s.yaml").read_text())["columns"]]


def _line_break_names(folder: Path, rows: list[list[str]]) -> tuple[list[str], set[str]]:
    """`schema infer`'s column names for a CSV written from rows ([] when it refuses it), and
    the names it may use: the header's, give or take whitespace (none for a headerless file)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    headerless = rows[0][0].startswith("note")
    allowed = set() if headerless else {_squash(name) for name in rows[0]}
    return _inferred_names(folder, buffer.getvalue()), allowed


def _reads_as_values(first: list[str], below: list[list[str]]) -> bool:
    """Whether a headerless file's first line reads as a patient's values by the loader's
    rule: at least half its fields hold a digit or a missing marker, or are held again by
    their column further down."""
    columns = list(zip(*below, strict=False)) if below else []
    value_like = 0
    for i, field in enumerate(first):
        text = field.strip()
        again = i < len(columns) and text.casefold() in {c.strip().casefold() for c in columns[i]}
        marker = text.casefold() in {"", "nan", "na", "n/a", "null", "none", "#n/a"}
        value_like += any(ch.isdigit() for ch in text) or again or marker
    return value_like >= 0.5 * len(first)


@pytest.mark.parametrize("command", ["validate", "schema infer", "fit"])
def test_regression_a_number_spelled_two_ways_in_a_text_column(
    tmp_path: Path, command: str
) -> None:
    """Inference must not build a Column its own validator refuses: one line, or accepted."""
    data = tmp_path / "d.csv"
    data.write_text(SPELLINGS, encoding="utf-8")
    model = ["-m", "copula", "-o", str(tmp_path / "m.jumeau"), "--quiet"]
    result = _run(*command.split(), str(data), *(model if command == "fit" else []))
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert "Traceback" not in result.output and result.exit_code in (0, 1, 2), result.output


@pytest.mark.parametrize("first_rows", sorted(HEADERLESS))
def test_regression_headerless_file_never_names_columns_after_a_patient(
    tmp_path: Path, first_rows: str
) -> None:
    """Issue 31 item 2 beyond numbers: ids, words and timestamps are a patient's values too."""
    text = HEADERLESS[first_rows]
    values = {cell for line in text.splitlines() for cell in line.split(",")}
    leaked = set(_inferred_names(tmp_path, text)) & values
    assert not leaked, sorted(leaked)


@pytest.mark.parametrize("case", sorted(LINE_BREAK_HEADERS))
def test_regression_a_line_break_in_a_header_cell(tmp_path: Path, case: str) -> None:
    """The header checks (names, duplicates, blanks, values) must see the header pandas reads."""
    names, allowed = _line_break_names(tmp_path, LINE_BREAK_HEADERS[case])
    assert not {_squash(name) for name in names} - allowed, names


def test_regression_a_17_digit_number_fits_its_own_inferred_schema(tmp_path: Path) -> None:
    """A plain CSV must pass the schema inferred from it (0.1 + 0.2 is a common export)."""
    data = tmp_path / "d.csv"
    rows = "".join(f"{'0.30000000000000004' if i % 2 else '1.5'},{i % 3}\n" for i in range(30))
    data.write_text("dose,arm\n" + rows, encoding="utf-8")
    result = _run("validate", str(data))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_regression_bomless_utf16_with_cjk_is_read_or_named(tmp_path: Path, encoding: str) -> None:
    """Issue 31 item 9: read it, or name the encoding, not 'binary' with no way forward."""
    data = tmp_path / "d.csv"
    text = "年齢,性別\n" + "".join(f"{40 + i},{'男女'[i % 2]}\n" for i in range(30))
    data.write_bytes(text.encode(encoding))
    assert not data.read_bytes().startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    result = _run("validate", str(data))
    assert result.exit_code == 0 or "utf-16" in result.output.lower(), result.output
