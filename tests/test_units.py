import pytest

from neurocosim.units import format_quantity, parse_quantity


@pytest.mark.parametrize(
    "text,unit,expected",
    [("25 uS", "S", 25e-6), ("100 uS", "S", 1e-4), ("1.56 pJ", "J", 1.56e-12), ("10 ns", "s", 1e-8),
     ("0.2 V", "V", 0.2), ("100 MHz", "Hz", 1e8), ("0.0155 mm2", "m2", 0.0155e-6),
     ("20 um2", "m2", 20e-12), ("128 KiB", "B", 131072), ("5e-3 W", "W", 5e-3), (0, "S", 0.0),
     ("1 S", "S", 1.0), ("20 µS", "S", 20e-6)],
)
def test_parse(text, unit, expected):
    assert parse_quantity(text, unit) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    "text,unit,fragment",
    [(25, "S", "no unit"), ("25 uJ", "S", "not in S"), ("abc", "S", "cannot parse"),
     ("25 qS", "S", "unknown SI prefix"), (True, "S", "boolean"), ("3 pJ", "m2", "not an area")],
)
def test_parse_rejects(text, unit, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_quantity(text, unit)


def test_format_round_trip():
    assert format_quantity(2.5e-5, "S") == "25 uS"
    assert parse_quantity(format_quantity(1.56e-12, "J"), "J") == pytest.approx(1.56e-12)


@pytest.mark.parametrize("text,seconds", [("30 s", 30), ("1h", 3600), ("1 d", 86400),
                                          ("2 weeks", 1209600), (5, 5.0), ("90", 90)])
def test_parse_duration(text, seconds):
    from neurocosim.units import parse_duration

    assert parse_duration(text) == seconds


def test_format_duration():
    from neurocosim.units import format_duration

    assert format_duration(86400) == "1 d" and format_duration(5400) == "1.5 h"
