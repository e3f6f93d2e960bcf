"""Reading cohort files: CSV (including French spreadsheet exports) and Parquet.

Hospital exports come as ``;``-separated files with decimal commas in cp1252 as often as clean
UTF-8 CSV, so the dialect is detected (and can be forced). Every failure is a one-line
:class:`DataError` naming the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jumeau.data.parsing import MISSING_TOKENS
from jumeau.data.publishing import write_atomically
from jumeau.errors import DataError

ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")  # tried in order; latin-1 decodes any byte
SEPARATORS = ",;\t|"
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+$")
# a header field that reads as a value: a number (decimal point or comma, exponent), a date
# (with or without a time of day) or a missing-value marker
_VALUE_LIKE = re.compile(
    r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$"
    r"|^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
    r"|^(nan|na|n/a|null|none|#n/a)$",
    re.IGNORECASE,
)
# How many data rows the header check compares each header field with
HEADER_CHECK_ROWS = 200
# a first line with at least this share of value-like fields is data, not a header
VALUE_LIKE_HEADER_SHARE = 0.5


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file was read; recorded so that outputs say how their input was parsed."""

    encoding: str
    sep: str
    decimal: str


@dataclass(frozen=True)
class RawTable:
    """A file's cells before typing, plus what is needed to trace outputs back to it."""

    frame: pd.DataFrame
    source: str
    sha256: str
    dialect: CsvDialect | None = None


def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
) -> RawTable:
    """Read a CSV or Parquet file into a frame of raw cells (CSV cells stay text)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a data file; give a .csv or .parquet file")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); check permissions") from None
    digest = hashlib.sha256(content).hexdigest()
    if not content.strip():
        raise DataError(f"{path}: the file is empty; export the data again with a header line")
    if path.suffix.lower() in (".parquet", ".pq") or content[:4] == b"PAR1":
        frame = _read_parquet(path, content)
        _check_columns(frame, str(path))
        return RawTable(frame=frame, source=str(path), sha256=digest)
    if path.suffix.lower() in (".xlsx", ".xls", ".ods"):
        raise DataError(f"{path}: spreadsheets are not read directly; save the sheet as CSV")
    frame, dialect = _read_csv(content, str(path), sep=sep, decimal=decimal, encoding=encoding)
    return RawTable(frame=frame, source=str(path), sha256=digest, dialect=dialect)


def _read_parquet(path: Path, content: bytes) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(content))
    except (OSError, ValueError, TypeError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
        raise DataError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    if frame.shape[1] == 0:
        raise DataError(f"{path}: the Parquet file has no columns")
    if len(frame) == 0:
        raise DataError(f"{path}: the Parquet file has columns but no rows")
    return frame


def _read_csv(
    content: bytes, source: str, *, sep: str | None, decimal: str | None, encoding: str | None
) -> tuple[pd.DataFrame, CsvDialect]:
    encoding = encoding or _utf16_encoding(content)
    if b"\x00" in content[:4096] and not (encoding or "").lower().startswith("utf-16"):
        raise DataError(
            f"{source}: looks like a binary file, not CSV text; export it as CSV (UTF-16 text: "
            "give --encoding utf-16-le or utf-16-be)"
        )
    text, encoding = _decode(content, source, encoding)
    if sep is None:
        sep = _sniff_separator(text)
    engine = "python" if len(sep) > 1 else "c"
    try:
        # the header as pandas parses it (a quoted line break stays inside its name), read
        # apart so that pandas neither renames duplicates nor fills in blank names
        header = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, header=None, nrows=1, na_filter=False,
            engine=engine,
        )  # fmt: skip
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=True,
            na_values=MISSING_TOKENS,
            skip_blank_lines=True,
            engine=engine,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as exc:
        raise DataError(
            f"{source}: not a readable CSV file ({_first_line(exc)}); check the separator "
            "(--sep) and that every row has as many fields as the header"
        ) from None
    names = [str(name).strip() for name in header.iloc[0].tolist()] if len(header) else [""]
    if len(frame) == 0:
        raise DataError(f"{source}: has a header line but no data rows")
    _refuse_data_as_header(names, frame, source)
    _check_names(names, source)
    frame.columns = names[: frame.shape[1]] if len(names) >= frame.shape[1] else frame.columns
    if decimal is None:
        decimal = _sniff_decimal(frame, sep)
    if decimal == ",":
        frame = frame.apply(_comma_to_point)
    elif decimal != ".":
        raise DataError(f"--decimal must be '.' or ',', not {decimal!r}")
    return frame, CsvDialect(encoding=encoding, sep=sep, decimal=decimal)


def _utf16_encoding(content: bytes) -> str | None:
    """UTF-16 text (Excel's "Unicode text", some hospital exports): by its byte-order mark, or
    without one by ASCII characters' zero bytes all on one side. None for anything else."""
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    head = content[: min(len(content), 4096) // 2 * 2]  # whole code units
    if len(head) < 4:
        return None
    even_zero, odd_zero = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    # mostly ASCII (digits, separators) with its zero bytes on one side; letters beyond Latin
    # (CJK, Ā) put a few zeros on the other side or none on this one
    for candidate, here, there in (
        ("utf-16-le", odd_zero, even_zero),
        ("utf-16-be", even_zero, odd_zero),
    ):
        if here > 0.5 * half and there <= 0.1 * here and _decodes(head, candidate):
            return candidate
    return None


def _decodes(head: bytes, encoding: str) -> bool:
    """Whether the file's first bytes are valid text in `encoding` (a surrogate pair cut by the
    end of the sample does not count against it)."""
    try:
        head.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data"
    return True


def _decode(content: bytes, source: str, encoding: str | None) -> tuple[str, str]:
    if encoding is not None:
        try:
            return content.decode(encoding), encoding
        except LookupError:
            raise DataError(
                f"unknown encoding {encoding!r}; try utf-8, cp1252 or latin-1"
            ) from None
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{source}: is not {encoding} (byte {exc.start}); try --encoding cp1252 or utf-8"
            ) from None
    for candidate in ENCODINGS:
        try:
            return content.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _sniff_separator(text: str) -> str:
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        first = text.splitlines()[0] if text else ""
        counts = {s: first.count(s) for s in SEPARATORS}
        best = max(counts, key=lambda s: counts[s])
        return best if counts[best] > 0 else ","


def _refuse_data_as_header(names: list[str], frame: pd.DataFrame, source: str) -> None:
    """A CSV exported without its header line hands the first patient's values to us as column
    names, and every output — the artificial CSV's header, the report, the model file — would
    carry that real record. Refuse a first line whose fields mostly read as values: a number, a
    date or time, a missing-value marker, a value its column holds again further down (``F``,
    ``no``), or a code shaped like its column's values (``P0000`` above ``P0001``, ``P0002``).
    The error names the positions, never the values (they are a patient's)."""
    rows = frame.head(HEADER_CHECK_ROWS)
    value_like = [
        i + 1
        for i, name in enumerate(names)
        if _VALUE_LIKE.match(name)
        or (i < rows.shape[1] and _like_its_column(name, rows.iloc[:, i]))
    ]
    if value_like and len(value_like) >= VALUE_LIKE_HEADER_SHARE * len(names):
        position = ", ".join(str(i) for i in value_like[:5])
        more = "" if len(value_like) <= 5 else f" and {len(value_like) - 5} more"
        raise DataError(
            f"{source}: the first line looks like a patient's values, not column names "
            f"(fields {position}{more} read as values of their columns); add a header line "
            "naming each column"
        )


def _like_its_column(name: str, cells: pd.Series) -> bool:
    """Whether a header field reads as one of its column's values: the column holds it again,
    or, for a field with a digit, most of the column's values have its shape (letters as A,
    digits as 9)."""
    values = cells.dropna().astype(str).str.strip()
    if values.empty or not name:
        return False
    if (values.str.casefold() == name.casefold()).any():
        return True
    if not any(ch.isdigit() for ch in name):
        return False
    return bool((values.map(_shape) == _shape(name)).mean() >= VALUE_LIKE_HEADER_SHARE)


def _shape(text: str) -> str:
    return "".join("9" if ch.isdigit() else "A" if ch.isalpha() else ch for ch in text)


def _check_columns(frame: pd.DataFrame, source: str) -> None:
    _check_names([str(c) for c in frame.columns], source)


def _check_names(names: list[str], source: str) -> None:
    blanks = [i + 1 for i, n in enumerate(names) if not n]
    if blanks:
        position = ", ".join(str(b) for b in blanks[:5])
        raise DataError(
            f"{source}: column {position} of the header has no name; give every column a name"
        )
    repeated = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if repeated:
        raise DataError(
            f"{source}: duplicate column name{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(_quoted(n) for n in repeated[:5])}; rename them so each column is "
            "unique"
        )


def _quoted(name: str, limit: int = 40) -> str:
    """A column name for an error line, cut to `limit` characters."""
    return repr(name if len(name) <= limit else name[:limit] + "…")


def _sniff_decimal(frame: pd.DataFrame, sep: str) -> str:
    """Decimal comma when ';'-style files have cells like 12,5 and none like 12.5."""
    if sep == ",":
        return "."
    commas = points = 0
    for column in frame.columns:
        cells = frame[column].dropna().astype(str).str.strip().head(200)
        commas += int(cells.str.match(_DECIMAL_COMMA).sum())
        points += int(cells.str.match(_DECIMAL_POINT).sum())
    return "," if commas > points else "."


def _comma_to_point(column: pd.Series) -> pd.Series:
    mask = column.notna() & column.astype(str).str.strip().str.match(_DECIMAL_COMMA)
    if not mask.any():
        return column
    return column.where(~mask, column.astype(str).str.strip().str.replace(",", ".", regex=False))


def frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of an in-memory frame, for provenance when there is no file."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    names = "\x1f".join(str(c) for c in frame.columns).encode()
    return hashlib.sha256(names + hashed.tobytes()).hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write through a temporary file renamed into place: a failure never leaves half a file."""
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
