"""A raw dataset: ``dataset.json`` and the ``{case}_{CCCC}{file_ending}`` files around it.

::

    Dataset001_BrainMR/
      dataset.json
      imagesTr/{case}_{CCCC}{file_ending}   # HR training scans, one file per channel
      imagesTs/{case}_{CCCC}{file_ending}   # optional held-out test scans
      lowresTr/{case}_{CCCC}{file_ending}   # optional real paired low-resolution scans

An nnU-Net v2 raw dataset is used as it is: ``name`` may be absent (it is then the folder's name
after ``DatasetXXX_``), and its ``labels`` key and ``labelsTr/`` folder are ignored (super-resolution
needs the images only).
"""
from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, Optional

from autosr.errors import DatasetError

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("channel_names", "file_ending", "numTraining")
OPTIONAL_KEYS = ("name", "description", "paired_lowres", "license", "reference")
#: What nnU-Net v2 datasets hold for segmentation; accepted and not used.
SEGMENTATION_KEYS = ("labels", "regions_class_order")
SEGMENTATION_FOLDERS = ("labelsTr", "labelsTs")
_DATASET_FOLDER_RE = re.compile(r"^Dataset\d{3}_(?P<name>.+)$")
SPLIT_FOLDERS = ("imagesTr", "imagesTs", "lowresTr")
CASE_FILE_RE = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def modality_of(channel_name: str) -> str:
    """``"CT"`` when the channel is named CT (case-insensitive), else ``"MR"`` (MR-style handling)."""
    return "CT" if str(channel_name).strip().upper() == "CT" else "MR"


def split_case_file(name: str, file_ending: str) -> Optional[tuple]:
    """``"brain_0001.nii.gz"`` → ``("brain", 1)``; ``None`` if it does not follow ``{case}_{CCCC}{ending}``."""
    if not name.endswith(file_ending):
        return None
    m = CASE_FILE_RE.match(name[: -len(file_ending)])
    return (m.group("case"), int(m.group("channel"))) if m else None


def read_json(path: os.PathLike | str, error: type = DatasetError, if_missing: str = "",
              if_invalid: str = "") -> Any:
    """Load a JSON file; a missing or malformed file raises ``error`` naming the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: missing" + (f"; {if_missing}" if if_missing else ""))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON ({exc})" + (f"; {if_invalid}" if if_invalid else "")) from None


def default_name(dataset_folder: os.PathLike | str) -> str:
    """The name of a dataset whose dataset.json has none: ``Dataset004_Hippocampus`` → ``Hippocampus``.

    A folder not named ``DatasetXXX_Name`` gives its whole name.
    """
    folder_name = Path(dataset_folder).name
    m = _DATASET_FOLDER_RE.match(folder_name)
    return m.group("name") if m else folder_name


def load_dataset_json(dataset_folder: os.PathLike | str) -> Dict[str, Any]:
    """Read and check ``dataset.json`` (required keys present; unknown keys kept).

    A missing ``name`` is filled in from the folder name (:func:`default_name`), so nnU-Net v2
    datasets, which have none, work as they are.
    """
    path = Path(dataset_folder) / "dataset.json"
    data = read_json(path, DatasetError, "every dataset folder needs a dataset.json (see documentation/data.md)")
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: must hold a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DatasetError(f"{path}: missing key(s) {', '.join(missing)}; required keys are {', '.join(REQUIRED_KEYS)}")
    ch = data["channel_names"]
    # compare as strings: a non-numeric key ("flair") must give this message, not a ValueError
    if not isinstance(ch, dict) or not ch or sorted(ch) != sorted(str(i) for i in range(len(ch))):
        raise DatasetError(f"{path}: channel_names must map \"0\", \"1\", … to names, e.g. {{\"0\": \"T1\"}}; got {ch!r}")
    n = data["numTraining"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise DatasetError(f"{path}: numTraining must be a whole number (the number of cases in imagesTr); got {n!r}")
    if not isinstance(data["file_ending"], str) or not data["file_ending"].startswith("."):
        raise DatasetError(f"{path}: file_ending must start with a dot, e.g. \".nii.gz\"; got {data['file_ending']!r}")
    data.setdefault("name", default_name(dataset_folder))
    _note_segmentation_parts(Path(dataset_folder), data)
    return data


def _note_segmentation_parts(folder: Path, data: Dict[str, Any]) -> None:
    """Say (debug level) that an nnU-Net dataset's labels are not used: they are fine, not a problem."""
    found = [k for k in SEGMENTATION_KEYS if k in data] + [f"{f}/" for f in SEGMENTATION_FOLDERS
                                                            if (folder / f).is_dir()]
    if found:
        logger.debug("%s: %s ignored (super-resolution uses the images only)", folder, ", ".join(found))


def write_json_atomic(data: Any, path: os.PathLike | str) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    write_text_atomic(json.dumps(data, indent=2, sort_keys=False) + "\n", path)


def write_text_atomic(text: str, path: os.PathLike | str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    with atomic_file(path) as f:
        f.write(text.encode("utf-8"))


@contextlib.contextmanager
def atomic_file(path: os.PathLike | str, sync: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temporary file beside it (the user's usual permissions),
    renamed into place when the block ends (after an fsync with ``sync``), deleted if it fails, so an
    interrupted write never leaves a truncated file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_partials(path.parent, f".{glob.escape(path.name)}.*.partial")  # of an interrupted write of this file
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{pid_tag()}.", suffix=".partial", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; results are meant to be shared
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        raise named(exc, path)


def named(exc: BaseException, path: os.PathLike | str) -> BaseException:
    """``exc``, or for an :class:`OSError` without a file name (a failed ``write``) the same error naming ``path``."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is None:
        return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))
    return exc


_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"  # no "-" or ".": they end the tag
_OWNER_RE = re.compile(r"pid(\d+)@([A-Za-z0-9]+)")


def pid_tag() -> str:
    """``pid<N>@<host>``: put in the name of a temporary file or folder so :func:`remove_partials` can tell whose it is."""
    return f"pid{os.getpid()}@{_HOST}"


def in_use(name: str) -> bool:
    """Whether the run that named a temporary file may still be writing it."""
    m = _OWNER_RE.search(name)
    if m is None:
        return False  # no owner in the name (written before owners were recorded)
    pid, host = int(m.group(1)), m.group(2)
    if host != _HOST or pid == os.getpid():
        return True  # another machine's run on a shared folder cannot be checked from here; or our own
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_partials(folder: os.PathLike | str, pattern: str, log: bool = True) -> List[Path]:
    """Remove what an interrupted run left in ``folder``: the names matching ``pattern`` (one log line
    each with ``log``); returns the removed paths.

    Only our own temporary names are ever passed as ``pattern``. One whose :func:`pid_tag` names
    a process still running, or another machine, is kept (a run at work now, beside this one).
    """
    removed = []
    for p in sorted(Path(folder).glob(pattern)):
        if in_use(p.name):
            continue
        try:
            size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except FileNotFoundError:  # removed meanwhile by another run doing the same
            continue
        removed.append(p)
        if log:
            logger.info("removed %s (%.1f MB), left by an interrupted run", p, size / 1e6)
    return removed


@dataclass
class RawDataset:
    """A raw dataset folder and its ``dataset.json``."""

    folder: Path
    info: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: os.PathLike | str) -> "RawDataset":
        folder = Path(folder)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: dataset folder does not exist")
        return cls(folder, load_dataset_json(folder))

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def file_ending(self) -> str:
        return str(self.info["file_ending"])

    @property
    def channel_names(self) -> List[str]:
        ch = self.info["channel_names"]
        return [str(ch[str(i)]) for i in range(len(ch))]

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)

    @property
    def modalities(self) -> List[str]:
        return [modality_of(c) for c in self.channel_names]

    @property
    def paired(self) -> bool:
        return bool(self.info.get("paired_lowres")) or (self.folder / "lowresTr").is_dir()

    def case_files(self, split: str = "imagesTr") -> Dict[str, Dict[int, Path]]:
        """``{case: {channel: path}}`` of the files in ``split`` that follow the naming rule."""
        out: Dict[str, Dict[int, Path]] = {}
        folder = self.folder / split
        if not folder.is_dir():
            return out
        for p in sorted(folder.iterdir()):
            parsed = split_case_file(p.name, self.file_ending)
            if parsed:
                out.setdefault(parsed[0], {})[parsed[1]] = p
        return out

    def cases(self, split: str = "imagesTr") -> Dict[str, List[Path]]:
        """``{case: [channel 0 file, channel 1 file, …]}``; raises if a case misses a channel.

        Also raises if a case name is in both imagesTr and imagesTs: a test case that was trained
        on makes every test metric a lie (a cheap name check, run by every command that lists cases).
        """
        if split in ("imagesTr", "imagesTs"):
            self.check_no_test_in_training()
        out = {}
        for case, chans in self.case_files(split).items():
            missing = [c for c in range(self.num_channels) if c not in chans]
            if missing:
                raise DatasetError(f"{self.folder / split}: case {case!r} misses channel file(s) "
                                   + ", ".join(f"{case}_{c:04d}{self.file_ending}" for c in missing))
            out[case] = [chans[c] for c in range(self.num_channels)]
        return out

    def check_no_test_in_training(self) -> None:
        """Raise :class:`DatasetError` naming the cases found in both imagesTr and imagesTs."""
        both = sorted(set(self.case_files("imagesTr")) & set(self.case_files("imagesTs")))
        if both:
            shown = ", ".join(both[:5]) + (" …" if len(both) > 5 else "")
            raise DatasetError(f"{self.folder / 'imagesTs'}: {len(both)} case(s) also in imagesTr ({shown}); a test "
                               f"case must not be trained on: remove or rename them in one of the two folders")
