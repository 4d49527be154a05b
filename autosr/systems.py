"""The systems the two papers compare, as named presets of a generator (body + upsampler) and its training.

MIASSR's Table 1 ranks bicubic, SRGAN, EDSR, ESRGAN(L1), MDSR, RDN, SRDenseNet, MetaRDN and MIASSR;
its Fig. 6 swaps the feature extractor under the Meta-Upscale; MESR adds EDSR + Meta-Upscale
without biases. Each :class:`System` holds the paper's sizes (``network``), how many models it
needs (a fixed-scale system: one per integer scale ×2, ×3, ×4, or MDSR's one with a branch each;
an arbitrary-scale one: one model), and its losses. :func:`parameter_count` counts every model a
system needs for scales in (1, 4], as MIASSR's Table 1 does.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

#: Integer scales a fixed-scale system needs to cover (1, 4] by up-and-down (the ⌈s⌉ model, then bicubic down).
FIXED_SCALES = (2, 3, 4)


@dataclass(frozen=True)
class System:
    """A named system: its generator at the paper's size, the models it needs, its losses and source."""

    name: str
    network: Mapping[str, Any]
    per_scale_models: bool = False       # one model per integer scale (EDSR, RDN, …), else one model
    adversarial: str = "none"            # "none" or an objective of autosr.losses (WGANGP, WGAN, VanillaGAN, RaGAN)
    perceptual: bool = False             # VGG19 perceptual loss in the GAN phase
    training: Mapping[str, Any] = field(default_factory=dict)
    paper: str = ""
    note: str = ""                       # how AutoSR's version differs from the paper's
    table1: Optional[float] = None       # parameters (millions) in MIASSR's Table 1, where it lists the system

    def generator_config(self, in_channels: int = 1, scales: Sequence[int] = FIXED_SCALES) -> Dict[str, Any]:
        """The generator of the system (every model it needs: ``PerScale`` holds one per integer scale)."""
        base = {"name": "MetaSR", "in_channels": in_channels, **self.network}
        if self.per_scale_models:
            return dict(base, name="PerScale", scales=list(scales))
        return base

    def losses(self) -> List[Dict[str, Any]]:
        """``training.losses``: L1, then in the GAN phase the VGG19 perceptual loss and the adversarial objective
        with MIASSR's weights (η = 0.006, γ = 0.001)."""
        out: List[Dict[str, Any]] = [{"name": "L1Loss", "weight": 1.0}]
        if self.adversarial != "none":
            if self.perceptual:
                out.append({"name": "PerceptualLoss", "weight": 0.006, "layer": "conv2_2"})
            out.append({"name": self.adversarial, "weight": 0.001,
                        **({"gp_weight": 10.0} if self.adversarial == "WGANGP" else {})})
        return out

    @property
    def fixed_scale(self) -> bool:
        """Sub-pixel systems: trained at integer scales, any other by up-and-down."""
        return self.network.get("upsampler") == "SubPixel"

    def overrides(self, cpu: bool, planned: Any) -> Tuple[Dict[str, Any], str]:
        """Dotted plan overrides that make the configuration ``planned`` this system, and a line saying what changed.

        On a CPU configuration the sizes are scaled down to the planned CPU network's width and depth
        (the paper's are hours of GPU time); the schedule stays the plan's. Elsewhere the paper's sizes
        and learning rate are used. Acquisition codes are kept only for a body that can be modulated. A
        fixed-scale system trains at the integer scales ×2 … ×⌈scales.max⌉ (scales.step 1), a model each
        (or, MDSR, a branch each).
        """
        from autosr.registry import BODIES
        out: Dict[str, Any] = {f"network.{k}": v for k, v in self.network.items()}
        said = [f"system {self.name}: {self.paper}"]
        planned_network = planned.network
        if cpu:
            width, depth = int(planned_network.get("width", 32)), int(planned_network.get("depth", 8))
            out["network.width"] = min(int(self.network.get("width", width)), width)
            out["network.depth"] = min(int(self.network.get("depth", depth)), depth)
            args = dict(self.network.get("body_args", {}))
            if args:
                out["network.body_args"] = {k: min(int(v), 16 if k == "growth" else 4) for k, v in args.items()}
            out["network.mlp_hidden"] = planned_network.get("mlp_hidden", 256)
            said.append(f"CPU configuration: scaled down to width {out['network.width']}, depth {out['network.depth']}"
                        + (f", {out['network.body_args']}" if args else "") + "; the plan's schedule")
        else:
            if "lr" in self.training:
                out["training.lr"] = out["training.critic_lr"] = self.training["lr"]
            if "batch_size" in self.training:
                out["patch.batch_size"] = self.training["batch_size"]
            if "patch" in self.training:
                out["patch.size"] = [self.training["patch"]] * 2
        if not getattr(BODIES.get(self.network["body"]), "supports_film", False):
            out["network.acquisitions"] = []
            out["degradation.told_probability"] = 0.0
            said.append("trained blind (its body has no acquisition codes)")
        if self.fixed_scale:
            top = min(math.ceil(float(planned.scales.max)), FIXED_SCALES[-1])
            if min(planned.patch.size) // top < planned.patch.min_lr_patch:  # ×⌈s_max⌉ LR patches too small
                top = max(int(float(planned.scales.max)), FIXED_SCALES[0])
                said.append(f"scales up to ×{top}: the planned patch is too small for ×{top + 1} LR patches")
            needed = [k for k in FIXED_SCALES if k <= top]
            out.update({"scales.single_axis_probability": 0.0, "scales.sampling": "grid", "scales.step": 1.0,
                        "scales.max": float(top)})
            if self.per_scale_models:
                out.update({"network.name": "PerScale", "network.scales": needed})
                said.append(f"one model per integer scale ×{', ×'.join(map(str, needed))}, each trained at its own")
            else:
                out["network.upsampler_args"] = {"scales": needed}
                said.append(f"one body, a branch per integer scale ×{', ×'.join(map(str, needed))}, trained at those")
            said.append("other scales by up-and-down (the ⌈s⌉ model, then bicubic down); in-plane only")
        out["training.losses"] = self.losses()
        if self.adversarial == "none":
            out["training.gan_steps"] = 0
            said.append("L1 only (no GAN phase)")
        else:
            said.append(" + ".join(f"{e['weight']:g}·{e['name']}" for e in out["training.losses"]))
        return out, "; ".join(said)



def _meta(body: str, **kw: Any) -> Dict[str, Any]:
    return {"body": body, "upsampler": "MetaUpscale", "mlp_hidden": 256, "per_axis_scale": True, **kw}


def _subpixel(body: str, **kw: Any) -> Dict[str, Any]:
    return {"body": body, "upsampler": "SubPixel", **kw}


EDSR_LITE = {"width": 64, "depth": 16}
EDSR = {"width": 256, "depth": 32, "res_scale": 0.1}
MDSR = {"width": 64, "depth": 80}
RDN = {"width": 64, "depth": 16, "body_args": {"growth": 64, "layers": 8}}
SRDENSENET = {"width": 256, "depth": 8, "body_args": {"growth": 16, "layers": 8}}
RRDB = {"width": 64, "depth": 23, "body_args": {"growth": 32}}
SRRESNET = {"width": 64, "depth": 16}

SYSTEMS: Dict[str, System] = {s.name: s for s in (
    System("MIASSR", _meta("EDSRLite", **EDSR_LITE), adversarial="WGANGP", perceptual=True,
           training={"lr": 1e-4, "batch_size": 16, "patch": 96},
           paper="Zhu et al. 2021 (MIASSR): EDSR-lite + Meta-Upscale, L1 then L1 + WGAN-GP + VGG19", table1=1.5),
    System("MESR", _meta("EDSRLite", bias=False, **EDSR_LITE), training={"lr": 4e-4, "batch_size": 8, "patch": 96},
           paper="MESR: EDSR + Meta-Upscale, convolutions without bias, L1, NRMSE",
           note="the EDSR-lite size (64×16), as MESR's released configuration"),
    System("MetaRDN", _meta("RDN", **RDN), paper="Hu et al. 2019 (Meta-SR): RDN (D16, C8, G64) + Meta-Upscale, L1",
           note="Meta-SR's RDN size (22 M); MIASSR's Table 1 lists 5.8 M, a smaller RDN whose size it does not give", table1=5.8),
    System("Meta-EDSR", _meta("EDSRLite", **EDSR), paper="MIASSR Fig. 6: EDSR (256×32, residual scale 0.1) + Meta-Upscale"),
    System("Meta-MDSR", _meta("EDSRLite", **MDSR), paper="MIASSR Fig. 6: MDSR's body (64×80) + Meta-Upscale"),
    System("Meta-SRResNet", _meta("SRResNet", **SRRESNET), paper="MIASSR Fig. 6: SRResNet (64×16, batch norm)"),
    System("Meta-SRDenseNet", _meta("SRDenseNet", **SRDENSENET), paper="MIASSR Fig. 6: SRDenseNet (8×8, growth 16)"),
    System("Meta-ESRGAN", _meta("RRDB", **RRDB), paper="MIASSR Fig. 6: ESRGAN's RRDB (23 blocks, 64, growth 32)"),
    System("EDSR", _subpixel("EDSRLite", **EDSR), per_scale_models=True,
           paper="Lim et al. 2017: EDSR 256×32, residual scale 0.1, sub-pixel ×2/×3/×4, L1", table1=127.5),
    System("MDSR", _subpixel("EDSRLite", **MDSR), paper="Lim et al. 2017: MDSR 64×80, one shared body, a sub-pixel "
           "branch per scale, L1", note="without MDSR's scale-specific 5×5 pre-processing blocks (0.3 M)", table1=6.7),
    System("RDN", _subpixel("RDN", **RDN), per_scale_models=True,
           paper="Zhang et al. 2018: RDN (D16, C8, G64), sub-pixel, L1",
           note="RDN's paper size, 22 M a model; MIASSR's 17.2 M for three implies a smaller RDN it does not give", table1=17.2),
    System("SRDenseNet", _subpixel("SRDenseNet", **SRDENSENET), per_scale_models=True,
           paper="Tong et al. 2017: SRDenseNet_All, 8 dense blocks of 8 layers, growth 16, bottleneck 256",
           note="sub-pixel upsampling instead of its two deconvolutions; MIASSR's 30.4 M is not reproducible from "
                "the SRDenseNet paper's sizes (2 M a model)", table1=30.4),
    System("SRResNet", _subpixel("SRResNet", **SRRESNET), per_scale_models=True,
           paper="Ledig et al. 2017: SRResNet 64×16 with batch norm, sub-pixel",
           note="L1 instead of its paper's MSE, as the other systems"),
    System("SRGAN", _subpixel("SRResNet", **SRRESNET), per_scale_models=True, adversarial="VanillaGAN", perceptual=True,
           paper="Ledig et al. 2017: SRResNet generator, vanilla GAN + VGG loss", table1=4.5),
    System("ESRGAN-L1", _subpixel("RRDB", **RRDB), per_scale_models=True,
           paper="Wang et al. 2018: RRDB (23 blocks, 64, growth 32), trained with L1 only (its PSNR model)",
           note="sub-pixel upsampling instead of nearest + conv; 16.7 M a model at ESRGAN's size, MIASSR's 30.2 M "
                "for three implies fewer blocks", table1=30.2),
)}


def parameter_count(system: System, in_channels: int = 1) -> Tuple[int, int]:
    """``(trainable parameters, models)`` of every model ``system`` needs for scales in (1, 4] (its generators
    only), as MIASSR's Table 1 counts them."""
    return _count(json.dumps(system.generator_config(in_channels), sort_keys=True))


@functools.lru_cache(maxsize=None)
def _count(config: str) -> Tuple[int, int]:
    """Built once per configuration: a paper-size EDSR is 127 M parameters, and a benchmark asks twice."""
    from autosr.networks import build_network
    net = build_network(**json.loads(config))
    return sum(p.numel() for p in net.parameters() if p.requires_grad), len(getattr(net, "models", [net]))


#: ``SYSTEM+VARIANT`` names: the system trained with another adversarial objective (and the VGG19 perceptual
#: loss), as MIASSR's Figs. 7 and 8 compare them, or with L1 alone.
VARIANTS = ("WGANGP", "WGAN", "VanillaGAN", "RaGAN", "L1")


def get_system(name: str) -> System:
    """The system named ``name``, or ``SYSTEM+VARIANT`` (:data:`VARIANTS`: ``MIASSR+RaGAN``, ``Meta-RDN+WGANGP``,
    ``MIASSR+L1``); ``KeyError`` listing every name otherwise."""
    base, _, variant = name.partition("+")
    if base not in SYSTEMS or (variant and variant not in VARIANTS):
        raise KeyError(f"unknown system {name!r}; systems: {', '.join(SYSTEMS)}, each also as SYSTEM+VARIANT with "
                       f"VARIANT one of {', '.join(VARIANTS)} (another adversarial objective, or L1 alone)")
    system = SYSTEMS[base]
    if not variant:
        return system
    adversarial = "none" if variant == "L1" else variant
    return replace(system, name=name, adversarial=adversarial, perceptual=adversarial != "none",
                   paper=f"{system.paper}; trained " + ("with L1 alone" if adversarial == "none" else
                                                        f"with {variant} + VGG19 perceptual (MIASSR Figs. 7, 8)"))


__all__ = ["System", "SYSTEMS", "FIXED_SCALES", "VARIANTS", "parameter_count", "get_system"]
