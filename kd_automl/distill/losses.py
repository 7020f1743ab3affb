"""Loss terms shared by several methods (pure functions of tensors)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
            reduction: str = "batchmean") -> torch.Tensor:
    """``KL(p_t^T || p_s^T)``: summed over classes and averaged over the batch (``batchmean``),
    or averaged over batch x classes (``mean``, what ``nn.KLDivLoss()`` does by default)."""
    log_p_s = F.log_softmax(student_logits.float() / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits.float() / temperature, dim=1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return kl / log_p_s.shape[1] if reduction == "mean" else kl  # torch's "mean" is deprecated


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
            temperature: float, reduction: str = "batchmean") -> torch.Tensor:
    """Hinton's soft-target term ``T^2 * KL(p_t^T || p_s^T)``, averaged over the batch
    (see :func:`soft_kl` for ``reduction``)."""
    return soft_kl(student_logits, teacher_logits, temperature, reduction) * temperature**2


def pooled(f: torch.Tensor) -> torch.Tensor:
    """A feature as one vector per sample: global average pool of a map, flatten otherwise."""
    return f.float().mean(dim=(2, 3)) if f.dim() == 4 else f.float().flatten(1)


def attention_map(f: torch.Tensor) -> torch.Tensor:
    """Zagoruyko's activation-based attention: L2-normalised channel mean of ``f^2``."""
    return F.normalize(f.float().pow(2).mean(1).flatten(1), dim=1)


def at_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the two attention maps (the larger map is pooled down)."""
    if f_s.dim() != 4 or f_t.dim() != 4:
        from kd_automl.errors import KDAutoMLError

        raise KDAutoMLError("attention transfer needs convolutional (N, C, H, W) features; "
                            "use a convolutional teacher and student")
    h, w = min(f_s.shape[2], f_t.shape[2]), min(f_s.shape[3], f_t.shape[3])
    if f_s.shape[2:] != (h, w):
        f_s = F.adaptive_avg_pool2d(f_s, (h, w))
    if f_t.shape[2:] != (h, w):
        f_t = F.adaptive_avg_pool2d(f_t, (h, w))
    return (attention_map(f_s) - attention_map(f_t)).pow(2).mean()


def dkd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
             alpha: float, beta: float, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoupled KD's ``(alpha * TCKD, beta * NCKD)``, each scaled by ``T^2``.

    TCKD is the binary KL between (target, all non-targets) probabilities; NCKD is
    the KL between the distributions over the non-target classes only.
    """
    z_s, z_t = student_logits.float() / temperature, teacher_logits.float() / temperature
    gt = F.one_hot(target, z_s.shape[1]).bool()
    p_s, p_t = F.softmax(z_s, dim=1), F.softmax(z_t, dim=1)
    b_s = torch.stack([p_s[gt], p_s.masked_fill(gt, 0).sum(1)], dim=1)
    b_t = torch.stack([p_t[gt], p_t.masked_fill(gt, 0).sum(1)], dim=1)
    tckd = F.kl_div(b_s.clamp_min(1e-12).log(), b_t, reduction="batchmean")
    nckd = F.kl_div(F.log_softmax(z_s.masked_fill(gt, -1e9), dim=1),
                    F.log_softmax(z_t.masked_fill(gt, -1e9), dim=1),
                    reduction="batchmean", log_target=True)
    t2 = temperature**2
    return alpha * tckd * t2, beta * nckd * t2


def logsum_distance(a: torch.Tensor, b: torch.Tensor, p: float) -> torch.Tensor:
    """SRD's distance ``log(sum |a - b|^p)`` over the whole batch and every dimension."""
    return torch.log((a.float() - b.float()).abs().pow(p).sum().clamp_min(1e-12))


def noisy_logits(logits: torch.Tensor, noise: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sau & Balasubramanian's perturbation ``z (1 + noise)`` on the rows where ``mask`` is set."""
    return torch.where(mask[:, None], logits * (1 + noise), logits)
