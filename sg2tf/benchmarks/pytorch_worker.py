"""Timing worker for the official stylegan2-ada-pytorch code (used by `sg2tf-bench compare`).

Run by a Python that has PyTorch and numpy (not sg2tf):

    python pytorch_worker.py --nvlabs_src=/path/to/stylegan2-ada-pytorch [--threads=N]

It imports `training.networks`, `training.loss` and `training.augment` from the
NVlabs checkout at run time (nothing of NVIDIA's is part of sg2tf) and answers JSON
commands, one per line, on stdin:

  {"cmd": "setup", "task": "generator", "config": {...}, "batch": N}
      The official `Generator` in eval mode (fused modulated convolution, as its
      generate.py runs it), float32, `noise_mode='const'`, psi 0.7, under no_grad.
  {"cmd": "setup", "task": "train", "config": {...}}
      G, D, G_ema, Adam optimizers with the lazy-regularization correction and
      `StyleGAN2Loss`; one timed unit is one cycle of `d_reg_interval` steps in the
      phases of the official training loop (Gmain every step, Greg every
      `g_reg_interval`, Dmain every step, Dreg every `d_reg_interval`, then G_ema).
  {"cmd": "time", "n": K}       -> {"seconds": [...]} (K timed units)
  {"cmd": "quit"}

The custom CUDA ops of the official code fall back to their reference
implementations on CPU (bias_act, upfirdn2d; conv2d_gradfix is off).
Replies are single JSON lines on stdout; everything else goes to stderr.
"""

import argparse
import copy
import os
import sys
import time
import warnings


def _widths(config):
    """The channel table of a benchmark config, float32 everywhere and no clamping."""
    return dict(channel_base=config["channel_base"], channel_max=config["channel_max"], num_fp16_res=0, conv_clamp=None)


def _generator(networks, config, **synthesis_kwargs):
    """The official unconditional RGB Generator of a benchmark config."""
    return networks.Generator(
        z_dim=config["z_dim"],
        c_dim=0,
        w_dim=config["w_dim"],
        img_resolution=config["resolution"],
        img_channels=3,
        mapping_kwargs=dict(num_layers=config["mapping_layers"]),
        synthesis_kwargs=dict(_widths(config), **synthesis_kwargs),
    )


class GeneratorTask:
    def __init__(self, torch, networks, config, batch, min_unit_s=0.0):
        self.torch = torch
        torch.manual_seed(0)
        self.G = _generator(networks, config).eval().requires_grad_(False)
        self.z = torch.randn([batch, config["z_dim"]])
        self.params = sum(p.numel() for p in self.G.parameters())
        self.call()  # warm-up
        start = time.perf_counter()
        self.call()
        # Short calls are repeated within a unit (at least min_unit_s per unit).
        self.calls = max(1, int(-(-min_unit_s // max(time.perf_counter() - start, 1e-6))))
        self.images = batch * self.calls

    def call(self):
        with self.torch.no_grad():
            return self.G(self.z, None, truncation_psi=0.7, noise_mode="const")

    def unit(self):
        for _ in range(self.calls):
            self.call()


class TrainTask:
    """The official training step's phases, driven the way its training loop drives them."""

    def __init__(self, torch, modules, config):
        networks, loss_mod, augment = modules
        self.torch = torch
        torch.manual_seed(0)
        c = config
        self.batch = c["batch"]
        self.batch_gpu = c.get("batch_gpu") or c["batch"]
        self.resolution = c["resolution"]
        self.G = _generator(networks, c, architecture="skip").train().requires_grad_(False)
        self.D = (
            networks.Discriminator(
                c_dim=0,
                img_resolution=c["resolution"],
                img_channels=3,
                architecture="resnet",
                epilogue_kwargs=dict(mbstd_group_size=c["mbstd_group"]),
                **_widths(c),
            )
            .train()
            .requires_grad_(False)
        )
        self.G_ema = copy.deepcopy(self.G).eval()
        self.augment_pipe = None
        if c.get("aug", "noaug") != "noaug":
            # The official 'bgc' pipe: each geometric and color transform at multiplier 1.
            geometric = ["xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac"]
            bgc = dict.fromkeys(geometric + ["brightness", "contrast", "lumaflip", "hue", "saturation"], 1)
            self.augment_pipe = augment.AugmentPipe(**bgc).train().requires_grad_(False)
            self.augment_pipe.p.copy_(torch.as_tensor(float(c["p"])))
        self.loss = loss_mod.StyleGAN2Loss(
            device=torch.device("cpu"),
            G_mapping=self.G.mapping,
            G_synthesis=self.G.synthesis,
            D=self.D,
            augment_pipe=self.augment_pipe,
            style_mixing_prob=c["style_mixing_prob"],
            r1_gamma=c["gamma"],
            pl_batch_shrink=c["pl_batch_shrink"],
            pl_decay=c["pl_decay"],
            pl_weight=c["pl_weight"],
        )
        self.phases = []
        for name, module, interval in (("G", self.G, c["g_reg_interval"]), ("D", self.D, c["d_reg_interval"])):
            ratio = interval / (interval + 1)
            opt = torch.optim.Adam(module.parameters(), lr=c["lr"] * ratio, betas=(0.0**ratio, 0.99**ratio), eps=1e-8)
            self.phases.append((name + "main", module, opt, 1))
            self.phases.append((name + "reg", module, opt, interval))  # Gmain, Greg, Dmain, Dreg
        self.ema_kimg, self.ema_rampup = c["ema_kimg"], c.get("ema_rampup")
        self.cycle = c["d_reg_interval"]
        self.reals = torch.rand([self.batch, 3, c["resolution"], c["resolution"]]) * 2 - 1
        self.cur_nimg = 0
        self.batch_idx = 0
        self.params = sum(p.numel() for m in (self.G, self.D) for p in m.parameters())
        self.unit()  # warm-up: one full cycle, every phase

    def step(self):
        torch = self.torch
        B, bg = self.batch, self.batch_gpu
        reals = self.reals.split(bg)
        real_c = torch.zeros([B, 0]).split(bg)
        all_z = torch.randn([len(self.phases) * B, self.G.z_dim]).split(B)
        for (name, module, opt, interval), z in zip(self.phases, all_z):
            if self.batch_idx % interval:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            zs, cs = z.split(bg), torch.zeros([B, 0]).split(bg)
            for real_img, rc, gz, gc in zip(reals, real_c, zs, cs):
                self.loss.accumulate_gradients(
                    phase=name, real_img=real_img, real_c=rc, gen_z=gz, gen_c=gc, sync=True, gain=interval
                )
            module.requires_grad_(False)
            for param in module.parameters():
                if param.grad is not None:
                    torch.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
            opt.step()
        with torch.no_grad():
            ema_nimg = self.ema_kimg * 1000
            if self.ema_rampup is not None:
                ema_nimg = min(ema_nimg, self.cur_nimg * self.ema_rampup)
            beta = 0.5 ** (B / max(ema_nimg, 1e-8))
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)
        self.cur_nimg += B
        self.batch_idx += 1

    def unit(self):
        for _ in range(self.cycle):
            self.step()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nvlabs_src", required=True)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: all cores)")
    parser.add_argument("--interop", type=int, default=0, help="torch.set_num_interop_threads (0: default)")
    args = parser.parse_args()
    sys.path.insert(0, args.nvlabs_src)

    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads or os.cpu_count())
    if args.interop:
        torch.set_num_interop_threads(args.interop)
    from training import augment, loss, networks  # noqa: E402 (the NVlabs checkout)

    # This file's folder is sys.path[0] when it runs as a script (the only way it runs).
    from worker_protocol import serve

    def make_task(cmd):
        if cmd["task"] == "generator":
            return GeneratorTask(torch, networks, cmd["config"], cmd["batch"], cmd.get("min_unit_s", 0.0))
        return TrainTask(torch, (networks, loss, augment), cmd["config"])

    def runtime():
        return {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        }

    serve(make_task, runtime)


if __name__ == "__main__":
    main()
