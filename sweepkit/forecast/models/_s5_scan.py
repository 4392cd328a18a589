"""Diagonal linear recurrences x_k = a * x_{k-1} + b_k, in real arithmetic.

Complex numbers are carried as (real, imag) pairs of real tensors: PyTorch's complex matmul
backward leaves the BLAS fast path on CPU, and real tensors keep autocast and gradcheck simple.

Every scan takes ``log_a`` = (re, im) of shape (P,) (``a = exp(log_a)``, one eigenvalue per state),
inputs ``b`` = (re, im) of shape (P, M, L) (time last, states first) and an optional initial state
``x0`` = (re, im) of shape (P, M); it returns all states as (re, im) of shape (P, M, L). All methods
agree to float rounding; ``chunked`` is the fastest on CPU (see scripts/bench_s5.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Pair = tuple[torch.Tensor, torch.Tensor]

SCAN_METHODS = ("chunked", "parallel", "sequential")


def powers(log_a: Pair, exponents: torch.Tensor, dtype: torch.dtype) -> Pair:
    """a ** k for every k in ``exponents`` (k >= 0), shape (P,) + exponents.shape.

    Computed in float64 (these tensors are small), so long powers keep their phase.
    """
    k = exponents.to(torch.float64)
    log_re = log_a[0].to(torch.float64).view(-1, *([1] * k.dim()))
    log_im = log_a[1].to(torch.float64).view(-1, *([1] * k.dim()))
    magnitude = torch.exp(k * log_re)
    return (magnitude * torch.cos(k * log_im)).to(dtype), (magnitude * torch.sin(k * log_im)).to(dtype)


def complex_mul(a: Pair, b: Pair) -> Pair:
    """(a_re + i a_im)(b_re + i b_im), broadcasting."""
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def _complex_matmul(x: Pair, w: Pair) -> Pair:
    """Batched complex product x @ w from four real matmuls."""
    return x[0] @ w[0] - x[1] @ w[1], x[0] @ w[1] + x[1] @ w[0]


def scan_sequential(log_a: Pair, b: Pair, x0: Pair | None = None) -> Pair:
    """The reference recurrence, one step at a time."""
    a = torch.exp(log_a[0]) * torch.cos(log_a[1]), torch.exp(log_a[0]) * torch.sin(log_a[1])
    a = a[0].unsqueeze(-1), a[1].unsqueeze(-1)
    x = (torch.zeros_like(b[0][..., 0]),) * 2 if x0 is None else x0
    states_re, states_im = [], []
    for k in range(b[0].shape[-1]):
        ax = complex_mul(a, x)
        x = ax[0] + b[0][..., k], ax[1] + b[1][..., k]
        states_re.append(x[0])
        states_im.append(x[1])
    return torch.stack(states_re, dim=-1), torch.stack(states_im, dim=-1)


def scan_parallel(log_a: Pair, b: Pair, x0: Pair | None = None) -> Pair:
    """Hillis-Steele inclusive scan: ceil(log2 L) steps, each combining elements 2**i apart.

    With a time-invariant ``a`` the combine (a_i, b_i) . (a_j, b_j) = (a_j a_i, a_j b_i + b_j)
    reduces to b_j += a**(2**i) b_(j - 2**i).
    """
    length = b[0].shape[-1]
    if x0 is not None:
        first = complex_mul(powers(log_a, torch.ones(1, device=b[0].device), b[0].dtype), x0)
        b = tuple(torch.cat([part[..., :1] + f.unsqueeze(-1), part[..., 1:]], dim=-1) for part, f in zip(b, first))
    shift = 1
    while shift < length:
        a_shift = powers(log_a, torch.full((1, 1), float(shift), device=b[0].device), b[0].dtype)  # (P, 1, 1)
        moved = complex_mul(a_shift, (b[0][..., :-shift], b[1][..., :-shift]))
        b = tuple(torch.cat([part[..., :shift], part[..., shift:] + m], dim=-1) for part, m in zip(b, moved))
        shift *= 2
    return b


def chunk_length(length: int, chunk_size: int) -> int:
    """The chunk length for a sequence: a divisor of ``length`` near ``chunk_size`` when there is one
    (no padding), else the length that pads least."""
    if length <= chunk_size:
        return length
    divisors = [d for d in range(max(1, chunk_size // 2), 2 * chunk_size + 1) if length % d == 0]
    if divisors:
        return min(divisors, key=lambda d: (abs(d - chunk_size), d))
    return math.ceil(length / math.ceil(length / chunk_size))


def scan_chunked(log_a: Pair, b: Pair, x0: Pair | None = None, chunk_size: int = 32) -> Pair:
    """Two-level scan with no Python loop over time.

    Inside each chunk of T steps the states are one (T x T) decay-matrix product per state (a batched
    matmul); the state entering each chunk comes from a small (chunks x chunks) decay-matrix product
    over the chunks' final states. O(L T) work per state.
    """
    n_states, width, length = b[0].shape
    steps = chunk_length(length, chunk_size)
    n_chunks = math.ceil(length / steps)
    padded = n_chunks * steps
    if padded != length:
        b = F.pad(b[0], (0, padded - length)), F.pad(b[1], (0, padded - length))
    dtype, device = b[0].dtype, b[0].device

    t = torch.arange(steps, device=device)
    lag = (t[None, :] - t[:, None]).to(dtype)  # lag[s, t] = t - s, so that chunk @ decay sums over s
    decay = powers(log_a, lag.clamp(min=0), dtype)
    causal = (lag >= 0).to(dtype)
    decay = decay[0] * causal, decay[1] * causal  # (P, T, T)
    chunks = b[0].reshape(n_states, width * n_chunks, steps), b[1].reshape(n_states, width * n_chunks, steps)
    local = _complex_matmul(chunks, decay)  # every chunk started from a zero state
    local = local[0].view(n_states, width, n_chunks, steps), local[1].view(n_states, width, n_chunks, steps)

    if n_chunks > 1 or x0 is not None:
        # The state entering each chunk, from the chunks' final states; a broadcast sum, as bmm is
        # slow for such tiny matrices.
        ends = local[0][..., -1:], local[1][..., -1:]  # (P, M, C, 1)
        c = torch.arange(n_chunks, device=device)
        chunk_lag = (c[None, :] - c[:, None] - 1).to(dtype)  # chunk_lag[d, c]: chunk d's end to chunk c's start
        chunk_decay = powers(log_a, chunk_lag.clamp(min=0) * steps, dtype)
        reach = (chunk_lag >= 0).to(dtype)
        chunk_decay = (chunk_decay[0] * reach)[:, None], (chunk_decay[1] * reach)[:, None]  # (P, 1, C, C)
        carry = complex_mul(ends, chunk_decay)
        carry = carry[0].sum(dim=-2), carry[1].sum(dim=-2)  # (P, M, C)
        if x0 is not None:
            start = complex_mul(powers(log_a, (c * steps).unsqueeze(0), dtype), (x0[0].unsqueeze(-1), x0[1].unsqueeze(-1)))
            carry = carry[0] + start[0], carry[1] + start[1]
        within = powers(log_a, t + 1, dtype)  # (P, T): the carried state decays as a ** (t + 1)
        w_re, w_im = within[0][:, None, None], within[1][:, None, None]
        c_re, c_im = carry[0].unsqueeze(-1), carry[1].unsqueeze(-1)
        # local + within * carry as fused multiply-adds: fewer passes over the full-size states.
        local = (torch.addcmul(local[0], w_re, c_re).addcmul_(w_im, c_im, value=-1.0),
                 torch.addcmul(local[1], w_re, c_im).addcmul_(w_im, c_re))
    return tuple(part.reshape(n_states, width, padded)[..., :length] for part in local)


def run_scan(method: str, log_a: Pair, b: Pair, x0: Pair | None = None, chunk_size: int = 32) -> Pair:
    """Dispatch to the scan named ``method`` (one of SCAN_METHODS)."""
    if method == "chunked":
        return scan_chunked(log_a, b, x0, chunk_size)
    if method == "parallel":
        return scan_parallel(log_a, b, x0)
    if method == "sequential":
        return scan_sequential(log_a, b, x0)
    raise ValueError(f"unknown scan_method {method!r}; choose one of {', '.join(SCAN_METHODS)}")
