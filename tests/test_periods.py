import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.periods import parse_period, parse_window


def test_parse_period_forms():
    assert parse_period("2022") == pd.Timestamp("2022-01-01")
    assert parse_period("2022", end=True) == pd.Timestamp("2022-12-01")
    assert parse_period("2022-03") == pd.Timestamp("2022-03-01")
    assert parse_period("202303") == pd.Timestamp("2023-03-01")


@pytest.mark.parametrize("bad", ["22", "2022-13", "2022/03", "", "abcd"])
def test_parse_period_rejects(bad):
    with pytest.raises(InputError):
        parse_period(bad)


def test_windows():
    w = parse_window("2019:2021")
    assert (w.start, w.end) == (pd.Timestamp("2019-01-01"), pd.Timestamp("2021-12-01"))
    assert len(w.months()) == 36
    with pytest.raises(InputError, match="reversed"):
        parse_window("2023-05:2022-01")
    with pytest.raises(InputError):
        parse_window("2019:")
