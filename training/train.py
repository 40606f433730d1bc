"""Train the colorization U-Net: ``python -m training.train --config training/configs/default.yaml``.

Phase 1 minimises L1 + lambda(1-SSIM), phase 2 (the last ``finetune_fraction`` of the steps)
MSE + lambda(1-SSIM); ``--gan`` adds a PatchGAN critic. Runs under ``torchrun`` with DDP.
``max_minutes`` fits the schedule to a wall-clock budget (training.schedule.TimeBudget); ``init_from``
starts from a checkpoint's weights (fine-tuning); validation runs every ``val_every`` steps, else at each
epoch's end.
Outputs in --out: config.yaml, last.pt (full state for --resume), best.safetensors (+ .json),
train_log.csv, val_log.csv, tensorboard/, samples/, loss_curve.png, and with ``snapshots: true`` the
weights at every validation in snapshots/ (for training.shipping.average).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from colorize import lab
from colorize.checkpoint import CheckpointError, save_model
from colorize.hints import hint_counts, sample_hints
from training.build import build_model, build_net, build_optimizers, choose_device, choose_precision, read_prior
from training.config import ConfigError, TrainConfig, build_config, get_args_parser, save_config
from training.critic import critic_step
from training.data import run_data
from training.losses import distribution_loss, reconstruction_loss
from training.precision import timed_precision
from training.processes import clear_stop, distributed, ignore_stop_signals, interrupt, stop_asked, stop_workers
from training.reporting import RunLog, plot_curves
from training.schedule import UNFITTED, TimeBudget
from training.validate import validate


class Trainer:
    """One training run. ``data=False`` builds only the model, optimiser and step, without data folders
    (benchmarks.train_speed times ``train_step`` on synthetic batches)."""

    def __init__(self, cfg: TrainConfig, data: bool = True):
        self.cfg = cfg
        self.rank, self.world, local_rank = distributed()
        self.device = choose_device(cfg, local_rank, self.world)
        self.precision = choose_precision(cfg, self.device)
        self.out = Path(cfg.out)
        torch.manual_seed(cfg.seed)

        if data:
            self.train_set, self.val_set, self.sampler, self.data_info = run_data(cfg, self.rank, self.world)
            self.steps_per_epoch = len(self.sampler) // cfg.batch_size
            if self.steps_per_epoch == 0:
                raise ConfigError(f"batch_size {cfg.batch_size} is larger than the {len(self.train_set)} images")
        else:
            self.train_set = self.val_set = self.sampler = None
            self.data_info, self.steps_per_epoch = {}, 1
        self.total_steps = cfg.max_steps or cfg.epochs * self.steps_per_epoch
        if cfg.max_minutes and not cfg.max_steps:
            self.total_steps = UNFITTED  # until TimeBudget.fit has measured the rate (warm-up only until then)

        self.model = build_model(cfg, self.device)
        self.prior = [t.to(self.device) for t in read_prior(cfg.prior)[:2]] if cfg.prior else None  # centres, weights
        self.replica, self.net = build_net(self.model, cfg, self.precision, self.device, self.world)
        self.opt, self.sched, self.critic, self.opt_c = build_optimizers(cfg, self.model, self.device,
                                                                         lambda: self.total_steps)
        self.step = self.epoch = self.samples_in_epoch = 0
        self.best_psnr = -math.inf
        self.budget: TimeBudget | None = None

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "step": self.step, "epoch": self.epoch,
                "samples_in_epoch": self.samples_in_epoch, "best_psnr": self.best_psnr,
                "critic": self.critic.state_dict() if self.critic else None,
                "critic_optimizer": self.opt_c.state_dict() if self.opt_c else None,
                "args": self.cfg.to_dict(), "torch_rng": torch.get_rng_state()}

    def save_last(self) -> None:
        if self.rank == 0:
            tmp = self.out / "last.pt.tmp"
            torch.save(self.state(), tmp)
            tmp.replace(self.out / "last.pt")  # atomic: a kill mid-write keeps the previous one

    def load_last(self) -> None:
        path = self.out / "last.pt"
        if not path.exists():
            raise FileNotFoundError(f"--resume: {path} does not exist")
        # Our own file, written by save_last; weights_only=False is needed for optimizer state.
        s = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["optimizer"])
        self.sched.load_state_dict(s["scheduler"])
        if self.critic and s.get("critic"):
            self.critic.load_state_dict(s["critic"])
            self.opt_c.load_state_dict(s["critic_optimizer"])
        self.step, self.epoch = s["step"], s["epoch"]
        self.samples_in_epoch, self.best_psnr = s["samples_in_epoch"], s["best_psnr"]
        torch.set_rng_state(s["torch_rng"])
        if self.replica:
            self.replica.pull()

    # -- steps -------------------------------------------------------------------------------
    def phase(self) -> int:
        return 1 if self.step < self.total_steps * (1 - self.cfg.finetune_fraction) else 2

    def autocast(self):
        if self.precision == "bf16-autocast" or (self.precision == "bf16" and self.replica is None):
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, batch: torch.Tensor) -> dict:
        cfg = self.cfg
        labs = lab.rgb_to_lab(batch.to(self.device, non_blocking=True).float() / 255.0)
        lightness, target = labs[:, :1], lab.normalize_ab(labs[:, 1:])
        if cfg.channels_last:
            lightness = lightness.contiguous(memory_format=torch.channels_last)
        inputs = [lightness]
        if cfg.hints:
            inputs.append(sample_hints(target, hint_counts(target.shape[0])))
        if self.replica:
            inputs = [self.replica.input(x) for x in inputs]
        with self.autocast():
            out = self.net(*inputs, logits=True) if self.prior else lab.normalize_ab(self.net(*inputs))
        if self.prior:  # a distribution head: Zhang et al.'s rebalanced cross-entropy alone
            loss = distribution_loss(out, labs[:, 1:], *self.prior)
            return self.backward_and_step(loss, {"loss": loss.item(), "d_loss": ""})
        pred = out
        recon = reconstruction_loss(pred, target, self.phase(), cfg.ssim_weight)
        row = {"loss": recon.item(), "d_loss": ""}
        loss = recon
        if self.critic is not None and self.step >= cfg.gan_pretrain_steps:
            g_adv, d_loss = critic_step(self.critic, self.opt_c, lab.normalize_l(lightness), target, pred,
                                        self.autocast)
            loss = g_adv + cfg.gan_recon_weight * recon
            row["d_loss"] = d_loss
        return self.backward_and_step(loss, row)

    def backward_and_step(self, loss: torch.Tensor, row: dict) -> dict:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.replica:
            self.replica.push_grads()
        self.opt.step()
        if self.replica:
            self.replica.pull()
        self.sched.step()
        return row

    def _bar_total(self) -> int | None:  # no made-up ETA before the fit
        return None if self.total_steps == UNFITTED else self.total_steps

    def keep_to_budget(self, validated: bool) -> None:
        """With ``max_minutes``: refit the schedule's length at this invocation's steps 16, 32, 64, ... and
        after each validation while phase 1 lasts (phase 2's start is not moved once reached); end at the
        deadline."""
        if self.budget is None:
            return
        # a refit in phase 2 could move its start back behind the current step; with finetune_fraction 1 (all
        # MSE, as for fine-tuning) there is no boundary to move
        movable = self.phase() == 1 or self.cfg.finetune_fraction >= 1 or self.total_steps == UNFITTED
        total = self.budget.refit(self.step, self.total_steps, validated, movable)
        if total != self.total_steps and total > self.step and self.rank == 0:  # refitted, not expired
            print(f"max_minutes: schedule fitted to {total} steps", flush=True)
        self.total_steps = total

    def run_validation(self, log: RunLog) -> None:
        if self.rank == 0 and self.val_set is not None:
            m = validate(self.model, self.val_set, self.device, self.cfg, self.phase(), self.autocast,
                         self.out / "samples" / f"step_{self.step:07d}.png")
            log.val({"step": self.step, "epoch": self.epoch, **m})
            meta = {"training": {"config": self.cfg.to_dict(), "data": self.data_info, "step": self.step,
                                 "epoch": self.epoch},
                    "metrics": {"validation": m}}
            if m["psnr"] > self.best_psnr:
                self.best_psnr = m["psnr"]
                save_model(self.model, self.out / "best.safetensors", meta)
            if self.cfg.snapshots:
                save_model(self.model, self.out / "snapshots" / f"step_{self.step:07d}.safetensors", meta)
        self.save_last()
        if self.world > 1:
            dist.barrier()

    def fit(self) -> None:
        """Train until the schedule's last step (a budget may move it), validating as configured; Ctrl-C
        or kill saves last.pt first."""
        cfg = self.cfg
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out / "config.yaml")
        if cfg.resume:
            self.load_last()
        if cfg.max_minutes:
            self.budget = TimeBudget(cfg.max_minutes, self.step, cfg.max_steps)
        log = RunLog(self.out) if self.rank == 0 else None
        # Each epoch's iterator starts its own workers (they read the sampler's position then) and they end
        # with it. Persistent workers were tried: a trainer stopped by a signal could then hang at exit
        # (its workers ignore SIGTERM, which multiprocessing's exit handler relies on).
        loader = DataLoader(self.train_set, sampler=self.sampler, batch_size=cfg.batch_size, drop_last=True,
                            num_workers=cfg.workers, pin_memory=self.device.type == "cuda",
                            worker_init_fn=ignore_stop_signals)
        bar = tqdm(total=self._bar_total(), initial=self.step, disable=self.rank != 0, unit="step",
                   dynamic_ncols=True)
        self._tick, self._seen = time.perf_counter(), 0
        try:
            while self.step < self.total_steps:
                if self.train_epoch(loader, log, bar):
                    self.end_epoch(log)
            if not (cfg.val_every and self.step % cfg.val_every == 0):
                self.run_validation(log)
        except KeyboardInterrupt:
            # A worker that died of the same signal (one started for a new epoch can be hit before its
            # worker_init_fn ignores it) must not break the save: PyTorch's SIGCHLD handler would raise
            # "DataLoader worker ... is killed by signal" in the middle of torch.save (seen once in CI).
            if hasattr(signal, "SIGCHLD"):
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.save_last()
            stop_workers()
            raise
        finally:
            bar.close()
            if log:
                log.close()
        if self.rank == 0:
            plot_curves(self.out)

    def train_epoch(self, loader: DataLoader, log: RunLog | None, bar: tqdm) -> bool:
        """Train from the sampler's position in this epoch; True when the epoch ran to its end, False when
        the schedule ended inside it."""
        self.sampler.set_position(self.epoch, self.samples_in_epoch)
        for batch in loader:
            row = self.train_step(batch)
            self.after_step(row, batch.shape[0], log, bar)
            if self.step >= self.total_steps:
                return False
        return True

    def after_step(self, row: dict, batch_size: int, log: RunLog | None, bar: tqdm) -> None:
        """Count the step; log it, validate every ``val_every`` steps and keep to the time budget."""
        cfg = self.cfg
        self.step += 1
        self.samples_in_epoch += batch_size
        self._seen += batch_size * self.world
        if self.rank == 0 and (self.step % cfg.log_every == 0 or self.step == self.total_steps):
            rate = self._seen / (time.perf_counter() - self._tick)
            self._tick, self._seen = time.perf_counter(), 0
            row.update(step=self.step, epoch=self.epoch, phase=self.phase(), img_per_s=rate,
                       lr=self.sched.get_last_lr()[0])
            log.train(row)
            bar.set_postfix(loss=f"{row['loss']:.4f}", img_s=f"{rate:.1f}", phase=row["phase"])
        bar.update(1)
        validated = bool(cfg.val_every and self.step % cfg.val_every == 0)
        if validated:
            self.run_validation(log)
        self.keep_to_budget(validated)
        bar.total = self._bar_total()
        if stop_asked():  # a signal whose KeyboardInterrupt was swallowed where it landed
            raise KeyboardInterrupt

    def end_epoch(self, log: RunLog | None) -> None:
        self.epoch, self.samples_in_epoch = self.epoch + 1, 0
        if not self.cfg.val_every:  # with val_every, validation keeps to its own step count
            self.run_validation(log)
            self.keep_to_budget(True)


def main(argv: list[str] | None = None) -> int:
    args = vars(get_args_parser().parse_args(argv))
    config_path = args.pop("config")
    args = {k.replace("-", "_"): v for k, v in args.items()}
    try:
        cfg = build_config(config_path, args)
        clear_stop()
        for stop in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, kill -> save last.pt, then stop
            signal.signal(stop, interrupt)
        Trainer(timed_precision(cfg, Trainer)).fit()
    except (ConfigError, FileNotFoundError, CheckpointError) as exc:
        print(f"training.train: {exc}")
        return 2
    except KeyboardInterrupt:
        clear_stop()
        print("training.train: interrupted; state saved to last.pt (continue with --resume)", flush=True)
        if __name__ == "__main__":  # the command line, not a caller in this process (tests call main())
            # Leave at once: the state is saved and the workers are killed, and Python's exit handlers
            # (multiprocessing joins its children and queue threads) could still wait for ever on a worker
            # the signal caught mid-start; a signalled trainer hung so now and then.
            sys.stderr.flush()
            os._exit(130)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
