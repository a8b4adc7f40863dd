"""Domains: coercion, clipping, normalisation (log-aware), grids and bad definitions."""

from __future__ import annotations

import math

import pytest

from sematune.errors import ConfigError
from sematune.osparams.base import Domain


def test_integer_range_coerces_rounds_and_clips() -> None:
    d = Domain("k", low=0, high=100)
    assert d.kind == "continuous"
    assert d.coerce("42") == 42 and isinstance(d.coerce(41.6), int) and d.coerce(41.6) == 42
    assert d.clip(150) == 100 and d.clip(-3) == 0
    assert d.contains(100) and not d.contains(101)
    for bad in ("x", None, True, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            d.coerce(bad)


def test_log_range_normalises_geometrically() -> None:
    d = Domain("k", low=100, high=10000, log=True)
    assert d.normalise(1000) == pytest.approx(0.5)
    assert d.denormalise(0.5) == 1000
    assert d.denormalise(0.0) == 100 and d.denormalise(1.0) == 10000
    grid = d.grid(3)
    assert grid == [100, 1000, 10000]


def test_float_range_keeps_floats() -> None:
    d = Domain("k", low=0.5, high=2.5, dtype="float")
    assert d.coerce("1.25") == 1.25
    assert d.denormalise(0.5) == pytest.approx(1.5)


def test_categorical_matches_case_and_int_strings() -> None:
    d = Domain("k", choices=[0, 1, 2])
    assert d.kind == "categorical"
    assert d.coerce("2") == 2 and d.coerce(1.0) == 1
    with pytest.raises(ValueError):
        d.coerce(3)
    words = Domain("k", choices=["always", "madvise", "never"], dtype="str")
    assert words.coerce("NEVER") == "never"
    assert words.normalise("never") == 1.0 and words.denormalise(0.0) == "always"
    assert words.denormalise(0.99) == "never"
    assert words.clip("madvise") == "madvise"


def test_normalise_round_trips_every_grid_point() -> None:
    d = Domain("k", low=1000, high=100_000_000, log=True)
    for value in d.grid(9):
        assert d.denormalise(d.normalise(value)) == value
        assert 0.0 <= d.normalise(value) <= 1.0
    assert math.isclose(d.normalise(d.low), 0.0) and math.isclose(d.normalise(d.high), 1.0)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"low": 5, "high": 5}, "k"),
        ({"low": 10, "high": 1}, "k"),
        ({"low": 0, "high": 10, "log": True}, "k.log"),
        ({"choices": []}, "k.choices"),
        ({"choices": [1, 1]}, "k.choices"),
        ({"low": "a", "high": 3}, "k"),
        ({"low": 1}, "k"),
        ({"low": 1, "high": 2, "choices": [1]}, "k"),
        ({"low": 1, "high": 2, "dtype": "complex"}, "k.dtype"),
    ],
)
def test_bad_domains_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        Domain("k", **kwargs)
    assert err.value.key == key
    assert "\n" not in str(err.value)
