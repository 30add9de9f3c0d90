"""iHOIM: the improved hierarchical online instance matching loss (hierarchical_ihoim_mot, sec. 3.2).

Memory: a look-up table (LUT) ``W_id`` (N, d) of identity embeddings and a circular queue ``W_bg``
(B, d) of background embeddings; together ``W = [W_id; W_bg]`` ((N + B), d). For a normalised
embedding x (d,):

    s = W x,   p_i = exp(s_i / τ) / Σ_j exp(s_j / τ)            (eq. 1-2, cosine logits, τ = 1/30)
    p(person) = Σ_{i <= N} p_i,   p(background) = Σ_{i > N} p_i   (eq. 3-4; they sum to one)
    L_det = -y log p(person) - (1 - y) log p(background)           (eq. 5; y = 1 for people)
    L_oim = -log softmax(s_{1..N} / τ)_k   for a person of identity k        (eq. 6-7)
    L = mean(L_det) + mean_labelled(λ · L_oim),   λ = 2 · p(person)²           (eq. 8)

λ is detached (a weight, not a path for the detection gradient). People are the GT centre
embeddings (labelled and unlabelled); background samples are embeddings at cells that overlap no GT
box (see :func:`~mottrack_training.losses.criterion.sample_background`). After each forward, without
gradient (eq. 9; OIM also re-normalises the row):

    W_id[k] <- normalize(η · W_id[k] + (1 - η) · x)     for each labelled x of identity k (η = 0.5)
    W_bg[ptr : ptr + n] <- background x's,  ptr <- (ptr + n) mod B     (oldest entries replaced)

Several x of one identity in a batch are applied one after the other, in row order. Under
``torch.distributed`` the rows of every rank are gathered first (rank order), so all replicas keep
the same memory. Both memories start at zero (a zero row has cosine 0 to everything).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ["IHoimLoss", "all_gather_rows"]


def all_gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (n_r, ...) of every rank in rank order (sizes may differ); identity if not distributed."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    world = dist.get_world_size()
    count = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.int64)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    padded = tensor.new_zeros((max(sizes),) + tuple(tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    gathered = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:n] for g, n in zip(gathered, sizes)])


class IHoimLoss(nn.Module):
    """iHOIM loss with its identity LUT and background queue (buffers, saved in the state dict).

    Args:
        embedding_dim: d. num_identities: N (>= 1). queue_size: B (>= 1).
        temperature: τ (1/30). momentum: η of the LUT update (0.5).
    """

    def __init__(self, embedding_dim: int, num_identities: int, queue_size: int, temperature: float = 1.0 / 30.0,
                 momentum: float = 0.5) -> None:
        super().__init__()
        if num_identities < 1 or queue_size < 1:
            raise ValueError(f"IHoimLoss needs >= 1 identity and queue slot, got {num_identities}, {queue_size}")
        self.num_identities = int(num_identities)
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.register_buffer("lookup_table", torch.zeros(num_identities, embedding_dim))
        self.register_buffer("background_queue", torch.zeros(queue_size, embedding_dim))
        self.register_buffer("queue_pointer", torch.zeros((), dtype=torch.int64))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised (K, d) -> (K, N + B) cosine logits / τ (against a snapshot of the memory)."""
        memory = torch.cat((self.lookup_table, self.background_queue)).to(x.dtype).clone()
        return x @ memory.t() / self.temperature

    def probabilities(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(K, d) embeddings (any norm) -> (K, N + B) probabilities p_i of eq. 2 (rows sum to one)."""
        return self.logits(F.normalize(embeddings.float(), dim=1)).softmax(dim=1)

    def forward(self, person: torch.Tensor, identities: torch.Tensor, background: torch.Tensor,
                update: bool = True) -> torch.Tensor:
        """Loss of people (P, d) with identities (P,) (-1 = unlabelled) and background (Q, d); then update.

        Returns the scalar ``mean(L_det) + mean_labelled(λ·L_oim)`` (0, still connected, if P + Q = 0).
        """
        x = F.normalize(torch.cat((person, background)).float(), dim=1)
        if x.shape[0] == 0:
            return person.sum() * 0.0 + background.sum() * 0.0
        logits = self.logits(x)
        n = self.num_identities
        log_total = torch.logsumexp(logits, dim=1)
        log_person = torch.logsumexp(logits[:, :n], dim=1) - log_total
        log_background = torch.logsumexp(logits[:, n:], dim=1) - log_total
        is_person = torch.arange(x.shape[0], device=x.device) < person.shape[0]
        det = torch.where(is_person, -log_person, -log_background).mean()
        labelled = torch.nonzero(identities >= 0).flatten()
        if labelled.numel():
            oim = -F.log_softmax(logits[labelled, :n], dim=1).gather(1, identities[labelled, None]).squeeze(1)
            weight = 2.0 * log_person[labelled].detach().exp() ** 2
            loss = det + (weight * oim).mean()
        else:
            loss = det
        if update and self.training:
            self.update(x[: person.shape[0]].detach(), identities, x[person.shape[0]:].detach())
        return loss

    @torch.no_grad()
    def update(self, person: torch.Tensor, identities: torch.Tensor, background: torch.Tensor) -> None:
        """Momentum-update LUT rows of labelled people (normalised x) and push background x into the queue."""
        person = all_gather_rows(person.float())
        identities = all_gather_rows(identities)
        background = all_gather_rows(background.float())
        keep = identities >= 0
        person, identities = person[keep], identities[keep]
        eta = self.momentum
        # Occurrence r of each identity is applied in round r: sequential per identity, vectorised across.
        order = torch.argsort(identities, stable=True)
        ids_sorted = identities[order]
        first = torch.searchsorted(ids_sorted, ids_sorted)
        occurrence = torch.empty_like(order)
        occurrence[order] = torch.arange(len(order), device=order.device) - first
        for r in range(int(occurrence.max().item()) + 1 if len(order) else 0):
            rows = torch.nonzero(occurrence == r).flatten()
            ids = identities[rows]
            mixed = eta * self.lookup_table[ids] + (1.0 - eta) * person[rows].to(self.lookup_table.dtype)
            self.lookup_table[ids] = F.normalize(mixed, dim=1)
        size = self.background_queue.shape[0]
        background = background[-size:].to(self.background_queue.dtype)  # more than B: keep the newest
        if len(background):
            slots = (self.queue_pointer + torch.arange(len(background), device=background.device)) % size
            self.background_queue[slots] = background
            self.queue_pointer.copy_((self.queue_pointer + len(background)) % size)
