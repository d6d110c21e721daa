"""VAAL: Variational Adversarial Active Learning (Sinha, Ebrahimi & Darrell, ICCV 2019).

A VAE learns a latent space of labelled and unlabelled images while a discriminator learns to tell them
apart from the VAE's mean code; the VAE is also trained to fool it. The images the discriminator rates
least likely to be labelled are selected (score = 1 - D(mu), higher = selected first).

Hyper-parameters as the authors' code (github.com/sinhasam/vaal: ``arguments.py``, ``solver.py``,
``model.py``): latent 32, beta 1, adversary weight 1, Adam lr 5e-4 for VAE and discriminator, batch 128,
2 VAE steps and 1 discriminator step per iteration, iterations = images x epochs / batch with 100
epochs; VAE loss = MSE (mean) + beta * KL (summed); images normalised to [-1, 1]; encoder of four
4x4/stride-2 convolutions (128-256-512-1024 channels, BN, ReLU), decoder from a linear layer through 4x4
transposed convolutions to a 1x1 output convolution; discriminator an MLP of four 512-unit ReLU layers.

Departures, each for a reason:
- The task model is not trained inside VAAL's loop: albench's harness trains the classifier (the same
  ResNet-18 for every strategy, paper Sec. 4.2); VAAL here trains its VAE and discriminator inside
  ``select`` on the round's labelled and unlabelled images, from scratch each round (the authors also
  re-initialise them every split).
- ``images`` in the iteration count is the whole training pool (the authors use the dataset size).
- Batches are drawn uniformly at random each iteration (the authors cycle shuffled loaders), with no
  augmentation: albench never augments the pool a strategy sees.
- Where only the code mu is needed (the discriminator's step, scoring) only the encoder runs; the
  authors run the whole VAE and drop the reconstruction (80 % of its FLOPs at 32x32, 11 % of an iteration).
- The discriminator outputs logits and uses BCE-with-logits (the same loss as sigmoid + BCE, stable).
- Inputs of other sizes: the number of stride-2 stages is min(4, log2(size)); the decoder mirrors it
  (for 8x8 digits, three stages). Channel widths scale with ``width`` (128 in the authors' code).
"""
import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.core.device import channels_last, conv_backend, seeded
from strategies._api import Strategy, register, top_k


class ConvVAE(nn.Module):
    def __init__(self, channels: int, size: int, z_dim: int = 32, width: int = 128):
        super().__init__()
        if size & (size - 1) or size < 4:
            raise ValueError(f"VAAL's VAE needs square power-of-two images >= 4 pixels, got {size}")
        stages = min(4, int(math.log2(size)))
        widths = [width * 2 ** i for i in range(stages)]
        enc, c_in = [], channels
        for w in widths:
            enc += [nn.Conv2d(c_in, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]
            c_in = w
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        self.start = (widths[-1], 2 * size // 2 ** stages)   # the decoder starts at twice the code's size
        flat = widths[-1] * (size // 2 ** stages) ** 2
        self.fc_mu, self.fc_logvar = nn.Linear(flat, z_dim), nn.Linear(flat, z_dim)
        dec = []
        for w_in, w_out in zip(widths[::-1], widths[::-1][1:]):
            dec += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
        self.fc_dec = nn.Linear(z_dim, widths[-1] * self.start[1] ** 2)
        self.decoder = nn.Sequential(*dec, nn.ConvTranspose2d(widths[0], channels, 1))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight)

    def encode(self, x):
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        c, s = self.start
        return self.decoder(self.fc_dec(z).view(-1, c, s, s)), mu, logvar


def discriminator(z_dim: int = 32, hidden: int = 512) -> nn.Module:
    layers, d = [], z_dim
    for _ in range(4):
        layers += [nn.Linear(d, hidden), nn.ReLU(True)]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, 1))


def vae_loss(x, recon, mu, logvar, beta):
    """The authors' loss: mean squared error plus beta times the KL divergence summed over the batch."""
    return F.mse_loss(recon, x) + beta * (-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()))


def vaal_scores(p_labelled: torch.Tensor) -> torch.Tensor:
    """1 - D(mu): the discriminator's probability that an image is unlabelled."""
    return 1.0 - p_labelled


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1.0   # [-1, 1], the authors' Normalize(0.5, 0.5)


@register("vaal")
class VAAL(Strategy):
    select_cost_depends_on = frozenset({"images"})   # its own VAE and discriminator, not the classifier
    needs_labelled = True   # learns from the labelled images (see Strategy)
    def __init__(self, latent_dim: int = 32, beta: float = 1.0, adversary_param: float = 1.0, lr: float = 5e-4,
                 batch_size: int = 128, epochs: int = 100, vae_steps: int = 2, adv_steps: int = 1, width: int = 128):
        self.latent_dim = latent_dim            # authors: 32
        self.beta = beta                        # KL weight, authors: 1
        self.adversary_param = adversary_param  # weight of the VAE's fool-the-discriminator term, authors: 1
        self.lr = lr                            # Adam, VAE and discriminator, authors: 5e-4
        self.batch_size = batch_size            # authors: 128
        self.epochs = epochs                    # iterations = pool size * epochs / batch, authors: 100
        self.vae_steps = vae_steps              # authors: 2
        self.adv_steps = adv_steps              # authors: 1
        self.width = width                      # first conv stage's channels, authors: 128

    def for_planning(self):
        """One epoch at width <= 16 and batches of <= 64, scaled by epochs x (width / 16)^2 (its iterations grow
        with the epochs, an iteration's convolutions with the square of the width). Past one batch the batch
        leaves the work per pool image alone (pool / batch iterations of a batch each; below it, one iteration
        whatever the pool), and a smaller one lets a plan's small pools hold several iterations: at 128, NEU's
        64x64 images made one iteration outlast the plan's longest call, and its only size gave an upper bound
        of 5.4 s a pool image (VAAL's Fig. 3(a) trials: 4.4 days). Per image, an iteration of 64 took 1.05x
        (3x32x32) and 1.00x (1x64x64) the time of one of 128 here (bf16, one thread; 32: 1.23x and 1.14x)."""
        width = min(self.width, 16)
        return (type(self)(**dict(self.get_params(), epochs=1, width=width, batch_size=min(self.batch_size, 64))),
                self.epochs * (self.width / width) ** 2)

    def iterations(self, n_pool: int) -> int:
        """The authors' iteration count: pool images x epochs / batch."""
        return max(1, n_pool * self.epochs // self.batch_size)

    def iteration(self, vae, disc, opt_v, opt_d, draw, cast=contextlib.nullcontext):
        """One of the authors' iterations: ``vae_steps`` VAE updates (reconstruct both batches, fool the
        discriminator), then ``adv_steps`` discriminator updates. ``draw()`` gives fresh (labelled,
        unlabelled) batches in [-1, 1]; ``cast()`` the arithmetic (the pool's ``autocast``). Returns the last
        (VAE loss, discriminator loss) as tensors."""
        for _ in range(self.vae_steps):
            xl, xu = draw()
            with cast():
                rl, mul, lvl = vae(xl)
                ru, muu, lvu = vae(xu)
                d = disc(torch.cat([mul, muu])).squeeze(1).float()
                fool = F.binary_cross_entropy_with_logits(d, torch.ones_like(d))  # both look labelled
                loss = (vae_loss(xl, rl.float(), mul.float(), lvl.float(), self.beta)
                        + vae_loss(xu, ru.float(), muu.float(), lvu.float(), self.beta)
                        + self.adversary_param * fool)
            opt_v.zero_grad(set_to_none=True)
            loss.backward()
            opt_v.step()
        for _ in range(self.adv_steps):
            xl, xu = draw()
            with torch.no_grad(), cast():
                mu = torch.cat([vae.encode(xl)[0], vae.encode(xu)[0]]).float()
            target = torch.cat([torch.ones(len(xl), device=xl.device), torch.zeros(len(xu), device=xl.device)])
            with cast():
                d_loss = F.binary_cross_entropy_with_logits(disc(mu).squeeze(1).float(), target)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        return loss.detach(), d_loss.detach()

    def build(self, channels: int, size: int, device):
        """Fresh VAE, discriminator and their Adam optimisers."""
        vae = ConvVAE(channels, size, self.latent_dim, self.width).to(device)
        disc = discriminator(self.latent_dim).to(device)
        opt_vae = torch.optim.Adam(vae.parameters(), lr=self.lr)
        opt_disc = torch.optim.Adam(disc.parameters(), lr=self.lr)
        return vae, disc, opt_vae, opt_disc

    def select(self, pool, budget):
        k = self.check_budget(pool, budget)
        dev, x = pool.device, pool.x
        lab = torch.tensor(pool.labelled, device=dev)
        unl = torch.tensor(pool.unlabelled, device=dev)
        iters = self.iterations(len(pool))
        # bf16 (and CUDA): the VAE's convolutions run channels_last, twice as fast on a bf16 CPU (0.32 vs
        # 0.64 s per iteration at width 16, one thread); the fp32 CPU path keeps NCHW, as it always ran
        layout = torch.channels_last if channels_last(dev, pool.precision) else torch.contiguous_format
        with seeded(pool.torch_seed(), dev), conv_backend(self.width, dev):   # oneDNN off where it is unsafe
            vae, disc, opt_v, opt_d = self.build(x.shape[1], x.shape[2], dev)
            vae.to(memory_format=layout)   # in place: the optimiser keeps the same parameters

            def batch(ids):
                return to_unit(x[ids[torch.randint(len(ids), (self.batch_size,), device=dev)]]).contiguous(
                    memory_format=layout)

            losses = []
            for it in range(iters):
                loss, d_loss = self.iteration(vae, disc, opt_v, opt_d, lambda: (batch(lab), batch(unl)), pool.autocast)
                if it % max(1, iters // 20) == 0 or it == iters - 1:
                    losses.append([it, loss, d_loss])
            vae.eval()
            disc.eval()
            with torch.no_grad():
                scores = []
                for i in range(0, len(unl), pool.batch_size):
                    with pool.autocast():
                        mu = vae.encode(to_unit(x[unl[i:i + pool.batch_size]]).contiguous(memory_format=layout))[0]
                        scores.append(vaal_scores(torch.sigmoid(disc(mu.float()).squeeze(1).float())))
                scores = torch.cat(scores).double().cpu().numpy()
        self.diagnostics_ = {"iterations": iters, "loss_curve": [[i, float(a), float(b)] for i, a, b in losses]}
        return pool.unlabelled[top_k(scores, k, pool.rng)]
