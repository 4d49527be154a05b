"""autosr_convert: options, messages, exit codes, and the integrity check after conversion."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autosr.commands.convert import main
from tests.conversion.util import no_leftovers, write_scan


def test_generic_then_verified(tmp_path, autosr_folders, capsys):
    write_scan(tmp_path / "in" / "a.nii.gz")
    write_scan(tmp_path / "in" / "b.nrrd", seed=1)
    assert main(["-i", str(tmp_path / "in"), "-d", "8", "--modality", "ct", "--license", "CC0"]) == 0
    out = capsys.readouterr().out
    folder = autosr_folders["raw"] / "Dataset008_in"
    assert f"dataset written to {folder}" in out and "integrity check passed" in out
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    assert info["channel_names"] == {"0": "CT"} and info["license"] == "CC0"
    # a second run refuses; --overwrite replaces
    assert main(["-i", str(tmp_path / "in"), "-d", "8"]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["-i", str(tmp_path / "in"), "-d", "8", "--overwrite", "--file_ending", ".nrrd"]) == 0
    assert sorted(p.name for p in (folder / "imagesTr").iterdir()) == ["a_0000.nrrd", "b_0000.nrrd"]


def test_multichannel_cli(tmp_path, autosr_folders, capsys):
    for case in ("p1", "p2"):
        write_scan(tmp_path / "in" / case / "x_FLAIR.nii.gz")
        write_scan(tmp_path / "in" / case / "x_T1c.nii.gz", seed=3)
    assert main(["-i", str(tmp_path / "in"), "-d", "2", "-n", "Brain", "--layout", "multichannel",
                 "--channels", "flair", "t1c", "--channel_names", "FLAIR", "T1c"]) == 0
    info = json.loads((autosr_folders["raw"] / "Dataset002_Brain" / "dataset.json").read_text(encoding="utf-8"))
    assert info["channel_names"] == {"0": "FLAIR", "1": "T1c"}


def test_bad_input_report(tmp_path, autosr_folders, capsys):
    src = tmp_path / "in"
    write_scan(src / "ok.nii.gz")
    (src / "broken.nii.gz").write_bytes(b"\x1f\x8b broken")
    write_scan(src / "float.nrrd", dtype=np.float32)
    from autosr.imageio import read_image, write_image
    arr, g = read_image(src / "float.nrrd")
    arr[0, 0, 0] = np.nan
    write_image(arr, g, src / "float.nrrd")
    assert main(["-i", str(src), "-d", "3", "--modality", "MR"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("autosr_convert: error: conversion to Dataset003_in failed with 2 problem(s)")
    assert any("broken.nii.gz" in line for line in lines[1:]) and any("float.nrrd" in line for line in lines[1:])
    assert len(lines) == 3
    assert no_leftovers(autosr_folders["raw"])


@pytest.mark.parametrize("args, message", [
    (["--channels", "a"], "belong to --layout multichannel"),
    (["--layout", "multichannel"], "needs --channels"),
    (["--layout", "oasis", "--channel_names", "T1"], "fixed channel names"),
    (["--channel_names", "A", "B"], "one --channel_names value"),
    (["-d", "1000"], "out of range"),
])
def test_option_errors(tmp_path, capsys, args, message):
    write_scan(tmp_path / "in" / "a.nii.gz")
    argv = ["-i", str(tmp_path / "in")] + ([] if "-d" in args else ["-d", "1"]) + args
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_help_lists_layouts(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("generic", "multichannel", "oasis", "brats", "acdc", "covid_ct", "--test_fraction", "--overwrite"):
        assert word in out
