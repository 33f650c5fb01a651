"""A small VAE over a classifier's representations, as used by LAF (Shen et al., ICLR 2024).

The architecture follows the LAF reference code (``Model.py``): an MLP encoder dim-128-32 with two
heads (mean and log-variance of a ``latent_dim`` Gaussian) and a mirrored decoder latent-32-128-dim.
The reference decoder ends in a sigmoid because its representations were a linear layer's output
scaled near [0, 1]; ours are unbounded (ReLU features reach ~10 on digits), so the decoder's last
layer is linear. Training goes through the shared loop :func:`~obliviate.training.fit`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from ...training import OptimConfig, fit
from ...training.loop import Batch


class RepresentationVAE(nn.Module):
    """VAE on ``dim``-d vectors. ``forward(h)`` returns (reconstruction, mu, logvar).

    The reparameterisation noise comes from ``self.generator`` when set (see :meth:`seed_noise`), so
    training and scoring are reproducible without touching the global random state.
    """

    def __init__(self, dim: int, latent_dim: int = 8, hidden: tuple[int, int] = (128, 32)) -> None:
        super().__init__()
        h1, h2 = hidden
        self.encoder = nn.Sequential(nn.Linear(dim, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU())
        self.mu = nn.Linear(h2, latent_dim)
        self.logvar = nn.Linear(h2, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, h2), nn.ReLU(), nn.Linear(h2, h1), nn.ReLU(), nn.Linear(h1, dim)
        )
        self.generator: torch.Generator | None = None

    def seed_noise(self, seed: int) -> None:
        """Draw the reparameterisation noise from a generator seeded with ``seed`` on this VAE's device."""
        device = next(self.parameters()).device
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def forward(self, h: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.encoder(h)
        mu, logvar = self.mu(hidden), self.logvar(hidden)
        z = mu
        if sample:
            gen = self.generator if self.generator is not None and self.generator.device == mu.device else None
            eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
        return self.decoder(z), mu, logvar


def squared_error(recon: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Per-sample squared reconstruction error, summed over the representation's dimensions."""
    return (recon - h).pow(2).sum(dim=1)


def vae_loss(
    recon: torch.Tensor, h: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl_weight: float
) -> torch.Tensor:
    """Batch mean of (squared error + ``kl_weight`` * KL(q(z|h) || N(0, I))), as in the LAF reference."""
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
    return (squared_error(recon, h) + kl_weight * kl).mean()


def train_vae(
    h: torch.Tensor,
    *,
    latent_dim: int,
    epochs: int,
    lr: float,
    batch_size: int,
    kl_weight: float,
    seed: int,
    desc: str = "vae",
) -> RepresentationVAE:
    """Fit a :class:`RepresentationVAE` to the rows of ``h`` (N, dim) with Adam; returns it frozen, in
    eval mode, its noise generator seeded. Initialisation is seeded without changing global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = RepresentationVAE(h.shape[1], latent_dim)
    vae.seed_noise(seed)

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        (x,) = batch["train"]
        if vae.generator is None or vae.generator.device != x.device:  # fit() moved the VAE
            vae.seed_noise(seed)
        recon, mu, logvar = model(x)
        return vae_loss(recon, x, mu, logvar, kl_weight)

    fit(
        vae,
        loss_fn,
        {"train": TensorDataset(h)},
        epochs=epochs,
        batch_size=batch_size,
        optim=OptimConfig("adam", lr, weight_decay=0.0),
        seed=seed,
        desc=desc,
    )
    vae.eval()
    vae.requires_grad_(False)
    vae.seed_noise(seed + 1)
    return vae


@torch.inference_mode()
def reconstruction_error(vae: RepresentationVAE, h: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Per-row squared error of the VAE's mean reconstruction (no sampling) of ``h``, on the CPU."""
    device = next(vae.parameters()).device
    out = [squared_error(vae(c.to(device), sample=False)[0], c.to(device)).cpu() for c in h.split(batch_size)]
    return torch.cat(out) if out else torch.empty(0)
