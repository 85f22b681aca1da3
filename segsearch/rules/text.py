"""The text form of a rule (CONTRACT 6.8): text -> canonical rule, and back (text_format.py).

Pure: the catalogue comes in as an argument, nothing is read from elsewhere. The grammar is
rule_text.lark (Lark, LALR with the contextual lexer); this module turns its tree into a rule
while remembering where each part was written, so that both syntax errors and the
validator's errors (``groups.1.conditions.0.to``) come back as a line and a column.

Public: ``parse(text, fields) -> dict``, ``TextError``, ``FieldNames``, ``blocks_of``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from .canonical import DATE_TYPES, canonical
from .fields import BLOCKS, FieldDef
from .text_errors import Pos, TextError, syntax_error
from .validation import RuleError

__all__ = ["FieldNames", "TextError", "blocks_of", "parse", "rule_from_text"]


@lru_cache(maxsize=1)
def grammar_parser() -> Lark:
    """The parser (built once: the grammar does not depend on the catalogue)."""
    grammar = resources.files(__package__).joinpath("rule_text.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=False)


@cache
def terminal_re(name: str) -> re.Pattern:
    """The compiled regex of one of the grammar's terminals (FIELD, VALUE, ...)."""
    return re.compile(grammar_parser().get_terminal(name).pattern.to_regexp())


def blocks_of(fields: Mapping[str, FieldDef]) -> tuple[str, ...]:
    """The blocks a rule may use: the known ones and any the catalogue's fields name."""
    return tuple(dict.fromkeys((*BLOCKS, *(f.block for f in fields.values()))))


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


class FieldNames:
    """Field names as a marketer writes them: the code or the label, in any letter case."""

    def __init__(self, fields: Mapping[str, FieldDef]) -> None:
        self.fields = fields
        self.by_code = {_key(code): fdef for code, fdef in fields.items()}
        by_label: dict[str, list[FieldDef]] = {}
        for fdef in fields.values():
            by_label.setdefault(_key(fdef.label), []).append(fdef)
        self.by_label = by_label

    def resolve(self, name: str) -> FieldDef | None:
        """The field called `name` (a code wins over a label); None if unknown or ambiguous."""
        if name in self.fields:
            return self.fields[name]
        key = _key(name)
        if key in self.by_code:
            return self.by_code[key]
        found = self.by_label.get(key, [])
        return found[0] if len(found) == 1 else None

    def problem(self, name: str) -> str:
        """Why `name` names no field, with the nearest names as a hint."""
        if len(self.by_label.get(_key(name), [])) > 1:
            return f"{name!r} is the label of several fields: write the code instead"
        names = sorted({f.label for f in self.fields.values()} | set(self.fields))
        near = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        return f"unknown field {name!r}{hint}"


# -- positions --------------------------------------------------------------------------


@dataclass
class _Build:
    """What parsing produces: the rule and where each of its paths was written."""

    names: FieldNames
    blocks: tuple[str, ...]
    positions: dict[str, Pos] = field(default_factory=dict)

    def at(self, path: str, tok: Token) -> None:
        self.positions.setdefault(path, (tok.line, tok.column))

    def fail(self, tok: Token, message: str) -> TextError:
        return TextError(message, tok.line, tok.column)

    def position(self, path: str) -> Pos:
        """The position of the longest recorded prefix of `path` (1, 1 if none)."""
        parts = path.split(".")
        for n in range(len(parts), 0, -1):
            pos = self.positions.get(".".join(parts[:n]))
            if pos is not None:
                return pos
        return (1, 1)


def _first_token(tree: Tree | Token) -> Token:
    if isinstance(tree, Token):
        return tree
    return _first_token(tree.children[0])


# -- ends of ranges ----------------------------------------------------------------------

_KINDS = [("date", re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")),
          ("md", re.compile(r"[0-9]{2}-[0-9]{2}")),
          ("days", re.compile(r"[+-]?[0-9]+d")),
          ("number", re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?"))]
ATOM_KINDS = "a number, a date YYYY-MM-DD, a month-day MM-DD or a day offset like -90d"


@dataclass(frozen=True)
class _End:
    kind: str  # open | open_day | date | md | days | number
    value: Any
    token: Token


def _end(tree: Tree, build: _Build) -> _End:
    first = tree.children[0]
    if first.type == "TODAY":
        return _End("days", 0, first)
    if first.type == "ANY":
        return _End("open_day" if len(tree.children) > 1 else "open", None, first)
    for kind, pattern in _KINDS:
        if pattern.fullmatch(first):
            try:
                return _End(kind, _atom_value(kind, str(first)), first)
            except ValueError:  # int() refuses more than 4300 digits (so does JSON)
                raise build.fail(first, "this number has too many digits") from None
    raise build.fail(first, f"{str(first)!r} is not {ATOM_KINDS}")


def _atom_value(kind: str, text: str) -> Any:
    if kind == "days":
        return int(text[:-1])
    if kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    return text


def _range_ends(tree: Tree) -> tuple[Token, list[Tree | None]]:
    """(the range's first token, [low end, high end]) with None for a missing end."""
    first = _first_token(tree)
    kids = tree.children
    if isinstance(kids[0], Token) and kids[0].type in ("AT_LEAST", "ON_OR_AFTER"):
        return first, [kids[1], None]
    if isinstance(kids[0], Token) and kids[0].type in ("AT_MOST", "ON_OR_BEFORE"):
        return first, [None, kids[1]]
    if isinstance(kids[0], Token) and kids[0].type == "EXACTLY":
        return first, [kids[1], kids[1]]
    ends = [k for k in kids if isinstance(k, Tree)]
    return first, ends


def _ranged(tree: Tree, build: _Build) -> tuple[Token, list[_End | None]]:
    first, ends = _range_ends(tree)
    return first, [None if e is None else _end(e, build) for e in ends]


def _value_of(end: _End | None) -> Any:
    return None if end is None else end.value


def _numbers(ends: list[_End | None], keys: tuple[str, str], path: str, build: _Build) -> dict:
    out = {}
    for key, end in zip(keys, ends):
        if end is not None:
            if end.kind not in ("number", "open"):
                raise build.fail(end.token, "expected a number or 'any'")
            build.at(f"{path}.{key}", end.token)
        out[key] = _value_of(end)
    return out


def _dates(ends: list[_End | None], path: str, build: _Build) -> dict:
    """A date range: relative (day offsets) or between (dates, or month-days).

    The first end written decides which; an end of another kind is the error.
    """
    given = [e for e in ends if e is not None and e.kind != "open"]
    for end in given:
        if end.kind == "number":
            raise build.fail(end.token, "expected a date YYYY-MM-DD, a month-day MM-DD or "
                                        "a day offset like -90d or today")
    relative = bool(given) and given[0].kind in ("days", "open_day")
    for end in given[1:]:
        if (end.kind in ("days", "open_day")) != relative:
            what = "a day offset like -90d or today" if relative else "a date"
            raise build.fail(end.token, f"expected {what}, like the other end")
        if end.kind != given[0].kind and not relative:
            raise build.fail(end.token, "the two ends must both be dates or both month-days")
    keys = ("from_days", "to_days") if relative else ("from", "to")
    for key, end in zip(keys, ends):
        if end is not None:
            build.at(f"{path}.{key}", end.token)
    out: dict[str, Any] = {"op": "relative" if relative else "between"}
    out.update({key: _value_of(end) for key, end in zip(keys, ends)})
    if any(e.kind == "md" for e in given):
        out["ignore_year"] = True
    return out


# -- values ------------------------------------------------------------------------------

def _string(tok: Token, build: _Build) -> str:
    if tok.type != "STRING":
        return str(tok)
    try:
        return json.loads(tok)
    except ValueError:
        raise build.fail(tok, "this quoted text has an invalid escape") from None


def _values(tree: Tree, path: str, build: _Build) -> list[str]:
    build.at(path, tree.children[0])
    out = []
    for i, tok in enumerate(tree.children):
        build.at(f"{path}.{i}", tok)
        out.append(_string(tok, build))
    return out


# -- conditions --------------------------------------------------------------------------

WHERE_KEYS = {"status": "statuses", "store": "stores", "pipeline": "pipelines",
              "product": "product_ids", "product group": "product_groups"}


def _where_key(tok: Token) -> str:
    words = " ".join(tok.split()).lower()
    if words in WHERE_KEYS:
        return WHERE_KEYS[words]
    return WHERE_KEYS[words[:-2] if words == "statuses" else words[:-1]]


def _where(tree: Tree, path: str, build: _Build) -> dict:
    out: dict[str, Any] = {}
    for part in tree.children:
        name = part.children[0]
        key = (_where_key(name) if part.data == "where_list"
               else "created" if part.data == "where_created" else "total")
        here = f"{path}.{key}"
        if key in out:
            raise build.fail(name, f"'{name}' is already given in this where")
        build.at(here, name)
        if part.data == "where_list":
            out[key] = _values(part.children[1], here, build)
        elif key == "created":
            out[key] = _dates(_ranged(part.children[1], build)[1], here, build)
        else:
            out[key] = _numbers(_ranged(part.children[1], build)[1], ("from", "to"), here, build)
    return out


def _orders(pred: Tree, fdef: FieldDef, path: str, build: _Build) -> dict:
    op_tok = pred.children[0]
    if fdef.type != "orders":
        raise build.fail(op_tok, f"'{op_tok}' is only for the orders field (e.g. Orders count "
                                 f"at least 2)")
    op = pred.data
    keys = ("min", "max") if op == "count" else ("from", "to")
    out = {"op": op, **_numbers(_ranged(pred.children[1], build)[1], keys, path, build)}
    if len(pred.children) > 2:
        out["where"] = _where(pred.children[2], f"{path}.where", build)
    return out


def _range_condition(pred: Tree, fdef: FieldDef, path: str, build: _Build) -> dict:
    _, ends = _ranged(pred.children[0], build)
    ignoring = pred.children[1] if len(pred.children) > 1 else None
    if fdef.type not in DATE_TYPES:
        if ignoring is not None:
            raise build.fail(ignoring.children[0], "only date fields can ignore the year")
        return {"op": "between", **_numbers(ends, ("from", "to"), path, build)}
    out = _dates(ends, path, build)
    if ignoring is not None:
        build.at(f"{path}.ignore_year", ignoring.children[0])
        out["ignore_year"] = True
    elif fdef.type == "date":
        out.setdefault("ignore_year", False)
    return out


def _predicate(pred: Tree, fdef: FieldDef, path: str, build: _Build) -> dict:
    kind = pred.data
    if fdef.type == "orders" and kind not in ("count", "sum"):
        where = build.positions[path]
        raise TextError(f"expected count or sum after {fdef.label}", *where)
    if kind == "include":
        excluded = pred.children[2] if len(pred.children) > 1 else None
        return {"op": "in", "include": _values(pred.children[0], f"{path}.include", build),
                "exclude": [] if excluded is None else _values(excluded, f"{path}.exclude", build)}
    if kind == "exclude":
        return {"op": "in", "include": [], "exclude": _values(pred.children[1],
                                                              f"{path}.exclude", build)}
    if kind in ("exists", "missing"):
        return {"op": kind}
    if kind == "is":
        build.at(f"{path}.value", pred.children[0])
        return {"op": "is", "value": pred.children[0].lower() in ("yes", "true")}
    if kind in ("count", "sum"):
        return _orders(pred, fdef, path, build)
    return _range_condition(pred, fdef, path, build)


def _field(tree: Tree, build: _Build) -> tuple[FieldDef, Token]:
    tok = tree.children[0]
    name = _string(tok, build)
    fdef = build.names.resolve(name)
    if fdef is None:
        raise build.fail(tok, build.names.problem(name))
    return fdef, tok


def _condition(tree: Tree, path: str, build: _Build) -> dict:
    fdef, tok = _field(tree.children[0], build)
    pred = tree.children[1]
    build.at(path, tok)
    build.at(f"{path}.field", tok)
    if pred.children:
        build.at(f"{path}.op", _first_token(pred))
    return {"field": fdef.code, **_predicate(pred, fdef, path, build)}


def _group(tree: Tree, path: str, build: _Build) -> dict:
    kids = list(tree.children)
    negate = isinstance(kids[0], Token) and kids[0].type == "NOT"
    if negate:
        kids.pop(0)
    block = kids.pop(0)
    build.at(path, block)
    build.at(f"{path}.block", block)
    if block.lower() not in build.blocks:
        raise build.fail(block, f"unknown block '{block}': expected one of "
                                f"{', '.join(build.blocks)}")
    match = "all"
    if isinstance(kids[0], Token) and kids[0].type == "MATCH":
        match = kids.pop(0).lower()
    conditions = [_condition(c, f"{path}.conditions.{i}", build) for i, c in enumerate(kids)]
    return {"block": block.lower(), "match": match, "negate": negate, "conditions": conditions}


def _rule(tree: Tree, build: _Build) -> dict:
    kids = list(tree.children)
    match = "all"
    if kids and kids[0].data == "header":
        match = kids.pop(0).children[0].lower()
    return {"match": match,
            "groups": [_group(g, f"groups.{i}", build) for i, g in enumerate(kids)]}


# -- public ------------------------------------------------------------------------------

def rule_from_text(text: str, fields: Mapping[str, FieldDef]) -> tuple[dict, dict[str, Pos]]:
    """The rule as written (not yet validated) and the position of each of its paths."""
    try:
        tree = grammar_parser().parse(text)
    except UnexpectedInput as err:
        raise syntax_error(err, text) from None
    build = _Build(FieldNames(fields), blocks_of(fields))
    return _rule(tree, build), build.positions


def parse(text: str, fields: Mapping[str, FieldDef]) -> dict:
    """The canonical rule written in `text`, or TextError naming line, column and problem."""
    rule, positions = rule_from_text(text, fields)
    build = _Build(FieldNames(fields), blocks_of(fields), positions)
    try:
        return canonical(rule, fields)
    except RuleError as err:
        located = sorted((build.position(path), path, message)
                         for path, messages in err.errors.items() for message in messages)
        (line, column), path, message = located[0]
        problems = [f"line {ln}, column {col}: {m} ({p})" for (ln, col), p, m in located]
        raise TextError(f"{message} ({path})", line, column, problems=problems) from None
