"""Writing a raw dataset atomically: build it in a hidden folder beside the target, rename at the end.

Every converter lists its cases as :class:`CaseSpec` and calls :func:`write_dataset`. The
writer reads each source, checks it (readable, 2D/3D, no NaN/Inf, channels on one grid,
low-res scan over the same region), and writes it in the dataset's file ending. Problems are
collected over all cases; if there is any, the temporary folder is removed and one
:class:`ProblemsError` lists them all, naming the source files. Sources are only read.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from tqdm import tqdm

from autosr.dataset import in_use, pid_tag, remove_partials, write_json_atomic
from autosr.errors import DatasetError, ImageReadError, ProblemsError
from autosr.imageio import write_image
from autosr.integrity import ImageInfo, compare_channels, compare_region
from autosr.paths import DATASET_RE, dataset_name, list_datasets, raw_dir

from autosr.dataset_conversion.sources import ImageSource, pick_test_cases

logger = logging.getLogger(__name__)

#: Single-file formats a dataset can be written in (multi-file formats would complicate atomic renames).
WRITABLE_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha")
_CASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_target(dataset_id: int, name: str, raw_root: Optional[Path] = None, overwrite: bool = False) -> Path:
    """The target folder; raises unless it is free (or ``overwrite``) and no other dataset has this id.

    Converters call it before scanning their input, so a taken id fails at once.
    """
    root = raw_dir(raw_root)
    target = root / dataset_name(dataset_id, name)
    put_back_interrupted(target)
    if target.exists() and not overwrite:
        raise DatasetError(f"{target}: already exists; pass --overwrite (overwrite=True) to replace "
                           f"it, or choose another dataset id or name")
    same_id = [n for n in list_datasets(root) if int(DATASET_RE.match(n).group(1)) == int(dataset_id)
               and n != target.name]
    if same_id:
        raise DatasetError(f"dataset id {int(dataset_id):03d} is already used by {', '.join(same_id)} in "
                           f"{root}; choose another id (-d), or remove that dataset first")
    return target


def put_back_interrupted(target: Path) -> None:
    """Put back a dataset that an interrupted ``--overwrite`` had moved aside (``.{name}.old-*``) but not replaced."""
    if target.exists():
        return
    for old in sorted(target.parent.glob(f".{target.name}.old-*")):
        if (old / target.name).is_dir() and not in_use(old.name):
            os.replace(old / target.name, target)
            shutil.rmtree(old, ignore_errors=True)  # now empty
            logger.warning("%s: put back from %s, where an interrupted conversion had moved it", target, old)
            return


@dataclass
class CaseSpec:
    """One case to write: its channel sources, split and optional paired low-res sources."""

    name: str
    images: List[ImageSource]
    split: str = "imagesTr"
    lowres: Optional[List[ImageSource]] = None


@dataclass
class DatasetWriter:
    """Builds ``$AUTOSR_RAW/DatasetXXX_Name`` in a hidden temporary folder; :meth:`commit` renames it.

    Use as a context manager: leaving the block without :meth:`commit` (an error, Ctrl-C) removes
    the temporary folder, so no half-written dataset is ever visible. An existing target is
    refused unless ``overwrite``; then it is replaced only once the new dataset is complete.
    """

    dataset_id: int
    name: str
    channel_names: Sequence[str]
    file_ending: str = ".nii.gz"
    raw_root: Optional[Path] = None
    overwrite: bool = False
    paired_lowres: bool = False
    metadata: Dict[str, Any] = field(default_factory=dict)  # description, license, reference, ...
    problems: List[str] = field(default_factory=list, init=False)
    _tmp: Optional[Path] = field(default=None, init=False, repr=False)
    _cases: Dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _sources: Dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = raw_dir(self.raw_root)
        self.target = self.root / dataset_name(self.dataset_id, self.name)
        if self.file_ending not in WRITABLE_ENDINGS:
            raise DatasetError(f"file ending {self.file_ending!r} cannot be written by the converter; "
                               f"use one of {', '.join(WRITABLE_ENDINGS)}")
        if not self.channel_names:
            raise DatasetError("a dataset needs at least one channel name")
        self._refuse_existing()

    def _refuse_existing(self) -> None:
        check_target(self.dataset_id, self.name, self.raw_root, self.overwrite)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "DatasetWriter":
        self.root.mkdir(parents=True, exist_ok=True)
        # what an interrupted conversion to this target left (a dataset it had moved aside is back: check_target)
        for kind in ("partial", "old"):
            remove_partials(self.root, f".{self.target.name}.{kind}-*")
        # hidden (leading dot) and beside the target: invisible to dataset listings, same file system for rename
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.partial-{pid_tag()}-", dir=self.root))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the temporary folder (nothing of this conversion stays on disk)."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    # ------------------------------------------------------------------ cases
    def add_case(self, case: CaseSpec) -> bool:
        """Read, check and write one case; problems are recorded (see :attr:`problems`). True if written."""
        if self._tmp is None:
            raise RuntimeError("DatasetWriter.add_case outside its 'with' block")
        where = ", ".join(s.describe() for s in case.images) or case.name
        if not _CASE_RE.match(case.name):
            self.problems.append(f"{where}: case name {case.name!r} may only hold letters, digits, '_', '.', '-'")
            return False
        if case.name in self._cases:
            self.problems.append(f"{where}: case name {case.name!r} is used twice; rename one of the sources")
            return False
        if len(case.images) != len(self.channel_names):
            self.problems.append(f"{where}: case {case.name!r} has {len(case.images)} image(s) but the dataset "
                                 f"has {len(self.channel_names)} channel(s) ({', '.join(self.channel_names)})")
            return False
        hr = self._write_channels(case.name, case.images, case.split)
        ok = hr is not None
        if case.lowres is not None:
            if len(case.lowres) != len(self.channel_names):
                self.problems.append(f"{where}: case {case.name!r} has {len(case.lowres)} low-res image(s) for "
                                     f"{len(self.channel_names)} channel(s)")
                return False
            lr = self._write_channels(case.name, case.lowres, "lowresTr")
            if hr is not None and lr is not None:
                line = compare_region(hr, lr)
                if line:
                    self.problems.append(line)
                    ok = False
            ok = ok and lr is not None
        self._cases[case.name] = case.split
        self._sources[case.name] = {"split": case.split, "images": [s.record() for s in case.images]}
        if case.lowres is not None:
            self._sources[case.name]["lowres"] = [s.record() for s in case.lowres]
        return ok

    def _write_channels(self, case: str, sources: Sequence[ImageSource], split: str) -> Optional[ImageInfo]:
        """Write the channel files of one case; return channel 0's info, or None after a problem."""
        first: Optional[ImageInfo] = None
        ok = True
        for c, src in enumerate(sources):
            try:
                arr, geom = src.read()
            except ImageReadError as exc:
                self.problems.append(str(exc))
                ok = False
                continue
            info = ImageInfo(Path(src.describe()), tuple(arr.shape), geom)
            if first is None:
                first = info
            else:
                line = compare_channels(first, info)
                if line:
                    self.problems.append(line)
                    ok = False
                    continue
            if ok:
                write_image(arr, geom, self._tmp / split / f"{case}_{c:04d}{self.file_ending}")
        return first if ok else None

    # ------------------------------------------------------------------ commit
    def commit(self) -> Path:
        """Write dataset.json and move the dataset into place; raise :class:`ProblemsError` on any problem."""
        if self._tmp is None:
            raise RuntimeError("DatasetWriter.commit outside its 'with' block")
        n_train = sum(1 for s in self._cases.values() if s == "imagesTr")
        if not n_train and not self.problems:
            self.problems.append(f"{self.target.name}: no training case to write; check the input folder and layout")
        if self.problems:
            self.discard()
            raise ProblemsError(f"conversion to {self.target.name} failed with {len(self.problems)} problem(s); "
                                f"nothing was written", self.problems)
        info: Dict[str, Any] = {"name": self.name, "description": "",
                                "channel_names": {str(i): str(n) for i, n in enumerate(self.channel_names)},
                                "file_ending": self.file_ending, "numTraining": n_train}
        if self.paired_lowres:
            info["paired_lowres"] = True
        info.update({"license": "", "reference": ""})
        info.update({k: v for k, v in self.metadata.items() if v is not None})
        info["numTest"] = sum(1 for s in self._cases.values() if s == "imagesTs")
        info["sources"] = self._sources
        write_json_atomic(info, self._tmp / "dataset.json")
        self._move_into_place()
        return self.target

    def _move_into_place(self) -> None:
        old: Optional[Path] = None
        if self.target.exists():
            self._refuse_existing()  # someone may have created it since we started
            old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.old-{pid_tag()}-", dir=self.root))
            os.replace(self.target, old / self.target.name)
        try:
            os.replace(self._tmp, self.target)
        except OSError:
            if old is not None:
                os.replace(old / self.target.name, self.target)  # put the previous dataset back
            raise
        self._tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def merged_metadata(defaults: Dict[str, Any], given: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """``defaults`` updated with the non-None values of ``given`` (CLI options left unset keep the default)."""
    out = dict(defaults)
    out.update({k: v for k, v in (given or {}).items() if v is not None})
    return out


def write_dataset(cases: Sequence[CaseSpec], dataset_id: int, name: str, channel_names: Sequence[str], *,
                  file_ending: str = ".nii.gz", overwrite: bool = False, raw_root: Optional[Path] = None,
                  test_fraction: float = 0.0, metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Write ``cases`` as dataset ``dataset_id``/``name``; ``test_fraction`` moves training cases to imagesTs."""
    cases = list(cases)
    paired = any(c.lowres is not None for c in cases)
    if paired and test_fraction:
        raise DatasetError("--test_fraction cannot be combined with paired low-res scans (the format has no "
                           "lowresTs/); keep all paired cases for training")
    test = pick_test_cases([c.name for c in cases if c.split == "imagesTr"], test_fraction)
    for c in cases:
        if c.name in test:
            c.split = "imagesTs"
    with DatasetWriter(dataset_id, name, channel_names, file_ending=file_ending, raw_root=raw_root,
                       overwrite=overwrite, paired_lowres=paired, metadata=dict(metadata or {})) as writer:
        for case in tqdm(cases, desc=f"converting to {writer.target.name}", unit="case", disable=None):
            writer.add_case(case)
        return writer.commit()


def convert_layout(input_dir: os.PathLike | str, dataset_id: int, name: str, channel_names: Sequence[str],
                   find_cases, *, expect: str, nothing_found: str, defaults: Dict[str, Any],
                   file_ending: str = ".nii.gz", test_fraction: float = 0.0, overwrite: bool = False,
                   raw_root: Optional[Path] = None, metadata: Optional[Dict[str, Any]] = None) -> Path:
    """The flow every published-layout converter shares.

    Checks the target first (before a long scan), then that ``input_dir`` is a folder (``expect``
    tells the user which one to give), collects cases with ``find_cases(root)``, and writes them
    with ``defaults`` (description, licence, reference) under the user's ``metadata``.
    """
    root = Path(input_dir)
    check_target(dataset_id, name, raw_root, overwrite)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; give {expect}")
    cases = find_cases(root)
    if not cases:
        raise DatasetError(f"{root}: {nothing_found}")
    return write_dataset(cases, dataset_id, name, list(channel_names), file_ending=file_ending, overwrite=overwrite,
                         raw_root=raw_root, test_fraction=test_fraction, metadata=merged_metadata(defaults, metadata))
