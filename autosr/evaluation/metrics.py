"""Image-quality metrics on normalised [0, 1] intensities: PSNR, SSIM (scikit-image), NRMSE (MESR)."""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def psnr(sr: np.ndarray, hr: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR in dB (MIASSR eq. 18, L = 1 for [0, 1] images); ``inf`` for identical images."""
    sr, hr = np.asarray(sr, np.float64), np.asarray(hr, np.float64)
    if np.array_equal(sr, hr):
        return float("inf")
    return float(peak_signal_noise_ratio(hr, sr, data_range=data_range))


def ssim(sr: np.ndarray, hr: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of 2D images (scikit-image, 7×7 window; smaller images use the largest odd window that fits)."""
    sr, hr = np.asarray(sr, np.float64), np.asarray(hr, np.float64)
    win = min(7, min(hr.shape[-2:]) - (1 - min(hr.shape[-2:]) % 2))
    if win < 3:
        return float("nan")
    return float(structural_similarity(hr, sr, data_range=data_range, win_size=win))


def nrmse(sr: np.ndarray, hr: np.ndarray) -> float:
    """MESR eq. 14: RMSE(HR, SR) / (max(SR) − min(SR)); ``nan`` when SR is constant."""
    sr, hr = np.asarray(sr, np.float64), np.asarray(hr, np.float64)
    rng = float(sr.max() - sr.min())
    rmse = float(np.sqrt(np.mean((hr - sr) ** 2)))
    return rmse / rng if rng > 0 else float("nan")
