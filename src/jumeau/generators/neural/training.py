"""Training loop shared by the neural generators.

Early stopping on a validation split (the best weights are kept), gradient clipping, a guard that
stops with a clear error instead of silently producing NaN weights, and a rich progress bar that
can be turned off.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from torch import Tensor, nn

from jumeau.errors import JumeauError

# A loss function gets (x, mask, epoch) and returns the loss to minimise. For validation it gets
# epoch=None and must return the full objective (no annealing), so that epochs are comparable.
LossFunction = Callable[[Tensor, Tensor, "int | None"], Tensor]


class TrainingError(JumeauError):
    """Training diverged (non-finite loss) even after the built-in safeguards."""


@dataclass
class TrainingHistory:
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    skipped_batches: int = 0  # batches with a non-finite loss, skipped rather than applied


def split_validation(
    n_rows: int, share: float, rng: np.random.Generator, *, minimum: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train / validation row positions (validation at least `minimum` rows)."""
    order = rng.permutation(n_rows)
    n_validation = max(minimum, round(share * n_rows))
    n_validation = min(n_validation, n_rows // 3)
    return order[n_validation:], order[:n_validation]


def train(
    module: nn.Module,
    loss_fn: LossFunction,
    x: Tensor,
    mask: Tensor,
    *,
    validation: tuple[Tensor, Tensor],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    patience: int,
    clip_norm: float,
    progress: bool,
    label: str,
    generator: torch.Generator,
) -> TrainingHistory:
    """Minimise `loss_fn` with Adam; keep the weights of the best validation epoch."""
    optimiser = torch.optim.AdamW(module.parameters(), lr=learning_rate, weight_decay=weight_decay)
    history = TrainingHistory()
    best_state = copy.deepcopy(module.state_dict())
    best = math.inf
    n = x.shape[0]
    batch_size = max(2, min(batch_size, n))
    with _progress(progress) as bar:
        task = bar.add_task(label, total=epochs, loss="…")
        for epoch in range(epochs):
            running, batches, skipped = run_epoch(
                module, loss_fn, x, mask, optimiser,
                batch_size=batch_size, clip_norm=clip_norm, epoch=epoch, generator=generator,
            )  # fmt: skip
            history.skipped_batches += skipped
            if batches == 0:
                raise TrainingError(
                    f"{label}: every batch of epoch {epoch + 1} gave a non-finite loss; "
                    "lower the learning rate"
                )
            module.eval()
            validation_loss = float(loss_fn(validation[0], validation[1], None).detach())
            history.train_loss.append(running)
            history.validation_loss.append(validation_loss)
            improved = not math.isfinite(best) or validation_loss < best - 1e-4 * abs(best)
            if math.isfinite(validation_loss) and improved:
                best, history.best_epoch = validation_loss, epoch
                best_state = copy.deepcopy(module.state_dict())
            bar.update(task, advance=1, loss=f"{running:.3f} / val {validation_loss:.3f}")
            if epoch - history.best_epoch >= patience:
                history.stopped_early = True
                break
    module.load_state_dict(best_state)
    module.eval()
    return history


def run_epoch(
    module: nn.Module,
    loss_fn: LossFunction,
    x: Tensor,
    mask: Tensor,
    optimiser: torch.optim.Optimizer,
    *,
    batch_size: int,
    clip_norm: float,
    epoch: int,
    generator: torch.Generator,
    penalty: Callable[[], Tensor] | None = None,
) -> tuple[float, int, int]:
    """One pass over shuffled mini-batches: (mean loss, batches applied, batches skipped).

    A batch with a non-finite loss is skipped rather than applied. `penalty` is added to every
    batch's loss and left out of the reported mean (FedProx's proximal term is one)."""
    module.train()
    n = x.shape[0]
    order = torch.randperm(n, generator=generator)
    running, batches, skipped = 0.0, 0, 0
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size]
        if len(index) < 2:
            continue
        loss = loss_fn(x[index], mask[index], epoch)
        optimiser.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            skipped += 1
            continue
        (loss + penalty() if penalty is not None else loss).backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip_norm)
        optimiser.step()
        running += float(loss.detach())
        batches += 1
    return (running / batches if batches else math.nan), batches, skipped


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("epoch {task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )
