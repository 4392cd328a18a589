"""S5 initialisation: the HiPPO-LegS normal part, its block-diagonal eigenbasis, lecun-normal draws."""

from __future__ import annotations

import math

import torch

# JAX's truncated normal keeps values within +-2 standard deviations and rescales by this constant
# so that the standard deviation after truncation is the intended one.
TRUNCATION_STD = 0.87962566103423978


def hippo_legs(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HiPPO-LegS (A, p, b) of size n in float64: A = S - p p^T with S normal."""
    idx = torch.arange(n, dtype=torch.float64)
    root = torch.sqrt(2 * idx + 1)
    a = -root[:, None] * root[None, :]
    a = torch.tril(a, diagonal=-1) - torch.diag(idx + 1)
    p = torch.sqrt(idx + 0.5)
    return a, p, root.clone()


def hippo_normal_part(n: int) -> torch.Tensor:
    """S = A + p p^T: diagonal exactly -1/2, off-diagonal skew-symmetric."""
    a, p, _ = hippo_legs(n)
    return a + p[:, None] * p[None, :]


def hippo_eigendecomposition(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(Lambda, V) with S = V diag(Lambda) V^H, from a Hermitian eigensolver on -i S.

    Lambda = -1/2 + i w (w ascending); V is unitary. complex128.
    """
    s = hippo_normal_part(n)
    skew = s - torch.diag(torch.diagonal(s))  # S + I/2; -i times it is Hermitian
    w, v = torch.linalg.eigh(-1j * skew.to(torch.complex128))
    lam = torch.complex(torch.diagonal(s).mean().expand(n).clone(), w)
    return lam, v


def block_diagonal_init(state_size: int, num_blocks: int, conj_sym: bool) -> tuple[torch.Tensor, ...]:
    """(Lambda, V, V^-1) for ``num_blocks`` HiPPO blocks of size state_size / num_blocks.

    With conjugate symmetry each block keeps its first half of eigenpairs (the Im < 0 half), so
    Lambda has state_size / 2 entries, V is (P, P/2) and V^-1 = V^H is (P/2, P).
    """
    block = state_size // num_blocks
    lam, v = hippo_eigendecomposition(block)
    keep = block // 2 if conj_sym else block
    lam, v = lam[:keep], v[:, :keep]
    lam = lam.repeat(num_blocks)
    v_full = torch.block_diag(*([v] * num_blocks))
    v_inv = torch.block_diag(*([v.conj().T] * num_blocks))
    return lam, v_full, v_inv


def lecun_normal(shape: tuple[int, ...], fan_in: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Truncated normal with standard deviation 1/sqrt(fan_in), as JAX's lecun_normal."""
    std = 1.0 / math.sqrt(fan_in) / TRUNCATION_STD
    out = torch.empty(shape, dtype=dtype)
    return torch.nn.init.trunc_normal_(out, mean=0.0, std=std, a=-2 * std, b=2 * std)
