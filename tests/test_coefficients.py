import math
import re

import numpy as np
import pytest

from pinn_pac.runs.coefficients import ExpressionError, parse_assignments, parse_value


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


def test_a_range_is_evenly_spaced_and_includes_both_ends():
    values = [t["nu"] for t in parse_assignments("nu=0.005/pi..0.05/pi:16")]
    assert len(values) == 16
    assert values[0] == 0.005 / math.pi and values[-1] == 0.05 / math.pi
    assert np.diff(values) == pytest.approx(np.full(15, 0.003 / math.pi), rel=1e-12)
    assert [t["nu"] for t in parse_assignments("nu=3..1:3")] == [3.0, 2.0, 1.0]  # counts down as written


def test_a_log_range_has_a_constant_ratio():
    values = [t["nu"] for t in parse_assignments("nu=0.001..0.1:5:log")]
    assert values[0] == 0.001 and values[-1] == 0.1
    assert np.array(values[1:]) / values[:-1] == pytest.approx(np.full(4, 10**0.5), rel=1e-12)


def test_ranges_in_one_target_multiply_and_lists_still_work():
    assert parse_assignments("nu=1..3:3,rho=2..4:2;nu=7") == [
        {"nu": 1.0, "rho": 2.0}, {"nu": 1.0, "rho": 4.0}, {"nu": 2.0, "rho": 2.0},
        {"nu": 2.0, "rho": 4.0}, {"nu": 3.0, "rho": 2.0}, {"nu": 3.0, "rho": 4.0}, {"nu": 7.0}]
    assert parse_assignments("d=1..2:2,r=4,d=5") == [{"d": 1.0, "r": 4.0}, {"d": 2.0, "r": 4.0}, {"d": 5.0}]


@pytest.mark.parametrize("text, message", [
    ("nu=1..3", "write low..high:count"), ("nu=1..3:x", "write low..high:count"),
    ("nu=1..3:3:lin", "write low..high:count"), ("nu=1..3:3:log:2", "write low..high:count"),
    ("nu=1...3:3", "write low..high:count"), ("nu=1..3:1", "count must be from 2 to 1000, got 1"),
    ("nu=1..3:1001", "count must be from 2 to 1000, got 1001"), ("nu=2..2:3", "both ends are 2"),
    ("nu=0..1:3:log", "log spacing needs both ends > 0"), ("nu=-1..-0.1:3:log", "both ends > 0"),
    ("nu=1..2:40,rho=1..2:30", "stands for 1,200 targets; at most 1000"),
    ("nu=1..2:600;nu=3..4:600", "stands for 1,200 targets"), ("nu=1..abc:3", "cannot read 'abc'"),
])
def test_malformed_ranges_are_refused(text, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse_assignments(text)
