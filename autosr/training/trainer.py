"""MIASSR training (section 4.3): an L1 warm-up, then the generator and a WGAN-GP critic jointly.

The losses are the configuration's ``training.losses`` list (MIASSR's by default). Phase 1
(``warmup_steps``): the losses that count from the first step (``L1``). Phase 2 (``gan_steps``): the
critic minimises the adversarial objective (WGAN-GP: ``E[D(G(lr))] − E[D(hr)] + gp·GP``) with its own
Adam, the generator every loss with its weight (eq. 17: ``λ·L1 + γ·L_adv + η·L_perc``). The learning rate is halved every ``lr_halve_every``
steps, one schedule through both phases for the generator (as the MIASSR reference code does);
the critic's starts with the GAN phase. Steps whose loss is above ``loss_discard_threshold`` (or
not finite) are discarded (paper: 1e8).

On CPU the trainer sets its thread count by the other processes' load (:mod:`autosr.threads`),
and validation is sized to stay within ``val_share`` of the run's compute
(:mod:`autosr.training.validation`).

Subclass and override a hook (``on_train_start``, ``on_step_end``, ``on_validation_end``,
``on_train_end``) or a step method, then train with ``-tr my_module:MyTrainer``.
"""
from __future__ import annotations

import json
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np
import torch
from tqdm import tqdm

from autosr import threads
from autosr.dataset import write_json_atomic
from autosr.plans import Configuration, Plans
from autosr.scales import as_fraction, lr_size, sr_size
from autosr import checkpoint as ckpt_format
from autosr.checkpoint import CheckpointError
from autosr.networks import run_generator
from autosr.training import checkpoint as ckpt_io
from autosr.training import components as C
from autosr.training import distributed as D
from autosr.training.data_loader import SRPatchLoader, batch_scale, make_batch_iterator, shutdown
from autosr.training.errors import TrainingError
from autosr.training.progress import ProgressHistory
from autosr.training.registry import TRAINERS
from autosr.training.validation import (ValidationSet, format_results, mean_psnr, slices_within_budget,
                                        training_step_cost)

logger = logging.getLogger(__name__)


@TRAINERS.register()
class MetaSRTrainer:
    """MIASSR trainer for one fold: MetaSR generator + WGAN-GP critic (+ VGG19 perceptual loss)."""

    #: Most of the run's compute that validation may take: the planner's ``validation_fraction``
    #: (planners/cost_model.py), which its step counts leave free.
    val_share = 0.1

    def __init__(self, plans: Plans, configuration: Configuration, fold: str, train_volumes: List[np.ndarray],
                 val_volumes: Dict[str, np.ndarray], output_folder: Path, device: torch.device,
                 dist_info: Optional[D.DistInfo] = None, overrides: Optional[Mapping[str, Any]] = None,
                 lowres: Optional[list] = None, val_lowres: Optional[Dict[str, Any]] = None) -> None:
        self.plans, self.config, self.fold = plans, configuration, str(fold)
        self.t = configuration.training
        self.train_volumes, self.val_volumes = train_volumes, val_volumes
        self.lowres, self.val_lowres = lowres, val_lowres  # paired mode: [(LR volume, scale)], {case: …}
        self.output_folder, self.device = Path(output_folder), device
        self.dist = dist_info or D.DistInfo()
        self.overrides = dict(overrides or {})
        self.total_steps = int(self.t.warmup_steps + self.t.gan_steps)
        self.step, self.gan_started, self.best_psnr = 0, False, -math.inf
        self.last_validation: Dict[str, Dict[str, float]] = {}
        self.validation: Optional[ValidationSet] = None  # made by initialize (rank 0)
        self.threads: Optional[threads.ThreadGovernor] = None  # the CPU thread count (initialize, on CPU)
        self.seconds = {"run": 0.0, "validation": 0.0}  # wall time of this process's run so far
        self.history = ProgressHistory(log_every=max(1, min(50, self.total_steps // 20 or 1)))
        self.stop_requested = False
        self.identity = {"dataset_name": plans.dataset_name, "plans_name": plans.plans_name,
                         "configuration": configuration.name, "trainer": type(self).__name__,
                         "num_channels": plans.num_channels, "channel_names": plans.channel_names,
                         "modalities": plans.modalities, "scale_max": float(configuration.scales.max),
                         "data_identifier": configuration.data_identifier, "fold": self.fold}

    # -- set-up --------------------------------------------------------------------------------
    def initialize(self) -> None:
        """Seed, build networks, optimisers, schedules and losses (the perceptual one when GAN steps run)."""
        C.set_determinism(self.t.deterministic, self.device)
        C.seed_everything(self.t.seed)  # same seed on every rank: identical initial networks
        self.generator_config = C.network_config(self.config.network, self.plans.num_channels, "MetaSR")
        self.critic_config = C.network_config(self.config.critic, self.plans.num_channels, "WGANCritic")
        self.generator = C.build(self.generator_config).to(self.device)
        if self.config.scales.single_axis_probability > 0 and not getattr(self.generator, "per_axis_scale", False):
            raise TrainingError(f"configuration {self.config.name}: scales.single_axis_probability > 0 trains one scale "
                              f"per axis, which needs network.per_axis_scale true; set it (-o network.per_axis_scale=true) "
                              f"or set scales.single_axis_probability to 0")
        top = max(self.config.scales.max, self.config.scales.single_axis_max
                  if self.config.scales.single_axis_probability > 0 else 0)
        limit = getattr(self.generator, "max_scale", None)
        if limit is not None and top > limit:
            raise TrainingError(f"configuration {self.config.name}: the upsampler reaches ×{limit:g} at most, but the "
                                f"plans train scales up to {top:g} (scales.max, scales.single_axis_max); lower them "
                                f"(-o scales.max=… -o scales.single_axis_max=…, or scales.single_axis_probability=0) "
                                f"or use network.upsampler MetaUpscale")
        self.critic = C.build(self.critic_config).to(self.device)
        self.opt_g = C.adam(self.generator.parameters(), self.t.lr, self.t.betas)
        self.opt_c = C.adam(self.critic.parameters(), self.t.critic_lr, self.t.betas)
        self.sched_g = C.halving_schedule(self.opt_g, self.t.lr_halve_every)
        self.sched_c = C.halving_schedule(self.opt_c, self.t.lr_halve_every)
        self.model = D.wrap(self.generator, self.dist, self.device)
        D.broadcast_module(self.critic, self.dist)
        self.losses, messages = C.build_losses(self.t, self.device, gan_phase=self.t.gan_steps > 0)
        for level, message in messages:
            logger.log(level, message)
        self.choose_threads(probe=not self.t.deterministic)
        C.seed_everything(self.t.seed + 1000 * self.dist.rank)  # per-rank streams from here on
        self.loader = self.make_loader(start_step=0)
        n_g = sum(p.numel() for p in self.generator.parameters())
        logger.info("generator %s: %.3fM parameters; critic %s", self.generator_config, n_g / 1e6,
                    self.critic_config)
        if self.dist.is_main and self.val_volumes:
            self.validation = self.make_validation_set()

    def choose_threads(self, probe: bool) -> None:
        """On CPU (one process): the cores other processes leave free, following their load while
        training (:mod:`autosr.threads`); ``probe`` times a training step to cap the count.
        Deterministic runs keep a count decided by the machine alone (results may depend on it).
        Under torchrun the per-process share stays."""
        if self.device.type == "cpu" and not self.dist.enabled:
            self.threads = threads.govern(self.probe_step() if probe else None, adaptive=not self.t.deterministic)

    def probe_step(self) -> Callable[[], None]:
        """The forward and backward of an L1 step on a synthetic batch at a middle training scale;
        it changes neither the weights nor any random stream."""
        p = self.config.patch
        s = as_fraction(f"{(1 + float(self.config.scales.max)) / 2:.1f}")
        lr_shape = [lr_size(n, s) for n in p.size]
        g = torch.Generator().manual_seed(0)
        lr = torch.rand((p.batch_size, self.plans.num_channels, *lr_shape), generator=g).to(self.device)
        hr = torch.rand((p.batch_size, self.plans.num_channels, *[sr_size(n, s) for n in lr_shape]),
                        generator=g).to(self.device)

        def step() -> None:
            self.losses.reconstruction(self.generator(lr, s), hr, gan=False)[0].backward()
            self.generator.zero_grad(set_to_none=True)
        return step

    def make_validation_set(self) -> ValidationSet:
        """Up to ``val_max_slices`` slices per case, fewer when validating (every ``val_every``
        steps and at the end) would take more than ``val_share`` of the run's compute."""
        t = self.t
        vs = ValidationSet(self.val_volumes, t.val_scales, self.config.scales.max, self.config.degradation,
                           t.val_max_slices, seed=t.seed, lowres=self.val_lowres)
        runs = len(range(t.val_every, self.total_steps, t.val_every)) + 1 if t.val_every > 0 else 1
        train = self.total_steps * training_step_cost(self.config.patch.size, self.config.patch.batch_size,
                                                      self.config.scales.values())
        budget = self.val_share / (1 - self.val_share) * train / runs
        slices = slices_within_budget(vs.slice_cost(), budget, t.val_max_slices)
        if slices != t.val_max_slices:
            vs.limit(slices)
        spent = runs * vs.cost()
        logger.info("validation: %d case(s), up to %d slice(s) each (val_max_slices %d), %d scale(s), %d time(s): "
                    "%.0f%% of the run's compute (at most %.0f%%)", len(vs.slices),
                    max((len(z) for z in vs.slices.values()), default=0), t.val_max_slices,
                    len(vs.scales), runs, 100 * spent / max(spent + train, 1), 100 * self.val_share)
        return vs

    def make_loader(self, start_step: int) -> SRPatchLoader:
        p = self.config.patch
        return SRPatchLoader(self.train_volumes, p.size, p.batch_size, self.config.scales, self.config.degradation,
                             augment=self.t.augment, seed=self.t.seed, rank=self.dist.rank, start_step=start_step,
                             lowres=self.lowres, min_lr_patch=p.min_lr_patch)

    @property
    def num_workers(self) -> int:
        """Background workers; 0 (the seeded in-process path) in deterministic mode."""
        return 0 if self.t.deterministic else int(self.t.num_workers)

    @property
    def phase(self) -> str:
        return "gan" if self.gan_started else "warmup"

    # -- hooks -----------------------------------------------------------------------------------
    def on_train_start(self) -> None:
        logger.info(C.describe(self.config))

    def on_step_end(self, losses: Mapping[str, float]) -> None:
        """Log averaged losses, validate and checkpoint on schedule."""
        entry = self.history.add_losses(self.step, losses)
        if entry and self.dist.is_main:
            logger.info("step %d/%d [%s] %s lr %.3g", self.step, self.total_steps, self.phase,
                        " ".join(f"{k} {v:.4g}" for k, v in entry.items() if k != "step"),
                        self.opt_g.param_groups[0]["lr"])
        if self.t.val_every > 0 and self.step % self.t.val_every == 0 and self.step < self.total_steps:
            self.run_validation()
        if self.t.checkpoint_every > 0 and self.step % self.t.checkpoint_every == 0:
            self.save_checkpoint("checkpoint_latest.pth")

    def on_validation_end(self, results: Mapping[str, Mapping[str, float]]) -> None:
        """Keep the best mean PSNR as ``checkpoint_best.pth`` and redraw ``progress.png``."""
        score = mean_psnr(results)
        if score > self.best_psnr:
            self.best_psnr = score
            self.save_checkpoint("checkpoint_best.pth")
        self.plot()

    def on_train_end(self) -> None:
        self.run_validation()
        self.save_checkpoint("checkpoint_final.pth")
        self.save_checkpoint("checkpoint_latest.pth")

    # -- the loop --------------------------------------------------------------------------------
    def run_training(self) -> None:
        """Train from ``self.step`` to the end; Ctrl-C saves ``checkpoint_latest.pth`` and exits."""
        self.on_train_start()
        if self.step >= self.total_steps:
            logger.info("training already finished (step %d of %d)", self.step, self.total_steps)
            if not (self.output_folder / "checkpoint_final.pth").is_file():  # stopped before writing it
                self.on_train_end()
            return
        started = time.perf_counter() - self.seconds["run"]
        batches = make_batch_iterator(self.loader, self.num_workers)
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not self.dist.is_main, dynamic_ncols=True,
                   desc=f"fold {self.fold}", unit="step")
        # Ctrl-C (SIGINT) and SIGTERM (e.g. a cluster's pre-emption notice) stop after the current step.
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)} \
            if _main_thread() else {}
        try:
            while self.step < self.total_steps:
                if self.step >= self.t.warmup_steps and not self.gan_started:
                    self.start_gan_phase()
                losses = self.train_step(next(batches))
                self.step += 1
                if self.threads is not None:
                    self.threads.check()  # re-decides the CPU thread count every few seconds
                self.sched_g.step()
                if self.gan_started and self.losses.adversarial is not None:
                    self.sched_c.step()
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                self.on_step_end(losses)
                self.seconds["run"] = time.perf_counter() - started
                if D.any_true(self.stop_requested, self.dist, self.device):
                    self.save_checkpoint("checkpoint_latest.pth")
                    logger.info("interrupted at step %d: saved checkpoint_latest.pth (continue with --c)", self.step)
                    raise KeyboardInterrupt
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            bar.close()
            shutdown(batches)
        self.history.flush(self.step)
        self.on_train_end()

    def _on_signal(self, signum, frame) -> None:
        if self.stop_requested:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stop_requested = True
        logger.warning("%s: finishing this step and saving a checkpoint (Ctrl-C again quits at once)",
                       signal.Signals(signum).name)

    def start_gan_phase(self) -> None:
        """Phase 2: the critic joins. The generator's learning-rate schedule simply continues, as in
        the MIASSR reference code (one scheduler stepped through both training states)."""
        self.gan_started = True
        if self.t.gan_steps > 0:
            logger.info("step %d: GAN phase (%s), generator lr %.3g", self.step,
                        " + ".join(f"{e['weight']:g}·{e['name']}" for e in self.losses.effective()),
                        self.opt_g.param_groups[0]["lr"])

    # -- steps ---------------------------------------------------------------------------------
    def train_step(self, batch: Mapping[str, Any]) -> Dict[str, float]:
        lr = torch.as_tensor(batch["lr"]).to(self.device, non_blocking=True)
        hr = torch.as_tensor(batch["hr"]).to(self.device, non_blocking=True)
        scale, acq = batch_scale(batch), batch.get("acquisition")
        self.model.train()
        if self.gan_started:
            return self.gan_step(lr, hr, scale, acq)
        return self.warmup_step(lr, hr, scale, acq)

    def _accept(self, loss: torch.Tensor, name: str) -> bool:
        """False (on every rank) when the loss must be discarded: not finite or above the threshold."""
        value = float(loss.detach())
        bad = not math.isfinite(value) or value > self.t.loss_discard_threshold
        if D.any_true(bad, self.dist, self.device):
            logger.warning("step %d: %s loss %.4g discarded (threshold %.3g)", self.step + 1, name, value,
                           self.t.loss_discard_threshold)
            return False
        return True

    def warmup_step(self, lr: torch.Tensor, hr: torch.Tensor, scale, acquisition=None) -> Dict[str, float]:
        """Phase 1: the losses that count from the first step (MIASSR: ``L1(G(lr, s), hr)``); ``acquisition``:
        the batch's (told) kinds."""
        loss, out = self.losses.reconstruction(run_generator(self.model, lr, scale, acquisition), hr, gan=False)
        if not self._accept(loss, "warm-up"):
            return {"discarded": 1.0}
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return out

    def gan_step(self, lr: torch.Tensor, hr: torch.Tensor, scale, acquisition=None) -> Dict[str, float]:
        """Phase 2: one critic update (the adversarial objective of ``training.losses``; the paper's WGAN-GP,
        eq. 16), then one generator update on every loss with its weight (eq. 17: ``λ·L1 + γ·L_adv + η·L_perc``)."""
        sr = run_generator(self.model, lr, scale, acquisition)
        adversarial = self.losses.adversarial
        out: Dict[str, float] = {}
        if adversarial is not None:  # the critic learns to tell HR from the (detached) SR patches
            self.critic.requires_grad_(True)
            d_loss = adversarial.module.critic_objective(self.critic, hr, sr.detach())
            if self._accept(d_loss, "critic"):
                self.opt_c.zero_grad(set_to_none=True)
                d_loss.backward()
                D.average_gradients(self.critic, self.dist)
                self.opt_c.step()
                adversarial.module.after_critic_step(self.critic)
                out["d"] = float(d_loss.detach())
            self.critic.requires_grad_(False)  # from here it only passes gradients to the generator
        g_loss, values = self.losses.reconstruction(sr, hr, gan=True)
        out.update(values)
        if adversarial is not None:
            adv = adversarial.module.generator_objective(self.critic, hr, sr)
            g_loss = g_loss + adversarial.weight * adv
            out["adv"] = float(adv.detach())
        if self._accept(g_loss, "generator"):
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            out["g"] = float(g_loss.detach())
        self.critic.requires_grad_(True)
        return out

    # -- validation ----------------------------------------------------------------------------
    def run_validation(self) -> Dict[str, Dict[str, float]]:
        """Validate on rank 0 (the others wait), log one line per scale, keep the best checkpoint."""
        results: Dict[str, Dict[str, float]] = {}
        if self.validation is not None:
            start = time.perf_counter()
            results = self.validation.run(D.unwrap(self.model), self.device)
            seconds = time.perf_counter() - start
            self.seconds["validation"] += seconds
            for line in format_results(results, self.step):
                logger.info(line)
            logger.info("validation took %.1f s; %.0f%% of this run's %.0f s so far", seconds,
                        100 * self.seconds["validation"] / max(self.seconds["run"] + seconds, 1e-9),
                        self.seconds["run"] + seconds)
            self.last_validation = results
            self.history.add_validation(self.step, results)
            write_json_atomic({"step": self.step, "results": results}, self.output_folder / "validation.json")
            self.on_validation_end(results)
        D.barrier(self.dist)
        return results

    def plot(self) -> None:
        if self.dist.is_main:
            self.history.plot(self.output_folder / "progress.png", warmup_steps=self.t.warmup_steps)

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to resume and to predict (tensors and plain values only)."""
        rng = ckpt_io.capture_rng_state(self.loader.generators if self.num_workers == 0 else None)
        return {"format": "autosr-checkpoint", "format_version": 1,
                "generator": D.unwrap(self.model).state_dict(), "generator_config": dict(self.generator_config),
                "critic": self.critic.state_dict(), "critic_config": dict(self.critic_config),
                "optimizer_g": self.opt_g.state_dict(), "optimizer_c": self.opt_c.state_dict(),
                "scheduler_g": self.sched_g.state_dict(), "scheduler_c": self.sched_c.state_dict(),
                "step": self.step, "phase": self.phase, "gan_started": self.gan_started,
                "total_steps": self.total_steps, "rng": rng, "identity": dict(self.identity),
                "configuration": self.config.to_dict(), "overrides": json.loads(json.dumps(self.overrides)),
                "history": self.history.state_dict(), "best_val_psnr": self.best_psnr,
                "last_validation": self.last_validation, "losses_effective": self.losses.effective(),
                "seconds": dict(self.seconds),
                "num_workers": self.num_workers, "world_size": self.dist.world_size}

    def save_checkpoint(self, name: str) -> None:
        if self.dist.is_main:
            ckpt_format.save_checkpoint(self.state_dict(), self.output_folder / name)

    def load_state_dict(self, ckpt: Mapping[str, Any]) -> None:
        """Restore a run saved by :meth:`state_dict` (after :meth:`initialize`)."""
        D.unwrap(self.model).load_state_dict(ckpt["generator"])
        self.critic.load_state_dict(ckpt["critic"])
        self.opt_g.load_state_dict(ckpt["optimizer_g"])
        self.opt_c.load_state_dict(ckpt["optimizer_c"])
        self.sched_g.load_state_dict(ckpt["scheduler_g"])
        self.sched_c.load_state_dict(ckpt["scheduler_c"])
        self.step, self.gan_started = int(ckpt["step"]), bool(ckpt["gan_started"])
        self.best_psnr = float(ckpt.get("best_val_psnr", -math.inf))
        self.last_validation = dict(ckpt.get("last_validation", {}))
        self.seconds.update(ckpt.get("seconds", {}))
        self.history.load_state_dict(ckpt.get("history", {}))
        # A single process without workers continues its exact random streams (rank 0's states are
        # the ones saved); worker and multi-process streams are re-seeded from the step.
        same_stream = self.num_workers == 0 and ckpt.get("num_workers") == 0 \
            and ckpt.get("world_size", 1) == 1 and not self.dist.enabled
        self.loader = self.make_loader(start_step=0 if same_stream else self.step)
        if same_stream:
            ckpt_io.restore_rng_state(ckpt["rng"], self.loader.generators)
        else:
            C.seed_everything(self.t.seed + 1000 * self.dist.rank + self.step)

    def resume(self, path: Path, ckpt: Optional[Mapping[str, Any]] = None) -> None:
        """Continue the run saved in ``path`` (identity checked first)."""
        ckpt = ckpt if ckpt is not None else ckpt_format.load_checkpoint(path, map_location="cpu")
        ckpt_io.check_identity(ckpt["identity"], self.identity, path)
        try:
            self.load_state_dict(ckpt)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot resume from this checkpoint "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
        logger.info("continuing from %s at step %d (%s phase)", path, self.step, self.phase)

    def validate_checkpoint(self, path: Path, ckpt: Mapping[str, Any]) -> Dict[str, Dict[str, float]]:
        """``--val_only``: validate a saved generator, log the table and write ``validation.json``."""
        ckpt_io.check_identity(ckpt["identity"], self.identity, path)
        results: Dict[str, Dict[str, float]] = {}
        if self.dist.is_main:
            self.choose_threads(probe=False)
            generator = ckpt_format.generator_from_checkpoint(ckpt, self.device, path)
            results = self.make_validation_set().run(generator, self.device) if self.val_volumes else {}
            for line in format_results(results, int(ckpt.get("step", 0))):
                logger.info(line)
            write_json_atomic({"step": int(ckpt.get("step", 0)), "checkpoint": Path(path).name, "results": results},
                              self.output_folder / "validation.json")
        return results

    def load_pretrained(self, path: Path) -> None:
        """Start from another model (transfer learning); channel- and acquisition-dependent layers
        re-initialised when they differ."""
        ckpt = ckpt_format.load_checkpoint(path, map_location=self.device)
        other = ckpt["identity"]
        redone = ckpt_io.transfer_weights(D.unwrap(self.model), ckpt["generator"], ckpt["generator_config"],
                                          self.plans.num_channels, path)
        logger.info("pretrained generator from %s (dataset %s, %s channel(s))", path, other.get("dataset_name"),
                    other.get("num_channels"))
        if redone:
            logger.warning("NOTICE: the pretrained model has %s channel(s) and acquisition kinds %s, this model %d "
                           "and %s: re-initialised %s", other.get("num_channels"),
                           list(ckpt["generator_config"].get("acquisitions", [])), self.plans.num_channels,
                           list(getattr(D.unwrap(self.model), "acquisitions", ())), ", ".join(redone))
        if "critic" in ckpt and "critic_config" in ckpt:
            try:
                ckpt_io.transfer_weights(self.critic, ckpt["critic"], ckpt["critic_config"],
                                         self.plans.num_channels, path)
            except CheckpointError as exc:
                logger.warning("critic not transferred (starts fresh): %s", exc)
        D.broadcast_module(D.unwrap(self.model), self.dist)
        D.broadcast_module(self.critic, self.dist)


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


__all__ = ["MetaSRTrainer"]
