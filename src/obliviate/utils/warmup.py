"""Pay a process's one-time torch costs before anything is timed.

The first optimizer a process builds imports ``torch._dynamo`` lazily (about 1 s on an idle machine,
10 s on a loaded one); the first training step also builds the process's ``accelerate.Accelerator``,
initialises the device (a CUDA context) and sets up autograd and the data loader. Inside a timer that
cost is charged to whichever method happens to run first (+40% on its time ratio on digits).
:func:`warm_up` pays it once per process with a tiny training step per optimizer obliviate uses. It
does not go through :func:`~obliviate.training.fit`, so it never counts as a call of a checkpointing
session.
"""

from __future__ import annotations

_done = False


def warm_up() -> None:
    """A tiny training step with SGD (cosine schedule), Adam and AdamW on the accelerator's device;
    later calls return at once."""
    global _done
    if _done:
        return
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from ..config import OptimConfig
    from ..training.loop import get_accelerator, make_loader

    device = get_accelerator().device
    # the random generators are left as they were: a run's results never depend on whether it warmed up
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)).to(device)
        loader = make_loader(TensorDataset(torch.zeros(4, 1, 4, 4), torch.zeros(4, dtype=torch.long)), 2, seed=0)
        optimizers = [OptimConfig(optimizer="sgd", schedule="cosine").build(model.parameters(), 2),
                      OptimConfig(optimizer="adam").build(model.parameters(), 2),
                      (torch.optim.AdamW(model.parameters(), lr=1e-3), None)]
        x, y = next(iter(loader))
        for optimizer, scheduler in optimizers:
            nn.functional.cross_entropy(model(x.to(device)), y.to(device)).backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            optimizer.zero_grad(set_to_none=True)
    _done = True
