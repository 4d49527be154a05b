"""Issue 9: a case in both imagesTr and imagesTs is refused; what an interrupted run left is removed by the next run."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys


from autosr.commands import convert, plan
from autosr.dataset import pid_tag
from autosr.imageio import Geometry, write_image
from tests.badinput.util import run_refused
from tests.synthetic import LPS, make_raw_dataset, phantom


def _leaked_test_case(raw_root):
    folder = make_raw_dataset(raw_root, n_cases=3, shape=(4, 24, 28), test_cases=1)
    shutil.copy(folder / "imagesTr" / "case001_0000.nii.gz", folder / "imagesTs" / "case001_0000.nii.gz")
    return folder


def test_verify_dataset_flags_case_in_training_and_test(autosr_folders, capsys):
    folder = _leaked_test_case(autosr_folders["raw"])
    run_refused(convert.verify_main, ["-d", "1"], capsys,
                culprits=[f"{folder / 'imagesTs' / 'case001_0000.nii.gz'}: case 'case001' is also in imagesTr"],
                watch=[autosr_folders["raw"]])


def test_plan_refuses_case_in_training_and_test(autosr_folders, capsys):
    folder = _leaked_test_case(autosr_folders["raw"])
    run_refused(plan.main, ["-d", "1", "-np", "1"], capsys,
                culprits=[f"{folder / 'imagesTs'}: 1 case(s) also in imagesTr (case001)"],
                watch=[autosr_folders["raw"], autosr_folders["preprocessed"]])


def _dead_tag() -> str:
    """The owner tag of a process of this machine that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return pid_tag().replace(f"pid{os.getpid()}@", f"pid{proc.pid}@")


def test_convert_removes_partial_folders_of_an_interrupted_run(tmp_path, autosr_folders, caplog):
    raw = autosr_folders["raw"]
    write_image(phantom((4, 24, 28)), Geometry((1.0, 1.0, 3.0), (0.0, 0.0, 0.0), LPS), tmp_path / "in" / "a.nii.gz")
    dead, legacy = raw / f".Dataset007_in.partial-{_dead_tag()}-x1", raw / ".Dataset007_in.partial-abc"
    alive = raw / f".Dataset007_in.partial-{pid_tag().replace(str(os.getpid()), str(os.getppid()))}-x2"  # running
    remote = raw / ".Dataset007_in.partial-pid1@elsewhere-x3"      # another machine's run on a shared folder
    other = raw / ".Dataset008_other.partial-abc"                    # another target's: not ours to judge
    for d in (dead, legacy, alive, remote, other):
        (d / "imagesTr").mkdir(parents=True)
        (d / "imagesTr" / "a_0000.nii.gz").write_bytes(b"\0" * 1000)
    with caplog.at_level(logging.INFO):
        assert convert.main(["-i", str(tmp_path / "in"), "-d", "7"]) == 0
    assert not dead.exists() and not legacy.exists() and alive.exists() and remote.exists() and other.exists()
    removed = [r.getMessage() for r in caplog.records if "left by an interrupted run" in r.getMessage()]
    assert len(removed) == 2 and all("(0.0 MB)" in m for m in removed), removed
    assert sorted(p.name for p in raw.iterdir() if not p.name.startswith(".")) == ["Dataset007_in"]


def test_preprocess_removes_partial_files_of_an_interrupted_run(autosr_folders, caplog):
    folder = make_raw_dataset(autosr_folders["raw"], n_cases=2, shape=(4, 24, 28))
    pre = autosr_folders["preprocessed"] / folder.name
    ident = pre / "autosrPlans_2d"  # the data of the 2d and 2d_cpu configurations
    ident.mkdir(parents=True)
    junk = [ident / f".case000.npy.{_dead_tag()}.1a2b3c4d.partial", ident / ".case001.npy.4242.abcd.partial",
            pre / f".dataset_fingerprint.json.{_dead_tag()}.x.partial"]
    for j in junk:
        j.write_bytes(b"\0" * 100)
    with caplog.at_level(logging.INFO):
        assert plan.main(["-d", "1", "-np", "1"]) == 0
    assert not any(j.exists() for j in junk)
    assert sum("left by an interrupted run" in r.getMessage() for r in caplog.records) == 3
    assert sorted(p.name for p in ident.iterdir()) == ["case000.json", "case000.npy", "case001.json", "case001.npy"]


def test_convert_puts_back_a_dataset_an_interrupted_overwrite_had_moved_aside(tmp_path, autosr_folders, capsys):
    """Killed between moving the old dataset aside and moving the new one in: the next run restores it, never deletes it."""
    raw = autosr_folders["raw"]
    make_raw_dataset(raw, dataset_id=7, name="in", n_cases=1, shape=(4, 24, 28))
    aside = raw / f".Dataset007_in.old-{_dead_tag()}-x1"
    aside.mkdir()
    (raw / "Dataset007_in").rename(aside / "Dataset007_in")
    before = sorted(p.name for p in (aside / "Dataset007_in" / "imagesTr").iterdir())
    write_image(phantom((4, 24, 28)), Geometry((1.0, 1.0, 3.0), (0.0, 0.0, 0.0), LPS), tmp_path / "in" / "a.nii.gz")
    assert convert.main(["-i", str(tmp_path / "in"), "-d", "7"]) == 1
    err = capsys.readouterr().err
    assert "put back from" in err and "already exists; pass --overwrite" in err
    assert sorted(p.name for p in (raw / "Dataset007_in" / "imagesTr").iterdir()) == before and not aside.exists()
