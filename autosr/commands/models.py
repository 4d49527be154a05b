"""`autosr_export_model`, `autosr_install_model`, `autosr_list_models`: a model in one file
(wraps :mod:`autosr.inference.model_package`; documentation/sharing.md).

    autosr_export_model -d 1 -c 2d_cpu -o brain_t2.zip
    autosr_install_model brain_t2.zip
    autosr_list_models
"""
from __future__ import annotations

import argparse
import logging
from typing import Optional, Sequence

from autosr.commands.common import (add_folder_options, add_model_options, apply_folder_options, command,
                                   model_folder_of)

logger = logging.getLogger(__name__)


def build_export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autosr_export_model",
        description="Write a trained model as one .zip: per fold the generator weights and what prediction reads "
                    "(no critic, no optimiser), plans, dataset description and fingerprint, training and evaluation "
                    "summaries, and a manifest with checksums, scales and the training data's licence. Install it "
                    "elsewhere with autosr_install_model. See documentation/sharing.md.")
    add_model_options(p, model_help="a model folder (Trainer__plans__configuration)",
                      folds_help="fold(s) to export (default: every fold holding the checkpoint)",
                      checkpoint_help="checkpoint file name in each fold folder (default checkpoint_final.pth); it is "
                                      "stored as checkpoint_final.pth in the zip")
    p.add_argument("-o", dest="output", required=True, help="the model file to write (.zip)")
    add_folder_options(p, ("results",))
    return p


@command("autosr_export_model")
def export_main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_export_parser().parse_args(argv)
    apply_folder_options(args)
    from autosr.inference.model_package import export_model, read_manifest

    path = export_model(model_folder_of(args), args.output, folds=args.folds, checkpoint=args.checkpoint)
    manifest = read_manifest(path)
    print(f"autosr_export_model: wrote {path} ({path.stat().st_size / 1e6:.3g} MB): {manifest['dataset']}/"
          f"{manifest['model']['folder']}, fold(s) {', '.join(manifest['folds'])}")
    print(f"install it with: autosr_install_model {path}")
    return 0


def build_install_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autosr_install_model",
        description="Check a model .zip (names, checksums, checkpoints loaded without running code) and extract it "
                    "into $AUTOSR_RESULTS/DatasetXXX_Name/Trainer__plans__configuration/, where autosr_predict -d "
                    "finds it. See documentation/sharing.md.")
    p.add_argument("zip", help="the model file (.zip made by autosr_export_model)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a different model already in that folder (default: refuse)")
    add_folder_options(p, ("results",))
    return p


def predict_hint(manifest: dict, results: Optional[str] = None) -> str:
    """The ``autosr_predict`` command line that uses an installed model (``--results`` when one was given)."""
    from autosr.inference.model_folder import DEFAULT_PLANS, DEFAULT_TRAINER
    model = manifest["model"]
    line = f"autosr_predict -i IN -o OUT -s 2 -d {manifest['dataset']} -c {model['configuration']}"
    if model.get("trainer") != DEFAULT_TRAINER:
        line += f" -tr {model['trainer']}"
    if model.get("plans") != DEFAULT_PLANS:
        line += f" -p {model['plans']}"
    if model.get("system"):
        line += f" --system {model['system']}"
    if results:
        line += f" --results {results}"
    return line


@command("autosr_install_model")
def install_main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_install_parser().parse_args(argv)
    apply_folder_options(args)
    from autosr.inference.model_package import install_model, read_manifest

    folder = install_model(args.zip, overwrite=args.overwrite)
    manifest = read_manifest(args.zip)
    print(f"autosr_install_model: installed {args.zip} into {folder}")
    print(f"predict with: {predict_hint(manifest, args.results_folder)}")
    return 0


def build_list_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autosr_list_models",
        description="List the built-in models (use them with autosr_predict -m builtin:NAME) and the model "
                    "folders, trained or installed, under the results folder. See documentation/sharing.md.")
    add_folder_options(p, ("results",))
    return p


@command("autosr_list_models")
def list_main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_list_parser().parse_args(argv)
    apply_folder_options(args)
    from autosr.errors import AutoSRError
    from autosr.inference.model_package import (BUILTIN_PREFIX, describe, list_builtin_models,
                                                list_model_folders_with_folds, read_manifest)
    from autosr.paths import results_dir

    builtins = list_builtin_models()
    print("built-in models:" if builtins else "built-in models: none in this AutoSR")
    for name, zip_path in builtins.items():
        try:
            line = describe(read_manifest(zip_path))
        except AutoSRError as exc:  # a damaged shipped zip is listed, not fatal to the listing
            line = f"unreadable ({exc})"
        print(f"  {BUILTIN_PREFIX}{name}  {line}")
    root = results_dir()
    folders = list_model_folders_with_folds()
    print(f"models in {root}:" if folders else f"models in {root}: none (train one with autosr_train, or "
                                               f"install one with autosr_install_model)")
    for m in folders:
        folds = f"fold(s) {', '.join(m['folds'])}" if m["folds"] else "no fold with checkpoint_final.pth"
        print(f"  {m['dataset']}  {m['folder']}  {folds}{'  (installed from a zip)' if m['installed'] else ''}")
    return 0


__all__ = ["export_main", "install_main", "list_main", "build_export_parser", "build_install_parser",
           "build_list_parser"]

_MAINS = {"export": export_main, "install": install_main, "list": list_main}


def _module_main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m autosr.commands.models {export,install,list} ...``: the three commands in one module."""
    import sys
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _MAINS:
        return _MAINS[argv[0]](argv[1:])
    p = argparse.ArgumentParser(prog="python -m autosr.commands.models",
                                description="autosr_export_model, autosr_install_model and autosr_list_models.")
    p.add_argument("what", choices=sorted(_MAINS), help="export, install or list; add --help after it for its options")
    p.parse_args(argv)
    return 2


if __name__ == "__main__":
    raise SystemExit(_module_main())
