"""Make an output explain its input exactly: project it onto {x : A(x) = y} for an acquisition A.

Every acquisition of :mod:`autosr.degradation.acquisition` without noise and without its final
clip to [0, 1] is linear in the HR image (a blur then resampling, area averaging, a CT kernel; a
k-space truncation is linear until its magnitude is taken, so it is projected only approximately).
The projection of an output ``x`` onto the set of images whose acquisition is the input ``y`` is then

    x' = x + Aᵀ (A Aᵀ)⁻¹ (y − A x),

the smallest change that makes ``A(x') = y``. ``A Aᵀ`` lives on the LR grid and is well
conditioned for a blur-and-sample operator, so conjugate gradients solve it in tens of steps;
``Aᵀ`` is taken from autograd (no operator needs a hand-written adjoint); a further round refines
it until the relative RMSE (:func:`error`) is below the tolerance. An axis the scale leaves alone
(factor 1) is left alone by the operator too (:func:`acquire`), as a thick-slice acquisition leaves
the in-plane axes.
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

import torch

from autosr.degradation.acquisition import Acquisition, synthesize
from autosr.degradation.grid import AxisScales, axis_scales
from autosr.degradation.estimate import relative_rmse

#: Relative RMSE the projection aims below (the ``--enforce_consistency`` promise is 1e-3).
DEFAULT_TOLERANCE = 2e-4


def noise_free(acq: Acquisition) -> Acquisition:
    """``acq`` without its noise: the deterministic operator a prediction is checked and projected against."""
    return dataclasses.replace(acq, noise="none", snr=None, noise_std=0.0)


def acquire(hr: torch.Tensor, scale: AxisScales, acq: Acquisition, clip: bool = True) -> torch.Tensor:
    """``acq`` acquiring ``hr`` ``(B, C, H, W)`` along the refined axes only: an axis with factor 1 (the in-plane
    axis of a thick-slice pass) is neither blurred nor resampled, as a thick-slice scanner leaves it."""
    f_h, f_w = axis_scales(scale)
    if f_h != 1 and f_w != 1:
        return synthesize(hr, scale, acq, clip=clip)
    if f_h == 1 and f_w == 1:
        return hr.clamp(0.0, 1.0) if clip else hr
    b, c, h, w = hr.shape
    # Each column (row) becomes an image of two identical columns (rows): the separable blur leaves that
    # axis alone, so the acquisition acts along the other one only. Two, not one: PyTorch's antialiased
    # bicubic resampling is wrong on a dimension of size 1 (a smaller mean, measured).
    if f_w == 1:
        cols = hr.permute(0, 1, 3, 2).reshape(b * c * w, 1, h, 1).expand(-1, 1, h, 2)
        lr = synthesize(cols, (f_h, f_w), acq, clip=clip)[..., :1]
        return lr.reshape(b, c, w, -1).permute(0, 1, 3, 2)
    rows = hr.reshape(b * c * h, 1, 1, w).expand(-1, 1, 2, w)
    return synthesize(rows, (f_h, f_w), acq, clip=clip)[..., :1, :].reshape(b, c, h, -1)


def error(lr: torch.Tensor, sr: torch.Tensor, scale: AxisScales, acq: Acquisition, clip: bool = True) -> float:
    """Relative RMSE over ``lr``'s foreground between ``lr`` and ``sr`` acquired by :func:`acquire` (``sr`` clipped
    to [0, 1] first when ``clip``: as an output is written unless it was projected)."""
    sr = sr.to(torch.float32)
    return relative_rmse(lr, acquire(sr.clamp(0.0, 1.0) if clip else sr, scale, noise_free(acq), clip=False))


def _solve(apply_normal, rhs: torch.Tensor, iters: int) -> torch.Tensor:
    """Conjugate gradients for ``N z = rhs`` per image (``N`` symmetric positive definite)."""
    dims = tuple(range(1, rhs.dim()))
    z = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rr = (r * r).sum(dim=dims, keepdim=True)
    for _ in range(iters):
        q = apply_normal(p)
        pq = (p * q).sum(dim=dims, keepdim=True)
        alpha = torch.where(pq > 1e-30, rr / pq.clamp_min(1e-30), torch.zeros_like(pq))  # converged images stay
        z = z + alpha * p
        r = r - alpha * q
        rr_new = (r * r).sum(dim=dims, keepdim=True)
        if float(rr_new.max()) < 1e-20:
            break
        p = r + rr_new / rr.clamp_min(1e-30) * p
        rr = rr_new
    return z


def project(sr: torch.Tensor, lr: torch.Tensor, scale: AxisScales, acq: Acquisition,
            tolerance: float = DEFAULT_TOLERANCE, rounds: int = 3, cg_iters: int = 30) -> Tuple[torch.Tensor, float]:
    """``sr`` ``(B, C, ⌊h·s⌋, ⌊w·s⌋)`` projected so that ``acq`` acquires it as ``lr`` ``(B, C, h, w)``.

    Returns the projected output (float32) and its consistency error (:func:`error`, unclipped). The
    output is not clipped to [0, 1]: the input's own background and window edges are often not the
    acquisition of any image inside the range, and clipping would undo the projection there.
    """
    # a prediction runs under inference mode, whose tensors autograd cannot use: leave it and copy them
    with torch.inference_mode(False), torch.enable_grad():
        return _project(sr.clone(), lr.clone(), scale, noise_free(acq), tolerance, rounds, cg_iters)


def _project(sr: torch.Tensor, lr: torch.Tensor, scale: AxisScales, acq: Acquisition, tolerance: float,
             rounds: int, cg_iters: int) -> Tuple[torch.Tensor, float]:
    y = lr.to(torch.float32)
    x = sr.detach().to(torch.float64)
    template = x.clone().requires_grad_(True)
    # A is linear: its Jacobian at any point is A itself, so one graph gives Aᵀ for every vector
    forward = acquire(template, scale, acq, clip=False)

    def a(v: torch.Tensor) -> torch.Tensor:
        return acquire(v, scale, acq, clip=False)

    def a_t(u: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(forward, template, grad_outputs=u, retain_graph=True)
        return g

    h, w = min(forward.shape[-2], y.shape[-2]), min(forward.shape[-1], y.shape[-1])
    target = y[..., :h, :w].to(torch.float64)

    def residual(v: torch.Tensor) -> torch.Tensor:
        r = torch.zeros_like(forward)
        r[..., :h, :w] = target - a(v)[..., :h, :w]
        return r

    err = error(y, x, scale, acq, clip=False)
    for _ in range(rounds):  # one round is exact up to the conjugate gradients' precision; more refine it
        if err <= tolerance:
            break
        x = x + a_t(_solve(lambda u: a(a_t(u)), residual(x), cg_iters))
        err = error(y, x, scale, acq, clip=False)
    return x.to(torch.float32).detach(), err


__all__ = ["project", "acquire", "error", "noise_free", "DEFAULT_TOLERANCE"]
