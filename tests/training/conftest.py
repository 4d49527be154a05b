"""Training test fixtures: tiny synthetic datasets preprocessed once per session, no VGG download."""
from __future__ import annotations

import numpy as np
import pytest

from autosr.imageio import Geometry, read_image, write_image
from tests.synthetic import make_raw_dataset


@pytest.fixture(autouse=True)
def no_vgg_download(monkeypatch, tmp_path):
    """Hermetic VGG19 look-up: an empty torch hub cache and no download attempt."""
    import autosr.losses
    from autosr.networks.vgg import find_vgg19_weights
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(autosr.losses, "find_vgg19_weights",
                        lambda path=None, allow_download=True, **kw: find_vgg19_weights(path, False, **kw))


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """Datasets 1 (one channel), 2 (two channels) and 4 (paired real LR scans) preprocessed once; 3 raw only."""
    from autosr.preprocessing.api import plan_and_preprocess
    root = tmp_path_factory.mktemp("training_data")
    folders = {k: root / k for k in ("raw", "preprocessed", "results")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in folders.items():
            v.mkdir()
            mp.setenv(f"AUTOSR_{k.upper()}", str(v))
        make_raw_dataset(folders["raw"], 1, "One", n_cases=3, shape=(6, 40, 48))
        make_raw_dataset(folders["raw"], 2, "Two", n_cases=3, shape=(6, 40, 48), seed=5,
                         channel_names={"0": "T1", "1": "T2"})
        make_raw_dataset(folders["raw"], 3, "RawOnly", n_cases=2)
        write_lowres(make_raw_dataset(folders["raw"], 4, "Paired", n_cases=3, shape=(6, 40, 48), seed=9))
        for name in ("Dataset001_One", "Dataset002_Two", "Dataset004_Paired"):
            plan_and_preprocess(name, num_processes=1)
    return folders


@pytest.fixture
def env(prepared, autosr_folders, monkeypatch):
    """The shared raw/preprocessed folders and this test's own results folder."""
    monkeypatch.setenv("AUTOSR_RAW", str(prepared["raw"]))
    monkeypatch.setenv("AUTOSR_PREPROCESSED", str(prepared["preprocessed"]))
    return autosr_folders["results"]


def write_lowres(folder, factor=2):
    """``lowresTr/``: each scan block-averaged in-plane by ``factor``, covering the same field of view."""
    (folder / "lowresTr").mkdir()
    for f in sorted((folder / "imagesTr").iterdir()):
        hr, g = read_image(f)
        z, y, x = hr.shape
        lr = hr[:, : y // factor * factor, : x // factor * factor].reshape(z, y // factor, factor, x // factor, factor)
        sp = (g.spacing[0] * factor, g.spacing[1] * factor, g.spacing[2])
        origin = (g.origin[0] + (sp[0] - g.spacing[0]) / 2, g.origin[1] + (sp[1] - g.spacing[1]) / 2, g.origin[2])
        write_image(lr.mean((2, 4)).astype(np.float32), Geometry(sp, origin, g.direction), folder / "lowresTr" / f.name)
