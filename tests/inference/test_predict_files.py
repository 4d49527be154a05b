"""autosr_predict end to end on files: outputs, skipping, folds, parts, -npp, errors, crash and Ctrl-C safety."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

from autosr.commands.predict import main
from autosr.imageio import Geometry, read_image, write_image
from autosr.inference.predictor import ModelMismatchError, Predictor
from tests.inference.helpers import make_model_folder
from tests.synthetic import make_raw_dataset, oblique_direction, phantom


@pytest.fixture
def model(autosr_folders):
    return make_model_folder(autosr_folders["results"], folds=(0, 1))


@pytest.fixture
def scans(tmp_path):
    folder = make_raw_dataset(tmp_path / "raw", n_cases=3, shape=(3, 20, 24), direction=oblique_direction(15))
    return folder / "imagesTr"


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or "partial" in p.name]


def test_cli_writes_outputs_and_skips_existing(model, scans, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["-i", str(scans), "-o", str(out), "-s", "2.5", "-d", "1", "-f", "0", "-npp", "0"]) == 0
    files = sorted(p.name for p in out.glob("*.nii.gz"))
    assert files == [f"case{i:03d}_0000.nii.gz" for i in range(3)]
    assert sorted(p.name for p in out.glob("*.autosr.json")) == [f"case{i:03d}.autosr.json" for i in range(3)]
    arr, geom = read_image(out / files[0])
    src, src_geom = read_image(scans / files[0])
    assert arr.shape == (3, 50, 60) and arr.dtype == np.float32
    np.testing.assert_allclose(geom.fov_corners(arr.shape), src_geom.fov_corners(src.shape), atol=1e-3)
    assert "3 scan(s) written" in capsys.readouterr().out
    before = (out / files[0]).stat().st_mtime_ns
    assert main(["-i", str(scans), "-o", str(out), "-s", "2.5", "-d", "1", "-f", "0", "-npp", "0"]) == 0
    assert "0 scan(s) written" in capsys.readouterr().out and (out / files[0]).stat().st_mtime_ns == before
    assert main(["-i", str(scans), "-o", str(out), "-s", "2", "-d", "1", "-f", "0", "--overwrite", "--keep_dtype",
                 "-npp", "0"]) == 0
    arr, _ = read_image(out / files[0])
    assert arr.shape == (3, 40, 48) and arr.dtype == np.int16


def test_fold_ensemble_is_the_mean(model, scans):
    case, _ = read_image(scans / "case000_0000.nii.gz")
    preds = [Predictor.from_model_folder(model, folds=f, device="cpu", progress=False) for f in ([0], [1], [0, 1])]
    slices = preds[0].prepare(case[None], 2).slices
    outs = [p.super_resolve(slices, 2) for p in preds]
    assert not np.allclose(outs[0], outs[1])
    np.testing.assert_allclose(outs[2], (outs[0] + outs[1]) / 2, rtol=1e-5, atol=1e-6)
    assert Predictor.from_model_folder(model, folds=None, device="cpu").networks.__len__() == 2  # default: all folds


def test_workers_and_parts_give_the_same_files(model, scans, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["-i", str(scans), "-o", str(a), "-s", "3", "-m", str(model), "-f", "0", "-npp", "0"]) == 0
    for k in range(2):
        assert main(["-i", str(scans), "-o", str(b), "-s", "3", "-m", str(model), "-f", "0", "-npp", "2",
                     "--num_parts", "2", "--part_id", str(k)]) == 0
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for p in a.glob("*.nii.gz"):
        np.testing.assert_array_equal(read_image(p)[0], read_image(b / p.name)[0])


def test_target_spacing_and_2d_input(model, tmp_path):
    inp = tmp_path / "in"
    write_image(phantom((1, 30, 28), seed=1)[0], Geometry((0.9, 0.9), (0, 0), (1, 0, 0, 1)), inp / "slice.nrrd")
    assert main(["-i", str(inp / "slice.nrrd"), "-o", str(tmp_path / "o"), "--target_spacing", "0.3", "-d", "1",
                 "-npp", "0"]) == 0
    arr, geom = read_image(tmp_path / "o" / "slice_0000.nrrd")
    assert arr.shape == (90, 84)
    np.testing.assert_allclose(geom.spacing, (0.3, 0.3))


def _err(capsys):
    return capsys.readouterr().err


def test_errors_have_clear_messages(model, scans, tmp_path, capsys, autosr_folders):
    out = str(tmp_path / "out")
    base = ["-o", out, "-d", "1", "-npp", "0"]
    two_ch = make_model_folder(autosr_folders["results"], channels=("T1", "T2"), dataset="Dataset002_Two")
    cases = [
        (["-i", str(scans), "-s", "0.9"] + base, "must be greater than 1"),
        (["-i", str(scans), "-s", "1"] + base, "must be greater than 1"),
        (["-i", str(scans), "-s", "two"] + base, "is not a number"),
        (["-i", str(scans), "-s", "5"] + base, "--allow_extrapolation"),
        (["-i", str(scans), "-s", "2", "-o", out, "-d", "9"], "no trained model for dataset '9'"),
        (["-i", str(scans), "-s", "2", "-o", out, "-d", "1", "-c", "3d"], "model folder not found"),
        (["-i", str(scans), "-s", "2", "-o", out, "-d", "1", "-f", "4"], "-f 4: fold_4 does not exist"),
        (["-i", str(scans), "-s", "2", "-o", str(scans / "sr"), "-d", "1"], "inside the input folder"),
        (["-i", str(scans), "-s", "2", "-o", out, "-m", str(two_ch)], "misses channel file(s) case000_0001"),
    ]
    for argv, msg in cases:
        assert main(argv) == 1, argv
        err = _err(capsys)
        assert "autosr_predict: error:" in err and msg in err, (argv, err)
    loose = tmp_path / "loose.nii.gz"
    loose.write_bytes((scans / "case000_0000.nii.gz").read_bytes())
    assert main(["-i", str(loose), "-s", "2", "-o", out, "-m", str(two_ch)]) == 1
    assert "the model needs 2 channels per scan" in _err(capsys)
    with pytest.raises(ModelMismatchError, match="needs \\(2, \\[z,\\] y, x\\)"):
        Predictor.from_model_folder(two_ch, device="cpu").predict_case(np.zeros((1, 3, 8, 8)), None, 2)
    (scans / "case001_0001.nii.gz").write_bytes((scans / "case001_0000.nii.gz").read_bytes())
    assert main(["-i", str(scans), "-s", "2"] + base) == 1
    assert "has channel 1 but the model was trained on 1 channel" in _err(capsys)
    (scans / "case001_0001.nii.gz").unlink()
    raw = gzip.decompress((scans / "case002_0000.nii.gz").read_bytes())
    (scans / "case002_0000.nii.gz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    assert main(["-i", str(scans), "-s", "2"] + base) == 1
    err = _err(capsys)
    assert "case002_0000.nii.gz" in err and "truncated" in err


@pytest.mark.parametrize("ending", [".nii.gz", ".nrrd"])  # streamed NIfTI, buffered SimpleITK write
def test_crash_while_writing_leaves_no_partial_file(model, tmp_path, monkeypatch, ending):
    scans = make_raw_dataset(tmp_path / "raw", n_cases=3, shape=(3, 20, 24), file_ending=ending) / "imagesTr"
    out, calls = tmp_path / "out", []
    if ending == ".nii.gz":
        from autosr.inference import writer
        real = writer._ChannelStream.write

        def flaky(self, data):
            calls.append(self.final.name)
            if self.final.name.startswith("case001") and calls.count(self.final.name) > 3:  # some way into it
                raise OSError("disk on fire")
            return real(self, data)
        monkeypatch.setattr(writer._ChannelStream, "write", flaky)
    else:
        real_write = sitk.WriteImage

        def flaky(img, path, *args, **kwargs):
            if "case001" in str(path):  # the second scan: write half a file into the temporary folder, then die
                with open(path, "wb") as f:
                    f.write(b"\x00" * 100)
                raise OSError("disk on fire")
            return real_write(img, path, *args, **kwargs)
        monkeypatch.setattr(sitk, "WriteImage", flaky)
    with pytest.raises(OSError, match="disk on fire"):
        Predictor.from_model_folder(model, folds=[0], device="cpu", progress=False).predict_files(
            scans, out, scale=2, num_workers=1)
    files = sorted(p.name for p in out.iterdir())  # the scan after the failed one may have finished too
    assert f"case000_0000{ending}" in files and f"case001_0000{ending}" not in files and not _leftovers(out)
    assert read_image(out / f"case000_0000{ending}")[0].shape == (3, 40, 48)


def test_ctrl_c_keeps_finished_scans_only(model, scans, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    from autosr.networks.meta_sr import MetaSRGenerator
    real_forward, seen = MetaSRGenerator.forward, []

    def interrupted(self, x, scale):
        seen.append(1)
        if len(seen) == 2:  # first batch of the second scan
            raise KeyboardInterrupt
        return real_forward(self, x, scale)

    monkeypatch.setattr(MetaSRGenerator, "forward", interrupted)
    code = main(["-i", str(scans), "-o", str(out), "-s", "2", "-d", "1", "-f", "0", "--batch_size", "8",
                 "-npp", "2"])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["case000.autosr.json", "case000_0000.nii.gz"]
    assert not _leftovers(out)
    assert read_image(out / "case000_0000.nii.gz")[0].shape == (3, 40, 48)


def test_a_conditioned_model_is_told_the_acquisition(model, scans, tmp_path, capsys, autosr_folders):
    import json

    import torch
    net = {"name": "MetaSR", "width": 8, "depth": 1, "mlp_hidden": 16, "upsample_skip": "bicubic",
           "acquisitions": ["paper", "kspace"]}
    told = make_model_folder(autosr_folders["results"], net=net, dataset="Dataset003_Told")
    ckpt_path = told / "fold_0" / "checkpoint_final.pth"
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["generator"]["film.weight"] = torch.randn_like(ckpt["generator"]["film.weight"])  # as if trained
    torch.save(ckpt, ckpt_path)
    out = tmp_path / "out"
    argv = ["-i", str(scans / "case000_0000.nii.gz"), "-o", str(out), "-s", "2", "-m", str(told), "-npp", "0"]
    assert main(argv) == 0
    unknown, _ = read_image(out / "case000_0000.nii.gz")
    assert main(argv + ["--acquisition", "kspace"]) == 0
    assert "predicting again" in _err(capsys)  # another request than the unknown one
    kspace, _ = read_image(out / "case000_0000.nii.gz")
    assert not np.allclose(kspace, unknown)
    record = json.loads((out / "case000.autosr.json").read_text())
    assert record["request"]["acquisition"] == "kspace"
    assert main(argv + ["--acquisition", "kspace"]) == 0 and "0 scan(s) written" in capsys.readouterr().out
    # the same through the Python API
    case, _ = read_image(scans / "case000_0000.nii.gz")
    pred = Predictor.from_model_folder(told, device="cpu", progress=False, acquisition="kspace")
    np.testing.assert_allclose(pred.predict_case(case[None], None, 2)[0][0], kspace, rtol=1e-4, atol=1e-3)
    # a kind it was not trained with, or any kind for a blind model, is refused naming the choices
    assert main(argv + ["--acquisition", "ct"]) == 1
    assert "acquisition 'ct': this model can be told paper, kspace" in _err(capsys)
    assert main(["-i", str(scans), "-o", str(tmp_path / "o2"), "-s", "2", "-d", "1", "-npp", "0",
                 "--acquisition", "kspace"]) == 1
    assert "trained blind" in _err(capsys) and not (tmp_path / "o2").exists()
