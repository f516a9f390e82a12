"""The conditions of an analysis metric (successCondition, failureCondition): a small, safe evaluator of the subset of
expr-lang that Argo Rollouts' documentation and examples use (docs/verify.md lists it).

Nothing here calls `eval`: `parse` turns the text into a tree of the few node kinds below, refusing anything outside
the subset with the position it stopped at, and `evaluate` walks that tree over the measured `result`. A condition
is parsed once, before the analysis starts; evaluating it can still fail on the measured value (`result[0]` of an
empty vector), which is a measurement Error, as in Argo Rollouts.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable, Dict, List, Optional, Tuple, Union


class ConditionSyntaxError(ValueError):
    """An expression outside the subset; `position` is the 1-based column where parsing stopped."""

    def __init__(self, message: str, position: int, hint: str = ""):
        super().__init__(f"{message} at column {position}" + (f" ({hint})" if hint else ""))
        self.position = position


class ConditionValueError(ValueError):
    """A well-formed condition that cannot be evaluated on this result (index out of range, wrong type)."""


@dataclasses.dataclass(frozen=True)
class Literal:
    value: Any


@dataclasses.dataclass(frozen=True)
class Name:
    name: str  # "result", or "#" (the element inside an all()/any() predicate)


@dataclasses.dataclass(frozen=True)
class Index:
    target: Node
    index: Node


@dataclasses.dataclass(frozen=True)
class Unary:
    operator: str  # "not" or "-"
    operand: Node


@dataclasses.dataclass(frozen=True)
class Binary:
    operator: str
    left: Node
    right: Node


@dataclasses.dataclass(frozen=True)
class Call:
    function: str
    args: Tuple[Node, ...]


Node = Union[Literal, Name, Index, Unary, Binary, Call]

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
    r"|(?P<operator>&&|\|\||==|!=|<=|>=|[<>!+\-*/()\[\],{}#])"
    r")"
)
_WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!"}
_CONSTANTS = {"true": True, "false": False}
_FUNCTIONS = {"len": 1, "isNaN": 1, "isInf": 1, "all": 2, "any": 2}
# Binding power of each infix operator, loosest first, as expr-lang orders them.
_INFIX = {"||": 10, "&&": 20, "==": 30, "!=": 30, "<": 40, "<=": 40, ">": 40, ">=": 40, "+": 50, "-": 50, "*": 60,
          "/": 60}
_PREFIX_POWER = 70


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, operator, end
    text: str
    position: int  # 1-based column


def _tokens(text: str) -> List[_Token]:
    tokens = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            tokens.append(_Token("end", "", at + 1))
            return tokens
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            raise ConditionSyntaxError(f"unexpected character {text[at]!r}", at + 1)
        kind = match.lastgroup
        start = match.start(kind)
        value = match.group(kind)
        if kind == "name" and value in _WORD_OPERATORS:
            kind, value = "operator", _WORD_OPERATORS[value]
        tokens.append(_Token(kind, value, start + 1))
        at = match.end()


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.at = 0
        self.in_predicate = False

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self, expected: Optional[str] = None) -> _Token:
        token = self.tokens[self.at]
        if expected is not None and token.text != expected:
            raise ConditionSyntaxError(f"expected {expected!r}, found {_shown(token)}", token.position)
        self.at += 1
        return token

    def expression(self, min_power: int = 0) -> Node:
        left = self.prefix()
        while True:
            token = self.peek()
            power = _INFIX.get(token.text) if token.kind == "operator" else None
            if power is None or power <= min_power:
                return left
            self.take()
            left = Binary(token.text, left, self.expression(power))

    def prefix(self) -> Node:
        token = self.take()
        if token.kind == "number":
            node: Node = Literal(float(token.text) if any(c in token.text for c in ".eE") else int(token.text))
        elif token.kind == "string":
            node = Literal(_unquote(token.text))
        elif token.kind == "name":
            node = self.name(token)
        elif token.text in ("!", "-"):
            node = Unary("not" if token.text == "!" else "-", self.expression(_PREFIX_POWER))
        elif token.text == "(":
            node = self.expression()
            self.take(")")
        elif token.text == "#" and self.in_predicate:
            node = Name("#")
        else:
            raise ConditionSyntaxError(f"unexpected {_shown(token)}", token.position)
        while self.peek().text == "[":
            self.take()
            node = Index(node, self.expression())
            self.take("]")
        return node

    def name(self, token: _Token) -> Node:
        if token.text in _CONSTANTS:
            return Literal(_CONSTANTS[token.text])
        if token.text == "result":
            return Name("result")
        if token.text not in _FUNCTIONS:
            raise ConditionSyntaxError(
                f"unknown name {token.text!r}",
                token.position,
                f"supported: result, true, false, and, or, not, {', '.join(f + '()' for f in _FUNCTIONS)}",
            )
        self.take("(")
        args = [self.expression()]
        if _FUNCTIONS[token.text] == 2:
            self.take(",")
            args.append(self.predicate())
        self.take(")")
        return Call(token.text, tuple(args))

    def predicate(self) -> Node:
        """The second argument of all()/any(): an expression over `#`, bare or in braces as expr-lang allows."""
        braced = self.peek().text == "{"
        if braced:
            self.take()
        outer, self.in_predicate = self.in_predicate, True
        node = self.expression()
        self.in_predicate = outer
        if braced:
            self.take("}")
        return node


def _shown(token: _Token) -> str:
    return "end of expression" if token.kind == "end" else repr(token.text)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])


def parse(text: str) -> Node:
    """The condition as a tree; ConditionSyntaxError (with the column) for anything outside the subset."""
    if not text.strip():
        raise ConditionSyntaxError("empty expression", 1)
    parser = _Parser(text)
    node = parser.expression()
    rest = parser.peek()
    if rest.kind != "end":
        raise ConditionSyntaxError(f"unexpected {_shown(rest)}", rest.position)
    return node


def evaluate(node: Node, result: Any) -> bool:
    """Whether the condition holds for this measured result (a float, or a list of floats for a vector)."""
    value = _value(node, {"result": result})
    if not isinstance(value, bool):
        raise ConditionValueError(f"the condition gives {_describe(value)}, not true or false")
    return value


def _value(node: Node, names: Dict[str, Any]) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return names[node.name]
    if isinstance(node, Index):
        return _index(_value(node.target, names), _value(node.index, names))
    if isinstance(node, Unary):
        operand = _value(node.operand, names)
        if node.operator == "not":
            return not _boolean(operand, "!")
        return -_number(operand, "-")
    if isinstance(node, Call):
        return _call(node, names)
    if node.operator in ("&&", "||"):
        left = _boolean(_value(node.left, names), node.operator)
        if left == (node.operator == "||"):
            return left  # short-circuit, as expr-lang
        return _boolean(_value(node.right, names), node.operator)
    return _BINARY[node.operator](_value(node.left, names), _value(node.right, names), node.operator)


def _index(target: Any, index: Any) -> Any:
    if not isinstance(target, list):
        raise ConditionValueError(f"cannot index {_describe(target)}")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ConditionValueError(f"index {_describe(index)} is not an integer")
    if not -len(target) <= index < len(target):
        raise ConditionValueError(f"index {index} out of range: result has {len(target)} values")
    return target[index]


def _call(node: Call, names: Dict[str, Any]) -> Any:
    argument = _value(node.args[0], names)
    if node.function == "len":
        if not isinstance(argument, (list, str)):
            raise ConditionValueError(f"len() of {_describe(argument)}")
        return len(argument)
    if node.function in ("isNaN", "isInf"):
        number = _number(argument, node.function + "()")
        return math.isnan(number) if node.function == "isNaN" else math.isinf(number)
    if not isinstance(argument, list):
        raise ConditionValueError(f"{node.function}() over {_describe(argument)}, not a vector")
    matches = (_boolean(_value(node.args[1], dict(names, **{"#": item})), node.function + "()") for item in argument)
    return all(matches) if node.function == "all" else any(matches)


def _number(value: Any, operator: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConditionValueError(f"{operator} needs a number, got {_describe(value)}")
    return value


def _boolean(value: Any, operator: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionValueError(f"{operator} needs true or false, got {_describe(value)}")
    return value


def _equal(left: Any, right: Any, operator: str) -> bool:
    if isinstance(left, bool) != isinstance(right, bool):
        same = False  # expr-lang: true == 1 is false
    else:
        same = bool(left == right)
    return same if operator == "==" else not same


def _compare(left: Any, right: Any, operator: str) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        pair: Tuple[Any, Any] = (left, right)
    else:
        pair = (_number(left, operator), _number(right, operator))
    return {"<": pair[0] < pair[1], "<=": pair[0] <= pair[1], ">": pair[0] > pair[1], ">=": pair[0] >= pair[1]}[
        operator
    ]


def _arithmetic(left: Any, right: Any, operator: str) -> float:
    a, b = _number(left, operator), _number(right, operator)
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    if b == 0:  # float division as expr-lang does it: x/0 is +-Inf, 0/0 is NaN
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


_BINARY: Dict[str, Callable[[Any, Any, str], Any]] = {
    "==": _equal, "!=": _equal, "<": _compare, "<=": _compare, ">": _compare, ">=": _compare,
    "+": _arithmetic, "-": _arithmetic, "*": _arithmetic, "/": _arithmetic,
}


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return f"a vector of {len(value)} values"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"the number {value}"
