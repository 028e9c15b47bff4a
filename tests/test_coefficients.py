import math

import pytest

from pinn_pac.coefficients import ExpressionError, parse_assignments, parse_value


@pytest.mark.parametrize("text, value", [
    ("0.01/pi", 0.01 / math.pi), ("1e-3", 1e-3), ("2*pi", 2 * math.pi), ("-(1+2)/3", -1.0),
    ("2**-3", 0.125), (" 5 ", 5.0), ("e", math.e),
])
def test_values(text, value):
    assert parse_value(text) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("text", [
    "0.01/pi)", "", "nu", "__import__('os')", "1/0", "10**400", "pi.real", "[1]", "abs(-1)", "'1'",
])
def test_malformed_values_are_refused(text):
    with pytest.raises(ExpressionError, match="cannot read|not a finite"):
        parse_value(text)


def test_target_lists():
    assert parse_assignments("nu=0.02/pi,nu=0.005/pi") == [{"nu": 0.02 / math.pi}, {"nu": 0.005 / math.pi}]
    assert parse_assignments("d=1,r=4;d=2,r=5") == [{"d": 1.0, "r": 4.0}, {"d": 2.0, "r": 5.0}]
    assert parse_assignments("d=1,r=4,d=2") == [{"d": 1.0, "r": 4.0}, {"d": 2.0}]


@pytest.mark.parametrize("text", ["nu", "nu=", "=3", ",", "nu=1/pi)"])
def test_malformed_targets_are_refused(text):
    with pytest.raises(ExpressionError):
        parse_assignments(text)
