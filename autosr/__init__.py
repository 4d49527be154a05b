"""AutoSR: self-configuring arbitrary-scale super-resolution (MIASSR / MESR) for MRI and CT.

A scan travels: raw dataset (:mod:`autosr.dataset`, :mod:`autosr.imageio`) → fingerprint and
plans (:mod:`autosr.fingerprint`, :mod:`autosr.planners`) → preprocessed slices
(:mod:`autosr.preprocessing`) → training (:mod:`autosr.training`) → prediction
(:mod:`autosr.inference`) → evaluation (:mod:`autosr.evaluation`).

``autosr.predict_image(image, model, scale)`` super-resolves an in-memory SimpleITK, nibabel or
numpy image (:mod:`autosr.inference.images`, documentation/python_api.md).
"""
__version__ = "0.1.0"

#: Imported on first use (:func:`__getattr__`), so ``import autosr`` does not load torch.
_LAZY = {"predict_image": "autosr.inference.images"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autosr' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(list(globals()) + list(_LAZY))
