"""S5: simplified state space layers (Smith, Warrington & Linderman, ICLR 2023) as a forecaster.

``S5SSM`` is one multi-input multi-output diagonal SSM layer, ``S5Block`` the residual block around
it and ``S5Forecaster`` the model behind ``model=s5``: RevIN, an encoder to ``d_model``, ``n_layers``
S5 blocks, and a head from the lookback to the horizon for every channel. Initialisation,
discretisation, conjugate symmetry and parameter groups follow the authors' reference code.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sweepkit.forecast.models._s5_init import block_diagonal_init, lecun_normal
from sweepkit.forecast.models._s5_scan import SCAN_METHODS, run_scan, ssm_chunked
from sweepkit.forecast.models.linear import ChannelLinear
from sweepkit.forecast.models.revin import make_revin

DISCRETIZATIONS = ("zoh", "bilinear")
C_INITS = ("trunc_standard_normal", "lecun_normal", "complex_normal")
ACTIVATIONS = ("half_glu1", "half_glu2", "full_glu", "gelu")
NORMS = ("batch", "layer")
SSM_PARAMETERS = ("Lambda_re", "Lambda_im", "B", "log_step")  # trained at ssm_lr, no weight decay


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)} (model.{name}=...)")
    return value


def check_ssm_sizes(state_size: int, num_blocks: int, conj_sym: bool, dt_min: float, dt_max: float) -> None:
    """Raise ValueError for state/block sizes or timescales the S5 initialisation cannot use."""
    if state_size < 1 or num_blocks < 1:
        raise ValueError(f"state_size ({state_size}) and num_blocks ({num_blocks}) must be positive")
    if state_size % num_blocks:
        raise ValueError(
            f"state_size ({state_size}) must be divisible by num_blocks ({num_blocks}); "
            "change model.state_size or model.num_blocks"
        )
    if conj_sym and (state_size // num_blocks) % 2:
        raise ValueError(
            f"conj_sym needs an even block size, but state_size/num_blocks = "
            f"{state_size}/{num_blocks} = {state_size // num_blocks}; change the sizes or "
            "set model.conj_sym=false"
        )
    if not 0 < dt_min < dt_max:
        raise ValueError(f"need 0 < dt_min < dt_max, got dt_min={dt_min}, dt_max={dt_max}")


class S5SSM(nn.Module):
    """One S5 layer: (batch, L, H) -> (batch, L, H), y_k = Re(C x_k) + D u_k, x_k = Lb x_(k-1) + Bb u_k.

    With ``conj_sym`` only P/2 states of each conjugate pair are kept and the output is 2 Re(C x).
    Complex quantities are stored as real (..., 2) parameters; the layer always runs in float32 or
    float64 (never under autocast).
    """

    def __init__(
        self,
        d_model: int,
        state_size: int = 256,
        num_blocks: int = 8,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        discretization: str = "zoh",
        C_init: str = "trunc_standard_normal",
        conj_sym: bool = True,
        clip_eigs: bool = False,
        bidirectional: bool = False,
        scan_method: str = "chunked",
        chunk_size: int = 16,
        step_rescale: float = 1.0,
    ) -> None:
        super().__init__()
        check_ssm_sizes(state_size, num_blocks, conj_sym, dt_min, dt_max)
        self.discretization = _choice("discretization", discretization, DISCRETIZATIONS)
        self.C_init = _choice("C_init", C_init, C_INITS)
        self.scan_method = _choice("scan_method", scan_method, SCAN_METHODS)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.d_model, self.state_size, self.conj_sym = d_model, state_size, conj_sym
        self.clip_eigs, self.bidirectional = clip_eigs, bidirectional
        self.chunk_size, self.step_rescale = chunk_size, step_rescale

        lam, v, v_inv = block_diagonal_init(state_size, num_blocks, conj_sym)
        self.n_states = lam.shape[0]  # P/2 with conj_sym, else P
        self.Lambda_re = nn.Parameter(lam.real.float())
        self.Lambda_im = nn.Parameter(lam.imag.float())
        b = v_inv @ lecun_normal((state_size, d_model), fan_in=state_size, dtype=torch.float64).to(v_inv.dtype)
        self.B = nn.Parameter(torch.view_as_real(b).float())  # (P/2, H, 2)
        directions = 2 if bidirectional else 1
        self.C = nn.Parameter(torch.cat([self._init_c(v) for _ in range(directions)], dim=1))  # (H, dirs*P/2, 2)
        self.D = nn.Parameter(torch.randn(d_model))
        low, high = math.log(dt_min), math.log(dt_max)
        self.log_step = nn.Parameter(torch.rand(self.n_states) * (high - low) + low)

    def _init_c(self, v: torch.Tensor) -> torch.Tensor:
        h, p = self.d_model, self.state_size
        if self.C_init == "complex_normal":
            return torch.randn(h, self.n_states, 2) * math.sqrt(0.5)
        fan_in = p if self.C_init == "trunc_standard_normal" else p * h
        c = torch.view_as_complex(lecun_normal((h, p, 2), fan_in=fan_in, dtype=torch.float64).contiguous())
        return torch.view_as_real(c @ v).float()

    # ---- continuous and discrete parameters -------------------------------------------------------
    def continuous_eigenvalues(self) -> torch.Tensor:
        """Lambda as used in the forward pass (real part clipped to <= -1e-4 with clip_eigs)."""
        real = self.Lambda_re.clamp(max=-1e-4) if self.clip_eigs else self.Lambda_re
        return torch.complex(real, self.Lambda_im)

    def discretize(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(log Lambda_bar (P/2,), B_bar (P/2, H)), complex."""
        lam = self.continuous_eigenvalues()
        step = self.step_rescale * torch.exp(self.log_step)
        b_tilde = torch.view_as_complex(self.B)
        if self.discretization == "zoh":
            log_bar = lam * step
            scale = torch.expm1(log_bar) / lam
        else:
            half = step * lam / 2
            log_bar = torch.log((1 + half) / (1 - half))
            scale = step / (1 - half)
        return log_bar, scale[:, None] * b_tilde

    def discrete_eigenvalues(self) -> torch.Tensor:
        """Lambda_bar, the per-step decay of every state."""
        return torch.exp(self.discretize()[0])

    def _output_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        factor = 2.0 if self.conj_sym else 1.0
        return factor * self.C[..., 0], factor * self.C[..., 1]

    @property
    def compute_dtype(self) -> torch.dtype:
        """float64 for a float64 layer, else float32 (half precision inputs are upcast)."""
        return torch.float64 if self.Lambda_re.dtype == torch.float64 else torch.float32

    # ---- full sequence --------------------------------------------------------------------------
    def forward(self, u: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        """u (batch, L, H) -> y (batch, L, H); ``state`` (batch, P/2) complex continues a sequence.

        With ``return_state`` also returns the final state (unidirectional only).
        """
        if self.bidirectional and (state is not None or return_state):
            raise ValueError("a bidirectional S5 layer has no carried state; use bidirectional=False")
        with torch.autocast(u.device.type, enabled=False):
            u = u.to(self.compute_dtype)
            log_bar, b_bar = self.discretize()
            log_a = (log_bar.real, log_bar.imag)
            x0 = None if state is None else (state.real.T.to(u.dtype), state.imag.T.to(u.dtype))
            if self.scan_method == "chunked":
                y, final = self._forward_chunked(u, log_a, b_bar, x0)
            else:
                y, final = self._forward_scan(u, log_a, b_bar, x0)
            y = y + self.D * u
        if return_state:
            return y, torch.complex(final[0].T, final[1].T)
        return y

    def _forward_chunked(self, u, log_a, b_bar, x0):
        """Re(C x) and the final state with the chunked scan; bidirectional runs it again on the
        reversed input with the second C."""
        c_re, c_im = self._output_weights()
        n = self.n_states
        b_pair = (b_bar.real, b_bar.imag)
        y, final = ssm_chunked(u, log_a, b_pair, (c_re[:, :n], c_im[:, :n]), x0, self.chunk_size)
        if self.bidirectional:
            backward, _ = ssm_chunked(u.flip(1), log_a, b_pair, (c_re[:, n:], c_im[:, n:]), None, self.chunk_size)
            y = y + backward.flip(1)
        return y, final

    def _forward_scan(self, u, log_a, b_bar, x0):
        """Re(C x) and the final state with a scan over states laid out (P/2, batch, L)."""
        batch, length, width = u.shape
        columns = u.reshape(batch * length, width).T
        b = tuple((part @ columns).view(self.n_states, batch, length) for part in (b_bar.real, b_bar.imag))
        states = run_scan(self.scan_method, log_a, b, x0)
        final = states[0][..., -1], states[1][..., -1]
        if self.bidirectional:
            flipped = run_scan(self.scan_method, log_a, (b[0].flip(-1), b[1].flip(-1)), None)
            states = tuple(torch.cat([s, f.flip(-1)]) for s, f in zip(states, flipped))
        c_re, c_im = self._output_weights()
        flat_re = states[0].reshape(-1, batch * length).T
        flat_im = states[1].reshape(-1, batch * length).T
        return torch.addmm(flat_re @ c_re.T, flat_im, c_im.T, alpha=-1.0).view(batch, length, width), final

    # ---- recurrent stepping ---------------------------------------------------------------------
    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The zero state, (batch, P/2) complex."""
        dtype = torch.complex128 if self.Lambda_re.dtype == torch.float64 else torch.complex64
        return torch.zeros(batch_size, self.n_states, dtype=dtype, device=self.Lambda_re.device)

    def step(self, u_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: u_t (batch, H), state (batch, P/2) complex -> (y_t, new state)."""
        if self.bidirectional:
            raise ValueError("a bidirectional S5 layer cannot be stepped; use bidirectional=False")
        with torch.autocast(u_t.device.type, enabled=False):
            u_t = u_t.to(self.compute_dtype)
            log_bar, b_bar = self.discretize()
            state = torch.exp(log_bar) * state + u_t.to(b_bar.dtype) @ b_bar.T
            c_re, c_im = self._output_weights()
            y = state.real @ c_re.T - state.imag @ c_im.T + self.D * u_t
        return y, state


class TimeSharedDropout(nn.Module):
    """Dropout with one mask per (example, feature), shared across time, as in the reference."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, L, H)
        if not self.training or self.p == 0.0:
            return x
        return x * F.dropout(x.new_ones(x.shape[0], 1, x.shape[2]), self.p, training=True)


def _lecun_linear(fan_in: int, fan_out: int) -> nn.Linear:
    """A dense layer initialised as Flax's default: lecun-normal weight, zero bias."""
    layer = nn.Linear(fan_in, fan_out)
    with torch.no_grad():
        layer.weight.copy_(lecun_normal((fan_out, fan_in), fan_in=fan_in))
        layer.bias.zero_()
    return layer


class S5Block(nn.Module):
    """Norm (pre or post), S5 layer, activation, dropout and residual, as the reference block."""

    def __init__(
        self,
        d_model: int,
        activation: str = "half_glu1",
        prenorm: bool = True,
        norm: str = "batch",
        dropout: float = 0.0,
        **ssm_kwargs,
    ) -> None:
        super().__init__()
        self.activation = _choice("activation", activation, ACTIVATIONS)
        self.norm_kind = _choice("norm", norm, NORMS)
        self.prenorm = prenorm
        self.ssm = S5SSM(d_model, **ssm_kwargs)
        # Flax BatchNorm momentum 0.95 is PyTorch momentum 0.05; Flax LayerNorm eps is 1e-6.
        self.norm = (
            nn.BatchNorm1d(d_model, momentum=0.05, eps=1e-5) if norm == "batch" else nn.LayerNorm(d_model, eps=1e-6)
        )
        if activation == "full_glu":
            self.out1 = _lecun_linear(d_model, d_model)
        if activation in ("full_glu", "half_glu1", "half_glu2"):
            self.out2 = _lecun_linear(d_model, d_model)
        self.drop = TimeSharedDropout(dropout)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_kind == "batch":  # statistics over batch x time, on (batch * time, H): no transposes
            return self.norm(x.reshape(-1, x.shape[-1])).view_as(x)
        return self.norm(x)

    def _activate(self, x: torch.Tensor) -> torch.Tensor:
        gelu = F.gelu(x, approximate="tanh")  # Flax's gelu is the tanh approximation
        if self.activation == "gelu":
            return self.drop(gelu)
        z = self.drop(gelu)
        if self.activation == "full_glu":
            x = self.out1(z) * torch.sigmoid(self.out2(z))
        elif self.activation == "half_glu1":
            x = z * torch.sigmoid(self.out2(z))
        else:  # half_glu2
            x = x * torch.sigmoid(self.out2(z))
        return self.drop(x)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        skip = x
        if self.prenorm:
            x = self._normalize(x)
        x = self.ssm(x, state=state, return_state=return_state)
        if return_state:
            x, state = x
        x = skip + self._activate(x)
        if not self.prenorm:
            x = self._normalize(x)
        return (x, state) if return_state else x

    def step(self, x_t: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step (batch, H); equals ``forward`` in eval mode (BatchNorm uses running stats)."""
        skip = x_t[:, None]
        x = self._normalize(skip) if self.prenorm else skip
        y, state = self.ssm.step(x[:, 0], state)
        x = skip + self._activate(y[:, None])
        if not self.prenorm:
            x = self._normalize(x)
        return x[:, 0], state


class S5Forecaster(nn.Module):
    """(batch, lookback, n_features) -> (batch, horizon, n_features) with a stack of S5 blocks.

    RevIN normalises each series; a dense encoder maps the features to ``d_model``; ``n_layers`` S5
    blocks run over the lookback; a linear map along time (lookback -> horizon) and a dense decoder
    (d_model -> n_features) give the forecast, which RevIN maps back to the data's scale.

    ``revin``: true (RevIN), false (none) or ``level`` (RevIN that learns how much of each window's
    level to carry forward). ``channel_independent``: every channel runs through the same layers as
    a series of its own (encoder 1 -> d_model, decoder d_model -> 1), as in PatchTST; otherwise
    the encoder mixes the channels.

    ``linear_skip``: add a linear forecast of the lookback (one map shared by the channels, as in
    ``model=linear``) so the S5 stack learns what a linear model misses; the map then carries the
    level, and RevIN only rescales the stack's output. ``true`` trains the map from a random
    start; ``ridge`` fixes it to the closed-form ridge fit of the train split
    (:meth:`start_from_ridge`, called by the training loop) and starts the decoder at zero, so the
    model starts as that ridge forecast and the S5 stack learns its residual.
    """

    def __init__(
        self,
        n_features: int,
        lookback: int,
        horizon: int,
        d_model: int = 64,
        n_layers: int = 2,
        state_size: int = 64,
        num_blocks: int = 4,
        dropout: float = 0.1,
        ssm_lr: float | None = 1e-3,
        revin: bool | str = True,
        channel_independent: bool = False,
        linear_skip: bool | str = False,
        **block_options,
    ) -> None:
        """``block_options`` go to every :class:`S5Block` (activation, prenorm, norm) and its
        :class:`S5SSM` (dt_min, dt_max, scan_method, chunk_size, discretization, C_init, conj_sym,
        clip_eigs, bidirectional, step_rescale), with their defaults."""
        super().__init__()
        for name, value in (
            ("n_features", n_features),
            ("lookback", lookback),
            ("horizon", horizon),
            ("d_model", d_model),
            ("n_layers", n_layers),
        ):
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if linear_skip not in (False, True, "ridge"):
            raise ValueError(f"linear_skip must be true, false or ridge, got {linear_skip!r}")
        if ssm_lr is not None and ssm_lr <= 0:
            raise ValueError(f"ssm_lr must be positive (or null to use the main lr), got {ssm_lr}")
        self.n_features, self.lookback, self.horizon = n_features, lookback, horizon
        self.ssm_lr = ssm_lr
        self.revin = make_revin(revin, n_features, horizon)
        self.channel_independent = bool(channel_independent)
        width = 1 if self.channel_independent else n_features
        self.encoder = _lecun_linear(width, d_model)
        self.blocks = nn.ModuleList(
            S5Block(d_model, dropout=dropout, state_size=state_size, num_blocks=num_blocks, **block_options)
            for _ in range(n_layers)
        )
        self.time_head = _lecun_linear(lookback, horizon)
        self.decoder = _lecun_linear(d_model, width)
        self.linear_skip = ChannelLinear(n_features, lookback, horizon, individual=False) if linear_skip else None
        self.skip_from_ridge = linear_skip == "ridge"
        if self.skip_from_ridge:  # a fixed ridge forecast: the S5 stack learns its residual
            self.linear_skip.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.lookback or x.shape[2] != self.n_features:
            raise ValueError(f"expected input (batch, {self.lookback}, {self.n_features}), got {tuple(x.shape)}")
        stats = None
        skip = self.linear_skip(x) if self.linear_skip is not None else None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        batch = x.shape[0]
        if self.channel_independent:  # (batch, L, C) -> (batch * C, L, 1)
            x = x.transpose(1, 2).reshape(batch * self.n_features, self.lookback, 1)
        h = self.encoder(x)
        for block in self.blocks:
            h = block(h)
        # The time head (lookback -> horizon) as a batched W @ h. Transposing h (or torch.matmul)
        # hands every block a transposed gradient, and elementwise backward ops on it run up to 10x
        # slower on CPU; bmm's gradient keeps h's layout.
        weight = self.time_head.weight.expand(h.shape[0], -1, -1)
        h = torch.bmm(weight, h) + self.time_head.bias[:, None]  # (batch, horizon, d_model)
        y = self.decoder(h)
        if self.channel_independent:
            y = y.reshape(batch, self.n_features, self.horizon).transpose(1, 2)
        if self.revin is not None:
            y = self.revin.denormalize(y, stats, level=skip is None)
        return y if skip is None else y + skip

    def start_from_ridge(self, weights: np.ndarray) -> None:
        """Set the linear skip to a ridge map ``weights`` of shape (lookback + 1, horizon), as
        :func:`sweepkit.forecast.baselines.fit_ridge` returns it, and the decoder to zero."""
        if self.linear_skip is None:
            raise ValueError("start_from_ridge needs model.linear_skip=ridge (or true)")
        map_ = torch.as_tensor(np.asarray(weights), dtype=self.linear_skip.weight.dtype)
        if map_.shape != (self.lookback + 1, self.horizon):
            shape, want = tuple(map_.shape), f"lookback {self.lookback}, horizon {self.horizon}"
            raise ValueError(f"ridge weights {shape} do not fit {want}")
        with torch.no_grad():
            self.linear_skip.weight[0].copy_(map_[:-1].T)
            self.linear_skip.bias[0].copy_(map_[-1])
            self.decoder.weight.zero_()
            self.decoder.bias.zero_()

    def optimizer_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """The reference's groups: Lambda, B, log_step and block norms at ssm_lr without weight decay;
        every other parameter at ``lr`` with ``weight_decay`` (AdamW)."""
        ssm, regular = [], []
        for name, param in self.named_parameters():
            owner, _, leaf = name.rpartition(".")
            is_ssm = leaf in SSM_PARAMETERS or owner.endswith(".norm")
            (ssm if is_ssm else regular).append(param)
        ssm_lr = lr if self.ssm_lr is None else self.ssm_lr
        return [
            {"params": ssm, "lr": ssm_lr, "weight_decay": 0.0, "name": "ssm"},
            {"params": regular, "lr": lr, "weight_decay": weight_decay, "name": "regular"},
        ]
