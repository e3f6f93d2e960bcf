"""Clinical rules and sampling conditions: a small, safe expression language.

Examples: ``diastolic_bp < systolic_bp``, ``18 <= age <= 110``,
``sex == "M" -> pregnancies == 0``, ``stage in ("III", "IV") and not smoker``,
``wt_loss is missing or wt_loss > -50``.

User text is parsed by lark into a tree and evaluated on whole columns with pandas' nullable
types, so a missing value makes a comparison *unknown* (Kleene logic) rather than false: a rule is
violated only where it is definitely false. Nothing is ever passed to Python's ``eval``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from jumeau.data.schema import CATEGORY_KINDS, ColumnKind, category_key, unknown_column_message
from jumeau.errors import JumeauError, RuleSyntaxError

if TYPE_CHECKING:
    from jumeau.data.schema import Schema

FUNCTIONS: dict[str, int | None] = {  # name -> number of arguments (None: one or more)
    "abs": 1,
    "log": 1,
    "exp": 1,
    "sqrt": 1,
    "min": None,
    "max": None,
    "missing": 1,
    "present": 1,
    "date": 1,
}

_EPOCH = pd.Timestamp("1970-01-01")
# A rule's length and parenthesis depth: a clinical rule is a line; these bound the recursion of
# the checks and the evaluation that walk its tree (a 20,000-term rule was a RecursionError)
MAX_RULE_LENGTH = 2_000
MAX_RULE_DEPTH = 100


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("jumeau.data").joinpath("rules.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=False)


@dataclass(frozen=True)
class Expression:
    """A parsed rule or condition, ready to evaluate on any frame with its columns."""

    text: str
    tree: Tree
    columns: tuple[str, ...] = field(default=())

    def evaluate(self, frame: pd.DataFrame, schema: Schema | None = None) -> pd.Series:
        """Truth value per row (pandas 'boolean' dtype; <NA> where unknown)."""
        value = _Evaluator(frame, schema, self.text).visit(self.tree)
        return _as_truth(value, frame.index, self.text)

    def holds(self, frame: pd.DataFrame, schema: Schema | None = None) -> np.ndarray:
        """Rows where the expression is not definitely false (a rule is satisfied)."""
        return np.asarray(self.evaluate(frame, schema).fillna(True), dtype=bool)

    def selects(self, frame: pd.DataFrame, schema: Schema | None = None) -> np.ndarray:
        """Rows where the expression is definitely true (a `where=` condition matches)."""
        return np.asarray(self.evaluate(frame, schema).fillna(False), dtype=bool)


def parse_rule(text: str, schema: Schema | None = None, *, where: str = "rule") -> Expression:
    """Parse `text`; with a schema, also check columns, functions and category literals. A rule
    longer than `MAX_RULE_LENGTH` characters, or whose tree is deeper than `MAX_RULE_DEPTH`, is
    refused before anything recurses through it (its checks, its evaluation)."""
    if not isinstance(text, str) or not text.strip():
        raise RuleSyntaxError(f"{where} is empty; write an expression such as `age >= 18`")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(
            f"{where} `{text[:40]}…` is {len(text):,} characters long, more than "
            f"{MAX_RULE_LENGTH:,}; split it into several rules"
        )
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise RuleSyntaxError(f"{where} `{text}`: {_syntax_message(exc, text)}") from None
    except LarkError as exc:  # pragma: no cover - lark's other errors are internal
        raise RuleSyntaxError(f"{where} `{text}`: cannot parse ({exc})") from None
    if _tree_depth(tree) > MAX_RULE_DEPTH:
        raise RuleSyntaxError(
            f"{where} `{text[:40]}…` nests more than {MAX_RULE_DEPTH} operations in one another "
            "(a long chain of + or and counts as one per term); split it into several rules"
        )
    if not _is_condition(tree, schema):
        raise RuleSyntaxError(
            f"{where} `{text}` is not a condition (true/false); compare it, e.g. `{text} > 0`"
        )
    columns = tuple(dict.fromkeys(_column_name(t) for t in tree.iter_subtrees() if _is_column(t)))
    for call in (t for t in tree.iter_subtrees() if t.data == "call"):
        name = str(call.children[0])
        if name not in FUNCTIONS:
            raise RuleSyntaxError(
                f"{where} `{text}`: unknown function {name}(); use one of {', '.join(FUNCTIONS)}"
            )
    if schema is not None:
        for name in columns:
            if name not in schema.columns:
                raise RuleSyntaxError(
                    f"{where} `{text}`: {unknown_column_message(name, schema.names)}"
                )
        _check_category_literals(tree, schema, where, text)
        _check_types(tree, schema, columns, where, text)
    return Expression(text=text, tree=tree, columns=columns)


def _check_types(
    tree: Tree, schema: Schema, columns: tuple[str, ...], where: str, text: str
) -> None:
    """Evaluate the rule once on one made-up row typed as the schema types the data: whether
    a rule compares text with a number, or does arithmetic on a category, depends on the types
    alone, and saying it at `schema check` beats saying it after a long fit. Skipped when a
    column's type is only known from the data (categories not listed, a date format)."""
    from jumeau.data.cohort import coerce_column  # cohort imports this module

    raw: dict[str, str] = {}
    for name in columns:
        column = schema.columns[name]
        if column.kind in (ColumnKind.CONTINUOUS, ColumnKind.INTEGER):
            raw[name] = "1"
        elif column.kind in CATEGORY_KINDS and column.categories:
            raw[name] = str(column.categories[0])
        elif column.kind in (ColumnKind.IDENTIFIER, ColumnKind.TEXT):
            raw[name] = "x"
        else:
            return
    try:
        frame = pd.DataFrame(
            {
                name: coerce_column(
                    name,
                    pd.Series([value]),
                    schema.columns[name],
                    schema,
                    "rule check",
                    artificial=True,
                )
                for name, value in raw.items()
            }
        )
    except JumeauError:  # a made-up value the column's bounds refuse: nothing to learn
        return
    try:
        _Evaluator(frame, schema, text).visit(tree)
    except RuleSyntaxError as exc:
        raise RuleSyntaxError(f"{where} {exc}") from None
    except (ArithmeticError, ValueError, TypeError):  # depends on the value, not the types
        return


def _tree_depth(tree: Tree) -> int:
    """The depth of a parsed rule, walked without recursion (the checks and the evaluation that
    follow recurse through it)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack += [(child, depth + 1) for child in node.children if isinstance(child, Tree)]
    return deepest


def _syntax_message(exc: UnexpectedInput, text: str) -> str:
    column = getattr(exc, "column", None)
    position = f" at character {column}" if isinstance(column, int) and column > 0 else ""
    if isinstance(exc, UnexpectedEOF):
        return "the expression ends too early; is an operand or a parenthesis missing?"
    if isinstance(exc, UnexpectedCharacters):
        position_in_text = exc.pos_in_stream or 0
        char = text[position_in_text] if position_in_text < len(text) else "?"
        return (
            f"unexpected character {char!r}{position}; use and/or/not, comparisons "
            "(< <= == != >= >),"
            " `->` for 'implies', and quote text values"
        )
    token = getattr(exc, "token", None)
    found = f" {str(token)!r}" if token is not None and str(token) else " end of text"
    return f"unexpected{found}{position}; check operators and parentheses"


_CONDITION_NODES = frozenset(
    {"implies", "or_", "and_", "not_", "compare", "is_in", "not_in", "is_missing", "is_present"}
    | {"true", "false"}
)


def _is_condition(tree: Tree, schema: Schema | None = None) -> bool:
    if _is_column(tree):  # a bare column is a condition only if it holds true/false values
        if schema is None:
            return True
        column = schema.columns.get(_column_name(tree))
        return column is None or bool(
            column.categories and all(isinstance(c, bool) for c in column.categories)
        )
    if tree.data == "call":
        return str(tree.children[0]) in ("missing", "present")
    return tree.data in _CONDITION_NODES


def _is_column(tree: Tree) -> bool:
    return tree.data in ("column", "quoted_column")


def _column_name(tree: Tree) -> str:
    token = str(tree.children[0])
    return token[1:-1] if tree.data == "quoted_column" else token


def _check_category_literals(tree: Tree, schema: Schema, where: str, text: str) -> None:
    """`sex == "X"` where X is not a category of sex is almost surely a typo: say so now."""
    for node in tree.iter_subtrees():
        if node.data == "compare":
            operands = [c for c in node.children if isinstance(c, Tree)]
        elif node.data in ("is_in", "not_in"):
            operands = [node.children[0], *node.children[1].children]
        else:
            continue
        columns = [o for o in operands if isinstance(o, Tree) and _is_column(o)]
        literals = [o for o in operands if isinstance(o, Tree) and o.data == "string"]
        for column_tree in columns:
            column = schema.columns[_column_name(column_tree)]
            if column.categories is None:
                continue
            allowed = {category_key(c) for c in column.categories}
            for literal in literals:
                value = _string_value(literal)
                if category_key(value) not in allowed:
                    choices = ", ".join(str(c) for c in column.categories)
                    raise RuleSyntaxError(
                        f"{where} `{text}`: {value!r} is not a category of "
                        f"'{_column_name(column_tree)}' ({choices})"
                    )


def _string_value(tree: Tree) -> str:
    return str(tree.children[0])[1:-1]


# --------------------------------------------------------------------------- evaluation
Value = Any  # a pandas Series (nullable dtype) or a Python scalar


@dataclass
class _Ordered:
    """An ordinal column: comparisons use the clinical order of its categories."""

    codes: pd.Series  # Float64 positions, <NA> for missing
    categories: list[Any]


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, schema: Schema | None, text: str) -> None:
        self.frame = frame
        self.schema = schema
        self.text = text

    def fail(self, message: str) -> RuleSyntaxError:
        return RuleSyntaxError(f"`{self.text}`: {message}")

    def visit(self, tree: Tree | Token) -> Value:
        if isinstance(tree, Token):  # pragma: no cover - grammar wraps every token
            raise self.fail(f"unexpected token {tree!r}")
        method: Callable[[Tree], Value] = getattr(self, f"_{tree.data}")
        return method(tree)

    # literals ---------------------------------------------------------------
    def _number(self, tree: Tree) -> float:
        return float(str(tree.children[0]))

    def _negative_number(self, tree: Tree) -> float:
        return -float(str(tree.children[0]))

    def _string(self, tree: Tree) -> str:
        return _string_value(tree)

    def _true(self, tree: Tree) -> bool:
        return True

    def _false(self, tree: Tree) -> bool:
        return False

    # columns ----------------------------------------------------------------
    def _column(self, tree: Tree) -> Value:
        name = _column_name(tree)
        if name not in self.frame.columns:
            raise self.fail(unknown_column_message(name, [str(c) for c in self.frame.columns]))
        series = self.frame[name]
        kind = None
        if self.schema is not None and name in self.schema.columns:
            column = self.schema.columns[name]
            kind = column.kind
            if kind is ColumnKind.ORDINAL and column.categories:
                return _Ordered(_ordinal_codes(series, column.categories), list(column.categories))
        return _typed(series, kind)

    _quoted_column = _column

    # logic ------------------------------------------------------------------
    def _truth(self, tree: Tree) -> pd.Series:
        return _as_truth(self.visit(tree), self.frame.index, self.text)

    def _and_(self, tree: Tree) -> pd.Series:
        return self._truth(tree.children[0]) & self._truth(tree.children[1])

    def _or_(self, tree: Tree) -> pd.Series:
        return self._truth(tree.children[0]) | self._truth(tree.children[1])

    def _not_(self, tree: Tree) -> pd.Series:
        return ~self._truth(tree.children[0])

    def _implies(self, tree: Tree) -> pd.Series:
        return ~self._truth(tree.children[0]) | self._truth(tree.children[1])

    def _is_missing(self, tree: Tree) -> pd.Series:
        value = self.visit(tree.children[0])
        if isinstance(value, _Ordered):
            value = value.codes
        if not isinstance(value, pd.Series):
            raise self.fail("`is missing` applies to a column")
        return value.isna().astype("boolean")

    def _is_present(self, tree: Tree) -> pd.Series:
        return ~self._is_missing(tree)

    def _is_in(self, tree: Tree) -> pd.Series:
        left = self.visit(tree.children[0])
        items = [self.visit(item) for item in tree.children[1].children]
        if isinstance(left, _Ordered):
            items = [_ordinal_position(left, item, self) for item in items]
            left = left.codes
        result = pd.Series(False, index=self.frame.index, dtype="boolean")
        for item in items:
            result = result | _compare(left, "==", item, self)
        return result

    def _not_in(self, tree: Tree) -> pd.Series:
        return ~self._is_in(tree)

    def _compare(self, tree: Tree) -> pd.Series:
        children = tree.children
        values = [self.visit(children[i]) for i in range(0, len(children), 2)]
        operators = [str(children[i]) for i in range(1, len(children), 2)]
        result: pd.Series | None = None
        for (left, right), operator in zip(pairwise(values), operators, strict=True):
            left, right = _align_ordinal(left, right, self)
            step = _compare(left, operator, right, self)
            result = step if result is None else result & step
        assert result is not None
        return result

    # arithmetic -------------------------------------------------------------
    def _arith(self, tree: Tree, op: Callable[[Any, Any], Any]) -> Value:
        left = _numeric(self.visit(tree.children[0]), self)
        right = _numeric(self.visit(tree.children[1]), self)
        with np.errstate(all="ignore"):
            return _finite(op(left, right))

    def _add(self, tree: Tree) -> Value:
        return self._arith(tree, lambda a, b: a + b)

    def _sub(self, tree: Tree) -> Value:
        return self._arith(tree, lambda a, b: a - b)

    def _mul(self, tree: Tree) -> Value:
        return self._arith(tree, lambda a, b: a * b)

    def _div(self, tree: Tree) -> Value:
        return self._arith(tree, lambda a, b: a / b.mask(b == 0))

    def _pow(self, tree: Tree) -> Value:
        return self._arith(tree, lambda a, b: a**b)

    def _neg(self, tree: Tree) -> Value:
        return -_numeric(self.visit(tree.children[0]), self)

    def _call(self, tree: Tree) -> Value:
        name = str(tree.children[0])
        args = [self.visit(child) for child in tree.children[1:]]
        expected = FUNCTIONS[name]
        if (expected is not None and len(args) != expected) or not args:
            count = expected if expected is not None else "one or more"
            raise self.fail(f"{name}() takes {count} argument(s), got {len(args)}")
        if name in ("missing", "present"):
            value = args[0].codes if isinstance(args[0], _Ordered) else args[0]
            if not isinstance(value, pd.Series):
                raise self.fail(f"{name}() applies to a column")
            flags = value.isna().astype("boolean")
            return flags if name == "missing" else ~flags
        if name == "date":
            if not isinstance(args[0], str):
                raise self.fail('date() takes a text date such as date("2020-01-31")')
            try:
                stamp = pd.Timestamp(args[0])
            except ValueError:
                stamp = pd.NaT
            if pd.isna(stamp):
                raise self.fail(f"date({args[0]!r}) is not a date such as 2020-01-31")
            return float((stamp - _EPOCH) / pd.Timedelta(days=1))
        numbers = [_numeric(a, self) for a in args]
        if name in ("min", "max"):
            # skipna=False: the minimum of (unknown, 2) is unknown, as Kleene logic requires
            frame = pd.concat(numbers, axis=1)
            return (
                frame.min(axis=1, skipna=False)
                if name == "min"
                else frame.max(axis=1, skipna=False)
            )
        functions: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "abs": np.abs, "log": np.log, "exp": np.exp, "sqrt": np.sqrt,
        }  # fmt: skip
        with np.errstate(all="ignore"):
            raw = functions[name](numbers[0].to_numpy(dtype="float64", na_value=np.nan))
        return _finite(pd.Series(raw, index=self.frame.index))


def _finite(values: pd.Series) -> pd.Series:
    """Float64 with every undefined result (NaN, ±inf: log 0, sqrt of a negative) as unknown."""
    array = values.to_numpy(dtype="float64", na_value=np.nan)
    array = np.where(np.isfinite(array), array, np.nan)
    return pd.Series(pd.array(array, dtype="Float64"), index=values.index)


def _typed(series: pd.Series, kind: ColumnKind | None) -> pd.Series:
    """A column as a nullable numeric, boolean or string Series."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = list(series.dtype.categories)
        if all(isinstance(c, (bool, np.bool_)) for c in categories):
            return series.astype(object).astype("boolean")
        if all(
            isinstance(c, (int, float, np.number)) and not isinstance(c, bool) for c in categories
        ):
            return series.astype(object).astype("Float64")
        return series.astype(object).where(series.notna(), None).astype("string")
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("boolean")
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        days = (series - _EPOCH) / pd.Timedelta(days=1)
        return days.astype("Float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype("Float64")
    return series.astype("string")


def _ordinal_codes(series: pd.Series, categories: list[Any]) -> pd.Series:
    positions = {category_key(c): float(i) for i, c in enumerate(categories)}
    keys = series.astype(object).map(
        lambda v: positions.get(category_key(v)) if pd.notna(v) else None
    )
    return keys.astype("Float64")


def _ordinal_position(ordered: _Ordered, value: Any, ev: _Evaluator) -> float:
    if isinstance(value, pd.Series):  # another column: its values, not a level, face the order
        raise ev.fail(
            "an ordinal column is compared with another column; compare it with one of its "
            "levels, or compare two ordinal columns"
        )
    keys = [category_key(c) for c in ordered.categories]
    key = category_key(value)
    if key not in keys:
        choices = ", ".join(str(c) for c in ordered.categories)
        raise ev.fail(f"{value!r} is not one of the ordered categories ({choices})")
    return float(keys.index(key))


def _align_ordinal(left: Value, right: Value, ev: _Evaluator) -> tuple[Value, Value]:
    if isinstance(left, _Ordered) and isinstance(right, _Ordered):
        return left.codes, right.codes
    if isinstance(left, _Ordered):
        return left.codes, _ordinal_position(left, right, ev)
    if isinstance(right, _Ordered):
        return _ordinal_position(right, left, ev), right.codes
    return left, right


def _is_text(value: Value) -> bool:
    if isinstance(value, pd.Series):
        return pd.api.types.is_string_dtype(value.dtype)
    return isinstance(value, str)


def _compare(left: Value, operator: str, right: Value, ev: _Evaluator) -> pd.Series:
    index = ev.frame.index
    if _is_text(left) != _is_text(right):
        text_side = left if _is_text(left) else right
        other = right if _is_text(left) else left
        if (
            isinstance(text_side, str)
            and isinstance(other, pd.Series)
            and _looks_numeric(text_side)
        ):
            # a text literal against a numeric-coded category column: compare canonical keys
            left = other.astype(object).map(lambda v: category_key(v) if pd.notna(v) else None)
            right = category_key(text_side)
            left = left.astype("string")
        else:
            raise ev.fail("compares text with a number; quote both sides or neither")
    elif _is_text(left) and operator not in ("==", "!=", "="):
        raise ev.fail(f"`{operator}` needs numbers or an ordinal column, not text")
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "==": lambda a, b: a == b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    if isinstance(left, pd.Series) and pd.api.types.is_bool_dtype(left.dtype):
        left = left.astype("Float64")
    if isinstance(right, pd.Series) and pd.api.types.is_bool_dtype(right.dtype):
        right = right.astype("Float64")
    if isinstance(left, bool):
        left = float(left)
    if isinstance(right, bool):
        right = float(right)
    result = operations[operator](left, right)
    if not isinstance(result, pd.Series):
        return pd.Series(bool(result), index=index, dtype="boolean")
    return result.astype("boolean")


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def _numeric(value: Value, ev: _Evaluator) -> pd.Series:
    """Any operand of arithmetic as a Float64 Series (literals broadcast to every row)."""
    if isinstance(value, _Ordered):
        return value.codes
    if isinstance(value, pd.Series):
        if pd.api.types.is_string_dtype(value.dtype):
            raise ev.fail("arithmetic on a text column")
        return _finite(value.astype("Float64"))
    if isinstance(value, str):
        raise ev.fail(f"arithmetic on text {value!r}")
    return _finite(pd.Series(float(value), index=ev.frame.index))


def _as_truth(value: Value, index: pd.Index, text: str) -> pd.Series:
    if isinstance(value, pd.Series) and pd.api.types.is_bool_dtype(value.dtype):
        return value.astype("boolean")
    if isinstance(value, bool):
        return pd.Series(value, index=index, dtype="boolean")
    raise RuleSyntaxError(
        f"`{text}` is not a condition (true/false); compare it, e.g. `{text} > 0`"
    )
