"""A model in one file: export → install / open from the zip → predict bitwise as the model folder; the zip's
size and contents; unsafe zips (pickles that run code, zip-slip, tampering, too new) refused; built-in models
and the three commands."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import pathlib
import pickle
import re
import stat
import zipfile
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import pytest
import torch

from autosr import __version__
from autosr.commands import models as commands
from autosr.commands.predict import main as predict_main
from autosr.imageio import Geometry, read_image
from autosr.inference import model_package as mp
from autosr.inference.model_folder import ModelNotFoundError
from autosr.inference.model_package import (MANIFEST, ModelPackageError, builtin_card, export_model, install_model,
                                            list_builtin_models, open_model, predictor_from, read_manifest)
from autosr.inference.predictor import Predictor
from autosr.plans import Plans
from tests.inference.helpers import make_model_folder
from tests.synthetic import make_raw_dataset, oblique_direction, phantom

TRAINING_ONLY = {"critic", "critic_config", "optimizer_g", "optimizer_c", "scheduler_g", "scheduler_c", "rng",
                 "history", "overrides"}
DATASET_INFO = {"name": "Synth", "description": "synthetic phantoms", "channel_names": {"0": "T2"},
                "file_ending": ".nii.gz", "numTraining": 3, "license": "CC-BY 4.0 (cases 0-2)",
                "reference": "tests/synthetic.py"}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Zips open into a cache of this test's own (never ~/.cache)."""
    monkeypatch.setenv("AUTOSR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def add_training_state(folder: Path, critic_numel: int = 1000) -> None:
    """Make each fold of a hand-built model folder look trained: a checkpoint with critic, optimiser, scheduler
    and rng states and the resolved configuration, plus the files training and evaluation leave beside it."""
    config = Plans.load(folder / "plans.json").configuration(folder.name.split("__")[2]).to_dict()
    (folder / "dataset.json").write_text(json.dumps(DATASET_INFO), encoding="utf-8")
    for fold_dir in sorted(folder.glob("fold_*")):
        path = fold_dir / "checkpoint_final.pth"
        ckpt = torch.load(path, weights_only=True)
        ckpt.update({
            "format": "autosr-checkpoint", "format_version": 1,
            "critic": {"w": torch.randn(critic_numel)}, "critic_config": {"name": "WGANCritic", "in_channels": 1},
            "optimizer_g": {"state": {0: {"exp_avg": torch.randn(critic_numel)}}, "param_groups": []},
            "optimizer_c": {"state": {}, "param_groups": []}, "scheduler_g": {"last_epoch": 40},
            "scheduler_c": {"last_epoch": 40}, "rng": {"torch": torch.get_rng_state()},
            "step": 40, "phase": "gan", "gan_started": True, "total_steps": 40, "configuration": config,
            "overrides": {"training.steps": 40}, "history": {"train": [], "val": []}, "best_val_psnr": 30.5,
            "last_validation": {"2.0": {"psnr": 30.5}}, "losses_effective": [{"name": "L1Loss", "weight": 1.0,
                                                                              "phase": "all"}],
            "seconds": {"run": 12.5, "validation": 1.5}})
        torch.save(ckpt, path)
        torch.save(ckpt, fold_dir / "checkpoint_latest.pth")
        (fold_dir / "validation.json").write_text(json.dumps({"step": 40, "results": {"2.0": {"psnr": 30.5}}}))
        (fold_dir / "training_log.txt").write_text("step 40 l1 0.01\n")
        (fold_dir / "progress.png").write_bytes(b"\x89PNG not really")
        (fold_dir / "evaluation_val").mkdir()
        (fold_dir / "evaluation_val" / "summary.json").write_text(json.dumps({"2.0": {"psnr": [31.0, 0.5]}}))
        (fold_dir / "evaluation_val" / "metrics_per_slice.csv").write_text("case,slice,psnr\n")


@pytest.fixture
def model(autosr_folders) -> Path:
    folder = make_model_folder(autosr_folders["results"], folds=(0, 1))
    add_training_state(folder)
    return folder


@pytest.fixture
def model_zip(model, tmp_path) -> Path:
    return export_model(model, tmp_path / "model.zip")


def rezip(src: Path, dst: Path, replace: Optional[Dict[str, bytes]] = None, infos: Optional[Dict[str, int]] = None,
          manifest: Optional[Callable[[dict], None]] = None, fix_checksums: bool = True, drop=()) -> Path:
    """A copy of a model zip with members replaced or added (``infos``: name → external_attr), its manifest
    edited, and (``fix_checksums``) the manifest's checksums made to match, so only the check under test can
    refuse it."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n not in drop}
    members.update(replace or {})
    man = json.loads(members.pop(MANIFEST))
    if fix_checksums:
        man["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in members.items()}
    if manifest:
        manifest(man)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (infos or {}).get(name, (stat.S_IFREG | 0o644) << 16)
            zf.writestr(info, data)
        zf.writestr(MANIFEST, json.dumps(man))
    return dst


def _case():
    arr = phantom((3, 20, 24), seed=4)[None]
    return arr, Geometry((0.9, 0.9, 3.0), (1.0, -2.0, 3.0), oblique_direction(10))


# ---------------------------------------------------------------------------- (a) bitwise predictions
def test_export_install_predict_is_bitwise_identical(model, model_zip, tmp_path):
    with zipfile.ZipFile(model_zip) as zf:
        names = set(zf.namelist())
    assert names == {MANIFEST, "plans.json", "dataset.json",
                     *(f"fold_{k}/{n}" for k in (0, 1) for n in ("checkpoint_final.pth", "training_summary.json",
                                                                  "validation.json", "evaluation_val/summary.json"))}
    manifest = read_manifest(model_zip)
    assert manifest["format"] == mp.FORMAT_VERSION and manifest["autosr_version"] == __version__
    assert manifest["dataset"] == "Dataset001_Synth" and manifest["folds"] == ["0", "1"]
    assert manifest["model"] == {"folder": model.name, "trainer": "MetaSRTrainer", "plans": "autosrPlans",
                                 "configuration": "2d_cpu", "system": None}
    assert manifest["provenance"] == {k: DATASET_INFO[k] for k in ("name", "description", "license", "reference",
                                                                   "numTraining")}
    assert manifest["scales"]["max"] == 4.0 and manifest["channels"] == {"names": ["T2"], "modalities": ["MR"]}
    assert set(manifest["files"]) == names - {MANIFEST}

    fresh = tmp_path / "fresh_results"
    installed = install_model(model_zip, results=fresh)
    assert installed == fresh / "Dataset001_Synth" / model.name
    assert [p.name for p in installed.parent.iterdir()] == [model.name]  # no temporary folder left
    slim = torch.load(installed / "fold_0" / "checkpoint_final.pth", weights_only=True)
    assert not TRAINING_ONLY & set(slim) and {"generator", "generator_config", "identity", "configuration"} <= set(slim)
    original = torch.load(model / "fold_0" / "checkpoint_final.pth", weights_only=True)["generator"]
    for k, v in original.items():
        assert slim["generator"][k].dtype == v.dtype and torch.equal(slim["generator"][k], v)
    summary = json.loads((installed / "fold_0" / "training_summary.json").read_text())
    assert summary["step"] == 40 and summary["losses_effective"][0]["name"] == "L1Loss"
    assert summary["seconds"] == {"run": 12.5, "validation": 1.5}

    case, geom = _case()
    predict = [Predictor.from_model_folder(f, folds=None, device="cpu", progress=False).predict_case(case, geom, 2.5)
               for f in (model, installed, open_model(model_zip))]
    assert predict[0][0].shape == (1, 3, 50, 60)
    for sr, g in predict[1:]:
        assert np.array_equal(sr, predict[0][0]) and g == predict[0][1]

    scans = make_raw_dataset(tmp_path / "raw", n_cases=1, shape=(3, 20, 24)) / "imagesTr"
    outputs = []
    for k, spec in enumerate((model, installed, open_model(str(model_zip)))):
        out = tmp_path / f"out{k}"
        assert predict_main(["-i", str(scans), "-o", str(out), "-s", "2.5", "-m", str(spec), "-npp", "0",
                             "--device", "cpu", "--disable_progress_bar"]) == 0
        outputs.append(read_image(out / "case000_0000.nii.gz")[0])
    assert all(np.array_equal(o, outputs[0]) for o in outputs[1:])


def test_zip_opens_once_into_the_cache_and_predictor_from(model_zip, cache, caplog):
    with caplog.at_level(logging.INFO):
        first = open_model(model_zip)
    assert first.parent.parent == cache / "models" and first.parent.name == \
        hashlib.sha256(model_zip.read_bytes()).hexdigest()[:16]
    assert "checked and extracted" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="autosr.inference.model_package"):
        assert open_model(str(model_zip)) == first
    assert "checked and extracted" not in caplog.text  # reused, not extracted again
    assert [p.name for p in (cache / "models").iterdir()] == [first.parent.name]
    pred = predictor_from(model_zip, device="cpu", progress=False)
    assert len(pred.networks) == 2 and predictor_from(pred) is pred
    assert len(predictor_from(model_zip, folds=[1], device="cpu").networks) == 1


def test_install_refuses_another_model_unless_overwrite(model, model_zip, tmp_path, autosr_folders):
    fresh = tmp_path / "fresh"
    installed = install_model(model_zip, results=fresh)
    assert install_model(model_zip, results=fresh) == installed  # the same model: left as it is
    other = make_model_folder(tmp_path / "other", folds=(0,), seed=7)
    other_zip = export_model(other, tmp_path / "other.zip")
    with pytest.raises(ModelPackageError, match="already holds another model .*--overwrite"):
        install_model(other_zip, results=fresh)
    assert (installed / "fold_1").is_dir()  # untouched
    assert install_model(other_zip, results=fresh, overwrite=True) == installed
    assert not (installed / "fold_1").exists() and read_manifest(other_zip)["files"] == \
        json.loads((installed / MANIFEST).read_text())["files"]
    assert sorted(p.name for p in installed.parent.iterdir()) == [installed.name]
    # the model folder it was trained in is "a model trained here"
    with pytest.raises(ModelPackageError, match="a model trained here"):
        install_model(other_zip, results=autosr_folders["results"])


# ---------------------------------------------------------------------------- (b) a paper-size model is small
def test_paper_size_miassr_zip_is_small_and_slim(tmp_path):
    folder = make_model_folder(tmp_path / "res", net={"name": "MetaSR"})  # registry defaults: width 64, depth 16
    add_training_state(folder, critic_numel=3_000_000)  # a critic and Adam moments: 24 MB of training state
    assert (folder / "fold_0" / "checkpoint_final.pth").stat().st_size > 20e6
    z = export_model(folder, tmp_path / "paper.zip")
    manifest = read_manifest(z)
    assert 1.3e6 < manifest["network"]["parameters"] < 1.5e6 and manifest["network"]["dtypes"] == ["float32"]
    assert z.stat().st_size <= 8e6
    with zipfile.ZipFile(z) as zf:
        ckpt = torch.load(io.BytesIO(zf.read("fold_0/checkpoint_final.pth")), weights_only=True)
    assert set(ckpt) <= set(mp.PREDICTION_KEYS) and not TRAINING_ONLY & set(ckpt)


# ---------------------------------------------------------------------------- (c) a pickle that runs code
class _TouchOnLoad:
    """Unpickling it creates ``marker``: what a malicious checkpoint would do (run code on load)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch's note on the plain pickle
def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(model_zip, tmp_path, cache):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_TouchOnLoad(proof)))  # the payload works when unpickled without restriction
    assert proof.exists()
    marker = tmp_path / "marker"
    buffer = io.BytesIO()
    torch.save({"generator": _TouchOnLoad(marker), "generator_config": {"name": "MetaSR", "in_channels": 1},
                "identity": {}}, buffer)
    evil = rezip(model_zip, tmp_path / "evil.zip", {"fold_0/checkpoint_final.pth": buffer.getvalue()})
    plain = rezip(model_zip, tmp_path / "plain.zip",
                  {"fold_1/checkpoint_final.pth": pickle.dumps({"generator": _TouchOnLoad(marker)})})
    fresh = tmp_path / "fresh"
    for z in (evil, plain):
        for load in (lambda: open_model(z), lambda: install_model(z, results=fresh),
                     lambda: predictor_from(z, device="cpu")):
            with pytest.raises(ModelPackageError, match=r"member fold_\d/checkpoint_final.pth is not a checkpoint "
                                                        r"AutoSR can load safely"):
                load()
            assert not marker.exists()
    assert not (fresh / "Dataset001_Synth").exists() or not any((fresh / "Dataset001_Synth").iterdir())
    assert not (cache / "models").exists() or not any((cache / "models").iterdir())  # nothing cached


def test_a_generator_naming_outside_code_or_not_fitting_is_refused(model, model_zip, tmp_path):
    ckpt = torch.load(model / "fold_0" / "checkpoint_final.pth", weights_only=True)
    ckpt["generator_config"]["body"] = "antigravity:Body"  # importing a module runs it
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    bad = rezip(model_zip, tmp_path / "bad.zip", {"fold_0/checkpoint_final.pth": buffer.getvalue()})
    with pytest.raises(ModelPackageError, match="names code outside AutoSR .antigravity:Body"):
        open_model(bad)
    ckpt["generator_config"].pop("body")
    ckpt["generator_config"]["width"] = 16  # weights of width 8
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)
    bad = rezip(model_zip, tmp_path / "bad2.zip", {"fold_0/checkpoint_final.pth": buffer.getvalue()})
    with pytest.raises(ModelPackageError, match="generator cannot be built from it: .*do not fit"):
        open_model(bad)


# ---------------------------------------------------------------------------- (d) names, checksums, versions
@pytest.mark.parametrize("name,attr,why", [
    ("../evil.json", None, "not a plain relative path"),
    ("fold_0/../../evil.json", None, "not a plain relative path"),
    ("/tmp/evil.json", None, "absolute path"),
    ("C:/evil.json", None, "absolute path"),
    ("fold_0\\..\\evil.json", None, "backslash"),
    ("fold_0/link.json", (stat.S_IFLNK | 0o777) << 16, "symbolic link"),
    ("fold_0/run.py", None, "not a kind of file a model holds"),
    (".hidden.json", None, "starts with a dot"),
])
def test_unsafe_member_names_are_refused(model_zip, tmp_path, name, attr, why):
    bad = rezip(model_zip, tmp_path / "bad.zip", {name: b"{}"}, infos={name: attr} if attr else None)
    for load in (lambda: open_model(bad), lambda: install_model(bad, results=tmp_path / "fresh"), lambda: read_manifest(bad)):
        with pytest.raises(ModelPackageError, match=rf"bad.zip: member {re.escape(repr(name))} .*{why}"):
            load()
    assert not (tmp_path / "evil.json").exists() and not (tmp_path.parent / "evil.json").exists()
    assert not (tmp_path / "fresh").exists()


def test_too_large_and_damaged_zips_are_refused(model_zip, tmp_path, monkeypatch):
    tampered = rezip(model_zip, tmp_path / "tampered.zip", {"plans.json": b'{"edited": true}'}, fix_checksums=False)
    with pytest.raises(ModelPackageError, match="member plans.json does not match its checksum"):
        install_model(tampered, results=tmp_path / "fresh")
    assert not any((tmp_path / "fresh" / "Dataset001_Synth").iterdir())  # the temporary folder went too
    extra = rezip(model_zip, tmp_path / "extra.zip", {"notes.txt": b"hi"}, fix_checksums=False)
    with pytest.raises(ModelPackageError, match="member notes.txt is not listed in autosr_model.json"):
        open_model(extra)
    missing = rezip(model_zip, tmp_path / "missing.zip", drop=("fold_1/checkpoint_final.pth",))
    with pytest.raises(ModelPackageError, match="lacks fold_1/checkpoint_final.pth"):
        open_model(missing)
    no_manifest = tmp_path / "plain.zip"
    with zipfile.ZipFile(no_manifest, "w") as zf:
        zf.writestr("plans.json", "{}")
    with pytest.raises(ModelPackageError, match="plain.zip: not an AutoSR model zip .no autosr_model.json"):
        open_model(no_manifest)
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(ModelPackageError, match="garbage.zip: not an AutoSR model zip"):
        open_model(garbage)
    monkeypatch.setattr(mp, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(ModelPackageError, match="uncompressed size above"):
        open_model(model_zip)


def test_a_newer_format_is_refused_and_an_older_version_read(model_zip, tmp_path, caplog):
    def newer(m):
        m.update(format=mp.FORMAT_VERSION + 1, autosr_version="9.0.0")
    new = rezip(model_zip, tmp_path / "new.zip", manifest=newer)
    msg = (rf"new.zip: made by AutoSR 9.0.0 \(model format {mp.FORMAT_VERSION + 1}\); this AutoSR {__version__} "
           rf"reads formats up to {mp.FORMAT_VERSION}: upgrade AutoSR \(pip install -U")
    for load in (lambda: open_model(new), lambda: install_model(new, results=tmp_path / "fresh"),
                 lambda: read_manifest(new)):
        with pytest.raises(ModelPackageError, match=msg):
            load()
    old = rezip(model_zip, tmp_path / "old.zip", manifest=lambda m: m.update(autosr_version="0.0.1"))
    with caplog.at_level(logging.INFO, logger="autosr.inference.model_package"):
        folder = install_model(old, results=tmp_path / "fresh")
    assert (folder / "fold_0" / "checkpoint_final.pth").is_file()
    assert (f"made by AutoSR 0.0.1, this is AutoSR {__version__}: model format {mp.FORMAT_VERSION} is read by this "
            f"version") in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="autosr.inference.model_package"):
        open_model(model_zip)  # same version: no such line
    assert "made by AutoSR" not in caplog.text


# ---------------------------------------------------------------------------- (e) built-in models
def test_builtin_models_listed_and_opened(model_zip, tmp_path, monkeypatch, capsys):
    builtin = tmp_path / "builtin"
    builtin.mkdir()
    (builtin / "tiny.zip").write_bytes(model_zip.read_bytes())
    (builtin / "tiny.md").write_text("# tiny\n")
    monkeypatch.setattr(mp, "BUILTIN_DIR", builtin)
    assert list_builtin_models() == {"tiny": builtin / "tiny.zip"}
    assert builtin_card("tiny") == builtin / "tiny.md"
    folder = open_model("builtin:tiny")
    assert (folder / "fold_0" / "checkpoint_final.pth").is_file() and folder.name == read_manifest(model_zip)["model"]["folder"]
    with pytest.raises(ModelNotFoundError, match="builtin:nope: no such built-in model; built-in models: builtin:tiny"):
        open_model("builtin:nope")
    assert commands.list_main([]) == 0
    out = capsys.readouterr().out
    assert "builtin:tiny  synthetic phantoms; in-plane x(1, 4]; channels T2; licence: CC-BY 4.0 (cases 0-2)" in out
    assert "Dataset001_Synth  MetaSRTrainer__autosrPlans__2d_cpu  fold(s) 0, 1" in out
    monkeypatch.setattr(mp, "BUILTIN_DIR", tmp_path / "none")
    with pytest.raises(ModelNotFoundError, match="built-in models: none in this AutoSR"):
        open_model("builtin:tiny")


# ---------------------------------------------------------------------------- (f) the commands
def test_export_and_install_commands(model, tmp_path, capsys):
    z1, z2 = tmp_path / "d.zip", tmp_path / "m.zip"
    fingerprint = b'{"dataset_name": "Dataset001_Synth", "cases": {}}'  # copied byte for byte (never parsed)
    (model / "dataset_fingerprint.json").write_bytes(fingerprint)
    assert commands.export_main(["-d", "1", "-o", str(z1)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {z1} (" in out and "MB): Dataset001_Synth/MetaSRTrainer__autosrPlans__2d_cpu, fold(s) 0, 1" in out
    with zipfile.ZipFile(z1) as zf:
        assert zf.read("dataset_fingerprint.json") == fingerprint
    assert commands.export_main(["-m", str(model), "-f", "1", "-o", str(z2)]) == 0
    assert read_manifest(z2)["folds"] == ["1"]
    for argv, msg in ((["-d", "1", "-c", "2d", "-o", str(z1)], "model folder not found"),
                      (["-d", "7", "-o", str(z1)], "no trained model for dataset '7'"),
                      (["-m", str(tmp_path / "nope"), "-o", str(z1)], "model folder does not exist"),
                      (["-m", str(model), "-f", "7", "-o", str(z1)], "fold_7 does not exist"),
                      (["-d", "1", "-chk", "checkpoint_best.pth", "-o", str(z1)], "no fold holds checkpoint_best.pth"),
                      (["-d", "1", "-o", str(tmp_path / "m.tar")], "ends in .zip")):
        assert commands.export_main(argv) == 1
        assert "autosr_export_model: error: " in (err := capsys.readouterr().err) and msg in err
    with pytest.raises(SystemExit):
        commands.export_main(["-o", str(z1)])  # -d or -m is required
    fresh = tmp_path / "fresh"
    assert commands.install_main([str(z1), "--results", str(fresh)]) == 0
    out = capsys.readouterr().out
    assert f"into {fresh / 'Dataset001_Synth' / model.name}" in out
    assert "autosr_predict -i IN -o OUT -s 2 -d Dataset001_Synth -c 2d_cpu" in out
    assert commands.install_main([str(z2), "--results", str(fresh)]) == 1
    assert "already holds another model" in capsys.readouterr().err
    assert commands.install_main([str(z2), "--results", str(fresh), "--overwrite"]) == 0
    assert commands.install_main([str(tmp_path / "absent.zip")]) == 1
    assert "absent.zip: model zip does not exist" in capsys.readouterr().err
