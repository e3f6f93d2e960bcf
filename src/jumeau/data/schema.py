"""The data dictionary: what each column is, in words a clinician can edit.

A :class:`Schema` is saved as YAML. Because people edit it by hand, loading it reports mistakes
with the line they are on and what to do, rather than a pydantic traceback.
"""

from __future__ import annotations

import difflib
import math
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from jumeau.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_FORMAT_VERSION = 1

Category = Union[bool, int, float, str]  # noqa: UP007 - a runtime alias pydantic reads on 3.10
V = TypeVar("V")


class ColumnKind(str, Enum):
    """Clinical type of a column; it decides how the column is encoded and modelled."""

    CONTINUOUS = "continuous"
    INTEGER = "integer"
    BINARY = "binary"
    CATEGORICAL = "categorical"
    ORDINAL = "ordinal"
    DATETIME = "datetime"
    IDENTIFIER = "identifier"
    TEXT = "text"


class Role(str, Enum):
    """What a column is for in an analysis."""

    FEATURE = "feature"
    TARGET = "target"
    TIME = "time"  # time-to-event duration
    EVENT = "event"  # event indicator that goes with the time column
    IDENTIFIER = "identifier"
    EXCLUDED = "excluded"


CATEGORY_KINDS = frozenset({ColumnKind.BINARY, ColumnKind.CATEGORICAL, ColumnKind.ORDINAL})
NUMERIC_KINDS = frozenset({ColumnKind.CONTINUOUS, ColumnKind.INTEGER})
NEVER_MODELLED_KINDS = frozenset({ColumnKind.IDENTIFIER, ColumnKind.TEXT})
NEVER_MODELLED_ROLES = frozenset({Role.IDENTIFIER, Role.EXCLUDED})


class Derivation(BaseModel):
    """A column that follows from another one in every row: an age group from the age, a drive
    brand from its model, a code from its label. Generators model the source alone and compute
    this column from it, so that no artificial patient contradicts the relation (a Gaussian
    copula or a VAE only approximates a step function or a nesting of categories, and a
    classifier finds every patient whose age falls in the wrong age group)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", description="The column this one is computed from.")
    map: dict[Category, Category] | None = Field(
        default=None, description="Each category of a categorical source → this column's value."
    )
    cuts: list[float] | None = Field(
        default=None,
        description="Thresholds on a numeric source, ascending: values below cuts[0] take "
        "levels[0], values from cuts[i-1] up to (not including) cuts[i] take levels[i].",
    )
    levels: list[Category] | None = Field(
        default=None, description="This column's value in each band between cuts (one more)."
    )

    @field_validator("map")
    @classmethod
    def _map_by_canonical_value(
        cls, value: dict[Category, Category] | None
    ) -> dict[Category, Category] | None:
        return _by_canonical_key(value)

    @model_validator(mode="after")
    def _one_form(self) -> Derivation:
        if (self.map is None) == (self.cuts is None):
            raise ValueError("`derived` takes either a `map` (categorical source) or `cuts` and "
                             "`levels` (numeric source)")  # fmt: skip
        if self.cuts is not None:
            if self.levels is None or len(self.levels) != len(self.cuts) + 1:
                raise ValueError("`levels` must list one value more than `cuts`")
            if not all(math.isfinite(c) for c in self.cuts) or any(
                b <= a for a, b in zip(self.cuts, self.cuts[1:], strict=False)
            ):
                raise ValueError("`cuts` must be finite numbers in increasing order")
        elif self.levels is not None:
            raise ValueError("`levels` goes with `cuts`, not with `map`")
        return self

    def values(self) -> list[Category]:
        """The values this column can take by the derivation."""
        return list((self.map or {}).values()) if self.cuts is None else list(self.levels or ())


class Column(BaseModel):
    """One entry of the data dictionary."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: ColumnKind
    role: Role = Role.FEATURE
    label: str | None = None
    unit: str | None = None
    group: str | None = Field(
        default=None, description="Heading the column is shown under (demographics, labs, ...)."
    )
    description: str | None = None
    categories: list[Category] | None = Field(
        default=None, description="Allowed values; for ordinal columns, in clinical order."
    )
    category_labels: dict[Category, str] | None = Field(
        default=None,
        description="Words shown for coded categories, e.g. {0: censored, 1: died} (review cards).",
    )
    min: float | str | None = Field(default=None, description="Hard lower bound (clinical).")
    max: float | str | None = Field(default=None, description="Hard upper bound (clinical).")
    missing_allowed: bool = True
    format: str | None = Field(
        default=None, description="strptime format of a datetime column in files, e.g. %d/%m/%Y."
    )
    why: str | None = Field(default=None, description="Why inference guessed this kind.")
    varies: bool = Field(
        default=False,
        description="Longitudinal cohorts: measured at each visit (True) or fixed at baseline.",
    )
    derived: Derivation | None = Field(
        default=None, description="Computed from another column rather than modelled."
    )

    @field_validator("category_labels")
    @classmethod
    def _labels_by_canonical_value(
        cls, value: dict[Category, str] | None
    ) -> dict[Category, str] | None:
        return _by_canonical_key(value)

    @field_validator("categories")
    @classmethod
    def _categories_are_unique(cls, value: list[Category] | None) -> list[Category] | None:
        if value is None:
            return value
        keys = [category_key(v) for v in value]
        duplicates = sorted({str(v) for v, k in zip(value, keys, strict=True) if keys.count(k) > 1})
        if duplicates:
            raise ValueError(
                f"categories are listed twice: {', '.join(duplicates)}; list each once"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        kind = self.kind
        if kind in CATEGORY_KINDS:
            if not self.categories:
                raise ValueError(f"a {kind.value} column needs a `categories` list")
            if kind is ColumnKind.BINARY and len(self.categories) != 2:
                raise ValueError(
                    f"a binary column has exactly 2 categories, this one lists "
                    f"{len(self.categories)}; use kind: categorical"
                )
        elif self.categories is not None:
            raise ValueError(f"a {kind.value} column takes no `categories`; remove them")
        if self.derived is not None:
            if kind not in CATEGORY_KINDS:
                raise ValueError(
                    "only binary, categorical and ordinal columns can be `derived`, not "
                    f"{kind.value}"
                )
            known = {category_key(c) for c in self.categories or []}
            strange = sorted(
                {str(v) for v in self.derived.values() if category_key(v) not in known}
            )
            if strange:
                raise ValueError(
                    f"`derived` gives values that are not categories: {', '.join(strange)}"
                )
        if self.category_labels is not None:
            known = {category_key(c) for c in self.categories or []}
            unknown = sorted(str(k) for k in self.category_labels if category_key(k) not in known)
            if unknown:
                raise ValueError(
                    f"`category_labels` names values that are not categories: {', '.join(unknown)}"
                )
        if (self.min is not None or self.max is not None) and kind not in (
            NUMERIC_KINDS | {ColumnKind.DATETIME}
        ):
            raise ValueError(f"a {kind.value} column takes no min/max bounds; remove them")
        if kind in NUMERIC_KINDS:
            for field in ("min", "max"):
                bound = getattr(self, field)
                if isinstance(bound, str):
                    raise ValueError(f"`{field}` must be a number, not {bound!r}")
                if bound is not None and math.isnan(bound):
                    raise ValueError(f"`{field}` must be a number, not NaN")
        if self.format is not None and kind is not ColumnKind.DATETIME:
            raise ValueError("only datetime columns take a `format`; remove it")
        if kind is ColumnKind.DATETIME:
            for field in ("min", "max"):
                bound = getattr(self, field)
                if bound is not None and not _is_iso_date(bound):
                    raise ValueError(
                        f"`{field}` of a datetime column must be a date like 2020-01-31"
                    )
        lo, hi = self.min, self.max
        if lo is not None and hi is not None and _bounds_reversed(lo, hi):
            raise ValueError(f"min ({lo}) is greater than max ({hi}); swap them")
        if kind is ColumnKind.IDENTIFIER and self.role not in NEVER_MODELLED_ROLES:
            raise ValueError("an identifier column must have role identifier or excluded")
        if kind is ColumnKind.TEXT and self.role not in NEVER_MODELLED_ROLES:
            raise ValueError("free-text columns cannot be modelled; set role: excluded")
        if self.role is Role.IDENTIFIER and kind is not ColumnKind.IDENTIFIER:
            raise ValueError("role identifier needs kind identifier (or use role: excluded)")
        if self.role is Role.EVENT and kind is not ColumnKind.BINARY:
            raise ValueError("the event indicator must be a binary column")
        if self.role is Role.TIME and kind not in NUMERIC_KINDS:
            raise ValueError("the time-to-event column must be continuous or integer")
        return self

    @property
    def modelled(self) -> bool:
        """Whether generators learn this column (identifiers and free text never are)."""
        return self.kind not in NEVER_MODELLED_KINDS and self.role not in NEVER_MODELLED_ROLES

    def category_word(self, value: object) -> str:
        """The word shown for a category value (the value itself when no label is given)."""
        labels = {category_key(k): v for k, v in (self.category_labels or {}).items()}
        return labels.get(category_key(value), str(value))

    def display_name(self, name: str) -> str:
        """Human label with unit, for reports and review cards."""
        label = self.label or name
        return f"{label} ({self.unit})" if self.unit else label


class Rule(BaseModel):
    """A clinical rule between columns, e.g. ``diastolic_bp < systolic_bp``."""

    model_config = ConfigDict(extra="forbid")

    expr: str
    name: str | None = None
    description: str | None = None

    @property
    def title(self) -> str:
        return self.name or self.expr


class VisitLayout(BaseModel):
    """How a long-format cohort (one row per visit) names its patients and visit times. The
    end of follow-up and the terminal event, when present, are the columns with roles `time` and
    `event`; measurements taken at each visit are the columns marked `varies: true`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Column identifying the patient.")
    time: str = Field(description="Column holding the visit time since baseline.")


class Schema(BaseModel):
    """Data dictionary of a cohort: one :class:`Column` per column, plus clinical rules."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = SCHEMA_FORMAT_VERSION
    name: str | None = None
    description: str | None = None
    source: str | None = None
    license: str | None = None
    columns: dict[str, Column]
    rules: list[Rule] = Field(default_factory=list)
    visits: VisitLayout | None = Field(
        default=None, description="Set for long-format cohorts: one row per visit."
    )

    # YAML path and line of each node, kept so that later errors (data that contradicts the
    # dictionary) can point at the line a user has to edit.
    _origin: str | None = PrivateAttr(default=None)
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @field_validator("rules", mode="before")
    @classmethod
    def _rules_from_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"expr": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > SCHEMA_FORMAT_VERSION:
            raise ValueError(
                f"format_version {value} is newer than this jumeau understands "
                f"({SCHEMA_FORMAT_VERSION}); upgrade jumeau"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Schema:
        if not self.columns:
            raise ValueError("the schema lists no columns")
        for role in (Role.TIME, Role.EVENT):
            holders = [n for n, c in self.columns.items() if c.role is role]
            if len(holders) > 1:
                raise ValueError(
                    f"only one column can have role {role.value}: {', '.join(holders)}"
                )
        _check_derivations(self.columns, long_format=self.visits is not None)
        if self.visits is not None:
            _check_visit_layout(self.visits, self.columns)
        elif any(column.varies for column in self.columns.values()):
            raise ValueError("`varies: true` needs a `visits:` section naming the id and time")
        from jumeau.data.rules import parse_rule  # rules need the schema's column names

        for index, rule in enumerate(self.rules):
            parse_rule(rule.expr, self, where=f"rule {index + 1}")
        return self

    # ------------------------------------------------------------------ access
    def __getitem__(self, name: str) -> Column:
        try:
            return self.columns[name]
        except KeyError:
            raise SchemaError(unknown_column_message(name, list(self.columns))) from None

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def derived_columns(self) -> list[str]:
        """Modelled columns that are computed from another column, not learned."""
        return [n for n, c in self.columns.items() if c.derived is not None and c.modelled]

    @property
    def modelled_columns(self) -> list[str]:
        """Columns that generators learn and emit, in schema order."""
        return [name for name, column in self.columns.items() if column.modelled]

    def columns_with_role(self, role: Role) -> list[str]:
        return [name for name, column in self.columns.items() if column.role is role]

    def line_of(self, *path: str | int) -> int | None:
        """Line in the YAML file this schema was read from, if any."""
        return self._lines.get(tuple(path))

    def locate(self, *path: str | int) -> str:
        """'schema.yaml line 12' or '' — a prefix for error messages."""
        line = self.line_of(*path)
        if self._origin is None:
            return ""
        return f"{self._origin} line {line}: " if line else f"{self._origin}: "

    def with_rules(self, *expressions: str) -> Schema:
        """A copy with extra rules (checked against the columns)."""
        rules = [*self.rules, *(Rule(expr=e) for e in expressions)]
        return self.model_copy(update={"rules": rules}).revalidated()

    def revalidated(self) -> Schema:
        return type(self).model_validate(self.model_dump())

    # ------------------------------------------------------------------ inference
    @classmethod
    def infer(
        cls, frame: pd.DataFrame, *, name: str | None = None, propose_rules: bool = False
    ) -> Schema:
        """Guess a data dictionary from data; each column's `why` says what the guess rests on.
        `propose_rules`: add the order rules no row breaks (see `infer_schema`)."""
        from jumeau.data.inference import infer_schema

        return infer_schema(frame, name=name, propose_rules=propose_rules)

    # ------------------------------------------------------------------ YAML
    def to_yaml(self, path: str | Path | None = None) -> str:
        """Write the data dictionary as YAML (returned as text, and written if `path` is given)."""
        document = self.model_dump(
            mode="json", exclude_none=True, exclude_defaults=False, by_alias=True
        )
        document["rules"] = [
            r["expr"] if set(r) == {"expr"} else r for r in document.get("rules", [])
        ]
        for column in document["columns"].values():
            if not column.get("varies"):
                column.pop("varies", None)  # only longitudinal cohorts mark it
        text = YAML_HEADER + yaml.dump(
            document, Dumper=_SchemaDumper, sort_keys=False, allow_unicode=True, width=100
        )
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, path: str | Path) -> Schema:
        path = Path(path)
        if not path.is_file():
            raise SchemaError(
                f"{path}: schema file not found; create one with `jumeau schema infer`"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SchemaError(f"{path}: not a UTF-8 text file; save the schema as UTF-8") from None
        return cls.from_yaml_text(text, origin=str(path))

    @classmethod
    def from_yaml_text(cls, text: str, *, origin: str = "<schema>") -> Schema:
        try:
            root = yaml.compose(text, Loader=SchemaLoader)
            document = yaml.load(text, Loader=SchemaLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SchemaError(
                f"{origin}{where}: not valid YAML ({problem}); check indentation and quotes"
            ) from None
        if not isinstance(document, dict) or "columns" not in document:
            raise SchemaError(
                f"{origin}: not a jumeau schema (no `columns:` mapping at the top); "
                "create one with `jumeau schema infer`"
            )
        lines = _node_lines(root)
        try:
            schema = cls.model_validate(document)
        except ValidationError as exc:
            raise SchemaError(_explain(exc, lines, origin)) from None
        except SchemaError as exc:  # a rule that does not parse: locate it in the file
            raise SchemaError(f"{origin}: {exc}") from None
        schema._origin = origin
        schema._lines = lines
        return schema


YAML_HEADER = """\
# jumeau data dictionary. Edit by hand, then check with `jumeau validate DATA --schema THIS_FILE`.
# kind: continuous | integer | binary | categorical | ordinal | datetime | identifier | text
# role: feature | target | time | event | identifier | excluded  (identifier/text: never modelled)
# min / max: hard clinical bounds; categories: allowed values (ordinal: in clinical order)
# rules: expressions such as `diastolic_bp < systolic_bp` or `sex == "M" -> pregnancies == 0`
"""


def _check_derivations(columns: dict[str, Column], *, long_format: bool) -> None:
    for name, column in columns.items():
        derivation = column.derived
        if derivation is None:
            continue
        if long_format:
            raise ValueError(
                f"'{name}': derived columns are not supported in long-format cohorts yet; "
                "remove `derived`"
            )
        source = columns.get(derivation.source)
        if source is None:
            raise ValueError(
                f"'{name}' is derived from '{derivation.source}', which is not a column; "
                f"{unknown_column_message(derivation.source, list(columns))}"
            )
        if derivation.source == name or source.derived is not None:
            raise ValueError(
                f"'{name}' must be derived from a column that is modelled itself, not from "
                f"{'itself' if derivation.source == name else 'another derived column'}"
            )
        if not (column.modelled and source.modelled):
            raise ValueError(
                f"'{name}' is derived from '{derivation.source}': both must be modelled (not "
                "identifiers, text or excluded)"
            )
        if derivation.map is not None:
            if source.kind not in CATEGORY_KINDS:
                raise ValueError(
                    f"'{name}': a `map` needs a categorical source; '{derivation.source}' is "
                    f"{source.kind.value} (use `cuts` and `levels`)"
                )
            expected = {category_key(c) for c in source.categories or []}
            unmapped = sorted(expected - set(derivation.map))
            unknown = sorted(str(k) for k in set(derivation.map) - expected)
            if unmapped or unknown:
                raise ValueError(
                    f"'{name}': the `map` must list each category of '{derivation.source}' once"
                    + (f"; missing: {', '.join(unmapped)}" if unmapped else "")
                    + (f"; not categories: {', '.join(unknown)}" if unknown else "")
                )
        elif source.kind not in NUMERIC_KINDS:
            raise ValueError(
                f"'{name}': `cuts` need a continuous or integer source; '{derivation.source}' "
                f"is {source.kind.value} (use a `map`)"
            )


def _check_visit_layout(layout: VisitLayout, columns: dict[str, Column]) -> None:
    for field in ("id", "time"):
        name = getattr(layout, field)
        if name not in columns:
            raise ValueError(
                f"visits.{field} names '{name}', which is not a column; "
                f"{unknown_column_message(name, list(columns))}"
            )
        if columns[name].varies:
            raise ValueError(f"visits.{field} column '{name}' cannot be marked `varies`")
    if layout.id == layout.time:
        raise ValueError("visits.id and visits.time must be different columns")
    if columns[layout.time].kind not in NUMERIC_KINDS:
        raise ValueError(
            f"visits.time column '{layout.time}' must be continuous or integer (time since "
            "baseline, in one unit)"
        )
    for name, column in columns.items():
        if column.varies and column.role in (Role.TIME, Role.EVENT):
            raise ValueError(
                f"'{name}' has role {column.role.value}: the end of follow-up and the event are "
                "fixed per patient, so they cannot be marked `varies`"
            )


def _by_canonical_key(value: dict[Category, V] | None) -> dict[Category, V] | None:
    """Keys as canonical text ("1" for 1, 1.0 or "1"), so that a schema read back from YAML
    or JSON equals the one written (category labels, derivation maps)."""
    return None if value is None else {category_key(k): v for k, v in value.items()}


def category_key(value: object) -> str:
    """Canonical text of a category, so that 1, 1.0 and "1" (from a CSV) are the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    try:
        number = float(text.replace(",", ".")) if text else math.nan
    except ValueError:
        return text.lower() if text.lower() in ("true", "false") else text
    if math.isfinite(number):
        return str(int(number)) if number.is_integer() else repr(number)
    return text


def unknown_column_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'?" if close else f"known columns: {', '.join(known[:12])}"
    return f"unknown column '{name}'; {hint}"


def _is_iso_date(value: object) -> bool:
    from datetime import date

    try:
        date.fromisoformat(str(value)[:10])
    except ValueError:
        return False
    return True


def _bounds_reversed(lo: float | str, hi: float | str) -> bool:
    if isinstance(lo, str) or isinstance(hi, str):  # ISO dates compare correctly as text
        return str(lo) > str(hi)
    return float(lo) > float(hi)


# A data dictionary is a few levels deep (columns → column → categories → label)
MAX_SCHEMA_DEPTH = 32


class SchemaLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans: only true/false are booleans.

    PyYAML follows YAML 1.1, where a category written `no` or `yes` becomes a boolean — a classic
    trap in clinical dictionaries (horTh: [no, yes]). Here those stay text.

    Hostile files are refused while the YAML is read, before anything walks the document:
    aliases (`*name`), which let a 1 KB "billion laughs" file stand for billions of nodes (a data
    dictionary never needs them), and nesting deeper than `MAX_SCHEMA_DEPTH`, which would end in
    a RecursionError.
    """

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "an alias (*name) stands for another part of the file; "
                "a schema has none: write the values out", mark,
            )  # fmt: skip
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_SCHEMA_DEPTH:
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_SCHEMA_DEPTH} levels deep", mark
            )
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


SchemaLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SchemaLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _SchemaDumper(yaml.SafeDumper):
    """Quote strings that YAML 1.1 readers would take for booleans (no, yes, on, off)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "'" if value.lower() in {"y", "n", "yes", "no", "on", "off"} else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    if math.isfinite(value) and value.is_integer():
        return dumper.represent_int(int(value))
    return dumper.represent_float(value)


def _represent_list(dumper: yaml.SafeDumper, value: list) -> yaml.Node:
    scalars = all(isinstance(v, (str, int, float, bool)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=scalars)


_SchemaDumper.add_representer(str, _represent_str)
_SchemaDumper.add_representer(float, _represent_float)
_SchemaDumper.add_representer(list, _represent_list)


def _node_lines(node: yaml.Node | None, path: tuple[str | int, ...] = ()) -> dict:
    """Map each key path of a YAML document to its 1-based line number."""
    lines: dict[tuple[str | int, ...], int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            for sub_path, line in _node_lines(value_node, (*path, key)).items():
                lines.setdefault(sub_path, line)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_node_lines(item, (*path, index)))
    return lines


def _explain(exc: ValidationError, lines: dict, origin: str) -> str:
    """Turn pydantic's errors into one line per problem, each with its YAML line."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # pydantic adds the union member name (e.g. 'str', 'int') to locations; drop it
        loc = tuple(p for p in loc if p not in ("bool", "int", "float", "str", "function-after"))
        line = None
        for cut in range(len(loc), -1, -1):
            line = lines.get(loc[:cut])
            if line is not None:
                break
        where = f"line {line}" if line else "top level"
        if len(loc) >= 2 and loc[0] == "columns":
            subject = f"column '{loc[1]}'" + (f", field '{loc[2]}'" if len(loc) > 2 else "")
        elif loc:
            subject = "field '" + ".".join(str(p) for p in loc) + "'"
        else:
            subject = "schema"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field; allowed fields are {', '.join(_fields_for(loc))}"
        problems.append(f"{where} ({subject}): {message}")
    unique = list(dict.fromkeys(problems))
    return f"{origin} " + "; ".join(unique)


def _fields_for(loc: tuple) -> list[str]:
    model: type[BaseModel] = Column if loc and loc[0] == "columns" else Schema
    if loc and loc[0] == "rules":
        model = Rule
    if len(loc) > 3 and loc[0] == "columns" and loc[2] == "derived":
        return [field.alias or name for name, field in Derivation.model_fields.items()]
    return list(model.model_fields)
