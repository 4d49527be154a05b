"""autosr_predict: what it skips, predicts again, cleans up and warns about (issue 9)."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from autosr.commands.predict import main
from autosr.imageio import Geometry, read_image, write_image
from autosr.dataset import pid_tag
from tests.badinput.util import run_refused, tree_digest
from tests.imageio.dicom_util import write_dicom_series
from tests.inference.helpers import make_model_folder
from tests.synthetic import phantom




@pytest.fixture
def info(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def _predict(inp, out, model, *extra):
    return main(["-i", str(inp), "-o", str(out), "-m", str(model), "-npp", "0", "--disable_progress_bar", *extra])


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.nii.gz")}


def test_outputs_are_skipped_only_when_their_record_matches(model, scans, tmp_path, info):
    out = tmp_path / "out"
    inputs = tree_digest(scans)
    assert _predict(scans, out, model, "-s", "2") == 0
    record = json.loads((out / "case000.autosr.json").read_text(encoding="utf-8"))
    assert record["request"] == {"scale": "2", "keep_dtype": False} and list(record["model"]["checkpoints"]) == ["0"]
    first = _mtimes(out)
    info.clear()
    assert _predict(scans, out, model, "-s", "2") == 0  # same model, scale and input: skipped
    assert _mtimes(out) == first and "2 scan(s) already predicted" in info.text
    info.clear()
    assert _predict(scans, out, model, "-s", "2.5") == 0  # another scale: predicted again, and said so
    assert "case000: predicting again over existing output(s) case000_0000.nii.gz" in info.text
    assert "another scale" in info.text and read_image(out / "case000_0000.nii.gz")[0].shape == (3, 50, 60)
    # a garbage file under an output's name (the record no longer describes it): predicted again
    (out / "case001_0000.nii.gz").write_bytes(b"garbage")
    info.clear()
    assert _predict(scans, out, model, "-s", "2.5") == 0
    assert "case001: predicting again" in info.text and "changed or removed after they were written" in info.text
    assert "case000: predicting again" not in info.text
    assert read_image(out / "case001_0000.nii.gz")[0].shape == (3, 50, 60)
    # an edited input, and an output without any record (another tool's, an older AutoSR)
    time.sleep(0.01)
    shutil.copyfile(scans / "case000_0000.nii.gz", tmp_path / "x.nii.gz")
    os.replace(tmp_path / "x.nii.gz", scans / "case000_0000.nii.gz")
    (out / "case001.autosr.json").unlink()
    info.clear()
    assert _predict(scans, out, model, "-s", "2.5") == 0
    assert "case000: predicting again" in info.text and "an input that has changed since" in info.text
    assert "case001: predicting again" in info.text and "no case001.autosr.json" in info.text
    assert tree_digest(scans) == inputs  # contents: the copy is byte-identical


def test_partial_folders_of_an_interrupted_run_are_removed(model, scans, tmp_path, info):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours = pid_tag()
    gone = [f".autosr-partial-{ours.replace(f'pid{os.getpid()}@', f'pid{dead.pid}@')}-abcd_123",
            ".autosr-partial-old_1234"]                                # no owner (older AutoSR), untouched 1 h
    kept = [f".autosr-partial-{ours}-live_123",                       # a running process's (this one)
            ".autosr-partial-pid1@elsewhere-abcd_123",                # another machine's: cannot tell
            ".autosr-partial-fresh123",                               # no owner, changed recently
            ".autosr-partial-mine", ".autosr-partial-x"]              # not our pattern: the user's
    for name in gone + kept:
        (out / name).mkdir()
        (out / name / "case000_0000.nii.gz").write_bytes(b"half")
    old = time.time() - 3600
    os.utime(out / gone[1] / "case000_0000.nii.gz", (old, old))
    os.utime(out / gone[1], (old, old))
    assert _predict(scans, out, model, "-s", "2") == 0
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == sorted(kept)
    for name in gone:
        assert f"removed {out / name}" in info.text and "left by an interrupted run" in info.text


def test_checkpoint_of_another_dataset_warns(autosr_folders, scans, tmp_path, info):
    ours = make_model_folder(autosr_folders["results"])
    other = make_model_folder(autosr_folders["results"], dataset="Dataset002_Other", seed=5)
    shutil.copyfile(other / "fold_0" / "checkpoint_final.pth", ours / "fold_0" / "checkpoint_final.pth")
    assert _predict(scans, tmp_path / "out", ours, "-s", "2") == 0
    assert "trained for another dataset or plans than" in info.text
    assert "dataset_name 'Dataset002_Other' (model folder: 'Dataset001_Synth')" in info.text
    assert (tmp_path / "out" / "case000_0000.nii.gz").is_file()


def _fingerprint(model, lo, hi, lo_min):
    """The parts of a training fingerprint that plans validation and the intensity check read."""
    ch = {"mean": (lo + hi) / 2, "std": 1.0, "min": lo_min, "max": hi, "percentile_00_5": lo, "percentile_99_5": hi}
    plans = json.loads((model / "plans.json").read_text(encoding="utf-8"))
    case = {"shape": [30, 200, 200], "foreground_bbox": [[0, 30], [10, 190], [10, 190]]}
    fp = {"dataset_name": plans["dataset_name"], "channel_names": plans["channel_names"], "ndim": 3, "paired": False, "cases": {"c0": case},
          "intensity": [ch]}
    (model / "dataset_fingerprint.json").write_text(json.dumps(fp), encoding="utf-8")


def test_ct_into_an_mr_model_and_mr_into_a_ct_model_warn(autosr_folders, tmp_path, info):
    mr_model = make_model_folder(autosr_folders["results"])
    ct_model = make_model_folder(autosr_folders["results"], channels=("CT",), dataset="Dataset003_CT")
    geom = Geometry((1.0, 1.0, 3.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_image(phantom((3, 20, 24), modality="CT"), geom, tmp_path / "ct" / "ct.nii.gz")
    write_image(phantom((3, 20, 24), modality="MR"), geom, tmp_path / "mr" / "mr.nii.gz")
    assert _predict(tmp_path / "mr", tmp_path / "o0", mr_model, "-s", "2") == 0  # no fingerprint: no check
    assert "far from the training data" not in info.text
    _fingerprint(mr_model, 0.0, 800.0, 0.0)
    _fingerprint(ct_model, -1000.0, 1500.0, -1024.0)
    for inp, model in ((tmp_path / "mr", mr_model), (tmp_path / "ct", ct_model)):  # matching: silent
        assert _predict(inp, tmp_path / f"ok_{inp.name}", model, "-s", "2") == 0
    assert "far from the training data" not in info.text
    assert _predict(tmp_path / "ct", tmp_path / "o1", mr_model, "-s", "2") == 0
    assert "ct.nii.gz: channel 0 (T2) has foreground intensities -" in info.text
    assert "far from the training data's 0..800" in info.text and (tmp_path / "o1" / "ct_0000.nii.gz").is_file()
    info.clear()
    assert _predict(tmp_path / "mr", tmp_path / "o2", ct_model, "-s", "2") == 0
    assert "mr.nii.gz: channel 0 (CT)" in info.text and "training data's -1000..1500" in info.text
    assert (tmp_path / "o2" / "mr_0000.nii.gz").is_file()


def test_dicom_folder_with_dicomdir_and_notes_is_read(model, tmp_path, info):
    series = write_dicom_series(tmp_path / "export", phantom((3, 20, 24), modality="MR"), modality="MR")
    (series / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    (series / "manifest.txt").write_text("series 1: 3 images", encoding="utf-8")
    (series / "VIEWER").mkdir()
    (series / "VIEWER" / "viewer.exe").write_bytes(b"MZ")
    before = tree_digest(series)
    assert _predict(series, tmp_path / "out", model, "-s", "2") == 0
    assert "skipping 3 file(s) or folder(s) that are not images: DICOMDIR, manifest.txt, VIEWER/" in info.text
    assert read_image(tmp_path / "out" / "export_0000.nii.gz")[0].shape == (3, 40, 48)
    assert tree_digest(series) == before


def test_nifti_folder_with_a_stray_text_file_is_read_but_a_bad_case_file_is_an_error(model, scans, tmp_path, info,
                                                                                       capsys):
    (scans / "readme.txt").write_text("from the PACS", encoding="utf-8")
    assert _predict(scans, tmp_path / "out", model, "-s", "2") == 0
    assert "skipping 1 file(s) or folder(s) that are not images: readme.txt" in info.text
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nii.gz")) == ["case000_0000.nii.gz", "case001_0000.nii.gz"]
    (scans / "case002_0000.nii.gz").write_bytes(b"not an image")
    run_refused(main, ["-i", str(scans), "-o", str(tmp_path / "out2"), "-m", str(model), "-s", "2", "-npp", "0"],
                capsys, culprits=["case002_0000.nii.gz"], watch=[scans])


def test_a_dcm_file_outside_any_series_is_an_error(model, tmp_path, capsys):
    series = write_dicom_series(tmp_path / "export", phantom((3, 20, 24), modality="MR"), modality="MR")
    (series / "broken.dcm").write_bytes(b"not dicom")
    run_refused(main, ["-i", str(series), "-o", str(tmp_path / "out"), "-m", str(model), "-s", "2", "-npp", "0"],
                capsys, culprits=["broken.dcm", "not part of any readable DICOM series"],
                watch=[series, tmp_path / "out"])


def test_input_file_in_output_folder_with_overwrite_keeps_the_scan(model, scans, capsys):
    scan = scans / "case000_0000.nii.gz"
    before = scan.read_bytes()
    assert main(["-i", str(scan), "-o", str(scans), "-m", str(model), "-s", "2", "--overwrite"]) == 1
    assert scan.read_bytes() == before and "holds the input" in capsys.readouterr().err
    assert np.array_equal(read_image(scan)[0].shape, (3, 20, 24))
