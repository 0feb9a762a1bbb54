"""``neurocosim zoo list|show`` and ``map zoo:NAME`` through the command line."""

import json
import time

import pytest

from neurocosim import zoo
from neurocosim.cli import main


def test_zoo_list(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in zoo.names():
        assert name in out
    assert "11.69M" in out and "21.79M" in out and "66.34M" in out  # the papers' figures


def test_zoo_show_writes_json_and_refuses_an_existing_file(tmp_path, capsys):
    out = tmp_path / "sew.json"
    assert main(["zoo", "show", "sew-resnet-18", "--json", str(out)]) == 0
    info = json.loads(out.read_text())
    for key in ("parameters", "layers", "macs_per_step", "input_shape", "paper",
                "paper_parameters", "table", "parameters_folded"):
        assert key in info, key
    assert info["parameters"] == 11_689_512 and info["macs_per_step"] == 1_814_073_344
    assert "Deep Residual Learning" in capsys.readouterr().out
    assert main(["zoo", "show", "sew-resnet-18", "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--force" in err
    assert main(["zoo", "show", "zoo:sew-resnet-18", "--json", str(out), "--force"]) == 0


@pytest.mark.parametrize("argv", [["zoo", "show", "resnet-9000"], ["info", "zoo:resnet-9000"]])
def test_unknown_zoo_names_exit_2_with_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "resnet-9000" in err and all(n in err for n in zoo.names())


def test_info_of_a_zoo_model(capsys):
    assert main(["info", "zoo:ms-resnet-18"]) == 0
    assert "layer4_1_add" in capsys.readouterr().out


def test_map_sew_resnet_18_on_prime(tmp_path, capsys):
    """Bench: the 224×224 SEW-ResNet-18 on one prime-rram-40nm chip (16 cores × 4 tiles
    of 512×512, 1024 neurons per core, fan-in 4096) breaks the fan-in rule in stage 4
    (3×3×512 = 4608 inputs per neuron) and needs far more than one chip; the message
    says by how much and how many chips (lower bounds). Measured < 60 s (about 2 s)."""
    t0 = time.perf_counter()
    rc = main(["map", "zoo:sew-resnet-18", "--chip", "prime-rram-40nm", "-o",
               str(tmp_path / "m")])
    wall = time.perf_counter() - t0
    err = capsys.readouterr().err.strip()
    print(f"\nbench: map zoo:sew-resnet-18 --chip prime-rram-40nm: {wall:.1f} s "
          f"(budget 60 s): {err}")
    assert rc == 2 and len(err.splitlines()) == 1
    assert "'fan_in'" in err and "4608" in err and "4096" in err
    assert "2483712 neurons" in err and "2426 cores" in err and "152 chips" in err


@pytest.mark.parametrize("cmd", [["zoo"], ["zoo", "list"], ["zoo", "show"]], ids=" ".join)
def test_zoo_commands_have_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main([*cmd, "--help"])
    assert e.value.code == 0
    assert "usage: neurocosim zoo" in capsys.readouterr().out


def test_the_weights_budget_is_checked_before_building(monkeypatch, capsys):
    monkeypatch.setenv("NEUROCOSIM_MAX_MEMORY", "64 MiB")  # ResNet-34's weights: 174 MB
    assert main(["zoo", "show", "sew-resnet-34"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sew-resnet-34" in err and "MEMORY" in err
