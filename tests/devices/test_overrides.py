"""Dotted-path overrides of chip cards (``--set KEY=VALUE``, sweeps)."""

import copy

import pytest
import yaml

from neurocosim.devices import ChipCard, apply_overrides, chip_from_dict, load_chip, parse_set
from neurocosim.devices.overrides import check_path, set_override, set_path
from neurocosim.errors import ConfigError


def test_parse_set_reads_values_as_yaml():
    got = parse_set(["macro.adc_bits=6", "macro.rows+macro.cols=128", "macro.g_min=10 uS",
                     "macro.levels=", "macro.drift.compensation=true",
                     "macro.programming_noise={model: multiplicative, params: {percent: 2}}",
                     "macro.programming_noise.params.percent = 5", "macro.adc_bits=8"])
    assert got == {"macro.adc_bits": 8, "macro.rows+macro.cols": 128, "macro.g_min": "10 uS",
                   "macro.levels": None, "macro.drift.compensation": True,
                   "macro.programming_noise": {"model": "multiplicative",
                                               "params": {"percent": 2}},
                   "macro.programming_noise.params.percent": 5}
    assert list(got) == ["macro.adc_bits", "macro.rows+macro.cols", "macro.g_min",
                         "macro.levels", "macro.drift.compensation",
                         "macro.programming_noise", "macro.programming_noise.params.percent"]


@pytest.mark.parametrize("item,fragments", [
    ("macro.adc_bit=6", ("--set", "unknown key 'macro.adc_bit'",
                         "did you mean 'macro.adc_bits'?")),
    ("macro.rows+macro.colz=64", ("--set", "'macro.colz'", "did you mean 'macro.cols'?")),
    ("makro.rows=64", ("--set", "did you mean 'macro'?")),
    ("neuron.area.valeu=1", ("--set", "did you mean 'neuron.area.value'?")),
    ("zzz=1", ("--set", "unknown key 'zzz'", "keys of the card: name,")),
    ("macro.rows.x=1", ("--set", "'macro.rows' is a value")),
    ("macro..rows=1", ("--set", "not a dotted path")),
    ("=1", ("--set", "dotted path")),
    ("macro.adc_bits", ("--set", "KEY=VALUE")),
    ("macro.adc_bits=[1, 2", ("--set macro.adc_bits", "malformed YAML")),
    ("x" * 10_000 + "=1", ("--set", "at most 200")),
    ("macro.adc\nbits=1", ("--set", "printable")),
])
def test_parse_set_refuses_bad_items_in_one_line(item, fragments):
    with pytest.raises(ConfigError) as err:
        parse_set([item])
    msg = str(err.value)
    for f in fragments:
        assert f in msg
    assert "\n" not in msg and len(msg) < 1000


def test_apply_overrides_to_a_card():
    card = load_chip("prime-rram-40nm")
    before = copy.deepcopy(card.to_dict())
    new = apply_overrides(card, {"macro.adc_bits": 6, "macro.rows+macro.cols": 128,
                                 "macro.g_min": "2 uS", "clock": "50 MHz"})
    assert isinstance(new, ChipCard)
    assert new.macro.adc_bits == 6
    assert (new.macro.rows, new.macro.cols) == (128, 128)
    assert new.macro.g_min == pytest.approx(2e-6)
    assert new.clock == pytest.approx(50e6)
    assert card.to_dict() == before  # the card itself is unchanged
    assert apply_overrides(card, {}) == card


def test_apply_overrides_to_a_dict_leaves_it_unchanged():
    d = load_chip("prime-rram-40nm").to_dict()
    before = copy.deepcopy(d)
    new = apply_overrides(d, {"macro.programming_noise.params.percent": 5})
    assert new.resolved("programming") == {"percent": 5.0}
    assert d == before


def test_parse_set_then_apply_equals_editing_the_yaml(tmp_path):
    d = load_chip("pcm-aihwkit").to_dict()
    d["macro"]["adc_bits"] = 6
    d["macro"]["rows"] = d["macro"]["cols"] = 256
    d["macro"]["read_noise"] = {"model": "none", "params": {}}
    p = tmp_path / "card.yaml"
    p.write_text(yaml.safe_dump(d))
    sets = parse_set(["macro.adc_bits=6", "macro.rows+macro.cols=256",
                      "macro.read_noise={model: none}"])
    assert apply_overrides(load_chip("pcm-aihwkit"), sets) == load_chip(p)


@pytest.mark.parametrize("overrides,fragments", [
    ({"macro.adc_bit": 6}, ("--set: macro.adc_bit: unknown key", "did you mean 'adc_bits'?")),
    ({"macro.adc_bits": 99}, ("--set: macro.adc_bits", "16")),
    ({"macro.rows+macro.cols": 0}, ("--set: macro.", "greater than or equal to 1")),
    ({"macro.programming_noise.params.percnt": 2}, ("--set", "did you mean 'percent'?")),
    ({"macro.rows.x": 1}, ("--set", "'rows' is not a mapping")),
])
def test_apply_overrides_refuses_bad_paths_and_values(overrides, fragments):
    with pytest.raises(ConfigError) as err:
        apply_overrides(load_chip("prime-rram-40nm"), overrides)
    msg = str(err.value)
    for f in fragments:
        assert f in msg, msg
    assert "\n" not in msg


def test_apply_overrides_names_its_source():
    with pytest.raises(ConfigError, match=r"^study.yaml: grid: macro\.adc_bit = 4: macro"):
        apply_overrides(load_chip("ideal"), {"macro.adc_bit": 4},
                        source="study.yaml: grid: macro.adc_bit = 4")


def test_set_path_and_set_override_on_dicts():
    d = {"macro": {"rows": 4, "energy": {"row_drive": None}}}
    set_override(d, "macro.rows+macro.cols", [1], "here")
    assert d["macro"]["rows"] == d["macro"]["cols"] == [1]
    assert d["macro"]["rows"] is not d["macro"]["cols"]  # each path gets its own copy
    set_path(d, "macro.energy.row_drive.value", "1 pJ", "here")  # None becomes a mapping
    assert d["macro"]["energy"]["row_drive"] == {"value": "1 pJ"}
    with pytest.raises(ConfigError, match="^here: 'macro.rows.x': 'rows' is not a mapping"):
        set_path(d, "macro.rows.x", 1, "here")
    with pytest.raises(ConfigError, match="^here: 'macro.' is not a dotted path"):
        set_path(d, "macro.", 1, "here")


def test_every_field_of_a_card_is_a_valid_path():
    def paths(d, prefix=""):
        for k, v in d.items():
            yield prefix + k
            if isinstance(v, dict):
                yield from paths(v, prefix + k + ".")

    for name in ("ideal", "pcm-aihwkit", "prime-rram-40nm", "loihi2"):
        d = load_chip(name).to_dict()
        for p in paths(d):
            check_path(p)
        assert chip_from_dict(d) == load_chip(name)


def test_parse_set_reads_integers_as_written_not_as_yaml_1_1():
    """YAML 1.1 reads 010 as octal 8 and 1:20 as base 60 (80): a user writing --set
    means ten, and a base-60 number is refused in one line."""
    got = parse_set(["macro.rows=010", "macro.cols=1_024", "cores=-0012", "macro.adc_bits=8"])
    assert got == {"macro.rows": 10, "macro.cols": 1024, "cores": -12, "macro.adc_bits": 8}
    assert all(type(v) is int for v in got.values())
    with pytest.raises(ConfigError, match=r"--set macro\.rows: .*base-60.*plain number"):
        parse_set(["macro.rows=1:20"])
    assert parse_set(["macro.input=bit_serial:8"]) == {"macro.input": "bit_serial:8"}
