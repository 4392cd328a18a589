"""Diagonal linear recurrences x_k = a * x_{k-1} + b_k, in real arithmetic.

Complex numbers are carried as (real, imag) pairs of real tensors: PyTorch's complex matmul
backward leaves the BLAS fast path on CPU, and real tensors keep autocast and gradcheck simple.

``scan_parallel`` and ``scan_sequential`` take ``log_a`` = (re, im) of shape (P,) (``a = exp(log_a)``,
one eigenvalue per state), inputs ``b`` = (re, im) of shape (P, M, L) (time last, states first) and an
optional initial state ``x0`` = (re, im) of shape (P, M); they return all states as (re, im) of shape
(P, M, L). ``ssm_chunked``, the fastest on CPU (see scripts/bench_s5.py), runs the whole layer from
the input u to Re(C x) in its own layout. All methods agree to float rounding.
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


def decay_matrix(
    log_a: Pair, rows: int, cols: int, shift: int = 0, step: int = 1, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The complex matrix M[r, s] = a ** ((r - s - shift) step) where that power is >= 0, else 0, for every
    state, in real block form (P, 2 rows, 2 cols): [[Re M, -Im M], [Im M, Re M]] maps [x_re; x_im] to
    [Re(M x); Im(M x)], so one real matmul does the four of a complex product.

    M is Toeplitz: the powers are formed once per lag (in float64, so long powers keep their phase)
    and gathered.
    """
    n_lags = rows - shift  # lags 0 .. rows - 1 - shift; one more slot holds the zeros
    k = torch.arange(n_lags + 1, device=log_a[0].device, dtype=torch.float64)
    log_re = log_a[0].to(torch.float64).view(-1, 1, 1, 1)
    log_im = log_a[1].to(torch.float64).view(-1, 1, 1, 1)
    # block [o, i] = |a|**k cos(k arg a + (i - o) pi / 2): [[Re, -Im], [Im, Re]] of a**k
    quarter = torch.tensor([[0.0, 0.5], [-0.5, 0.0]], device=k.device, dtype=torch.float64).unsqueeze(-1) * math.pi
    table = torch.exp(k * step * log_re) * torch.cos(k * step * log_im + quarter) * (k < n_lags)  # (P, 2, 2, lags)
    r = torch.arange(rows, device=k.device)
    lag = r[:, None] - torch.arange(cols, device=k.device)[None, :] - shift
    lag = torch.where(lag >= 0, lag, n_lags)
    part = torch.arange(2, device=k.device)
    index = (2 * part.view(2, 1, 1, 1) + part.view(1, 1, 2, 1)) * (n_lags + 1) + lag.view(1, rows, 1, cols)
    return table.to(dtype).flatten(1).index_select(1, index.flatten()).view(-1, 2 * rows, 2 * cols)


def ssm_chunked(
    u: torch.Tensor, log_a: Pair, b_bar: Pair, c_out: Pair, x0: Pair | None = None, chunk_size: int = 16
) -> tuple[torch.Tensor, Pair]:
    """The whole layer y = Re(C x) with x_k = a x_(k-1) + B_bar u_k, by chunks, in four large matmuls.

    ``u`` (batch, L, H) real; ``log_a`` (P,); ``b_bar`` (P, H); ``c_out`` (H, P) (any factor 2
    included); ``x0`` (P, batch). Returns y (batch, L, H) and the final state, (P, batch) each.

    Time is split into C chunks of T steps and the states are laid out (P, re/im, T, C, batch), so that
    (1) B_bar u is one matmul; (2) the states of every chunk started from zero are one (2T x 2T) real
    decay matrix per state times (2T, C batch), a batched matmul; (3) the state entering each chunk
    comes from the chunks' final states through a small (2C x 2C) matrix per state and is added with a
    rank-2 batched matmul; (4) 2 Re(C x) is one matmul. O(L T) work per state, no loop over time.
    """
    batch, length, width = u.shape
    n_states = log_a[0].shape[0]
    steps = chunk_length(length, chunk_size)
    n_chunks = math.ceil(length / steps)
    padded = n_chunks * steps
    if padded != length:
        u = F.pad(u, (0, 0, 0, padded - length))  # zeros after the end do not reach earlier states
    dtype = u.dtype
    columns = steps * n_chunks * batch

    # (1) [Re; Im] of B_bar u for every state, columns ordered (t, chunk, batch).
    u_columns = u.view(batch, n_chunks, steps, width).permute(2, 1, 0, 3).reshape(columns, width)
    b_weight = torch.stack(b_bar, dim=1).reshape(2 * n_states, width)  # rows (state, re/im)
    b = (b_weight @ u_columns.T).view(n_states, 2 * steps, n_chunks * batch)

    # (2) within every chunk: x_t = sum_(s <= t) a**(t - s) b_s.
    states = torch.bmm(decay_matrix(log_a, steps, steps, dtype=dtype), b)  # (P, 2T, C batch)

    # (3) the state entering chunk c: sum_(d < c) a**((c - d - 1) T) (end of chunk d), plus a**(c T) x0;
    # it decays as a**(t + 1) inside the chunk.
    if n_chunks > 1 or x0 is not None:
        # a copy (not a view) of the chunks' final states, as ``states`` is updated in place below
        ends = states.view(n_states, 2, steps, n_chunks, batch)[:, :, -1].clone(memory_format=torch.contiguous_format)
        ends = ends.view(n_states, 2 * n_chunks, batch)
        carry = torch.bmm(decay_matrix(log_a, n_chunks, n_chunks, shift=1, step=steps, dtype=dtype), ends)
        if x0 is not None:
            start = decay_matrix(log_a, n_chunks, 1, step=steps, dtype=dtype)
            carry = torch.baddbmm(carry, start, torch.stack(x0, dim=1))  # (P, 2C, batch)
        within = decay_matrix(log_a, steps, 1, shift=-1, dtype=dtype)
        states = states.baddbmm_(within, carry.view(n_states, 2, n_chunks * batch))

    # (4) y = Re(C x) = C_re x_re - C_im x_im, rows back to (batch, chunk, t).
    c_weight = torch.stack([c_out[0].T, -c_out[1].T], dim=1).reshape(2 * n_states, width)
    y = states.view(2 * n_states, columns).T @ c_weight
    y = y.view(steps, n_chunks, batch, width).permute(2, 1, 0, 3).reshape(batch, padded, width)[:, :length]
    last = states.view(n_states, 2, padded, batch)  # time index t * C + c: the last step is t, c below
    final_index = ((length - 1) % steps) * n_chunks + (length - 1) // steps
    return y, (last[:, 0, final_index], last[:, 1, final_index])


def run_scan(method: str, log_a: Pair, b: Pair, x0: Pair | None = None) -> Pair:
    """Dispatch to the state scan named ``method`` ("parallel" or "sequential"; "chunked" runs the
    whole layer, see ``ssm_chunked``)."""
    if method == "parallel":
        return scan_parallel(log_a, b, x0)
    if method == "sequential":
        return scan_sequential(log_a, b, x0)
    raise ValueError(f"unknown scan_method {method!r}; choose one of {', '.join(SCAN_METHODS)}")
