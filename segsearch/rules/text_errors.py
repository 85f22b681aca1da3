"""Errors of the rule text (text.py): where they are and what was expected there."""

from __future__ import annotations

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

Pos = tuple[int, int]


class TextError(Exception):
    """Text that is not a valid rule: the first problem's position and what was expected."""

    def __init__(self, message: str, line: int, column: int, expected: list[str] | None = None,
                 problems: list[str] | None = None) -> None:
        located = f"line {line}, column {column}: {message}"
        super().__init__(located)
        self.message = message
        self.line = line
        self.column = column
        self.expected = expected or []
        # Every problem found, each "line L, column C: ..." (the first is `str(self)`).
        self.problems = problems or [located]


# What each terminal is called in an error message ("expected a field or ')'").
EXPECTED = {
    "FIELD": "a field", "STRING": "a quoted text", "VALUE": "a value", "MATCH": "ALL or ANY",
    "NOT": "not", "BLOCK": "a block", "BOOL": "yes or no", "COUNT": "count", "SUM": "sum",
    "BETWEEN": "between", "AT_LEAST": "at least", "AT_MOST": "at most",
    "ON_OR_AFTER": "on or after", "ON_OR_BEFORE": "on or before", "EXACTLY": "exactly",
    "TODAY": "today", "ANY": "any", "DAY": "day", "IGNORING": "ignoring the year",
    "YEAR": "year", "CREATED": "created", "TOTAL": "total",
    "WHERE_LIST": "status, store, pipeline, product or product group", "DOTS": "'..'",
    "ATOM": "a number, date or day offset", "_IS": "is", "_ONE": "one", "_OF": "of",
    "_BUT": "but", "_AND": "and", "_THE": "the", "_FILLED": "filled", "_IN": "in",
    "_EMPTY": "empty", "_WHERE": "where", "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
    "SEMICOLON": "';'", "$END": "the end of the text",
}


# Where a predicate may start the parser accepts a dozen words; the message names them as one.
PREDICATE_STARTS = frozenset({"_IS", "BETWEEN", "AT_LEAST", "AT_MOST", "ON_OR_AFTER",
                              "ON_OR_BEFORE", "EXACTLY", "COUNT", "SUM", "ATOM", "TODAY", "ANY"})
PREDICATE = "an operator (is one of, is empty, between, at least, count, ...)"


def _expected(names: set[str] | frozenset[str]) -> list[str]:
    return sorted({EXPECTED.get(name, name) for name in names})


def _expected_words(names: set[str] | frozenset[str]) -> str:
    if PREDICATE_STARTS <= set(names):
        return " or ".join([PREDICATE, *_expected(set(names) - PREDICATE_STARTS)])
    return " or ".join(_expected(names))


def _end_position(text: str) -> Pos:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def syntax_error(err: UnexpectedInput, text: str) -> TextError:
    """Lark's error as a TextError: where, what was expected, what was found."""
    if isinstance(err, UnexpectedEOF):
        names = set(err.expected)
        line, column = _end_position(text)
        got = "the text ends"
    elif isinstance(err, UnexpectedToken):
        names = set(err.accepts or err.expected)
        line, column = err.line, err.column
        got = "the end of the text" if err.token.type == "$END" else repr(str(err.token))
        if err.token.type == "$END":
            line, column = _end_position(text)
    else:
        assert isinstance(err, UnexpectedCharacters)
        names = set(err.allowed or ())
        line, column = err.line, err.column
        got = repr(text[err.pos_in_stream:err.pos_in_stream + 12].split("\n")[0])
    return TextError(f"expected {_expected_words(names)}; found {got}", line, column,
                     _expected(names))
