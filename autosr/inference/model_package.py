"""A model in one file: export a model folder to a zip, install it, predict from it, built-in models.

    from autosr.inference.model_package import export_model, install_model, open_model, predictor_from
    export_model(folder, "brain.zip")                   # what prediction needs, nothing else
    install_model("brain.zip")                          # → $AUTOSR_RESULTS/DatasetXXX/Trainer__plans__config/
    pred = predictor_from("brain.zip", device="cpu")    # or a model folder, or "builtin:NAME"

A model zip (documentation/sharing.md) holds ``autosr_model.json`` (the manifest: format, AutoSR
version, model, dataset, folds, scales, channels, the training data's provenance and licence, and
the sha256 of every other member), ``plans.json``, ``dataset.json``, ``dataset_fingerprint.json``,
and per fold a slim ``fold_N/checkpoint_final.pth`` (the generator and what prediction reads: no
critic, no optimiser) with small training and evaluation summaries.

A zip is untrusted input: its member names, kinds and sizes are checked before anything is
written, every member must match its checksum, and every checkpoint is loaded with
``torch.load(weights_only=True)`` (which never runs code) before an extraction is accepted.
Extractions go to a temporary folder beside their destination and are renamed into place, so
nothing is ever half-installed.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import logging
import os
import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import torch

from autosr import __version__
from autosr.checkpoint import CheckpointError, generator_from_checkpoint, load_checkpoint
from autosr.dataset import atomic_file, pid_tag, remove_partials
from autosr.errors import AutoSRError
from autosr.inference.model_folder import (DEFAULT_CHECKPOINT, FoldLike, ModelNotFoundError, list_model_folders,
                                           open_model_folder)
from autosr.paths import DATASET_RE, results_dir
from autosr.registry import is_import_spec

if TYPE_CHECKING:  # predictor imports torch networks; only predictor_from needs it
    from autosr.inference.predictor import Predictor

logger = logging.getLogger(__name__)

#: The model format this AutoSR writes; it reads every format up to it.
FORMAT_VERSION = 1
MANIFEST = "autosr_model.json"
#: Every fold's checkpoint is stored under this name, whatever it was called in the model folder,
#: so prediction's default ``-chk`` finds it.
ZIP_CHECKPOINT = DEFAULT_CHECKPOINT
#: Model-level files copied as they are (plans.json is required, the others when present).
MODEL_FILES = ("plans.json", "dataset.json", "dataset_fingerprint.json")
#: Checkpoint keys prediction reads (Predictor.from_model_folder) and the checkpoint's format tag.
PREDICTION_KEYS = ("format", "format_version", "generator", "generator_config", "identity", "configuration", "step")
#: Small training facts written to ``fold_N/training_summary.json`` (never the states that resume a run).
SUMMARY_KEYS = ("step", "total_steps", "phase", "gan_started", "seconds", "losses_effective", "last_validation",
                "best_val_psnr", "overrides", "world_size")
#: dataset.json keys copied verbatim into the manifest's provenance.
PROVENANCE_KEYS = ("name", "description", "license", "licence", "reference", "numTraining")
ALLOWED_SUFFIXES = (".json", ".pth", ".md", ".txt", ".csv", ".png")
MAX_TOTAL_BYTES = 2 * 1024 ** 3
MAX_MEMBERS = 10_000
MAX_DEPTH = 4
#: Larger summaries (a huge validation.json) are left out of an export rather than bloat it.
MAX_SUMMARY_BYTES = 1024 ** 2
MAX_MANIFEST_BYTES = 16 * 1024 ** 2
BUILTIN_PREFIX = "builtin:"
#: The zips (and ``NAME.md`` model cards) shipped inside the package.
BUILTIN_DIR = Path(__file__).resolve().parents[1] / "models" / "builtin"

_PART_RE = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]*")
_FOLD_RE = re.compile(r"\d+|all")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1024 ** 2
_HINT = "do not use it; download or export it again (autosr_export_model)"


class ModelPackageError(AutoSRError):
    """A model zip cannot be written, is not an AutoSR model zip, or is unsafe, damaged or too new."""


# -- small helpers ----------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_bytes(data: Any) -> bytes:
    # tensors or other odd values in a training checkpoint's metadata become lists / text, never an error
    return (json.dumps(data, indent=2, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)) + "\n"
            ).encode("utf-8")


def _fold_key(fold: str):
    return (fold == "all", int(fold) if fold.isdigit() else 0)


def cache_dir() -> Path:
    """Where zips are extracted for prediction: ``$AUTOSR_CACHE``, else ``$XDG_CACHE_HOME/autosr``, else
    ``~/.cache/autosr``."""
    if os.environ.get("AUTOSR_CACHE"):
        return Path(os.environ["AUTOSR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "autosr"


def _folder_name_problem(name: Any) -> Optional[str]:
    """Why ``name`` is not a safe ``Trainer__plans__configuration[__system]`` folder name, else ``None``."""
    if not isinstance(name, str):
        return f"must be a folder name, got {name!r}"
    parts = name.split("__")
    if len(parts) not in (3, 4) or not all(_PART_RE.fullmatch(p) for p in parts):
        return f"{name!r} is not Trainer__plans__configuration[__system] (letters, digits, _ . + -)"
    return None


def _import_specs(value: Any) -> List[str]:
    """Strings in a (nested) config that name code outside AutoSR (``module:Class``, ``file.py:Class``)."""
    if isinstance(value, str):
        return [value] if is_import_spec(value) else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _import_specs(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _import_specs(v)]
    return []


def _shareable_problem(ckpt: Dict[str, Any]) -> Optional[str]:
    """Why a checkpoint cannot travel in a zip: a generator that is not one of AutoSR's registered networks
    (building it would import code the zip cannot carry, or code an attacker names)."""
    from autosr.networks import list_networks
    cfg = ckpt.get("generator_config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("name"), str):
        return "its generator_config is not a dict with a network name"
    specs = _import_specs(cfg)
    if specs:
        return f"its generator names code outside AutoSR ({specs[0]}); a shared model uses AutoSR's own networks"
    if cfg["name"] not in list_networks():
        return f"its generator {cfg['name']!r} is not one of AutoSR's networks ({', '.join(list_networks())})"
    return None


# -- export -----------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelPackageError(f"{path}: cannot be read as JSON ({exc}); the model folder is damaged") from None


def _dataset_of(folder: Path, plans: Dict[str, Any]) -> str:
    """The dataset the model belongs to: its results folder's name, else the plans' ``dataset_name``."""
    for name in (folder.parent.name, plans.get("dataset_name")):
        if isinstance(name, str) and DATASET_RE.match(name):
            return name
    raise ModelPackageError(f"{folder}: cannot tell its dataset (neither its parent folder nor plans.json's "
                            f"dataset_name is DatasetXXX_Name)")


def _slim_checkpoint(ckpt: Dict[str, Any]) -> bytes:
    """The prediction keys of a checkpoint, serialised; the generator's tensors keep their dtype and values."""
    slim = {k: ckpt[k] for k in PREDICTION_KEYS if k in ckpt}
    # a copy per tensor, so no tensor drags a larger shared storage (a training buffer) into the file
    slim["generator"] = {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in ckpt["generator"].items()}
    buffer = io.BytesIO()
    torch.save(slim, buffer)
    return buffer.getvalue()


def _fold_summaries(fold_dir: Path) -> List[Path]:
    """A fold's small summaries: ``validation.json`` and each evaluation folder's ``summary.json``."""
    found = [fold_dir / "validation.json"] + sorted(fold_dir.glob("evaluation*/summary.json"))
    return [p for p in found if p.is_file() and p.stat().st_size <= MAX_SUMMARY_BYTES
            and _PART_RE.fullmatch(p.parent.name)]


def _scale_range(config: Dict[str, Any], generator_config: Dict[str, Any]) -> Dict[str, Any]:
    scales = config.get("scales", {}) if isinstance(config, dict) else {}
    one_axis = float(scales.get("single_axis_probability", 0.0) or 0.0) > 0
    return {"max": float(scales.get("max", 4.0)),
            "single_axis_max": float(scales.get("single_axis_max", 6.0)) if one_axis else None,
            "per_axis": bool(generator_config.get("per_axis_scale", False)),
            "acquisitions": list(generator_config.get("acquisitions", []))}


def _manifest(folder: Path, dataset: str, plans: Dict[str, Any], ckpt: Dict[str, Any], folds: List[str],
              checkpoint: str, files: Dict[str, str]) -> Dict[str, Any]:
    parts = folder.name.split("__") + [None]
    configuration = ckpt.get("configuration")
    if not isinstance(configuration, dict):
        configuration = plans.get("configurations", {}).get(parts[2], {})
    info = _read_json(folder / "dataset.json") if (folder / "dataset.json").is_file() else {}
    gen = ckpt["generator"]
    return {
        "format": FORMAT_VERSION, "autosr_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dataset": dataset,
        "model": {"folder": folder.name, "trainer": parts[0], "plans": parts[1], "configuration": parts[2],
                  "system": parts[3]},
        "folds": folds, "checkpoint": checkpoint,
        "scales": _scale_range(configuration, ckpt["generator_config"]),
        "channels": {"names": list(plans.get("channel_names", [])), "modalities": list(plans.get("modalities", []))},
        "network": {"name": ckpt["generator_config"].get("name"),
                    "parameters": int(sum(v.numel() for v in gen.values() if torch.is_tensor(v))),
                    "dtypes": sorted({str(v.dtype).replace("torch.", "") for v in gen.values() if torch.is_tensor(v)})},
        "provenance": {k: info[k] for k in PROVENANCE_KEYS if isinstance(info, dict) and k in info},
        "files": files,
    }


def _zipinfo(name: str, when: datetime.datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o644) << 16  # a plain file, whatever the umask of the unzipping tool
    return info


def export_model(model_folder: os.PathLike | str, output_zip: os.PathLike | str,
                 folds: Optional[Sequence[FoldLike]] = None, checkpoint: str = DEFAULT_CHECKPOINT) -> Path:
    """Write ``output_zip``: the model folder's plans, dataset description and fingerprint, and per fold
    (default: every fold holding ``checkpoint``) a slim ``fold_N/checkpoint_final.pth`` and its summaries,
    with the ``autosr_model.json`` manifest. Written to a temporary file beside it, then renamed."""
    mf = open_model_folder(model_folder, folds, checkpoint)  # says which folds / checkpoints exist
    folder = mf.path.resolve()
    problem = _folder_name_problem(folder.name)
    if problem:
        raise ModelPackageError(f"{folder}: not a model folder name: {problem}")
    plans = _read_json(folder / "plans.json")
    dataset = _dataset_of(folder, plans if isinstance(plans, dict) else {})
    output = Path(output_zip)
    if output.suffix.lower() != ".zip":
        raise ModelPackageError(f"-o {output}: a model file's name ends in .zip (e.g. {output.name}.zip)")
    if output.is_dir():
        raise ModelPackageError(f"-o {output}: is a folder; give the model file's name, e.g. {output / 'model.zip'}")
    if not (folder / "dataset.json").is_file():
        logger.warning("WARNING: %s has no dataset.json: the zip will not say what data (and licence) the model "
                       "was trained on", folder)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(output, sync=True) as raw:
        _write_zip(raw, mf.checkpoints, folder, dataset, plans, checkpoint)
    logger.debug("wrote %s (%.3g MB): %s/%s, fold(s) %s", output, output.stat().st_size / 1e6, dataset, folder.name,
                ", ".join(mf.checkpoints))
    return output


def _write_zip(raw: Any, checkpoints: Dict[str, Path], folder: Path, dataset: str, plans: Dict[str, Any],
               checkpoint: str) -> None:
    when = datetime.datetime.now()
    files: Dict[str, str] = {}
    first: Optional[Dict[str, Any]] = None
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, data: bytes) -> None:
            zf.writestr(_zipinfo(name, when), data)
            files[name] = hashlib.sha256(data).hexdigest()

        for name in MODEL_FILES:
            if (folder / name).is_file():
                add(name, (folder / name).read_bytes())
        for fold, path in sorted(checkpoints.items(), key=lambda kv: _fold_key(kv[0])):
            ckpt = load_checkpoint(path)
            problem = _shareable_problem(ckpt)
            if problem:
                raise ModelPackageError(f"{path}: cannot be shared as a model zip: {problem}")
            add(f"fold_{fold}/{ZIP_CHECKPOINT}", _slim_checkpoint(ckpt))
            summary = {"fold": fold, "checkpoint": path.name, **{k: ckpt[k] for k in SUMMARY_KEYS if k in ckpt}}
            add(f"fold_{fold}/training_summary.json", _json_bytes(summary))
            for extra in _fold_summaries(path.parent):
                add(extra.relative_to(folder).as_posix(), extra.read_bytes())
            first = first or ckpt
        for extra in sorted(folder.glob("evaluation*/summary.json")):
            if extra.stat().st_size <= MAX_SUMMARY_BYTES and _PART_RE.fullmatch(extra.parent.name):
                add(extra.relative_to(folder).as_posix(), extra.read_bytes())
        manifest = _manifest(folder, dataset, plans, first, sorted(checkpoints, key=_fold_key), checkpoint, files)
        zf.writestr(_zipinfo(MANIFEST, when), _json_bytes(manifest))


# -- reading and checking a zip ------------------------------------------------------------------
def _name_problem(name: str) -> Optional[str]:
    """Why a member name is unsafe to extract, else ``None``."""
    if "\\" in name or any(ord(c) < 32 for c in name):
        return "holds a backslash or a control character"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    parts = name[:-1].split("/") if name.endswith("/") else name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "is not a plain relative path (it holds '..', '.' or an empty part)"
    if len(parts) > MAX_DEPTH:
        return f"lies more than {MAX_DEPTH} folders deep"
    if not all(_PART_RE.fullmatch(p) for p in parts):
        return "holds characters other than letters, digits and _ . + - (or starts with a dot)"
    return None


def _check_members(zip_path: Path, infos: Sequence[zipfile.ZipInfo]) -> List[zipfile.ZipInfo]:
    """The file members of a zip, after refusing unsafe names, kinds, duplicates and sizes."""
    if len(infos) > MAX_MEMBERS:
        raise ModelPackageError(f"{zip_path}: holds {len(infos)} members, more than a model has ({MAX_MEMBERS}); {_HINT}")
    files, seen, total = [], set(), 0
    for info in infos:
        name = info.filename
        problem = _name_problem(name)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if problem is None and stat.S_ISLNK(mode):
            problem = "is a symbolic link"
        elif problem is None and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            problem = "is not a regular file"
        elif problem is None and not info.is_dir() and not name.lower().endswith(ALLOWED_SUFFIXES):
            problem = f"is not a kind of file a model holds ({' '.join(ALLOWED_SUFFIXES)})"
        elif problem is None and name in seen:
            problem = "appears twice"
        if problem:
            raise ModelPackageError(f"{zip_path}: member {name!r} {problem}; refusing the zip (a model zip made by "
                                    f"autosr_export_model never has such a member): {_HINT}")
        seen.add(name)
        if info.is_dir():
            continue
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise ModelPackageError(f"{zip_path}: member {name!r} brings its uncompressed size above "
                                    f"{MAX_TOTAL_BYTES / 1024 ** 3:.0f} GB, more than any model; {_HINT}")
        files.append(info)
    return files


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    if not zip_path.is_file():
        raise ModelNotFoundError(f"{zip_path}: model zip does not exist" if not zip_path.exists()
                                 else f"{zip_path}: is a folder, not a model zip")
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise ModelPackageError(f"{zip_path}: not an AutoSR model zip (not a readable zip file: {exc}); "
                                f"{_HINT}") from None


def _read_manifest(zip_path: Path, zf: zipfile.ZipFile) -> Dict[str, Any]:
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError:
        raise ModelPackageError(f"{zip_path}: not an AutoSR model zip (no {MANIFEST}); make one from a model folder "
                                f"with autosr_export_model") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ModelPackageError(f"{zip_path}: {MANIFEST} is {info.file_size} bytes, far more than a manifest; {_HINT}")
    try:
        manifest = json.loads(zf.read(info).decode("utf-8"))
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise ModelPackageError(f"{zip_path}: {MANIFEST} cannot be read ({exc}); {_HINT}") from None
    if not isinstance(manifest, dict):
        raise ModelPackageError(f"{zip_path}: {MANIFEST} is not a JSON object; {_HINT}")
    return manifest


def _check_version(zip_path: Path, manifest: Dict[str, Any], log: bool) -> None:
    fmt = manifest.get("format")
    made_by = str(manifest.get("autosr_version", "unknown"))
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise ModelPackageError(f"{zip_path}: {MANIFEST} has no valid model format (got {fmt!r}); {_HINT}")
    if fmt > FORMAT_VERSION:
        raise ModelPackageError(f"{zip_path}: made by AutoSR {made_by} (model format {fmt}); this AutoSR "
                                f"{__version__} reads formats up to {FORMAT_VERSION}: upgrade AutoSR "
                                f"(pip install -U autosr, or git pull and pip install -e . in its repository)")
    if log and made_by != __version__:
        logger.info("%s: made by AutoSR %s, this is AutoSR %s: model format %d is read by this version",
                    zip_path, made_by, __version__, fmt)


def _check_manifest(zip_path: Path, manifest: Dict[str, Any], names: Sequence[str], log: bool) -> None:
    """Refuse a manifest that is too new, malformed, or does not list exactly the zip's members."""
    _check_version(zip_path, manifest, log)
    where = f"{zip_path}: {MANIFEST}"
    dataset, model, folds, files = (manifest.get(k) for k in ("dataset", "model", "folds", "files"))
    if not isinstance(dataset, str) or not DATASET_RE.match(dataset):
        raise ModelPackageError(f"{where}: 'dataset' must be DatasetXXX_Name, got {dataset!r}; {_HINT}")
    problem = _folder_name_problem(model.get("folder") if isinstance(model, dict) else None)
    if problem:
        raise ModelPackageError(f"{where}: model folder {problem}; {_HINT}")
    if not (isinstance(folds, list) and folds and all(isinstance(f, str) and _FOLD_RE.fullmatch(f) for f in folds)):
        raise ModelPackageError(f"{where}: 'folds' must list fold names such as \"0\" or \"all\", got {folds!r}; {_HINT}")
    if not (isinstance(files, dict) and all(isinstance(v, str) and _SHA_RE.fullmatch(v) for v in files.values())):
        raise ModelPackageError(f"{where}: 'files' must map each member to its sha256; {_HINT}")
    members = set(names) - {MANIFEST}
    extra = sorted(members - set(files))
    if extra:
        raise ModelPackageError(f"{zip_path}: member {extra[0]} is not listed in {MANIFEST} (it has no checksum): "
                                f"the zip was changed after export; {_HINT}")
    needed = ["plans.json"] + [f"fold_{f}/{ZIP_CHECKPOINT}" for f in folds]
    missing = [n for n in sorted(set(files) | set(needed)) if n not in members]
    if missing:
        raise ModelPackageError(f"{zip_path}: lacks {missing[0]}, which {MANIFEST} lists or a model needs: the zip "
                                f"is incomplete; {_HINT}")


def read_manifest(zip_path: os.PathLike | str) -> Dict[str, Any]:
    """The manifest of a model zip, after its member names and the manifest itself are checked (nothing is
    extracted, no checksum or checkpoint checked: :func:`install_model` and :func:`open_model` do that)."""
    zip_path = Path(zip_path)
    with _open_zip(zip_path) as zf:
        files = _check_members(zip_path, zf.infolist())
        manifest = _read_manifest(zip_path, zf)
        _check_manifest(zip_path, manifest, [i.filename for i in files], log=False)
    return manifest


def _extract_member(zip_path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path) -> str:
    """Copy one member under ``dest`` (never above it), bounded by its declared size; its sha256."""
    target = dest.joinpath(*info.filename.split("/"))
    if not target.resolve().is_relative_to(dest.resolve()):
        raise ModelPackageError(f"{zip_path}: member {info.filename!r} would be written outside the model folder; "
                                f"{_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    h, size = hashlib.sha256(), 0
    try:
        with zf.open(info) as src, open(target, "xb") as out:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                size += len(chunk)
                if size > info.file_size:  # a header that lies about the size (a zip bomb)
                    raise ModelPackageError(f"{zip_path}: member {info.filename!r} is larger than the zip declares; "
                                            f"{_HINT}")
                h.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ModelPackageError(f"{zip_path}: member {info.filename!r} cannot be read ({exc}); {_HINT}") from None
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise ModelPackageError(f"{zip_path}: member {info.filename!r} clashes with another member's path; "
                                f"{_HINT}") from None
    return h.hexdigest()


def _load_problem(message: str) -> str:
    """load_checkpoint's refusal, for a zip: the unpickler's reason without torch's advice to load it unsafely."""
    m = re.match(r"not a readable AutoSR checkpoint \((\w+): ([^.(]*)", re.sub(r"\x1b\[[0-9;]*m", "", message))
    if m is None:
        return message
    return (f"torch.load(weights_only=True) refused it: {m.group(1)}: {m.group(2).strip()}; it is damaged, or a "
            f"pickle that would run code")


def _check_checkpoint(zip_path: Path, path: Path, name: str) -> None:
    """Load a checkpoint without running code (``weights_only=True``) and build its generator."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        problem: Optional[str] = _load_problem(str(exc).replace(f"{path}: ", ""))
    else:
        problem = next((f"its {k} is not a JSON object" for k in ("identity", "configuration")
                        if not isinstance(ckpt.get(k, {}), dict)), None) or _shareable_problem(ckpt)
        if problem is None:
            try:
                generator_from_checkpoint(ckpt, "cpu", name)
            except (CheckpointError, TypeError, ValueError, AttributeError, KeyError, RuntimeError) as exc:
                problem = f"its generator cannot be built from it: {exc}"
    if problem:
        raise ModelPackageError(f"{zip_path}: member {name} is not a checkpoint AutoSR can load safely "
                                f"({problem}); {_HINT}")


def _unpack(zip_path: Path, dest: Path) -> Dict[str, Any]:
    """Check ``zip_path`` and extract it into the new folder ``dest`` (the caller removes it on failure)."""
    with _open_zip(zip_path) as zf:
        files = _check_members(zip_path, zf.infolist())
        manifest = _read_manifest(zip_path, zf)
        _check_manifest(zip_path, manifest, [i.filename for i in files], log=True)
        dest.mkdir(parents=True)
        for info in files:
            digest = _extract_member(zip_path, zf, info, dest)
            if info.filename != MANIFEST and digest != manifest["files"][info.filename]:
                raise ModelPackageError(f"{zip_path}: member {info.filename} does not match its checksum in "
                                        f"{MANIFEST}: the zip is damaged or was changed after export; {_HINT}")
    for info in files:
        if info.filename.endswith(".json"):
            try:
                json.loads((dest / info.filename).read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ModelPackageError(f"{zip_path}: member {info.filename} is not valid JSON ({exc}); {_HINT}") from None
    for info in files:  # every checkpoint, not only the folds', is loaded once without running code
        if info.filename.endswith(".pth"):
            _check_checkpoint(zip_path, dest / info.filename, info.filename)
    return manifest


def _zip_of(zip_path: os.PathLike | str) -> Path:
    path = Path(zip_path).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: model zip does not exist" if not path.exists()
                                 else f"{path}: is a folder, not a model zip")
    return path


# -- install ----------------------------------------------------------------------------------
def _same_model(folder: Path, manifest: Dict[str, Any]) -> bool:
    """Whether ``folder`` is this zip's model already installed (same checksums, same files)."""
    try:
        have = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(have, dict) and have.get("files") == manifest["files"]
            and all((folder / n).is_file() for n in manifest["files"]))


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved aside first and removed after."""
    if not target.exists() and not target.is_symlink():
        os.rename(staging, target)
        return
    old = target.parent / f".{target.name}.{pid_tag()}.replaced"
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink()


def install_model(zip_path: os.PathLike | str, results: Optional[os.PathLike] = None,
                  overwrite: bool = False) -> Path:
    """Check a model zip and extract it into ``{results}/{dataset}/{model folder}/`` (results:
    ``$AUTOSR_RESULTS``); returns that folder. An existing different model there is replaced only with
    ``overwrite``; the same model already installed is left as it is."""
    zip_path = _zip_of(zip_path)
    manifest = read_manifest(zip_path)
    target = results_dir(results) / manifest["dataset"] / manifest["model"]["folder"]
    if target.exists() or target.is_symlink():
        if _same_model(target, manifest):
            logger.info("%s: already installed in %s", zip_path, target)
            return target
        if not overwrite:
            what = ("installed from another zip" if (target / MANIFEST).is_file()
                    else "a model trained here, perhaps the one this zip was exported from")
            raise ModelPackageError(f"{target} already holds another model ({what}); installing {zip_path} would "
                                    f"replace it: pass --overwrite (overwrite=True) to replace it, or move it away")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_partials(target.parent, f".{target.name}.*.partial")
    remove_partials(target.parent, f".{target.name}.*.replaced")
    staging = target.parent / f".{target.name}.{pid_tag()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        unpacked = _unpack(zip_path, staging)
        if (unpacked["dataset"], unpacked["model"]) != (manifest["dataset"], manifest["model"]):
            raise ModelPackageError(f"{zip_path}: changed while it was being installed; try again")
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.debug("installed %s into %s", zip_path, target)
    return target


# -- open: a folder, a zip or a built-in model ---------------------------------------------------
def list_builtin_models() -> Dict[str, Path]:
    """Built-in model name → its zip (``autosr/models/builtin/NAME.zip``), sorted by name."""
    folder = BUILTIN_DIR
    return {p.stem: p for p in sorted(folder.glob("*.zip"))} if folder.is_dir() else {}


def _builtin_zip(name: str) -> Path:
    models = list_builtin_models()
    if name not in models:
        names = ", ".join(BUILTIN_PREFIX + n for n in models) or "none in this AutoSR"
        raise ModelNotFoundError(f"{BUILTIN_PREFIX}{name}: no such built-in model; built-in models: {names} "
                                 f"(autosr_list_models)")
    return models[name]


def builtin_card(name: str) -> Path:
    """The model card (``NAME.md``) beside a built-in model's zip."""
    card = _builtin_zip(name).with_suffix(".md")
    if not card.is_file():
        raise ModelNotFoundError(f"{card}: the model card of {BUILTIN_PREFIX}{name} is missing from this AutoSR")
    return card


def _cached_folder(entry: Path) -> Optional[Path]:
    """The one model folder of a finished cache entry, else ``None``."""
    found = [p for p in entry.iterdir() if (p / MANIFEST).is_file()] if entry.is_dir() else []
    return found[0] if len(found) == 1 else None


def _open_zip_cached(zip_path: Path) -> Path:
    """Extract a checked zip once into ``<cache>/models/<sha256[:16]>/<model folder>/`` and reuse it after."""
    entry = cache_dir() / "models" / _sha256_file(zip_path)[:16]
    found = _cached_folder(entry)
    if found is not None:
        logger.debug("%s: using its extraction %s", zip_path, found)
        return found
    manifest = read_manifest(zip_path)
    entry.parent.mkdir(parents=True, exist_ok=True)
    remove_partials(entry.parent, ".*.partial", log=False)
    staging = entry.parent / f".{entry.name}.{pid_tag()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _unpack(zip_path, staging / manifest["model"]["folder"])
        try:
            os.rename(staging, entry)
        except OSError:
            if _cached_folder(entry) is None:  # not another process's finished extraction of the same zip
                raise ModelPackageError(f"{entry}: a damaged extraction of {zip_path} (files were removed from "
                                        f"it); delete that folder and try again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = _cached_folder(entry)
    logger.info("%s: checked and extracted into %s", zip_path, found)
    return found


def open_model(spec: Union[str, os.PathLike], results: Optional[os.PathLike] = None) -> Path:
    """The model folder ``spec`` names: a model folder (returned as is), a model ``.zip`` (checked and
    extracted once into the cache, :func:`cache_dir`), ``builtin:NAME``, or a path relative to the results
    folder (``Dataset001_X/Trainer__plans__config``)."""
    if isinstance(spec, str) and spec.startswith(BUILTIN_PREFIX):
        return _open_zip_cached(_builtin_zip(spec[len(BUILTIN_PREFIX):]))
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            return _open_zip_cached(path)
        raise ModelNotFoundError(f"{path}: is a file, not a model folder (Trainer__plans__configuration/) nor a "
                                 f"model zip (.zip made by autosr_export_model)")
    if not path.is_absolute() and (results_dir(results) / path).is_dir():
        return results_dir(results) / path
    raise ModelNotFoundError(f"{path}: model folder does not exist; give a model folder, a model .zip or "
                             f"{BUILTIN_PREFIX}NAME (built-in: {', '.join(list_builtin_models()) or 'none'})")


def predictor_from(spec: Union[str, os.PathLike, "Predictor"], folds: Optional[Sequence[FoldLike]] = None,
                   checkpoint: str = DEFAULT_CHECKPOINT, device: Union[str, torch.device] = "auto",
                   results: Optional[os.PathLike] = None, **predictor_kwargs: Any) -> "Predictor":
    """A :class:`~autosr.inference.predictor.Predictor` for a model folder, zip or ``builtin:NAME``
    (:func:`open_model`; ``folds=None``: every fold); a Predictor is returned as it is."""
    from autosr.inference.predictor import Predictor
    if isinstance(spec, Predictor):
        return spec
    return Predictor.from_model_folder(open_model(spec, results), folds=folds, checkpoint=checkpoint, device=device,
                                       **predictor_kwargs)


# -- listing ----------------------------------------------------------------------------------
def describe(manifest: Dict[str, Any]) -> str:
    """One line for a model: what it was trained on, its scales, channels and licence."""
    prov = manifest.get("provenance", {}) if isinstance(manifest.get("provenance"), dict) else {}
    scales = manifest.get("scales", {}) if isinstance(manifest.get("scales"), dict) else {}
    what = prov.get("description") or prov.get("name") or manifest.get("dataset", "?")
    scale = f"in-plane x(1, {scales.get('max', '?'):g}]" if isinstance(scales.get("max"), (int, float)) else "?"
    if isinstance(scales.get("single_axis_max"), (int, float)):
        scale += f", one axis up to x{scales['single_axis_max']:g}"
    channels = manifest.get("channels", {}).get("names", []) if isinstance(manifest.get("channels"), dict) else []
    licence = prov.get("license") or prov.get("licence") or "not stated"
    return f"{what}; {scale}; channels {', '.join(map(str, channels)) or '?'}; licence: {licence}"


def list_model_folders_with_folds(results: Optional[os.PathLike] = None) -> List[Dict[str, Any]]:
    """The model folders under the results folder: ``{"dataset", "folder", "path", "folds", "installed"}``
    (folds: those holding ``checkpoint_final.pth``; installed: extracted from a zip)."""
    from autosr.paths import list_datasets
    root = results_dir(results)
    out = []
    for dataset in list_datasets(root):
        for name in list_model_folders(root / dataset):
            path = root / dataset / name
            folds = sorted((d.name[len("fold_"):] for d in path.glob("fold_*")
                            if _FOLD_RE.fullmatch(d.name[len("fold_"):]) and (d / DEFAULT_CHECKPOINT).is_file()),
                           key=_fold_key)
            out.append({"dataset": dataset, "folder": name, "path": path, "folds": folds,
                        "installed": (path / MANIFEST).is_file()})
    return out


__all__ = ["ModelPackageError", "FORMAT_VERSION", "MANIFEST", "BUILTIN_PREFIX", "export_model", "install_model",
           "open_model", "predictor_from", "read_manifest", "list_builtin_models", "builtin_card", "cache_dir",
           "describe", "list_model_folders_with_folds"]
