"""autosr_predict refuses bad options and unsafe output locations in one line, writing nothing (issue 9)."""
from __future__ import annotations

import pytest

from autosr.commands.predict import main
from autosr.imageio import read_image
from tests.badinput.util import run_refused, tree_digest




def _argv(inp, out, model, *extra):
    return ["-i", str(inp), "-o", str(out), "-m", str(model), "-npp", "0", "--disable_progress_bar", *extra]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_input_file_inside_the_output_folder(model, scans, capsys, overwrite):
    scan = scans / "case000_0000.nii.gz"
    err = run_refused(main, _argv(scan, scans, model, "-s", "2", *overwrite), capsys,
                      culprits=["-o", str(scans), "holds the input"], watch=[scans])
    assert "already predicted" not in err


def test_output_equal_to_holding_or_inside_the_input(model, scans, tmp_path, capsys):
    scan = scans / "case000_0000.nii.gz"
    for inp, out, why in [(scan, scan, "is the input"), (scans, scans, "is the input"),
                          (scans, scans.parent, "holds the input"), (scans, scans / "sr", "inside the input folder")]:
        run_refused(main, _argv(inp, out, model, "-s", "2"), capsys, culprits=["-o", str(out), why],
                    watch=[scans.parent])
    assert not (scans / "sr").exists()


def test_output_is_a_file_and_input_missing(model, scans, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine", encoding="utf-8")
    run_refused(main, _argv(scans, a_file, model, "-s", "2"), capsys, culprits=["-o", str(a_file), "is a file"],
                watch=[a_file, scans])
    run_refused(main, _argv(tmp_path / "nope", tmp_path / "out", model, "-s", "2"), capsys,
                culprits=["-i", str(tmp_path / "nope"), "does not exist"], watch=[tmp_path])


@pytest.mark.parametrize("bad,why", [("1e309", "not a finite number"), ("inf", "not a finite number"),
                                     ("nan", "not a finite number"), ("-2", "greater than 1"),
                                     ("1", "greater than 1"), ("0.5", "greater than 1"), ("abc", "not a number"),
                                     ("1" * 5000, "not a finite number"), ("1e999999999", "not a finite number"),
                                     ("1e-999999999", "greater than 1"), ("1e7", "above 1000000")])
def test_bad_scale_is_one_line_naming_s(model, scans, tmp_path, capsys, bad, why):
    out = tmp_path / "out"
    err = run_refused(main, _argv(scans, out, model, "-s", bad), capsys, culprits=["-s", why], watch=[scans, out])
    assert len(err.strip().splitlines()) == 1 and len(err) < 300


def test_scale_above_the_model_or_any_slice_size(model, scans, tmp_path, capsys):
    out = tmp_path / "new" / "out"
    run_refused(main, _argv(scans, out, model, "-s", "5"), capsys, culprits=["--allow_extrapolation"],
                watch=[scans, tmp_path / "new"])
    # allowed to extrapolate, 1e5 would make 2,000,000-pixel slices: refused, and the folders it made are gone
    run_refused(main, _argv(scans, out, model, "-s", "1e5", "--allow_extrapolation"), capsys,
                culprits=["-s", "32767", "case000_0000.nii.gz"], watch=[scans, tmp_path / "new"])
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("spacing", ["nan", "-1", "0", "inf", "1e-320"])
def test_bad_target_spacing(model, scans, tmp_path, capsys, spacing):
    out = tmp_path / "out"
    run_refused(main, _argv(scans, out, model, "--target_spacing", spacing), capsys, culprits=["--target_spacing"],
                watch=[scans, out])
    assert not out.exists()


@pytest.mark.parametrize("extra,culprit", [
    (["--num_parts", "0"], "--num_parts"), (["--part_id", "2", "--num_parts", "2"], "--part_id"),
    (["--part_id", "-1"], "--part_id"), (["-f", "7"], "-f 7"), (["-f", "x"], "-f x"),
    (["--batch_size", "0"], "--batch_size"), (["-npp", "-1"], "-npp")])
def test_bad_resource_and_fold_options(model, scans, tmp_path, capsys, extra, culprit):
    out = tmp_path / "out"
    run_refused(main, _argv(scans, out, model, "-s", "2", *extra), capsys, culprits=[culprit], watch=[scans, out])


def test_a_long_decimal_scale_is_a_scale(model, scans, tmp_path):
    out = tmp_path / "out"
    before = tree_digest(scans)
    assert main(_argv(scans, out, model, "-s", "2.718281828459045235360287471352662497757247")) == 0
    assert read_image(out / "case000_0000.nii.gz")[0].shape == (3, 54, 65) and tree_digest(scans) == before


def test_failed_prediction_leaves_no_empty_output_folder(model, scans, tmp_path, capsys):
    (scans / "case001_0000.nii.gz").write_bytes(b"not a nifti at all")
    out = tmp_path / "a" / "b"
    run_refused(main, _argv(scans, out, model, "-s", "2"), capsys, culprits=["case001_0000.nii.gz"],
                watch=[scans])
    # every input is checked before the first output is written: nothing at all, not even the folder
    assert not (tmp_path / "a").exists()
    (scans / "case000_0000.nii.gz").unlink()  # a single scan fails as it loads: its empty folders go too
    out2 = tmp_path / "c" / "d"
    run_refused(main, _argv(scans, out2, model, "-s", "2"), capsys, culprits=["case001_0000.nii.gz"], watch=[scans])
    assert not (tmp_path / "c").exists()


def test_model_folder_that_is_a_file_and_unknown_device(model, scans, tmp_path, capsys):
    out, a_file = tmp_path / "out", tmp_path / "model.txt"
    a_file.write_text("not a model", encoding="utf-8")
    run_refused(main, ["-i", str(scans), "-o", str(out), "-s", "2", "-m", str(a_file)], capsys,
                culprits=[str(a_file), "is a file, not a model folder"], watch=[scans, out, a_file])
    for device in ("tpu", "cuda:abc", "cuda:99"):
        run_refused(main, _argv(scans, out, model, "-s", "2", "--device", device), capsys,
                    culprits=[f"--device {device}"], watch=[scans, out])


def test_a_bad_scan_among_many_is_refused_before_any_output(model, tmp_path, capsys):
    """NaN voxels in the last of three scans: refused naming it, and the first two are not written either."""
    import numpy as np
    from autosr.imageio import Geometry, write_image
    from tests.synthetic import phantom
    inp = tmp_path / "scans"
    geom = Geometry((1.0, 1.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    for i in range(3):
        arr = phantom((3, 20, 24), seed=i).astype(np.float32)
        if i == 2:
            arr[1, 5, 5] = np.nan
        write_image(arr, geom, inp / f"case{i}_0000.nii.gz")
    out = tmp_path / "out"
    out.mkdir()
    run_refused(main, _argv(inp, out, model, "-s", "2"), capsys, culprits=["case2_0000.nii.gz", "NaN"],
                watch=[inp, out])
    assert list(out.iterdir()) == []
