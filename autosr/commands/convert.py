"""`autosr_convert` (scans → AutoSR raw dataset) and `autosr_verify_dataset` (integrity check).

Thin wrappers: the work is in :mod:`autosr.dataset_conversion` and :mod:`autosr.integrity`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from autosr.commands.common import add_folder_options, apply_folder_options, command
from autosr.errors import DatasetError
from autosr.integrity import verify_dataset
from autosr.paths import raw_dir, resolve_dataset

EPILOG = """examples:
  autosr_convert -i ../shared/data/totalsegmentator/example_ct_dicom -d 1 --name ChestCT --modality CT
  autosr_convert -i ../shared/data/brats2013_deepmedic -d 2 --name BraTSmini --layout multichannel \\
                 --channels flair t1c --channel_names FLAIR T1c
  autosr_convert -i /data/oasis -d 3 --layout oasis
see documentation/data.md for every layout."""


def build_parser() -> argparse.ArgumentParser:
    from autosr.dataset_conversion import LAYOUTS
    from autosr.dataset_conversion.writer import WRITABLE_ENDINGS

    p = argparse.ArgumentParser(
        prog="autosr_convert", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Convert scans (image files, DICOM series, or a public dataset's layout) into an AutoSR\n"
                    "raw dataset $AUTOSR_RAW/DatasetXXX_Name (or --raw DIR/DatasetXXX_Name), then check its\n"
                    "integrity. The source is only read.")
    p.add_argument("-i", "--input", required=True, help="file or folder to convert")
    p.add_argument("-d", "--dataset_id", required=True, type=int, help="dataset id, 0-999 (DatasetXXX_...)")
    p.add_argument("-n", "--name", help="dataset name after the id (default: the input's name, or the public "
                                        "dataset's name: OASIS1, BraTS, ACDC, COVIDCT)")
    p.add_argument("--layout", choices=LAYOUTS, default="generic",
                   help="generic: every image file / DICOM series is a single-channel case (default); "
                        "multichannel: one sub-folder per case, channels picked by --channels keywords; "
                        "oasis, brats, acdc, covid_ct: the published layouts of the MIASSR datasets")
    p.add_argument("--channels", nargs="+", metavar="KW",
                   help="multichannel: one keyword per channel, matched case-insensitively in file names")
    p.add_argument("--channel_names", nargs="+", metavar="NAME",
                   help="channel names for dataset.json (default: the keywords; generic: --modality); "
                        "a channel named CT gets CT handling")
    p.add_argument("--lowres_channels", nargs="+", metavar="KW",
                   help="multichannel: keywords of paired real low-resolution scans in the same case folders "
                        "(written to lowresTr/)")
    p.add_argument("--modality", type=str.upper, choices=("CT", "MR"),
                   help="generic: channel name CT or MR (default: the DICOM Modality tag, else MR)")
    p.add_argument("--file_ending", choices=WRITABLE_ENDINGS, default=".nii.gz", help="format written (default .nii.gz)")
    p.add_argument("--test_fraction", type=float, default=0.0, metavar="F",
                   help="fraction of cases moved to imagesTs/ (seeded, default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset of that id and name "
                                                            "(the old one goes only once the new one is complete)")
    p.add_argument("--description", help="dataset.json description")
    p.add_argument("--license", help="dataset.json license")
    p.add_argument("--reference", help="dataset.json reference")
    p.add_argument("--no_verify", action="store_true", help="skip the integrity check after conversion")
    add_folder_options(p, ("raw",))
    return p


def _check_options(args: argparse.Namespace) -> None:
    """Options that do not fit the layout are errors, not silently ignored."""
    if args.layout != "multichannel" and (args.channels or args.lowres_channels):
        raise DatasetError("--channels and --lowres_channels belong to --layout multichannel")
    if args.layout == "multichannel" and not args.channels:
        raise DatasetError("--layout multichannel needs --channels, one file-name keyword per channel "
                           "(e.g. --channels flair t1c)")
    if args.layout == "multichannel" and args.modality:
        raise DatasetError("--modality is for --layout generic; name multichannel channels with --channel_names "
                           "(CT for CT channels)")
    if args.layout not in ("generic", "multichannel") and (args.channel_names or args.modality):
        raise DatasetError(f"--layout {args.layout} has fixed channel names; drop --channel_names/--modality")
    if args.layout == "generic" and args.channel_names and len(args.channel_names) != 1:
        raise DatasetError("--layout generic makes single-channel cases: give one --channel_names value "
                           "(use --layout multichannel for several channels)")


@command("autosr_convert")
def main(argv: Optional[Sequence[str]] = None) -> int:
    from autosr.dataset_conversion import PUBLIC_LAYOUTS, convert_generic, convert_multichannel
    from autosr.dataset_conversion.sources import sanitize, strip_ending

    args = build_parser().parse_args(argv)
    _check_options(args)
    apply_folder_options(args)
    src = Path(args.input)
    metadata = {"description": args.description, "license": args.license, "reference": args.reference}
    common = dict(file_ending=args.file_ending, test_fraction=args.test_fraction, overwrite=args.overwrite,
                  metadata=metadata)
    name = args.name or sanitize(strip_ending(src.resolve().name))
    if args.layout == "generic":
        folder = convert_generic(src, args.dataset_id, name, modality=args.modality,
                                 channel_name=args.channel_names[0] if args.channel_names else None, **common)
    elif args.layout == "multichannel":
        folder = convert_multichannel(src, args.dataset_id, name, args.channels, channel_names=args.channel_names,
                                      lowres_channels=args.lowres_channels, **common)
    else:
        kwargs = {"name": args.name} if args.name else {}
        folder = PUBLIC_LAYOUTS[args.layout](src, args.dataset_id, **kwargs, **common)
    print(f"dataset written to {folder}")
    if not args.no_verify:
        verify_dataset(folder)
        print(f"integrity check passed: {folder.name}")
    return 0


@command("autosr_verify_dataset")
def verify_main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="autosr_verify_dataset",
        description="Check a raw dataset (names, channels, geometry, NaN/Inf, numTraining, paired low-res scans); "
                    "lists every problem, one line each, and exits 1 if there is any.")
    p.add_argument("-d", "--dataset", required=True,
                   help="dataset id (1, 001), full name (Dataset001_BrainMR), or a path to a dataset folder")
    p.add_argument("--headers_only", action="store_true",
                   help="read image headers only (fast; skips the NaN/Inf check of the voxels)")
    add_folder_options(p, ("raw",))
    args = p.parse_args(argv)
    apply_folder_options(args)
    given = Path(args.dataset)
    looks_like_path = "/" in args.dataset or (not args.dataset.isdigit() and (given / "dataset.json").is_file())
    if looks_like_path:
        folder = given
    else:
        folder = raw_dir() / resolve_dataset(args.dataset, raw_dir())
    verify_dataset(folder, read_voxels=not args.headers_only)
    print(f"{folder}: no problems found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
