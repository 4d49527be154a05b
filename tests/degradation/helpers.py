"""A Gaussian blob at a sub-pixel position and the centre of mass of an image."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch


def blob(shape: Sequence[int], centre: Sequence[float], sigma: float) -> torch.Tensor:
    """``(1, 1, H, W)`` float32 Gaussian of peak 1 centred at HR coordinates ``centre``."""
    y = torch.arange(shape[0], dtype=torch.float64)[:, None]
    x = torch.arange(shape[1], dtype=torch.float64)[None, :]
    g = torch.exp(-((y - centre[0]) ** 2 + (x - centre[1]) ** 2) / (2 * sigma ** 2))
    return g[None, None].float()


def centre_of_mass(image: torch.Tensor) -> Tuple[float, float]:
    """``(row, column)`` centre of mass of ``image[0, 0]`` in pixel coordinates."""
    img = image[0, 0].double()
    y = torch.arange(img.shape[0], dtype=torch.float64)[:, None]
    x = torch.arange(img.shape[1], dtype=torch.float64)[None, :]
    total = img.sum()
    return float((img * y).sum() / total), float((img * x).sum() / total)
