"""What to predict: turn ``-i INPUT`` into cases (channel files or DICOM series) and output names.

INPUT is one image file, one DICOM-series folder, or a folder holding ``{case}_{CCCC}{ending}``
files (as in training), loose single-channel image files, DICOM series (directly or one per
sub-folder). Outputs are ``{case}_{CCCC}{ending}``, NIfTI (``.nii.gz``) for DICOM input.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from autosr.dataset import split_case_file
from autosr.errors import AutoSRError
from autosr.imageio import file_ending, list_dicom_series

logger = logging.getLogger(__name__)

#: Endings the writer cannot produce; their outputs are written as NIfTI.
NIFTI_FOR = (".dcm", "")


class PredictionInputError(AutoSRError):
    """The prediction input or output location is unusable (missing channels, non-images, …)."""


@dataclass
class CaseInput:
    """One scan to predict: a channel-ordered list of sources (files or DICOM file lists)."""

    name: str
    sources: List[Path]                     # one per channel: an image file or a DICOM folder
    ending: str                             # ending of the outputs
    dicom_files: Dict[int, List[str]] = field(default_factory=dict)  # channel → series files

    def output_files(self, folder: Path) -> List[Path]:
        return [Path(folder) / f"{self.name}_{c:04d}{self.ending}" for c in range(len(self.sources))]


def check_output_location(input_path: Path, output: Path) -> None:
    """Refuse an output that is a file, or that is, holds or lies inside the input.

    Outputs are named like their inputs, so an output folder holding an input would replace it
    (or skip it as "done"), and one inside the input folder would be read as input next time.
    """
    inp, out = Path(input_path).resolve(), Path(output).resolve()
    if out == inp:
        raise PredictionInputError(f"-o {output}: is the input (-i) itself; give an output folder outside the input")
    if out in inp.parents:
        raise PredictionInputError(f"-o {output}: holds the input {input_path}; choose an output folder that holds "
                                   f"no input (outputs are named like their inputs and would replace them)")
    if inp in out.parents:
        raise PredictionInputError(f"-o {output}: is inside the input folder {input_path}; choose an output folder "
                                   f"outside it (outputs would be read as inputs next time)")
    if out.exists() and not out.is_dir():
        raise PredictionInputError(f"-o {output}: is a file, not a folder; give an output folder")


def _out_ending(ending: str) -> str:
    return ".nii.gz" if ending in NIFTI_FOR else ending


def _group_files(files: Sequence[Path], num_channels: int) -> Dict[str, Dict[int, Path]]:
    cases: Dict[str, Dict[int, Path]] = {}
    for f in files:
        ending = file_ending(f)
        parsed = split_case_file(f.name, ending) if ending else None
        if parsed is None:
            if num_channels != 1:
                raise PredictionInputError(f"{f}: the model needs {num_channels} channels per scan, given as "
                                           f"{{case}}_0000{ending} … {{case}}_{num_channels - 1:04d}{ending}; "
                                           f"this file does not follow that naming")
            parsed = (f.name[: -len(ending)], 0)
        case, ch = parsed
        if ch in cases.setdefault(case, {}):
            raise PredictionInputError(f"{f}: case {case!r} channel {ch} is given twice "
                                       f"(also {cases[case][ch].name})")
        cases[case][ch] = f
    return cases


def _check_channels(case: str, chans: Dict[int, Path], num_channels: int, channel_names: Sequence[str]) -> None:
    names = ", ".join(f"{i}: {n}" for i, n in enumerate(channel_names)) or str(num_channels)
    extra = sorted(c for c in chans if c >= num_channels)
    if extra:
        raise PredictionInputError(f"{chans[extra[0]]}: case {case!r} has channel {extra[0]} but the model was "
                                   f"trained on {num_channels} channel(s) ({names})")
    missing = [c for c in range(num_channels) if c not in chans]
    if missing:
        any_file = next(iter(chans.values()))
        ending = file_ending(any_file)
        raise PredictionInputError(f"{any_file.parent}: case {case!r} misses channel file(s) "
                                   + ", ".join(f"{case}_{c:04d}{ending}" for c in missing)
                                   + f"; the model needs {num_channels} channel(s) ({names})")


def find_cases(input_path: os.PathLike | str, num_channels: int,
               channel_names: Sequence[str] = ()) -> List[CaseInput]:
    """All cases under ``input_path``, sorted by name; raises with the reason when the input is unusable."""
    inp = Path(input_path)
    if not inp.exists():
        raise PredictionInputError(f"-i {inp}: does not exist; give an image file, a DICOM-series folder or a "
                                   f"folder of images")
    if inp.is_file():
        if not file_ending(inp):
            raise PredictionInputError(f"{inp}: not an image file (supported endings: .nii.gz, .nii, .nrrd, "
                                       f".nhdr, .mha, .mhd, .img, .hdr, .dcm, or a DICOM-series folder)")
        return _cases_from_files([inp], num_channels, channel_names)
    entries = sorted(p for p in inp.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if p.is_file()]
    image_files = [p for p in files if file_ending(p) and file_ending(p) != ".dcm"]
    cases = _cases_from_files(image_files, num_channels, channel_names) if image_files else []
    rest = [p for p in files if p not in image_files]
    series = list_dicom_series(inp, recursive=False) if rest else []
    in_series = {Path(f).resolve() for _, fs in series for f in fs}
    dicom_cases: List[Tuple[str, Path, List[str]]] = []
    for k, (_, fs) in enumerate(series):
        dicom_cases.append((inp.name if len(series) == 1 else f"{inp.name}_{k:02d}", inp, list(fs)))
    no_series = []
    for sub in (p for p in entries if p.is_dir()):
        sub_series = list_dicom_series(sub, recursive=False)
        no_series += [] if sub_series else [sub]
        for k, (_, fs) in enumerate(sub_series):
            dicom_cases.append((sub.name if len(sub_series) == 1 else f"{sub.name}_{k:02d}", sub, list(fs)))
    _skip_non_images([p for p in rest if p.resolve() not in in_series], no_series, inp)
    if dicom_cases and num_channels != 1:
        raise PredictionInputError(f"{dicom_cases[0][1]}: a DICOM series is one channel, but the model needs "
                                   f"{num_channels} channels; convert the series with autosr_convert and name "
                                   f"them {{case}}_{{CCCC}}.nii.gz")
    for name, folder, fs in dicom_cases:
        cases.append(CaseInput(name, [folder], ".nii.gz", {0: fs}))
    names = [c.name for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise PredictionInputError(f"{inp}: case name(s) {', '.join(dup)} occur more than once (same name, "
                                   f"different endings or series); rename them")
    if not cases:
        raise PredictionInputError(f"{inp}: no images found (expected {{case}}_{{CCCC}}{{ending}} files or "
                                   f"DICOM series)")
    return sorted(cases, key=lambda c: c.name)


def _skip_non_images(files: Sequence[Path], folders: Sequence[Path], inp: Path) -> None:
    """Log the files and sub-folders that are neither images nor DICOM series (DICOMDIR, notes, viewer
    files); a ``.dcm`` file no series takes is a broken image and an error."""
    broken = [p for p in files if file_ending(p) == ".dcm"]
    if broken:
        raise PredictionInputError(f"{broken[0]}: not part of any readable DICOM series in {inp}; check the file "
                                   f"or move it out of the input folder")
    names = [p.name for p in files] + [p.name + "/" for p in folders]
    if names:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        logger.info("%s: skipping %d file(s) or folder(s) that are not images: %s", inp, len(names), shown)


def _cases_from_files(files: Sequence[Path], num_channels: int, channel_names: Sequence[str]) -> List[CaseInput]:
    out = []
    for case, chans in _group_files(files, num_channels).items():
        _check_channels(case, chans, num_channels, channel_names)
        ending = file_ending(chans[0])
        out.append(CaseInput(case, [chans[c] for c in range(num_channels)], _out_ending(ending)))
    return out


def select_part(cases: Sequence[CaseInput], num_parts: int = 1, part_id: int = 0) -> List[CaseInput]:
    """Deterministic share ``part_id`` of ``num_parts`` (round-robin over the sorted case list)."""
    if num_parts < 1 or not 0 <= part_id < num_parts:
        raise PredictionInputError(f"--part_id must be in [0, {num_parts - 1}] and --num_parts >= 1; "
                                   f"got part_id {part_id}, num_parts {num_parts}")
    return list(sorted(cases, key=lambda c: c.name))[part_id::num_parts]


__all__ = ["CaseInput", "PredictionInputError", "find_cases", "select_part", "check_output_location"]
