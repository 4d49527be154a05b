"""Issue 9: DICOM series that are not one evenly spaced stack are refused with the positions found (convert, predict)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from autosr.commands import convert, predict
from autosr.errors import ImageReadError
from autosr.imageio import read_image
from tests.badinput.util import run_refused
from tests.imageio.dicom_util import write_dicom_series
from tests.inference.helpers import make_model_folder
from tests.synthetic import phantom


def _series(folder: Path, n: int = 6, **kw) -> Path:
    """An axial CT series of ``n`` slices 2.5 mm apart from z = 10 mm."""
    return write_dicom_series(folder, phantom((n, 16, 20), modality="CT"), spacing_xyz=(0.8, 0.8, 2.5), **kw)


def _set_tag(path: Path, key: str, value: str) -> None:
    img = sitk.ReadImage(str(path))
    img.SetMetaData(key, value)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(path))
    writer.Execute(img)


def _gap(folder: Path) -> Path:
    _series(folder)
    (folder / "IM0003.dcm").unlink()  # z = 15 mm missing: ITK would take 2.75 mm for every step
    return folder


def _duplicate(folder: Path) -> Path:
    _series(folder)
    shutil.copy(folder / "IM0002.dcm", folder / "IM0002_copy.dcm")
    return folder


def _tilted(folder: Path) -> Path:
    _series(folder)
    _set_tag(folder / "IM0004.dcm", "0020|0037", "1\\0\\0\\0\\0\\-1")  # a coronal slice among axial ones
    return folder


def _two_series_without_uid(folder: Path) -> Path:
    """Two anonymised series (no SeriesInstanceUID) of different sizes in one folder: ITK's "Size mismatch"."""
    _series(folder, series_uid="", prefix="A")
    write_dicom_series(folder, phantom((4, 12, 20), modality="CT"), series_uid="", prefix="B")
    return folder


def _interleaved_without_uid(folder: Path) -> Path:
    """Two anonymised series of one size, shifted by 1 mm, in one folder (steps of 1 and 1.5 mm)."""
    _series(folder, series_uid="", prefix="A")
    _series(folder, series_uid="", prefix="B", origin=(-50.0, -60.0, 11.0))
    return folder


CASES = {
    "gap": (_gap, ["steps of 2.5 mm except 12.5 to 17.5 (5 mm)"]),
    "duplicate": (_duplicate, ["same position(s) (12.5) mm"]),
    "orientation": (_tilted, ["2 orientations", "(1, 0, 0, 0, 0, -1)"]),
    "two sizes": (_two_series_without_uid, ["2 sizes (20x12, 20x16)"]),
    "interleaved": (_interleaved_without_uid, ["steps of 1 mm except 11 to 12.5 (1.5 mm)"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_convert_refuses_irregular_series(tmp_path, autosr_folders, capsys, case):
    make, culprits = CASES[case]
    folder = make(tmp_path / "scans" / "ct")
    run_refused(convert.main, ["-i", str(tmp_path / "scans"), "-d", "3", "--name", "Ct"], capsys,
                culprits=[str(folder)] + culprits, watch=[tmp_path / "scans", autosr_folders["raw"]])


@pytest.mark.parametrize("case", ["gap", "two sizes"])
def test_predict_refuses_irregular_series(tmp_path, autosr_folders, capsys, case):
    make, culprits = CASES[case]
    model = make_model_folder(autosr_folders["results"], channels=("CT",))
    folder, out = make(tmp_path / "ct"), tmp_path / "out"
    run_refused(predict.main, ["-i", str(folder), "-o", str(out), "-s", "2", "-m", str(model), "-f", "0",
                               "-npp", "0", "--device", "cpu"], capsys,
                culprits=[str(folder)] + culprits, watch=[folder, out])


def test_regular_series_in_shuffled_file_order_is_read_sorted(tmp_path):
    """Positions, not file names, order the slices: a series named against its order still reads right."""
    vol = phantom((5, 16, 20), modality="CT")
    folder = write_dicom_series(tmp_path / "ct", vol, spacing_xyz=(0.8, 0.8, 2.5))
    files = sorted(str(p) for p in folder.iterdir())
    from autosr.imageio import DicomSeriesReader
    arr, geom = DicomSeriesReader().read_files(files[::-1], source=str(folder))
    np.testing.assert_array_equal(arr, vol)
    np.testing.assert_allclose(geom.spacing, (0.8, 0.8, 2.5), atol=1e-4)


def test_non_dicom_file_among_dicom_files_is_named(tmp_path):
    """A file GDCM listed with the series but cannot read: one line naming it, no ITK traceback."""
    folder = _series(tmp_path / "ct")
    (folder / "IM0002.dcm").write_bytes((folder / "IM0002.dcm").read_bytes()[:200])  # cut short
    from autosr.imageio import DicomSeriesReader
    files = sorted(str(p) for p in folder.iterdir())
    with pytest.raises(ImageReadError, match="IM0002.dcm"):
        DicomSeriesReader().read_files(files, source=str(folder))


def test_convert_skips_text_files_beside_a_series(tmp_path, autosr_folders, capsys):
    """PACS exports carry notes and manifests: the series is converted, the text file left alone."""
    _series(tmp_path / "scans" / "ct")
    (tmp_path / "scans" / "ct" / "manifest.txt").write_text("series exported by a PACS\n", encoding="utf-8")
    (tmp_path / "scans" / "ct" / "DICOMDIR").write_bytes(b"\0" * 300)
    assert convert.main(["-i", str(tmp_path / "scans"), "-d", "3", "--name", "Ct"]) == 0
    assert "skipped 2 file(s) that are neither images nor DICOM: ct/DICOMDIR, ct/manifest.txt" in capsys.readouterr().err
    arr, geom = read_image(autosr_folders["raw"] / "Dataset003_Ct" / "imagesTr" / "ct_0000.nii.gz")
    assert arr.shape == (6, 16, 20)
    np.testing.assert_allclose(geom.spacing, (0.8, 0.8, 2.5), atol=1e-4)


def test_convert_refuses_series_with_a_cut_short_slice(tmp_path, autosr_folders, capsys):
    """A slice file cut short (interrupted copy): GDCM drops it from the series, which then has a gap."""
    folder = _series(tmp_path / "scans" / "ct")
    (folder / "IM0003.dcm").write_bytes((folder / "IM0003.dcm").read_bytes()[:300])
    err = run_refused(convert.main, ["-i", str(tmp_path / "scans"), "-d", "3", "--name", "Ct"], capsys,
                      culprits=[str(folder), "12.5 to 17.5 (5 mm)"], watch=[tmp_path / "scans", autosr_folders["raw"]])
    assert "ct/IM0003.dcm" in err  # named among the skipped files
