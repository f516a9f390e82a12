"""The condition evaluator (kubectl_rollback/condition.py): every operator of the subset, and every refusal with the
column it stopped at."""

import math

import pytest

from kubectl_rollback.condition import ConditionSyntaxError, ConditionValueError, evaluate, parse


def holds(text: str, result) -> bool:
    return evaluate(parse(text), result)


@pytest.mark.parametrize("text, result, expected", [
    ("result[0] >= 0.95", [0.96], True),
    ("result[0] >= 0.95", [0.94], False),
    ("result[0] > 0.5", [0.5], False),
    ("result[0] <= 0.01", [0.01], True),
    ("result[0] < 0.01", [0.01], False),
    ("result == 1", 1.0, True),
    ("result != 1", 1.0, False),
    ("result == 'true'", "true", True),
    ('result == "I am OK"', "I am OK", True),
    ("result == true", True, True),
    ("result == 1", True, False),  # expr-lang: a bool never equals a number
    ("result[-1] < 1", [5.0, 0.5], True),
    ("len(result) == 0 || result[0] >= 0.95", [], True),
    ("len(result) > 0 && result[0] >= 0.95", [0.9], False),
    ("len(result) > 0 and result[0] >= 0.95", [0.99], True),
    ("result[0] > 1 or result[0] < 0", [2.0], True),
    ("!(result[0] > 1)", [2.0], False),
    ("not (result[0] > 1)", [0.5], True),
    ("isNaN(result) || result >= 0.95", math.nan, True),
    ("isNaN(result[0])", [0.1], False),
    ("isInf(result)", math.inf, True),
    ("isInf(result)", -math.inf, True),
    ("all(result, # < 1000)", [1.0, 999.0], True),
    ("all(result, {# < 1000})", [1.0, 1000.0], False),
    ("any(result, # > 0.5)", [0.1, 0.6], True),
    ("any(result, # > 0.5)", [], False),
    ("all(result, # > 0.5)", [], True),
    ("result[0] - result[1] <= 0.02", [0.06, 0.05], True),
    ("result[0] <= result[1] * 1.1", [0.1, 0.1], True),
    ("result[0] / result[1] > 2", [1.0, 0.0], True),  # x/0 is +Inf, as a float division in expr-lang
    ("-result[0] < -1", [2.0], True),
    ("result[0] + 1 == 2", [1], True),
    ("1 + 2 * 3 == 7", None, True),  # precedence
    ("(1 + 2) * 3 == 9", None, True),
    ("result[0] >= 1e-3", [0.002], True),
    ("'a' < 'b'", None, True),
])
def test_operators(text, result, expected):
    assert holds(text, result) is expected


def test_or_and_and_short_circuit_as_expr_lang():
    assert holds("len(result) == 0 || result[0] > 1", []) is True  # result[0] is never evaluated
    assert holds("len(result) > 0 && result[0] > 1", []) is False


@pytest.mark.parametrize("text, message, column", [
    ("default(result, 0) < 5", "unknown name 'default'", 1),
    ("max(result) < 0.05", "unknown name 'max'", 1),
    ("result.major == '1'", "unexpected character '.'", 7),
    ("asFloat(result) > 1", "unknown name 'asFloat'", 1),
    ("results[0] >= 90", "unknown name 'results'", 1),
    ("result[0] >=", "unexpected end of expression", 13),
    ("result[0] >= 0.9 ; 1", "unexpected character ';'", 18),
    ("result[0 >= 1", "expected ']'", 14),
    ("(result[0] >= 1", "expected ')'", 16),
    ("# > 1", "unexpected '#'", 1),
    ("result[0] = 1", "unexpected character '='", 11),
    ("len(result, 1) > 0", "expected ')'", 11),
    ("all(result) ", "expected ','", 11),
    ("result[0] > 1 result", "unexpected 'result'", 15),
    ("", "empty expression", 1),
    ("__import__('os')", "unknown name '__import__'", 1),
])
def test_outside_the_subset_is_refused_with_the_column(text, message, column):
    with pytest.raises(ConditionSyntaxError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert caught.value.position == column


@pytest.mark.parametrize("text, result, message", [
    ("result[0] >= 0.95", [], "index 0 out of range: result has 0 values"),
    ("result[0] >= 0.95", 0.5, "cannot index the number 0.5"),
    ("result >= 0.95", [0.5], "needs a number, got a vector of 1 values"),
    ("isNaN(result)", [0.5], "isNaN() needs a number"),
    ("result[0]", [0.5], "the condition gives the number 0.5, not true or false"),
    ("result[0] && true", [0.5], "&& needs true or false"),
    ("all(result, # < 1)", 0.5, "all() over the number 0.5, not a vector"),
    ("len(result) > 0", 0.5, "len() of the number 0.5"),
])
def test_a_condition_that_cannot_be_evaluated_on_the_result(text, result, message):
    with pytest.raises(ConditionValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        holds(text, result)


def test_nan_compares_false_as_in_go():
    assert holds("result[0] <= 0.05", [math.nan]) is False
    assert holds("result[0] > 0.05", [math.nan]) is False
