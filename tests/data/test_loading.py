"""Bad input gets one clear line naming the file or column and what to do."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from jumeau import (
    Cohort,
    DataError,
    JumeauError,
    JumeauWarning,
    Role,
    Schema,
    SchemaError,
    load_cohort,
)
from jumeau.data.loading import read_table
from jumeau.errors import TooFewRowsError


def _csv(rows: int = 25) -> str:
    lines = ["age,sex,sbp"]
    lines += [f"{40 + i % 30},{'MF'[i % 2]},{110 + (i * 7) % 40}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(DataError, match=r"nowhere\.csv: file not found"):
        load_cohort(path)


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        load_cohort(tmp_path)


def test_empty_file(write):
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        load_cohort(write("empty.csv", ""))


def test_whitespace_only_file_is_empty(write):
    with pytest.raises(DataError, match="empty"):
        load_cohort(write("blank.csv", "\n \n"))


def test_header_only(write):
    with pytest.raises(DataError, match=r"header\.csv: has a header line but no data rows"):
        load_cohort(write("header.csv", "age,sex,sbp\n"))


def test_duplicate_column_names(write):
    path = write("dup.csv", "age,sex,age\n1,M,2\n")
    with pytest.raises(DataError, match=r"dup\.csv: duplicate column name 'age'"):
        load_cohort(path)


def test_duplicate_column_names_in_a_dataframe():
    frame = pd.DataFrame([[1, 2]], columns=["x", "x"])
    with pytest.raises(DataError, match=r"duplicate column name.*'x'"):
        Cohort.from_frame(frame)


def test_unnamed_column(write):
    with pytest.raises(DataError, match="column 2 of the header has no name"):
        load_cohort(write("noname.csv", "age,,sbp\n1,2,3\n"))


def test_all_missing_column_is_named_and_excluded(write):
    text = "age,notes,sbp\n" + "".join(f"{40 + i},,{120 + i}\n" for i in range(25))
    with pytest.warns(JumeauWarning, match="'notes' has no values \\(all missing\\)"):
        cohort = load_cohort(write("allmissing.csv", text))
    assert cohort.schema["notes"].role == Role.EXCLUDED
    assert cohort.modelled.columns.tolist() == ["age", "sbp"]


def test_all_missing_column_declared_as_feature_in_schema(write):
    text = "age,notes\n" + "".join(f"{40 + i},NA\n" for i in range(25))
    schema = Schema.model_validate(
        {"columns": {"age": {"kind": "integer"}, "notes": {"kind": "continuous"}}}
    )
    with pytest.raises(DataError, match="column 'notes' has no values"):
        load_cohort(write("d.csv", text), schema)


def test_all_missing_column_is_accepted_when_excluded(write):
    text = "age,notes\n" + "".join(f"{40 + i},\n" for i in range(25))
    schema = Schema.model_validate(
        {"columns": {"age": {"kind": "integer"}, "notes": {"kind": "text", "role": "excluded"}}}
    )
    cohort = load_cohort(write("d.csv", text), schema)
    assert cohort.schema.modelled_columns == ["age"]


def test_constant_column_warns_and_is_excluded(write):
    text = "age,site,sbp\n" + "".join(f"{40 + i},7,{120 + i}\n" for i in range(25))
    with pytest.warns(JumeauWarning, match="column 'site' is constant"):
        cohort = load_cohort(write("const.csv", text))
    assert "site" not in cohort.schema.modelled_columns


def test_mixed_numbers_and_text_names_column_and_cells(write):
    rows = [f"{40 + i},{'unknown' if i == 3 else 120 + i}" for i in range(25)]
    path = write("mixed.csv", "age,sbp\n" + "\n".join(rows) + "\n")
    with pytest.raises(
        DataError, match=r"column 'sbp' mixes numbers and text: 'unknown' \(row 4\)"
    ):
        load_cohort(path)


def test_mixed_column_declared_continuous_in_schema(write):
    rows = [f"{40 + i},{'<0.1' if i % 2 else 0.5}" for i in range(25)]
    schema = Schema.model_validate(
        {"columns": {"age": {"kind": "integer"}, "crp": {"kind": "continuous"}}}
    )
    with pytest.raises(DataError, match="column 'crp' mixes numbers and text"):
        load_cohort(write("m.csv", "age,crp\n" + "\n".join(rows)), schema)


def test_schema_names_columns_the_data_lacks(write, tmp_path):
    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(
        "columns:\n  age:\n    kind: integer\n  weight:\n    kind: continuous\n", encoding="utf-8"
    )
    with pytest.raises(SchemaError, match=r"schema\.yaml line 4: .*lacks: weight"):
        load_cohort(write("d.csv", _csv()), schema_path)


def test_columns_missing_from_schema_are_dropped_with_a_warning(write):
    schema = Schema.model_validate({"columns": {"age": {"kind": "integer"}}})
    with pytest.warns(JumeauWarning, match="not in the schema are ignored: sex, sbp"):
        cohort = load_cohort(write("d.csv", _csv()), schema)
    assert list(cohort.data.columns) == ["age"]


def test_too_few_rows_refuses_to_model(write):
    cohort = load_cohort(write("small.csv", _csv(rows=12)))
    with pytest.raises(TooFewRowsError, match=r"small\.csv: 12 rows is too few to model"):
        cohort.require_trainable()
    load_cohort(write("ok.csv", _csv(rows=20))).require_trainable()


def test_no_modelled_column_refuses_to_model(write):
    text = "patient_id\n" + "".join(f"P{i:03d}\n" for i in range(30))
    cohort = load_cohort(write("ids.csv", text))
    with pytest.raises(DataError, match="no column is modelled"):
        cohort.require_trainable()


def test_category_list_contradicting_the_data(write, tmp_path):
    schema_path = tmp_path / "schema.yaml"
    schema_path.write_text(
        "columns:\n  age:\n    kind: integer\n  sex:\n    kind: binary\n"
        "    categories: [F, H]\n  sbp:\n    kind: continuous\n",
        encoding="utf-8",
    )
    pattern = r"schema\.yaml line 4: column 'sex' lists categories F, H but the data also has 'M'"
    with pytest.raises(SchemaError, match=pattern):
        load_cohort(write("d.csv", _csv()), schema_path)


def test_integer_column_with_decimals(write):
    schema = Schema.model_validate(
        {
            "columns": {
                "age": {"kind": "integer"},
                "sex": {"kind": "binary", "categories": ["F", "M"]},
            }
        }
    )
    frame = pd.DataFrame({"age": [40.5] + [41] * 24, "sex": ["F", "M"] * 12 + ["F"]})
    with pytest.raises(DataError, match=r"column 'age' is declared integer but has decimals"):
        Cohort(frame, schema)


def test_bad_date_names_column(write):
    rows = [f"{40 + i},2020-01-{1 + i % 28:02d}" for i in range(24)] + ["50,not a date"]
    schema = Schema.model_validate(
        {"columns": {"age": {"kind": "integer"}, "visit": {"kind": "datetime"}}}
    )
    with pytest.raises(DataError, match="column 'visit' is declared datetime but 'not a date'"):
        load_cohort(write("dates.csv", "age,visit\n" + "\n".join(rows)), schema)


def test_binary_file_is_not_csv(write):
    with pytest.raises(DataError, match=r"bin\.csv: looks like a binary file"):
        load_cohort(write("bin.csv", b"\x00\x01\x02" * 100))


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_is_read_with_or_without_its_byte_order_mark(write, codec):
    """Excel's "Unicode text" export: zero bytes everywhere, yet text, not a binary file."""
    text = "age,city\n71,Orléans\n64,Nîmes\n"
    table = read_table(write(f"u16-{codec}.csv", text.encode(codec)))
    assert table.frame["city"].tolist() == ["Orléans", "Nîmes"]
    assert table.dialect.encoding.startswith("utf-16")


def test_spreadsheet_is_refused_with_advice(write):
    with pytest.raises(DataError, match="save the sheet as CSV"):
        load_cohort(write("d.xlsx", b"PK\x03\x04 not really"))


def test_corrupt_parquet(write):
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable Parquet file"):
        load_cohort(write("bad.parquet", b"PAR1garbage"))


def test_ragged_rows(write):
    text = "a,b\n1,2\n3,4,5,6\n" + "7,8\n" * 30
    with pytest.raises(DataError, match=r"ragged\.csv: not a readable CSV file"):
        load_cohort(write("ragged.csv", text))


def test_unknown_encoding_flag(write):
    with pytest.raises(DataError, match="unknown encoding 'klingon'"):
        load_cohort(write("d.csv", _csv()), encoding="klingon")


def test_wrong_encoding_flag(write):
    path = write("d.csv", "nom,âge\nÉlodie,3\n", encoding="cp1252")
    with pytest.raises(DataError, match="is not utf-8"):
        load_cohort(path, encoding="utf-8")


def test_every_error_is_a_jumeau_error():
    assert issubclass(DataError, JumeauError) and issubclass(SchemaError, JumeauError)


# ------------------------------------------------------------------ formats that must work
def test_french_export_semicolon_decimal_comma_cp1252(write):
    rows = [f"{40 + i};{'Femme' if i % 2 else 'Homme'};{36 + (i % 10) / 10:.1f}".replace(".", ",")
            for i in range(25)]  # fmt: skip
    text = "âge;sexe;température\n" + "\n".join(rows) + "\n"
    cohort = load_cohort(write("export.csv", text, encoding="cp1252"))
    assert cohort.dialect is not None
    assert (cohort.dialect.sep, cohort.dialect.decimal, cohort.dialect.encoding) == (
        ";",
        ",",
        "cp1252",
    )
    assert cohort.schema["température"].kind.value == "continuous"
    assert cohort.data["température"].iloc[1] == pytest.approx(36.1)
    assert set(cohort.data["sexe"].cat.categories) == {"Femme", "Homme"}


def test_flags_override_detection(write):
    text = "a|b\n" + "".join(f"{i}|{i * 2}\n" for i in range(25))
    cohort = load_cohort(write("pipes.txt", text), sep="|")
    assert list(cohort.data.columns) == ["a", "b"]


def test_utf8_bom_and_missing_tokens(write):
    text = "\ufeffage,crp\n" + "".join(f"{40 + i},{'NA' if i % 5 == 0 else i}\n" for i in range(25))
    cohort = load_cohort(write("bom.csv", text))
    assert list(cohort.data.columns) == ["age", "crp"]
    assert cohort.data["crp"].isna().sum() == 5


def test_parquet_round_trip(tmp_path, gbsg2):
    path = tmp_path / "gbsg2.parquet"
    gbsg2.data.to_parquet(path)
    cohort = load_cohort(path, gbsg2.schema)
    pd.testing.assert_frame_equal(cohort.data, gbsg2.data)
    assert len(cohort.sha256) == 64


def test_provenance_hash_changes_with_content(write):
    first = load_cohort(write("a.csv", _csv()))
    second = load_cohort(write("b.csv", _csv(rows=26)))
    assert first.sha256 != second.sha256
    assert first.provenance["csv"]["sep"] == ","


def test_no_warning_for_clean_data(write):
    with warnings.catch_warnings():
        warnings.simplefilter("error", JumeauWarning)
        load_cohort(write("d.csv", _csv()))


HEADERLESS = "63,male,145.5,233,1,2019-03-04\n" + "\n".join(
    f"{40 + i},{'female' if i % 2 else 'male'},{120 + i}.5,{200 + i},{i % 2},2020-01-{10 + i}"
    for i in range(12)
)


def test_a_headerless_csv_is_refused_without_echoing_the_first_patient(write):
    """The first line of a headerless export is a real patient: it must not become column names
    that an artificial CSV would carry, and the error must not repeat its values."""
    with pytest.raises(DataError, match=r"no_header\.csv: the first line looks like") as caught:
        load_cohort(write("no_header.csv", HEADERLESS))
    message = str(caught.value)
    assert "fields 1, 2, 3, 4, 5 and 1 more" in message and "add a header line" in message
    for value in ("63", "145.5", "233", "2019-03-04"):
        assert value not in message


@pytest.mark.parametrize(
    "header",
    ["id,age,sex,sbp,t0,visit_2", "patient;1;2;3", "1,sex,weight,height"],
)
def test_headers_with_some_numeric_names_are_read(write, header):
    sep = ";" if ";" in header else ","
    width = header.count(sep) + 1
    rows = [sep.join("MF"[i % 2] if j == 1 else str(i + j) for j in range(width)) for i in range(5)]
    path = write("named.csv", "\n".join([header, *rows]) + "\n")
    if header.startswith("patient"):  # three of four names are numbers: data, not a header
        with pytest.raises(DataError, match="looks like a patient's values"):
            read_table(path)
    else:
        assert list(read_table(path).frame.columns) == header.split(sep)


def test_numbers_near_the_float_limit_are_refused_in_one_line(write):
    """Their squares overflow: a copula's EM failed on them with a LinAlgError traceback."""
    rows = "\n".join(f"{i},{v}" for i, v in enumerate([1e308, -1.5e308, 2.0, 3.0] * 5))
    with pytest.raises(DataError, match=r"column 'x' holds values beyond ±1e\+150"):
        load_cohort(write("huge.csv", "id,x\n" + rows))
