"""DICOM series reading: series told apart by SeriesInstanceUID, geometry and HU values kept."""
from __future__ import annotations

import numpy as np
import pytest

from autosr.errors import ImageReadError
from autosr.imageio import DicomSeriesReader, list_dicom_series, read_image
from tests.imageio.dicom_util import write_dicom_series
from tests.synthetic import phantom


def test_series_read_with_geometry_and_values(tmp_path):
    vol = phantom((5, 16, 20), modality="CT")
    write_dicom_series(tmp_path / "ct", vol, spacing_xyz=(0.7, 0.7, 2.5), origin=(-30.0, -40.0, 12.0))
    arr, g = read_image(tmp_path / "ct")
    assert arr.dtype == np.int16
    np.testing.assert_array_equal(arr, vol)
    np.testing.assert_allclose(g.spacing, (0.7, 0.7, 2.5), atol=1e-4)
    np.testing.assert_allclose(g.origin, (-30.0, -40.0, 12.0), atol=1e-4)
    np.testing.assert_allclose(g.direction, np.eye(3).ravel())


def test_two_series_in_one_folder_are_told_apart_by_uid(tmp_path):
    a, b = phantom((3, 8, 10), seed=1, modality="CT"), phantom((4, 8, 10), seed=2, modality="CT")
    write_dicom_series(tmp_path / "mixed", a, series_uid="1.2.3.4.1", prefix="A")
    write_dicom_series(tmp_path / "mixed", b, series_uid="1.2.3.4.2", series_number=2, prefix="B")
    series = list_dicom_series(tmp_path / "mixed")
    assert [uid for uid, _ in series] == ["1.2.3.4.1", "1.2.3.4.2"]
    assert [len(files) for _, files in series] == [3, 4]
    arr, _ = DicomSeriesReader().read(tmp_path / "mixed", series_uid="1.2.3.4.2")
    np.testing.assert_array_equal(arr, b)
    with pytest.raises(ImageReadError, match="holds 2 DICOM series"):
        read_image(tmp_path / "mixed")


def test_series_without_uid_stay_apart_per_folder(tmp_path):
    """Anonymised series (empty SeriesInstanceUID) in two folders must not be merged into one volume."""
    write_dicom_series(tmp_path / "p1", phantom((3, 8, 8), modality="CT"), series_uid="")
    write_dicom_series(tmp_path / "p2", phantom((2, 8, 8), modality="CT"), series_uid="")
    series = list_dicom_series(tmp_path)
    assert sorted(len(files) for _, files in series) == [2, 3]


def test_folder_without_dicom(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no DICOM series"):
        read_image(tmp_path / "empty")
    assert list_dicom_series(tmp_path / "empty") == []


def test_jpeg2000_ct_series(shared_data):
    """TotalSegmentator's example_ct_dicom: JPEG 2000 lossless, files without extension, HU after rescale."""
    folder = shared_data / "totalsegmentator" / "example_ct_dicom"
    series = list_dicom_series(folder)
    assert len(series) == 1 and len(series[0][1]) == 20
    arr, g = read_image(folder)
    assert arr.shape == (20, 512, 512) and arr.dtype == np.int16
    np.testing.assert_allclose(g.spacing, (0.9765625, 0.9765625, 2.0), atol=1e-4)
    assert arr.min() == -1024 and arr.max() == 1839
