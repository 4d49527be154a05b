"""The dataset integrity check: every problem found in one pass, one line each naming the file."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from autosr.commands.convert import verify_main
from autosr.errors import ProblemsError
from autosr.imageio import Geometry, read_image, write_image
from autosr.integrity import check_dataset, verify_dataset
from tests.synthetic import LPS, RAS, make_raw_dataset

SHAPE = (4, 16, 18)


@pytest.fixture
def ds(autosr_folders):
    """Two cases × two channels, small and valid."""
    return make_raw_dataset(autosr_folders["raw"], n_cases=2, shape=SHAPE, channel_names={"0": "FLAIR", "1": "T1c"})


def _edit_json(folder, **changes):
    info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    for k, v in changes.items():
        if v is None:
            info.pop(k, None)
        else:
            info[k] = v
    (folder / "dataset.json").write_text(json.dumps(info), encoding="utf-8")


def _one(problems, *fragments):
    """Exactly one problem line holds all fragments; it names a file or folder."""
    hits = [p for p in problems if all(f in p for f in fragments)]
    assert len(hits) == 1, problems
    assert "\n" not in hits[0]
    return hits[0]


def test_valid_dataset_passes(ds):
    assert check_dataset(ds) == []
    verify_dataset(ds)
    assert check_dataset(ds, read_voxels=False) == []


def test_missing_folder_and_json(tmp_path, ds):
    assert "does not exist" in check_dataset(tmp_path / "nope")[0]
    (ds / "dataset.json").unlink()
    _one(check_dataset(ds), "dataset.json: missing")


def test_truncated_and_unreadable_files(ds):
    f = ds / "imagesTr" / "case000_0000.nii.gz"
    f.write_bytes(f.read_bytes()[:-60])  # an interrupted copy
    g = ds / "imagesTr" / "case001_0001.nii.gz"
    g.write_bytes(b"not an image at all")
    problems = check_dataset(ds)
    _one(problems, "case000_0000.nii.gz", "truncated")
    _one(problems, "case001_0001.nii.gz", "cannot be read")


def test_missing_channel(ds):
    (ds / "imagesTr" / "case001_0001.nii.gz").unlink()
    _one(check_dataset(ds), "case001_0001.nii.gz: missing", "add this channel file")


def test_channel_shape_and_geometry_mismatch(ds):
    arr, geom = read_image(ds / "imagesTr" / "case000_0000.nii.gz")
    write_image(arr[:, :, :-2], geom, ds / "imagesTr" / "case000_0001.nii.gz")
    moved = Geometry(geom.spacing, tuple(np.add(geom.origin, (0, 0, 5.0))), geom.direction)
    write_image(arr, moved, ds / "imagesTr" / "case001_0001.nii.gz")
    problems = check_dataset(ds)
    _one(problems, "case000_0001.nii.gz: shape", "resample")
    _one(problems, "case001_0001.nii.gz: origin")
    write_image(arr, Geometry(geom.spacing, geom.origin, RAS), ds / "imagesTr" / "case001_0001.nii.gz")
    _one(check_dataset(ds), "case001_0001.nii.gz: direction")


def test_nan_voxels(ds):
    arr, geom = read_image(ds / "imagesTr" / "case001_0000.nii.gz")
    arr = arr.astype(np.float32)
    arr[0, 0, :3] = np.nan
    arr[1, 1, 1] = np.inf
    write_image(arr, geom, ds / "imagesTr" / "case001_0000.nii.gz")
    _one(check_dataset(ds), "case001_0000.nii.gz", "holds 4 NaN/Inf voxel(s)")
    assert check_dataset(ds, read_voxels=False) == []  # headers only: voxels not looked at


def test_4d_image(ds):
    nib.save(nib.Nifti1Image(np.zeros((18, 16, 4, 3), np.float32), np.eye(4)),
             str(ds / "imagesTr" / "case000_0001.nii.gz"))
    _one(check_dataset(ds), "case000_0001.nii.gz", "4 dimensions", "2D or 3D")


def test_wrong_num_training(ds):
    _edit_json(ds, numTraining=5)
    _one(check_dataset(ds), "dataset.json: numTraining is 5", "set numTraining to 2")


def test_bad_file_names(ds):
    src = ds / "imagesTr" / "case000_0000.nii.gz"
    (ds / "imagesTr" / "case000_flair.nii.gz").write_bytes(src.read_bytes())
    (ds / "imagesTr" / "case000_0000.nii").write_bytes(b"")
    (ds / "imagesTr" / "case000_0002.nii.gz").write_bytes(src.read_bytes())
    (ds / "imagesTr" / "sub").mkdir()
    (ds / "imagesTr" / ".hidden_tmp").write_text("ignored", encoding="utf-8")
    problems = check_dataset(ds)
    _one(problems, "case000_flair.nii.gz: name does not match {case}_{CCCC}.nii.gz")
    _one(problems, "case000_0000.nii: ending .nii differs")
    _one(problems, "case000_0002.nii.gz: channel 0002", "declares 2 channel(s)")
    _one(problems, "sub: is a folder")
    assert len(problems) == 4


@pytest.mark.parametrize("key", ["channel_names", "file_ending", "numTraining"])
def test_missing_json_key(ds, key):
    _edit_json(ds, **{key: None})
    _one(check_dataset(ds), f"dataset.json: missing key {key!r}")


def test_malformed_json_values_and_escaping_paths(ds):
    _edit_json(ds, channel_names=["FLAIR", "T1c"], numTraining="two", paired_lowres="../elsewhere",
               training=[{"image": "./imagesTr/case000_0000.nii.gz"}, {"image": "/abs/x.nii.gz"}],
               sources={"case000": {"path": "/outside/is/fine/for/provenance"}})
    problems = check_dataset(ds)
    _one(problems, "channel_names must map")
    _one(problems, "numTraining must be a whole number")
    _one(problems, "paired_lowres holds the path '../elsewhere'", "outside the dataset folder")
    _one(problems, "training holds the path '/abs/x.nii.gz'")
    assert not any("provenance" in p for p in problems)


def test_all_problems_in_one_run_and_cli(ds, capsys):
    (ds / "imagesTr" / "case001_0001.nii.gz").unlink()
    (ds / "imagesTr" / "oops.nii.gz").write_bytes(b"x")
    _edit_json(ds, numTraining=3)
    problems = check_dataset(ds)
    assert len(problems) == 3
    with pytest.raises(ProblemsError) as err:
        verify_dataset(ds)
    assert err.value.problems == problems
    assert verify_main(["-d", "1"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("autosr_verify_dataset: error: dataset") and "3 problem(s)" in lines[0]
    assert len(lines) == 4 and all(line.startswith("  - ") for line in lines[1:])
    assert verify_main(["-d", str(ds)]) == 1  # a path works as well


def test_cli_on_valid_dataset(ds, capsys):
    assert verify_main(["-d", "Dataset001_Synth"]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert verify_main(["-d", "001", "--headers_only"]) == 0


def _add_lowres(folder, shrink=2.5, shift_mm=0.0, cases=("case000", "case001")):
    """Write an LR copy of each case's channels (same FOV, coarser in-plane) into lowresTr."""
    for case in cases:
        for c in (0, 1):
            arr, g = read_image(folder / "imagesTr" / f"{case}_{c:04d}.nii.gz")
            lr_shape = (arr.shape[0], int(arr.shape[1] / shrink), int(arr.shape[2] / shrink))
            sp = (g.spacing[0] * shrink, g.spacing[1] * shrink, g.spacing[2])
            origin = np.asarray(g.origin) + g.direction_matrix @ ((np.asarray(sp) - g.spacing) / 2)
            origin = origin + np.array([shift_mm, 0.0, 0.0])
            write_image(np.zeros(lr_shape, np.int16), Geometry(sp, tuple(origin), g.direction),
                        folder / "lowresTr" / f"{case}_{c:04d}.nii.gz")


def test_paired_lowres(ds):
    _edit_json(ds, paired_lowres=True)
    _one(check_dataset(ds), "lowresTr: missing although dataset.json sets paired_lowres")
    _add_lowres(ds)
    assert check_dataset(ds) == []
    (ds / "lowresTr" / "case001_0000.nii.gz").unlink()
    (ds / "lowresTr" / "case001_0001.nii.gz").unlink()
    _one(check_dataset(ds), "lowresTr/case001_0000.nii.gz: missing", "low-resolution scan")


def test_paired_lowres_must_cover_same_region(ds):
    _add_lowres(ds, shift_mm=12.0, cases=("case000",))
    _add_lowres(ds, cases=("case001",))
    _one(check_dataset(ds), "lowresTr/case000_0000.nii.gz: covers", "same region")


def test_lowres_without_training_case(ds):
    _add_lowres(ds)
    for c in (0, 1):
        (ds / "lowresTr" / f"case001_{c:04d}.nii.gz").rename(ds / "lowresTr" / f"case009_{c:04d}.nii.gz")
    problems = check_dataset(ds)
    _one(problems, "case009_0000.nii.gz: has no training case")
    _one(problems, "lowresTr/case001_0000.nii.gz: missing")


def test_companion_files_and_test_split(autosr_folders):
    folder = make_raw_dataset(autosr_folders["raw"], dataset_id=2, n_cases=2, shape=(3, 8, 8), file_ending=".mhd",
                              test_cases=1, direction=LPS)
    assert sorted(p.suffix for p in (folder / "imagesTr").iterdir()) == [".mhd", ".mhd", ".raw", ".raw"]
    assert check_dataset(folder) == []
    (folder / "imagesTs" / "case1000_0000.raw").write_bytes(b"")  # the data file of a .mhd header, emptied
    _one(check_dataset(folder), "case1000_0000.mhd: file is truncated", "0 bytes in case1000_0000.raw")
