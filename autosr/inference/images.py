"""In-memory images in and out: :func:`predict_image` for SimpleITK, nibabel and numpy images.

The geometry rules are ``autosr_predict``'s (``Geometry.refined``): spacing ``/ f`` per axis, the
direction kept, the origin moved so that the field of view starts at the same edge. Arrays are
converted to SimpleITK numpy order ``(z, y, x)`` and ITK geometry (LPS, x y z order), predicted with
:meth:`Predictor.predict_case`, and converted back to the kind that came in.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import SimpleITK as sitk

from autosr.errors import AutoSRError
from autosr.imageio import Geometry, image_from_sitk, image_to_sitk
from autosr.inference.predictor import ModelMismatchError, Predictor
from autosr.inference.scale_request import ScaleRequest
from autosr.scales import ScaleLike, VolumeScale

if TYPE_CHECKING:
    import nibabel as nib

    ImageLike = Union[sitk.Image, nib.Nifti1Image, np.ndarray]

#: Tolerance on the affine of a nibabel image: columns perpendicular (|RᵀR − I|), and a 2D image's
#: axes in the x–y plane. Float32 NIfTI storage is far within it (~1e-7).
AFFINE_TOL = 1e-4
#: Channels must share one grid: geometries equal to this many mm (as ``read_case``).
CHANNEL_ATOL_MM = 1e-3
#: NIfTI RAS (nibabel) ↔ ITK LPS: the signs of x and y flip.
_RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])


class ImageInputError(AutoSRError):
    """An in-memory image cannot be predicted: its kind, shape, dtype, geometry or arguments are wrong."""


def predict_image(image: "ImageLike | Sequence[ImageLike]", model: "Predictor | str | os.PathLike",
                  scale: "None | ScaleLike | Sequence[ScaleLike] | VolumeScale" = None, *,
                  target_spacing: "None | float | Sequence[float]" = None,
                  spacing: "None | float | Sequence[float]" = None, origin: Optional[Sequence[float]] = None,
                  direction: Optional[Sequence[float]] = None, keep_dtype: bool = False,
                  return_geometry: bool = False, folds: Optional[Sequence[Any]] = None,
                  checkpoint: Optional[str] = None, device: Optional[str] = None, **predictor_kwargs: Any) -> Any:
    """Super-resolve one in-memory image and return the same kind, placed exactly as ``autosr_predict`` writes it.

    Args:
        image: a ``SimpleITK.Image``, a nibabel ``Nifti1Image``/``Nifti2Image`` (shear-free affine), or a
            numpy array in SimpleITK order, ``(z, y, x)`` or ``(y, x)``: one array is always one image
            (one channel). A multi-channel model takes a list/tuple of images of one kind on one grid, in
            the order of its ``channel_names``; a list in gives a list out.
        model: a loaded :class:`Predictor` (used as is), or a model folder, a model ``.zip`` or
            ``"builtin:NAME"``, loaded by ``predictor_from`` on every call: to predict many images, build
            the Predictor once (``predictor_from(...)``) and pass it.
        scale: one in-plane factor (``2.5``) or one factor per image axis in x y z order (``(1, 1, 4)``),
            as ``autosr_predict -s``; or ``target_spacing`` (mm: one in-plane value or one per axis, x y z).
        spacing, origin, direction: numpy input only, ITK x y z order (as ``GetSpacing()``); defaults
            1 mm, 0, identity. ``direction``: ``ndim × ndim`` row-major (flat or nested).
        keep_dtype: round and clip to the input's integer type (default float32).
        return_geometry: also return the refined grid ``{"spacing", "origin", "direction"}`` (x y z
            order, direction flat row-major): ``(result, geometry)``.
        folds, checkpoint, device, predictor_kwargs: how a model given by name is loaded (``predictor_from``;
            e.g. ``tta=True``, ``enforce_consistency=True``). A Predictor made with ``uncertainty=True``
            gives ``(output, uncertainty map)``, both of the input's kind (lists for a list in).

    Output: spacing ``spacing / f`` per axis, the same direction, the origin moved by
    ``D·(spacing' − spacing)/2`` (the field of view kept); a ``SimpleITK.Image``, a new nibabel image
    of the input's class (its xyzt units and qform/sform codes kept) or a numpy array.
    Errors (:class:`~autosr.errors.AutoSRError`) say what is wrong and what to give instead.
    """
    request = ScaleRequest.parse(scale, target_spacing)  # parsed once, here, before anything is loaded
    images, many = _channels(image)
    kind = _kind_of(images)
    if kind != "numpy" and not (spacing is None and origin is None and direction is None):
        raise ImageInputError(f"spacing/origin/direction are for numpy arrays; a {kind} image carries its own "
                              f"geometry")
    sources = ["image"] if not many else [f"image[{k}]" for k in range(len(images))]
    read = [_to_array(img, kind, src, spacing, origin, direction) for img, src in zip(images, sources)]
    case, geometry = _stack(read, sources)
    predictor = _predictor(model, folds, checkpoint, device, predictor_kwargs)
    _check_channels(predictor, images, many)
    vs, _ = predictor.plan(request, case.ndim - 1, geometry, sources[0])
    predictor.check_case(case, vs, sources[0])  # the whole refined image, whatever passes give it
    sr, sr_geometry = predictor.predict_case(case, geometry, vs, out_dtype=None if keep_dtype else np.float32,
                                             desc=sources[0])
    assert sr_geometry is not None
    outputs = [_from_array(sr[c], sr_geometry, kind, images[c]) for c in range(len(images))]
    result: Any = outputs if many else outputs[0]
    if predictor.uncertainty:  # the standard deviations follow the outputs (Predictor.predict_case)
        maps = [_from_array(sr[len(images) + c], sr_geometry, kind, images[c]) for c in range(len(images))]
        result = (result, maps if many else maps[0])
    if return_geometry:
        return result, {"spacing": sr_geometry.spacing, "origin": sr_geometry.origin,
                        "direction": sr_geometry.direction}
    return result


# ---------------------------------------------------------------- what came in
def _channels(image: Any) -> Tuple[List[Any], bool]:
    """The images, and whether they came as a list/tuple (then a list goes out)."""
    if isinstance(image, (list, tuple)):
        if not image:
            raise ImageInputError("image: an empty list; give one image, or one per channel of the model")
        return list(image), True
    return [image], False


def _kind_of(images: Sequence[Any]) -> str:
    kinds = [_kind(img) for img in images]
    if len(set(kinds)) > 1:
        raise ImageInputError(f"image: the channels mix kinds ({', '.join(kinds)}); give them all as one kind")
    return kinds[0]


def _kind(image: Any) -> str:
    if isinstance(image, sitk.Image):
        return "SimpleITK"
    if isinstance(image, np.ndarray):
        return "numpy"
    if type(image).__module__.startswith("nibabel"):
        import nibabel as nib

        if isinstance(image, nib.Nifti1Image):  # Nifti2Image too
            return "nibabel"
    raise ImageInputError(f"image: a {type(image).__module__}.{type(image).__name__}; give a SimpleITK.Image, a "
                          f"nibabel Nifti1Image/Nifti2Image or a numpy array (a list of them for several channels)")


def _to_array(image: Any, kind: str, source: str, spacing: Any, origin: Any, direction: Any
              ) -> Tuple[np.ndarray, Geometry]:
    """The image as a SimpleITK-order array and its ITK geometry."""
    if kind == "SimpleITK":
        array, geometry = image_from_sitk(image, source)
    elif kind == "nibabel":
        array, geometry = _from_nifti(image, source)
    else:
        _check_array(image, source)
        return image, _numpy_geometry(image.ndim, spacing, origin, direction)
    _check_array(array, source)
    return array, geometry


def _check_array(array: np.ndarray, source: str) -> None:
    if array.ndim == 4:
        raise ImageInputError(f"{source}: a 4D array {array.shape}; one array is one image, (z, y, x) or (y, x): give "
                              f"the channels of a (C, z, y, x) array as a list (list(array)), or use "
                              f"Predictor.predict_case for stacked arrays")
    if array.ndim not in (2, 3):
        raise ImageInputError(f"{source}: a {array.ndim}D array {array.shape}; give a 2D (y, x) or 3D (z, y, x) image")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ImageInputError(f"{source}: dtype {array.dtype}; give an integer or floating-point image")
    if np.issubdtype(array.dtype, np.floating):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ImageInputError(f"{source}: holds {bad} NaN/Inf voxel(s) of {array.size}; replace them (e.g. with "
                                  f"the background value) first")


def _numpy_geometry(ndim: int, spacing: Any, origin: Any, direction: Any) -> Geometry:
    """ITK geometry from keyword arguments in x y z order (defaults: 1 mm, 0, identity)."""
    sp = _values("spacing", 1.0 if spacing is None else spacing, ndim, broadcast=True)
    if np.any(sp <= 0):
        raise ImageInputError(f"spacing {tuple(sp.tolist())}: every spacing must be a positive number of mm")
    org = _values("origin", np.zeros(ndim) if origin is None else origin, ndim)
    d = np.eye(ndim) if direction is None else np.asarray(direction, dtype=np.float64)
    if d.size != ndim * ndim or not np.all(np.isfinite(d)):
        raise ImageInputError(f"direction: give {ndim * ndim} finite numbers ({ndim} x {ndim}, row-major, columns "
                              f"the axis directions) for a {ndim}D image, not {np.shape(direction)}")
    if abs(np.linalg.det(d.reshape(ndim, ndim))) < 1e-6:
        raise ImageInputError(f"direction {tuple(d.ravel().tolist())}: singular; the axis directions must be independent")
    return Geometry(tuple(sp.tolist()), tuple(org.tolist()), tuple(d.ravel().tolist()))


def _values(name: str, value: Any, ndim: int, broadcast: bool = False) -> np.ndarray:
    v = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    if broadcast and v.size == 1:
        v = np.repeat(v, ndim)
    if v.size != ndim or not np.all(np.isfinite(v)):
        raise ImageInputError(f"{name} {tuple(np.ravel(value).tolist())}: give {ndim} finite numbers (x y z order) for a "
                              f"{ndim}D image")
    return v


def _stack(read: Sequence[Tuple[np.ndarray, Geometry]], sources: Sequence[str]) -> Tuple[np.ndarray, Geometry]:
    """``(C, *spatial)`` of channels on one grid (float32 when their dtypes differ, as ``read_case``)."""
    first, geometry = read[0]
    for (arr, geom), src in zip(read[1:], sources[1:]):
        if arr.shape != first.shape:
            raise ImageInputError(f"{src}: shape {arr.shape} differs from {sources[0]}'s {first.shape}; all channels "
                                  f"must share one grid (resample them first)")
        if not geom.is_close(geometry, atol=CHANNEL_ATOL_MM):
            raise ImageInputError(f"{src}: geometry (spacing/origin/direction) differs from {sources[0]}'s; all "
                                  f"channels must share one grid")
    dtype = first.dtype if all(a.dtype == first.dtype for a, _ in read) else np.float32
    return np.stack([a.astype(dtype, copy=False) for a, _ in read]), geometry


# ---------------------------------------------------------------- nibabel ↔ ITK
def _from_nifti(image: "nib.Nifti1Image", source: str) -> Tuple[np.ndarray, Geometry]:
    """SimpleITK-order voxels and the geometry SimpleITK reads from the same NIfTI file.

    nibabel's axes (i, j, k) are ITK's (x, y, z), the reverse of SimpleITK's numpy order; its affine
    maps to RAS, ITK's geometry to LPS (x and y negated).
    """
    if len(image.shape) not in (2, 3):
        raise ImageInputError(f"{source}: a nibabel image of shape {image.shape}; give a 2D or 3D image "
                              f"(e.g. image.slicer[..., 0] for one volume of a 4D series)")
    data = np.asanyarray(image.dataobj)  # the stored dtype (float when scl_slope scales it)
    return np.ascontiguousarray(data.T), affine_to_geometry(image.affine, data.ndim, source)


def affine_to_geometry(affine: np.ndarray, ndim: int, source: str = "image") -> Geometry:
    """ITK geometry (LPS) of a shear-free NIfTI affine (RAS) for an ``ndim``-D image, as SimpleITK reads it."""
    a = np.asarray(affine, dtype=np.float64)
    columns = a[:3, :ndim]
    norms = np.linalg.norm(columns, axis=0)
    if not np.all(np.isfinite(a)) or np.any(norms <= 0):
        raise ImageInputError(f"{source}: its affine has a zero or non-finite axis ({_fmt(a[:3, :ndim])}); give an "
                              f"image with a valid affine")
    if ndim == 2 and np.any(np.abs(columns[2]) > AFFINE_TOL * norms):
        raise ImageInputError(f"{source}: a 2D image whose axes leave the x-y plane (affine {_fmt(a[:3, :3])}); "
                              f"SimpleITK has no 2D geometry for it: give it as a 3D image of one slice")
    rotation = columns[:ndim] / np.linalg.norm(columns[:ndim], axis=0)
    shear = float(np.abs(rotation.T @ rotation - np.eye(ndim)).max())
    if shear > AFFINE_TOL:
        raise ImageInputError(f"{source}: its affine is sheared (axes not perpendicular, |RᵀR - I| = {shear:.2g}); "
                              f"AutoSR and ITK need perpendicular axes: resample the image onto a shear-free grid "
                              f"first (e.g. nibabel.processing.resample_from_to)")
    flip = _RAS_TO_LPS[:ndim]
    return Geometry(tuple(np.linalg.norm(columns[:ndim], axis=0).tolist()), tuple((flip * a[:ndim, 3]).tolist()),
                    tuple((flip[:, None] * rotation).ravel().tolist()))


def geometry_to_affine(geometry: Geometry, like: np.ndarray) -> np.ndarray:
    """The NIfTI affine (RAS) of an ITK geometry; ``like`` (the input's affine) gives what a 2D geometry lacks
    (the slice axis and its position)."""
    n = geometry.ndim
    flip = _RAS_TO_LPS[:n]
    a = np.array(like, dtype=np.float64)
    a[:n, :n] = flip[:, None] * geometry.direction_matrix * np.asarray(geometry.spacing)
    a[n:3, :n] = 0.0  # a 2D image's axes lie in the x-y plane (checked on the way in)
    a[:n, 3] = flip * np.asarray(geometry.origin)
    return a


def _to_nifti(array: np.ndarray, geometry: Geometry, like: "nib.Nifti1Image") -> "nib.Nifti1Image":
    """A new image of ``like``'s class (Nifti1/Nifti2) with ``array`` (SimpleITK order) at ``geometry``."""
    import nibabel as nib

    affine = geometry_to_affine(geometry, like.affine)
    cls = nib.Nifti2Image if isinstance(like, nib.Nifti2Image) else nib.Nifti1Image
    out = cls(array.T, affine, dtype=array.dtype)
    out.header.set_xyzt_units(*like.header.get_xyzt_units())
    q_code, s_code = int(like.header["qform_code"]), int(like.header["sform_code"])
    if q_code == s_code == 0:
        s_code = 2  # "aligned": without a code readers would ignore the refined affine
    out.set_qform(affine, code=q_code)
    out.set_sform(affine, code=s_code)
    return out


def _fmt(m: np.ndarray) -> str:
    return "[" + "; ".join(" ".join(f"{v:.4g}" for v in row) for row in np.atleast_2d(m)) + "]"


# ---------------------------------------------------------------- what goes out
def _from_array(array: np.ndarray, geometry: Geometry, kind: str, like: Any) -> Any:
    if kind == "SimpleITK":
        return image_to_sitk(array, geometry)
    if kind == "nibabel":
        return _to_nifti(array, geometry, like)
    return array


# ---------------------------------------------------------------- the model
def _predictor(model: Any, folds: Optional[Sequence[Any]], checkpoint: Optional[str], device: Optional[str],
               predictor_kwargs: Dict[str, Any]) -> Predictor:
    """``model`` if it is loaded, else loaded by ``predictor_from`` with the options given."""
    options = {k: v for k, v in (("folds", folds), ("checkpoint", checkpoint), ("device", device)) if v is not None}
    options.update(predictor_kwargs)
    if isinstance(model, Predictor):
        if options:
            raise ImageInputError(f"model is a loaded Predictor, so {', '.join(options)} cannot apply; give them "
                                  f"when building it (predictor_from(spec, {next(iter(options))}=...))")
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise ImageInputError(f"model: a {type(model).__name__}; give a Predictor, a model folder, a model .zip or "
                              f"'builtin:NAME'")
    from autosr.inference.model_package import predictor_from  # zips and built-ins: loaded only when named

    return predictor_from(model, **options)


def _check_channels(predictor: Predictor, images: Sequence[Any], many: bool) -> None:
    """One image per model channel (a single array whose first axis could be channels is named as such)."""
    need, names = predictor.plans.num_channels, ", ".join(predictor.plans.channel_names)
    if len(images) == need:
        return
    hint = ""
    if not many and isinstance(images[0], np.ndarray) and images[0].ndim == 3 and images[0].shape[0] == need:
        hint = (f"; if the first axis of this {images[0].shape} array is {need} channels of a 2D image, give "
                f"list(array)")
    raise ModelMismatchError(f"image: {len(images)} image(s) given, but the model needs {need} channel(s) ({names}): "
                             f"give {'one image' if need == 1 else f'a list of {need} images on one grid, in that order'}"
                             f"{hint}")


__all__ = ["predict_image", "ImageInputError", "affine_to_geometry", "geometry_to_affine"]
