"""Image geometry (spacing, origin, direction) and the refined-grid rule.

Axis order. Arrays are in SimpleITK's numpy order: for a 3D image ``array.shape == (z, y, x)``
(array axis ``k`` is ITK axis ``ndim - 1 - k``). ``Geometry`` holds ITK-order values: ``spacing``
and ``origin`` are ``(x, y, z)`` in mm, ``direction`` the row-major ``ndim × ndim`` matrix whose
columns are the axis directions (LPS physical space, as ITK/DICOM). Use
``Geometry.array_spacing`` for spacing in array order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np

from autosr.scales import VolumeScale


@dataclass(frozen=True)
class Geometry:
    """Where an image's voxels lie in physical space (ITK axis order, mm)."""

    spacing: Tuple[float, ...]
    origin: Tuple[float, ...]
    direction: Tuple[float, ...]  # row-major ndim*ndim

    def __post_init__(self) -> None:
        n = len(self.spacing)
        if len(self.origin) != n or len(self.direction) != n * n:
            raise ValueError(f"inconsistent geometry: spacing {self.spacing}, origin {self.origin}, "
                             f"direction of {len(self.direction)} values")

    @property
    def ndim(self) -> int:
        return len(self.spacing)

    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=np.float64).reshape(self.ndim, self.ndim)

    @property
    def array_spacing(self) -> Tuple[float, ...]:
        """Spacing in array (numpy) axis order, e.g. ``(sz, sy, sx)``."""
        return tuple(reversed(self.spacing))

    def to_dict(self) -> Dict[str, list]:
        return {"spacing": list(self.spacing), "origin": list(self.origin), "direction": list(self.direction)}

    @classmethod
    def from_dict(cls, d: Dict[str, Sequence[float]]) -> "Geometry":
        return cls(tuple(map(float, d["spacing"])), tuple(map(float, d["origin"])),
                   tuple(map(float, d["direction"])))

    def index_to_physical(self, index_xyz: np.ndarray) -> np.ndarray:
        """Physical points (mm) of continuous ITK indices ``(..., ndim)`` in x, y, z order."""
        idx = np.asarray(index_xyz, dtype=np.float64)
        return np.asarray(self.origin) + (idx * np.asarray(self.spacing)) @ self.direction_matrix.T

    def physical_to_index(self, point: np.ndarray) -> np.ndarray:
        """Continuous ITK indices (x, y, z order) of physical points ``(..., ndim)``."""
        rel = np.asarray(point, dtype=np.float64) - np.asarray(self.origin)
        return (rel @ np.linalg.inv(self.direction_matrix).T) / np.asarray(self.spacing)

    def fov_corners(self, array_shape: Sequence[int]) -> np.ndarray:
        """The ``2**ndim`` outer corners of the field of view in mm (voxel edges, not centres)."""
        size = np.asarray(tuple(reversed(array_shape)), dtype=np.float64)
        corners = np.array(np.meshgrid(*[[-0.5, s - 0.5] for s in size], indexing="ij")).reshape(self.ndim, -1).T
        return self.index_to_physical(corners)

    def is_close(self, other: "Geometry", rtol: float = 1e-5, atol: float = 1e-4) -> bool:
        return (self.ndim == other.ndim
                and np.allclose(self.spacing, other.spacing, rtol=rtol, atol=atol)
                and np.allclose(self.origin, other.origin, rtol=rtol, atol=atol)
                and np.allclose(self.direction, other.direction, atol=1e-4))

    def refined(self, scale: VolumeScale) -> "Geometry":
        """Geometry of the grid refined by ``scale`` (a factor per array axis).

        Spacing becomes ``spacing / f`` per axis, direction is kept, and the origin (the centre of
        the first voxel) moves so that the field of view starts at the same physical edge:
        ``origin' = origin + D · (spacing' − spacing) / 2``. With ``floor(n·f)`` voxels the far edge
        matches too whenever ``n·f`` is an integer (otherwise it stops less than one refined voxel
        short, never beyond the original field of view).
        """
        if scale.ndim != self.ndim:
            raise ValueError(f"{scale.ndim} factors for a {self.ndim}D geometry")
        spacing = np.asarray(self.spacing, dtype=np.float64)
        new_spacing = spacing / np.asarray([float(f) for f in scale.xyz])
        origin = np.asarray(self.origin) + self.direction_matrix @ ((new_spacing - spacing) / 2.0)
        return Geometry(tuple(new_spacing.tolist()), tuple(origin.tolist()), self.direction)


def orientation_code(geometry: Geometry) -> str:
    """Three-letter orientation code (e.g. ``"LPS"``, ``"RAS"``) of the ITK axes, DICOM convention.

    Each letter says towards which anatomical side the axis index increases.
    """
    letters = ("LR", "PA", "SI")  # LPS physical axes: +x = Left, +y = Posterior, +z = Superior
    m = geometry.direction_matrix
    code = []
    for col in range(geometry.ndim):
        v = m[:, col]
        k = int(np.argmax(np.abs(v)))
        code.append(letters[k][0] if v[k] > 0 else letters[k][1])
    return "".join(code)
