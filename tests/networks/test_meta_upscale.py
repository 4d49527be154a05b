"""Meta-Upscale against a plain per-pixel implementation of MIASSR eqs. 8–11."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from autosr.networks.meta_upscale import MetaUpscale
from autosr.scales import as_fraction, sr_size

SCALES = [1.1, 1.5, 2, 2.3, 2.5, 2.7, 3.3, 3.7, 4, math.pi]


def all_paths(m: MetaUpscale, x: torch.Tensor, scale):
    """``(path, modes)`` for auto, hidden and every phase-mode pair the planner considers feasible."""
    b, _, h, w = x.shape
    saved, m.chunk_elements = m.chunk_elements, None  # feasibility under the default memory budget
    try:
        feasible = [key for key in m.plan(b, h, w, scale)["costs"] if isinstance(key, tuple)]
    finally:
        m.chunk_elements = saved
    assert ("strided", "strided") in feasible or math.pi in (scale if isinstance(scale, tuple) else (scale,))
    return [("auto", None), ("hidden", None)] + [("phase", modes) for modes in feasible]


def reference_meta_upscale(module: MetaUpscale, feats: torch.Tensor, scale) -> torch.Tensor:
    """Obviously-correct eqs. 8–11: one MLP evaluation and one k×k×F dot product per output pixel.

    Offsets come from Fraction arithmetic, independently of autosr.scales.phases: refined pixel i
    has its centre at u = (i + 1/2)/s in LR pixel-edge units; it reads LR pixel floor(u) with
    offset u - floor(u).
    """
    s_h, s_w = (as_fraction(v) for v in (scale if isinstance(scale, tuple) else (scale, scale)))
    b, fch, h, w = feats.shape
    k, c = module.kernel_size, module.out_channels
    pad = k // 2
    out_h, out_w = (h * s_h.numerator) // s_h.denominator, (w * s_w.numerator) // s_w.denominator
    padded = torch.nn.functional.pad(feats, (pad, pad, pad, pad))
    out = feats.new_zeros(b, c, out_h, out_w)

    def locate(i: int, s: Fraction):
        u = Fraction(2 * i + 1, 2) / s
        r = math.floor(u)
        return r, float(u - r)

    inv = [1.0 / float(s_h), 1.0 / float(s_w)] if module.per_axis_scale else [1.0 / float(s_h)]
    for i in range(out_h):
        ri, Ri = locate(i, s_h)
        for j in range(out_w):
            rj, Rj = locate(j, s_w)
            pos = torch.tensor([[Ri, Rj, *inv]], dtype=feats.dtype)
            v = module.weight_net(pos).view(fch, k, k, c)  # Meta-SR layout (F·k·k, C)
            patch = padded[:, :, ri: ri + k, rj: rj + k]  # (B, F, k, k), centred on (ri, rj)
            out[:, :, i, j] = torch.einsum("bfxy,fxyc->bc", patch, v)
    return out


def _module(fch: int, c: int, seed: int = 0, dtype=torch.float64, per_axis_scale: bool = False) -> MetaUpscale:
    torch.manual_seed(seed)
    m = MetaUpscale(in_features=fch, out_channels=c, hidden=16, per_axis_scale=per_axis_scale).to(dtype)
    with torch.no_grad():  # non-zero biases so that every term of eq. 9 is exercised
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"s{s:.4g}")
@pytest.mark.parametrize("channels", [1, 3])
def test_matches_reference(scale, channels):
    m = _module(8, channels)
    x = torch.randn(2, 8, 7, 9, dtype=torch.float64)
    ref = reference_meta_upscale(m, x, scale)
    with torch.no_grad():
        for path, modes in all_paths(m, x, scale):
            y = m(x, scale, path=path, modes=modes)
            assert y.shape == ref.shape
            assert (y - ref).abs().max().item() <= 1e-10, (path, modes)


@pytest.mark.parametrize("scale", [1.5, 2.7, 3.3, math.pi])
def test_float32_and_small_chunks(scale):
    m = _module(8, 2, seed=1)
    x = torch.randn(3, 8, 6, 5, dtype=torch.float64)
    ref = reference_meta_upscale(m, x, scale).float()
    m32 = m.float()
    m32.chunk_elements = 1000  # forces many bands and row chunks in the hidden path
    with torch.no_grad():
        for path, modes in all_paths(m32, x, scale):
            assert (m32(x.float(), scale, path=path, modes=modes) - ref).abs().max().item() <= 1e-5, (path, modes)


@pytest.mark.parametrize("scale", [3.3, 3.7, math.pi])
def test_input_smaller_than_one_period(scale):
    # h, w < q: fewer refined rows than phases, every row-phase has a single member.
    m = _module(4, 1, seed=2)
    x = torch.randn(1, 4, 3, 2, dtype=torch.float64)
    ref = reference_meta_upscale(m, x, scale)
    with torch.no_grad():
        for path, modes in all_paths(m, x, scale):
            assert (m(x, scale, path=path, modes=modes) - ref).abs().max().item() <= 1e-10, (path, modes)


def test_gradients_flow():
    m = _module(4, 2, seed=3)
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    for path, modes in all_paths(m, x, 2.3):
        m.zero_grad()
        x.grad = None
        m(x, 2.3, path=path, modes=modes).square().sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        for name, p in m.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (name, path, modes)


def test_gradients_match_reference():
    m = _module(4, 1, seed=4)
    x = torch.randn(1, 4, 4, 5, dtype=torch.float64, requires_grad=True)
    grads = []
    fns = [lambda: reference_meta_upscale(m, x, 2.5)]
    fns += [lambda path=path, modes=modes: m(x, 2.5, path=path, modes=modes) for path, modes in all_paths(m, x, 2.5)]
    for fn in fns:
        m.zero_grad()
        x.grad = None
        (fn() * torch.linspace(-1, 1, 10 * 12, dtype=torch.float64).view(1, 1, 10, 12)).sum().backward()
        grads.append([x.grad.clone()] + [p.grad.clone() for p in m.parameters()])
    for other in grads[1:]:
        for g_ref, g in zip(grads[0], other):
            assert torch.allclose(g_ref, g, atol=1e-10)


@pytest.mark.parametrize("h,scale,expected", [(128, 2.3, 294), (10, 2.3, 23), (7, 3.7, 25), (96, math.pi, 301)])
def test_output_size_exact(h, scale, expected):
    assert sr_size(h, scale) == expected
    m = MetaUpscale(in_features=2, out_channels=1, hidden=4)
    with torch.no_grad():
        y = m(torch.zeros(1, 2, h, 3), scale)
    assert y.shape == (1, 1, expected, sr_size(3, scale))


def test_auto_plan():
    m = MetaUpscale(in_features=64, out_channels=1)
    assert m.plan(1, 128, 128, 2)["path"] == "phase"
    assert m.plan(1, 128, 128, 3.3)["path"] == "phase"
    assert m.plan(1, 128, 128, math.pi)["path"] == "hidden"


def test_rejects_bad_input():
    m = MetaUpscale(in_features=4, out_channels=1, hidden=4)
    with pytest.raises(ValueError):
        m(torch.zeros(1, 3, 5, 5), 2)
    with pytest.raises(ValueError):
        m(torch.zeros(1, 4, 5, 5), 2, path="nope")
    with pytest.raises(ValueError):
        MetaUpscale(kernel_size=2)


@pytest.mark.parametrize("scale", [(1, 2.5), (2, 3.3), (4, 1), (math.pi, 1.5), (2.5, 2.5)], ids=str)
@pytest.mark.parametrize("channels", [1, 2])
def test_one_scale_per_axis_matches_reference(scale, channels):
    """MIASSR's equations with (R_i, R_j, 1/s_i, 1/s_j): every path against the per-pixel reference."""
    m = _module(6, channels, seed=5, per_axis_scale=True)
    x = torch.randn(2, 6, 7, 9, dtype=torch.float64)
    ref = reference_meta_upscale(m, x, scale)
    assert ref.shape[-2:] == (sr_size(7, scale[0]), sr_size(9, scale[1]))
    with torch.no_grad():
        for path, modes in all_paths(m, x, scale):
            assert (m(x, scale, path=path, modes=modes) - ref).abs().max().item() <= 1e-10, (path, modes)


def test_per_axis_scales_need_a_per_axis_module():
    m = _module(4, 1)
    with pytest.raises(ValueError, match="per_axis_scale=True"):
        m(torch.zeros(1, 4, 5, 5, dtype=torch.float64), (1, 2))
    assert m(torch.zeros(1, 4, 5, 5, dtype=torch.float64), (2, 2)).shape == (1, 1, 10, 10)
    assert m.weight_net[0].in_features == 3 and _module(4, 1, per_axis_scale=True).weight_net[0].in_features == 4
