"""The card's digital spike units: every preset's costs carry a source, a card without
the section still costs a network that has no digital operations, and the section
round-trips through the card dict."""

import dataclasses

import pytest

from neurocosim.devices import chip_from_dict, load_chip
from neurocosim.devices.schema import DigitalUnits
from neurocosim.errors import ConfigError

FIELDS = [f.name for f in dataclasses.fields(DigitalUnits)]


@pytest.mark.parametrize("preset", ["ideal", "prime-rram-40nm", "pcm-aihwkit"])
def test_presets_price_every_digital_operation_with_a_source(preset):
    d = load_chip(preset).digital
    for name in FIELDS:
        cost = getattr(d, name)
        assert cost is not None and len(cost.source) >= 3, (preset, name)
        assert (cost.value == 0) == (preset == "ideal"), (preset, name)


def test_horowitz_figures():
    d = load_chip("prime-rram-40nm").digital
    assert d.add.value == pytest.approx(0.03e-12) and d.mac.value == pytest.approx(0.23e-12)
    assert d.buffer_read_bit.value == pytest.approx(10e-12 / 64, rel=0.03)


def test_section_round_trips_and_is_checked():
    chip = load_chip("prime-rram-40nm")
    back = chip_from_dict(chip.to_dict(), source="x.yaml")
    assert back.digital == chip.digital
    data = chip.to_dict()
    data["digital"]["mac"] = {"value": "-1 pJ", "source": "a typo"}
    with pytest.raises(ConfigError, match="x.yaml: digital.mac"):
        chip_from_dict(data, source="x.yaml")
    data = chip.to_dict()
    data["digital"]["macc"] = {"value": "1 pJ", "source": "a typo"}
    with pytest.raises(ConfigError, match="mac"):
        chip_from_dict(data, source="x.yaml")
    del data["digital"]
    assert chip_from_dict(data, source="x.yaml").digital is None
