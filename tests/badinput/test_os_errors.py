"""Operating-system failures (read-only folder, full disk) end in one line naming the file, never a traceback.

The folders are real: small tmpfs mounts, read-only or nearly full (needs root, as on AutoSR's CI machines).
Where mounting is not allowed the same errors are injected at the lowest write call instead, so the one-line
path of every command is still exercised.
"""
from __future__ import annotations

import errno
import subprocess
import uuid
from pathlib import Path

import pytest

from autosr.commands import common
from autosr.commands.convert import main as convert_main
from autosr.commands.plan import main as plan_main
from autosr.commands.predict import main as predict_main
from autosr.commands.train import main as train_main
from tests.badinput.util import tree_digest
from tests.inference.helpers import make_model_folder
from tests.synthetic import make_raw_dataset, phantom
from autosr.imageio import Geometry, write_image


def _mount(path: Path, size: str, readonly: bool) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                        capture_output=True).returncode == 0
    if ok and readonly:
        ok = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True).returncode == 0
    return ok


@pytest.fixture(params=["read-only", "full"])
def bad_folder(request, tmp_path, monkeypatch):
    """A folder on a read-only file system, or on one with almost no space; yields (path, errno, is_real)."""
    path = tmp_path / f"mnt_{uuid.uuid4().hex[:6]}"
    readonly = request.param == "read-only"
    code = errno.EROFS if readonly else errno.ENOSPC
    real = _mount(path, "8k", readonly)
    if real and not readonly:  # fill it up, so that the command's first real write fails
        with open(path / "filler", "wb") as f:
            try:
                f.write(b"\0" * 10 ** 6)
            except OSError:
                pass
    if not real:
        path.mkdir(exist_ok=True)
        _inject(monkeypatch, path, code)
    yield path, code, real
    if real:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _inject(monkeypatch, folder: Path, code: int) -> None:
    """Without mounts: make every open-for-writing and mkdir under ``folder`` fail with ``code``."""
    import builtins
    import os
    real_open, real_mkdir, real_os_open = builtins.open, os.mkdir, os.open

    def inside(p) -> bool:
        return str(Path(os.fspath(p)).absolute()).startswith(str(folder))

    def fake_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+") and isinstance(file, (str, os.PathLike)) and inside(file):
            raise OSError(code, os.strerror(code), os.fspath(file))
        return real_open(file, mode, *a, **k)

    def fake_mkdir(p, *a, **k):
        if inside(p):
            raise OSError(code, os.strerror(code), os.fspath(p))
        return real_mkdir(p, *a, **k)

    def fake_os_open(p, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(p):
            raise OSError(code, os.strerror(code), os.fspath(p))
        return real_os_open(p, flags, *a, **k)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "open", fake_os_open)


def _refused_one_line(main, argv, capsys, folder: Path, code: int, watch=()) -> str:
    before = tree_digest(*watch)
    capsys.readouterr()
    rc = main(list(map(str, argv)))
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    import os
    assert os.strerror(code) in lines[0], err
    assert str(folder) in lines[0], err  # names the file or folder it could not write
    assert tree_digest(*watch) == before
    return lines[0]


def _scan(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scan_0000.nii.gz"
    write_image(phantom((6, 40, 48)), Geometry((1.0, 1.0, 3.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1)), path)
    return path


def test_convert_into_a_bad_raw_folder(bad_folder, tmp_path, monkeypatch, capsys):
    folder, code, _ = bad_folder
    scan = _scan(tmp_path / "in")
    monkeypatch.setenv("AUTOSR_RAW", str(folder))
    _refused_one_line(convert_main, ["-i", scan, "-d", 7, "--name", "Ro", "--modality", "MR"], capsys, folder, code,
                      watch=[scan])


def test_preprocess_into_a_bad_preprocessed_folder(bad_folder, autosr_folders, monkeypatch, capsys):
    folder, code, _ = bad_folder
    raw = make_raw_dataset(autosr_folders["raw"], 8, "Pp", n_cases=2)
    monkeypatch.setenv("AUTOSR_PREPROCESSED", str(folder))
    _refused_one_line(plan_main, ["-d", 8, "-np", 1], capsys, folder, code, watch=[raw])


def test_train_into_a_bad_results_folder(bad_folder, autosr_folders, monkeypatch, capsys):
    from autosr.preprocessing.api import plan_and_preprocess
    folder, code, _ = bad_folder
    make_raw_dataset(autosr_folders["raw"], 9, "Tr", n_cases=3)
    plan_and_preprocess("Dataset009_Tr", num_processes=1)
    monkeypatch.setenv("AUTOSR_RESULTS", str(folder))
    monkeypatch.setenv("TORCH_HOME", str(autosr_folders["results"] / "torch_home"))
    _refused_one_line(train_main, ["9", "0", "-c", "2d_cpu", "--steps", "2", "--warmup_steps", "1", "--device", "cpu",
                                   "-o", 'network.width=8', "-o", 'network.depth=1'],
                      capsys, folder, code, watch=[autosr_folders["preprocessed"]])


def test_predict_into_a_bad_output_folder(bad_folder, tmp_path, capsys):
    folder, code, _ = bad_folder
    model = make_model_folder(tmp_path / "results")
    scan = _scan(tmp_path / "in")
    _refused_one_line(predict_main, ["-i", scan, "-o", folder / "sr", "-s", "2", "-m", model, "--device", "cpu",
                                     "-npp", "0", "--disable_progress_bar"], capsys, folder, code,
                      watch=[scan, model])


def test_unknown_runtime_errors_still_show_their_traceback():
    """Only OS failures become one line; a bug elsewhere must stay visible."""
    assert common.os_error_message(RuntimeError("shape mismatch in layer 3")) is None
    assert common.os_error_message(ValueError("x")) is None


def test_wrapped_library_errors_name_the_file_not_the_library_source():
    exc = RuntimeError("Exception thrown in SimpleITK ImageFileWriter_Execute: /work/itk/Modules/IO/NIFTI/src/"
                       "itkNiftiImageIO.cxx:2212:\nITK ERROR: Could not write /data/out/a.nii.gz: No space left on device")
    assert common.os_error_message(exc).startswith("/data/out/a.nii.gz: No space left on device; free space")


def test_a_checkpoint_write_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    """torch.save reports a full disk as 'file write failed'; the checkpoint writer must surface the OS error.

    On a real nearly-full tmpfs where mounting is allowed; elsewhere the file's write raises ENOSPC
    without a file name, as a full disk does.
    """
    import os
    import torch
    from autosr.checkpoint import save_checkpoint
    folder = tmp_path / "full"
    real = _mount(folder, "64k", readonly=False)
    if not real:
        real_fdopen = os.fdopen

        class FullDisk:
            def __init__(self, f):
                self.f = f

            def write(self, data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k)))
    try:
        with pytest.raises(OSError) as exc:
            save_checkpoint({"w": torch.zeros(200_000)}, folder / "checkpoint_latest.pth")
        assert exc.value.errno == errno.ENOSPC
        assert common.os_error_message(exc.value).startswith(str(folder / "checkpoint_latest.pth") + ": No space")
        assert list(folder.iterdir()) == []  # no partial file left
    finally:
        if real:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
