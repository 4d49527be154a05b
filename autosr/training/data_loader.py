"""Training batches: one scale per batch, HR patches cropped from random slices, LR made on the fly.

Each batch (MIASSR section 4.3):

1. draws one scale ``s`` (from the plan's grid, or uniform in ``(1, s_max]`` rounded to 0.01), or,
   for ``scales.single_axis_probability`` of the batches, one thick axis (rows or columns) refined
   up to ``scales.single_axis_max`` and the other kept (``(s, 1)`` or ``(1, s)``): such a batch's
   LR is thick slices of a profile and gap drawn from ``degradation.slice_profile``
   (:func:`autosr.degradation.thick_slices`), its region long enough for ``min_lr_patch`` slices;
2. sizes the patches by eq. 20: LR ``h = floor(P/s)``, HR ``floor(s·h)``
   (:func:`autosr.scales.patch_sizes`);
3. augments random slices of random training cases (random flips and 90° rotations) and crops
   ``batch_size`` HR regions of ``P`` pixels (never resampled) from them, zero-padding slices
   smaller than the patch; nearly empty slices (< 10 % non-zero pixels) and all-background
   windows are redrawn (a few tries), as MIASSR crops the background, except for 5 % of the
   windows, drawn from anywhere so that background is learned to stay background;
4. synthesises LR from the whole region, each patch acquired its own way: an acquisition drawn
   from the plan's degradation distribution (:func:`autosr.degradation.draw`: Gaussian PSF with
   or without antialiasing, area, MR k-space, CT kernel, noise), or the plan's reference recipe
   when it has none, with AutoSR's centre alignment, giving ``floor(P/s)`` LR pixels (k-space
   takes the region's whole slice as its field of view, as a scanner does, so the patch's cut
   edges do not ring); the
   HR target is the region's first ``floor(s·h)`` pixels, the same field of view. In paired mode
   the LR patch is instead cut from the case's real low-resolution scan at the matching,
   grid-aligned position.

Batches are dicts ``{"lr": float32 (B, C, h, w), "hr": float32 (B, C, H, W), "scale": "p/q" or "p/q,p/q",
"acquisition": [kind or None per patch]}``: the kind (:func:`autosr.degradation.kind`) of each
patch's acquisition when the network is told it (``degradation.told_probability``), else ``None``.

Determinism: all randomness comes from ``torch.Generator`` objects seeded from
``(seed, rank, worker, start_step)``. With ``num_workers == 0`` (forced in deterministic mode)
batches are made in the training process and the generators' states go into the checkpoint,
so an interrupted and resumed run sees exactly the batches of an uninterrupted one. With
workers, batchgenerators' ``MultiThreadedAugmenter`` returns batches round-robin, so a fresh run
is still reproducible, but workers restarted on resume are re-seeded (the stream differs from an
uninterrupted run).
"""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import threading
from fractions import Fraction
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from batchgenerators.dataloading.data_loader import SlimDataLoaderBase
from batchgenerators.dataloading.multi_threaded_augmenter import MultiThreadedAugmenter

from autosr.degradation import draw, kind, recipe, synthesize, thick_slices
from autosr.plans import DegradationPlan, ScalePlan
from autosr.scales import as_fraction, patch_sizes
from autosr.slices import has_content

#: Uniform scale sampling is rounded to this step so Meta-Upscale phase periods stay short.
UNIFORM_RESOLUTION = Fraction(1, 100)
#: Patches come from slices with content (:func:`autosr.slices.has_content`) and are not entirely
#: background, each found within ``CONTENT_TRIES`` draws (else the last draw is used).
CONTENT_TRIES = 8
#: Share of windows drawn from anywhere (empty and nearly empty slices included), so the network
#: also learns that background stays background: trained on content only, a told model left a
#: faint haze (0.001–0.01) over empty regions, costing up to 17 dB of PSNR on the nearly empty end
#: slices of a scan, 6 dB with this share (documentation/degradation.md#measured-robustness).
ANYWHERE_SHARE = 0.05


def seeded_generator(*keys: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from several integers (e.g. seed, rank, worker)."""
    value = int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(value & 0x7FFF_FFFF_FFFF_FFFF)


def _randint(high: int, g: torch.Generator) -> int:
    return int(torch.randint(high, (1,), generator=g).item()) if high > 1 else 0


class ScaleSampler:
    """Draws the scale of each batch from a :class:`~autosr.plans.ScalePlan` (always > 1)."""

    def __init__(self, plan: ScalePlan) -> None:
        self.sampling = plan.sampling
        self.max = as_fraction(str(plan.max))
        if self.max <= 1:
            raise ValueError(f"scales.max must be > 1, got {plan.max}")
        if plan.sampling == "grid":
            self.grid = [as_fraction(v) for v in plan.values()]
            if not self.grid:
                raise ValueError(f"scales grid is empty (max {plan.max}, step {plan.step})")
        elif plan.sampling != "uniform":
            raise ValueError(f"scales.sampling must be 'grid' or 'uniform', got {plan.sampling!r}")

        self.single_axis_probability = float(plan.single_axis_probability)
        self.single_axis = ScaleSampler(dataclasses.replace(plan, max=plan.single_axis_max, single_axis_probability=0)) \
            if self.single_axis_probability > 0 else None

    def sample(self, g: torch.Generator) -> Fraction:
        """One scale for both axes."""
        if self.sampling == "grid":
            return self.grid[_randint(len(self.grid), g)]
        n = int((self.max - 1) / UNIFORM_RESOLUTION)
        return 1 + UNIFORM_RESOLUTION * (1 + _randint(n, g))

    def sample_axes(self, g: torch.Generator) -> Tuple[Fraction, Fraction]:
        """``(s_h, s_w)``: one scale for both axes, or (``single_axis_probability``) one thick axis,
        rows or columns, refined up to ``single_axis_max`` and the other kept."""
        if self.single_axis is not None and float(torch.rand((), generator=g)) < self.single_axis_probability:
            s = self.single_axis.sample(g)
            return (s, Fraction(1)) if _randint(2, g) == 0 else (Fraction(1), s)
        s = self.sample(g)
        return s, s


def augment(patch: np.ndarray, flips: Tuple[bool, bool], rot: int) -> np.ndarray:
    """Flip the last two axes of ``patch`` (C, H, W) as told, then rotate by ``rot`` × 90°."""
    if flips[0]:
        patch = patch[:, ::-1]
    if flips[1]:
        patch = patch[:, :, ::-1]
    return np.rot90(patch, rot, axes=(1, 2)) if rot else patch


def crop_padded(slice_: np.ndarray, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """``slice_[:, y0:y0+h, x0:x0+w]`` (C, H, W), zero where the window leaves the slice."""
    out = np.zeros((slice_.shape[0], h, w), np.float32)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + h, slice_.shape[1]), min(x0 + w, slice_.shape[2])
    if ye > ys and xe > xs:
        out[:, ys - y0:ye - y0, xs - x0:xe - x0] = slice_[:, ys:ye, xs:xe]
    return out


class SRPatchLoader(SlimDataLoaderBase):
    """batchgenerators loader of super-resolution batches (one scale per batch, see module doc).

    Args:
        volumes: training cases, each ``(C, S, H, W)`` float32 in [0, 1] (memmaps are fine).
        patch_size: HR patch ``(P_h, P_w)`` before eq. 20.
        batch_size: patches per batch.
        scales: the plan's scale section; degradation: the plan's degradation section.
        augment: random flips and 90° rotations.
        seed, rank, start_step: seed the generators (see module doc).
        lowres: paired mode: per case ``(lr_volume (C, S, h, w), scale)``; LR is cut from it.
        min_lr_patch: LR slices a single-axis batch keeps along its thick axis (its region grows).
    """

    def __init__(self, volumes: Sequence[np.ndarray], patch_size: Sequence[int], batch_size: int,
                 scales: ScalePlan, degradation: DegradationPlan, augment: bool = True, seed: int = 0,
                 rank: int = 0, start_step: int = 0,
                 lowres: Optional[Sequence[Tuple[np.ndarray, Fraction]]] = None, min_lr_patch: int = 12) -> None:
        super().__init__(list(volumes), batch_size, None)
        if not self._data:
            raise ValueError("no training cases")
        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        self.min_lr_patch = int(min_lr_patch)
        self.sampler = ScaleSampler(scales)
        self.degradation = degradation
        self.do_augment = augment
        self.seed, self.rank, self.start_step = int(seed), int(rank), int(start_step)
        self.lowres = list(lowres) if lowres is not None else None
        self.creator_pid = os.getpid()
        self.generators: Dict[str, torch.Generator] = {}
        self.reseed()

    def reseed(self) -> None:
        """(Re)create the generators for this worker; the scale stream is shared by all ranks."""
        t = self.thread_id
        self.generators = {"scale": seeded_generator(self.seed, 7, t, self.start_step),
                           "data": seeded_generator(self.seed, 11, self.rank, t, self.start_step)}

    def set_thread_id(self, thread_id: int) -> None:
        super().set_thread_id(thread_id)
        self.reseed()

    # -- sampling --------------------------------------------------------------------------
    def _augment_params(self) -> Tuple[Tuple[bool, bool], int]:
        if not self.do_augment:
            return (False, False), 0
        g = self.generators["data"]
        return (bool(_randint(2, g)), bool(_randint(2, g))), _randint(4, g)

    def _random_window(self, h: int, w: int) -> Tuple[np.ndarray, Tuple[int, int, int, int]]:
        """An augmented slice (with content) of a random case and an ``h × w`` window of it that is not
        all background: ``(slice (C, H', W'), (y0, x0, h, w))``, the slice zero-padded where the window
        leaves it."""
        g = self.generators["data"]
        tries = 1 if float(torch.rand((), generator=g)) < ANYWHERE_SHARE else CONTENT_TRIES
        for attempt in range(tries):  # prefer slices with content, then windows that are not empty
            vol = self._data[_randint(len(self._data), g)]
            sl = np.asarray(vol[:, _randint(vol.shape[1], g)], np.float32)
            if has_content(sl):
                break
        sl = augment(sl, *self._augment_params())
        for attempt in range(tries):
            y0 = _randint(sl.shape[1] - h + 1, g) if sl.shape[1] >= h else -_randint(h - sl.shape[1] + 1, g)
            x0 = _randint(sl.shape[2] - w + 1, g) if sl.shape[2] >= w else -_randint(w - sl.shape[2] + 1, g)
            if crop_padded(sl, y0, x0, h, w).any():
                break
        pad = ((0, 0), (max(-y0, 0), max(y0 + h - sl.shape[1], 0)), (max(-x0, 0), max(x0 + w - sl.shape[2], 0)))
        if any(sum(p) for p in pad):
            sl, y0, x0 = np.pad(sl, pad), max(y0, 0), max(x0, 0)
        return sl, (y0, x0, h, w)

    def _region_size(self, s_h: Fraction, s_w: Fraction) -> Tuple[int, int]:
        """HR region of a batch: the patch, lengthened along a thick axis so that it keeps at least
        ``min_lr_patch`` LR slices (a 48-pixel patch has only 8 slices of 6)."""
        return tuple(max(p, math.ceil(s * self.min_lr_patch)) if s_h != s_w else p
                     for p, s in zip(self.patch_size, (s_h, s_w)))

    def _synthetic_batch(self) -> Dict[str, object]:
        s_h, s_w = self.sampler.sample_axes(self.generators["scale"])
        size = self._region_size(s_h, s_w)
        (h_lr, h_hr), (w_lr, w_hr) = patch_sizes(size[0], s_h), patch_sizes(size[1], s_w)
        if h_lr < 1 or w_lr < 1:
            raise ValueError(f"patch {size} is too small for scale ({float(s_h):g}, {float(s_w):g})")
        # Degrading the whole P×P region gives exactly floor(P/s) LR pixels (eq. 20); its first
        # floor(s·h) HR pixels cover the same field of view from the same edge (centre convention).
        windows = [self._random_window(*size) for _ in range(self.batch_size)]
        region = np.stack([sl[:, y0:y0 + h, x0:x0 + w] for sl, (y0, x0, h, w) in windows])
        g, d = self.generators["data"], self.degradation
        if s_h != s_w:  # one thick axis: slices of a drawn profile and gap
            lr = torch.cat([self._thick(torch.from_numpy(region[i:i + 1]), (s_h, s_w), g) for i in range(len(region))])
            told = [None] * len(region)
        else:
            s = s_h
            if d.families:  # each patch acquired its own way (family, parameters, noise), k-space with its slice
                acqs = [draw(d, g) for _ in windows]
                lr = torch.cat([synthesize(torch.from_numpy(np.array(sl))[None], s, a, g, window)
                                for (sl, window), a in zip(windows, acqs)])
            else:
                acqs = [recipe(d)] * len(region)
                lr = synthesize(torch.from_numpy(region), s, acqs[0], g)
            told = [kind(a) if self._told(g) else None for a in acqs]
        hr = np.ascontiguousarray(region[:, :, :h_hr, :w_hr])
        scale = ",".join(f"{v.numerator}/{v.denominator}" for v in ((s_h,) if s_h == s_w else (s_h, s_w)))
        return {"lr": lr.numpy(), "hr": hr, "scale": scale, "acquisition": told}

    def _thick(self, hr: torch.Tensor, scale: Tuple[Fraction, Fraction], g: torch.Generator) -> torch.Tensor:
        """Thick slices along the axis whose scale is not 1, profile and gap drawn from the plan."""
        plan = self.degradation.slice_profile
        profile = plan["profiles"][_randint(len(plan["profiles"]), g)]
        lo, hi = plan["gap"]
        gap = lo + (hi - lo) * float(torch.rand((), generator=g))
        return thick_slices(hr, scale, profile, tuple(gap if s != 1 else 0.0 for s in scale)).clamp(0.0, 1.0)

    def _told(self, g: torch.Generator) -> bool:
        """Whether a patch's acquisition is told to the network (``degradation.told_probability``)."""
        p = self.degradation.told_probability
        return p >= 1 or (p > 0 and float(torch.rand((), generator=g)) < p)

    def _paired_batch(self) -> Dict[str, object]:
        """LR and HR patches cut at matching positions of a real pair (all cases of the batch share ``s``)."""
        g = self.generators["data"]
        s = self.lowres[_randint(len(self.lowres), g)][1]
        same = [i for i, (_, si) in enumerate(self.lowres) if si == s]
        q = s.denominator
        lrs, hrs = [], []
        for _ in range(self.batch_size):
            i = same[_randint(len(same), g)]
            lr_vol, hr_vol = self.lowres[i][0], self._data[i]
            z = _randint(min(lr_vol.shape[1], hr_vol.shape[1]), g)
            # LR window starts and sizes are multiples of q so the HR window lands on whole pixels.
            sizes = []
            for p, n_lr in zip(self.patch_size, lr_vol.shape[2:]):
                n = max(q, (int(Fraction(p) / s) // q) * q)
                sizes.append(min(n, (n_lr // q) * q))
            starts = [q * _randint((n_lr - n) // q + 1, g) for n, n_lr in zip(sizes, lr_vol.shape[2:])]
            lr = np.asarray(lr_vol[:, z, starts[0]:starts[0] + sizes[0], starts[1]:starts[1] + sizes[1]], np.float32)
            hy, hx, hh, hw = (int(v * s) for v in (starts[0], starts[1], sizes[0], sizes[1]))
            hr = crop_padded(np.asarray(hr_vol[:, z], np.float32), hy, hx, hh, hw)
            flips, rot = self._augment_params() if sizes[0] == sizes[1] else ((False, False), 0)
            lrs.append(augment(lr, flips, rot))
            hrs.append(augment(hr, flips, rot))
        shapes = {a.shape for a in lrs}
        if len(shapes) > 1:  # cases of different in-plane size: keep the common part
            h, w = min(a.shape[1] for a in lrs), min(a.shape[2] for a in lrs)
            lrs = [a[:, :h, :w] for a in lrs]
            hrs = [a[:, :int(h * s), :int(w * s)] for a in hrs]
        return {"lr": np.ascontiguousarray(np.stack(lrs)), "hr": np.ascontiguousarray(np.stack(hrs)),
                "scale": f"{s.numerator}/{s.denominator}", "acquisition": [None] * len(lrs)}  # real LR: unknown

    def generate_train_batch(self) -> Dict[str, object]:
        if os.getpid() != self.creator_pid:
            torch.set_num_threads(1)  # a forked worker: one thread each, the training process keeps the rest
        return self._paired_batch() if self.lowres is not None else self._synthetic_batch()


def batch_scale(batch: Dict[str, object]) -> Union[Fraction, Tuple[Fraction, Fraction]]:
    """The exact scale of a batch: ``"p/q"`` (both axes) or ``"p/q,p/q"`` (rows, columns)."""
    parts = [Fraction(v) for v in str(batch["scale"]).split(",")]
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def make_batch_iterator(loader: SRPatchLoader, num_workers: int):
    """The loader itself (``num_workers == 0``) or a started ``MultiThreadedAugmenter`` running it in workers.

    Workers are started with Ctrl-C ignored: the training process handles it (finishing the step
    and saving a checkpoint), and a worker killed by it would abort the batch it is waiting for.
    """
    if num_workers <= 0:
        return loader
    seeds = [int(loader.seed + 1000 * loader.rank + i) for i in range(num_workers)]
    augmenter = MultiThreadedAugmenter(loader, None, num_workers, num_cached_per_queue=2, seeds=seeds)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        augmenter._start()  # forked now, inheriting the ignored SIGINT
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    return augmenter


def shutdown(iterator) -> None:
    """Stop background workers, if any."""
    finish = getattr(iterator, "_finish", None)
    if finish is not None:
        finish()


__all__ = ["SRPatchLoader", "ScaleSampler", "make_batch_iterator", "batch_scale", "shutdown", "seeded_generator",
           "augment", "crop_padded"]
