"""S5 oracles: HiPPO facts, discretisation, scans against the reference loop, conjugate symmetry,
stepping, causality, gradients, overfitting, and a real ``train.py model=s5`` run."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from sweepkit.forecast.models import build_model
from sweepkit.forecast.models._s5_init import block_diagonal_init, hippo_eigendecomposition, hippo_normal_part
from sweepkit.forecast.models._s5_scan import SCAN_METHODS
from sweepkit.forecast.models.s5 import S5SSM, S5Block, S5Forecaster

from conftest import REPO, TINY_DATA, run_train

SCANS = list(SCAN_METHODS)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is fastest, and several threads stall on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def layer64(**kwargs) -> S5SSM:
    """A small float64 layer with a fixed seed."""
    torch.manual_seed(kwargs.pop("seed", 0))
    options = dict(d_model=5, state_size=8, num_blocks=2, chunk_size=4)
    options.update(kwargs)
    return S5SSM(**options).double()


def outputs_by_scan(layer: S5SSM, u: torch.Tensor) -> dict[str, torch.Tensor]:
    results = {}
    for method in SCANS:
        layer.scan_method = method
        results[method] = layer(u)
    return results


# ---- initialisation ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 8, 32])
def test_hippo_normal_part_eigendecomposition(n):
    s = hippo_normal_part(n)
    assert torch.allclose(torch.diagonal(s), torch.full((n,), -0.5, dtype=torch.float64), atol=0)
    off = s - torch.diag(torch.diagonal(s))
    assert torch.allclose(off, -off.T, atol=0)
    lam, v = hippo_eigendecomposition(n)
    assert (lam.real + 0.5).abs().max() < 1e-10
    assert (v.conj().T @ v - torch.eye(n, dtype=v.dtype)).abs().max() < 1e-10
    assert (v @ torch.diag(lam) @ v.conj().T - s).abs().max() < 1e-10


def test_block_diagonal_conjugate_half():
    lam, v, v_inv = block_diagonal_init(state_size=16, num_blocks=2, conj_sym=True)
    assert lam.shape == (8,) and v.shape == (16, 8) and v_inv.shape == (8, 16)
    full, _ = hippo_eigendecomposition(8)
    assert torch.allclose(lam[:4], full[:4]) and torch.allclose(lam[4:], full[:4])
    assert (lam.imag < 0).all()  # the Im < 0 half; the dropped half are their conjugates
    kept = torch.sort(full.imag).values
    assert torch.allclose(kept[:4], -kept[4:].flip(0))
    assert (v_inv @ v - torch.eye(8, dtype=v.dtype)).abs().max() < 1e-12


def test_init_scales_follow_the_reference():
    torch.manual_seed(0)
    layer = S5SSM(d_model=256, state_size=64, num_blocks=4, dt_min=0.002, dt_max=0.05)
    b, c = torch.view_as_complex(layer.B), torch.view_as_complex(layer.C)
    assert abs((b.abs() ** 2).mean().item() * 64 - 1) < 0.1  # V^-1 (lecun P x H): E|B~|^2 = 1/P
    assert abs((c.abs() ** 2).mean().item() * 64 / 2 - 1) < 0.1  # (C re+im, std 1/sqrt(P)) V: 2/P
    assert abs(layer.D.std().item() - 1) < 0.2
    step = layer.log_step.exp()
    assert step.min() >= 0.002 and step.max() <= 0.05 and layer.log_step.shape == (32,)


# ---- discretisation -----------------------------------------------------------------------------
@pytest.mark.parametrize("discretization", ["zoh", "bilinear"])
def test_discrete_eigenvalues_inside_unit_circle_and_clip_eigs(discretization):
    layer = layer64(discretization=discretization, dt_min=1e-3, dt_max=0.1)
    magnitude = layer.discrete_eigenvalues().abs()
    assert (magnitude < 1).all()
    if discretization == "zoh":  # exp(-Delta / 2)
        assert magnitude.min() >= math.exp(-0.05) - 1e-12 and magnitude.max() <= math.exp(-0.0005) + 1e-12
    with torch.no_grad():
        layer.Lambda_re.fill_(0.3)  # unstable continuous eigenvalues
    assert (layer.discrete_eigenvalues().abs() > 1).all()
    layer.clip_eigs = True
    assert (layer.discrete_eigenvalues().abs() < 1).all()
    assert (layer.continuous_eigenvalues().real == -1e-4).all()


def test_zoh_input_matrix_tends_to_step_times_b():
    layer = layer64()
    b_tilde = torch.view_as_complex(layer.B)
    with torch.no_grad():
        layer.log_step.fill_(math.log(1e-7))
    _, b_bar = layer.discretize()
    assert ((b_bar / 1e-7 - b_tilde).abs().max() / b_tilde.abs().max()) < 1e-5


# ---- scans --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "state_size,num_blocks,d_model,length", [(8, 2, 5, 1), (8, 1, 3, 13), (16, 4, 6, 37), (12, 3, 4, 64)]
)
@pytest.mark.parametrize("conj_sym", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_scan_equals_the_sequential_recurrence(state_size, num_blocks, d_model, length, conj_sym, bidirectional):
    layer = layer64(
        state_size=state_size,
        num_blocks=num_blocks,
        d_model=d_model,
        conj_sym=conj_sym,
        bidirectional=bidirectional,
        chunk_size=5,
    )
    u = torch.randn(3, length, d_model, dtype=torch.float64)
    results = outputs_by_scan(layer, u)
    for method in SCANS:
        assert (results[method] - results["sequential"]).abs().max() < 1e-10, method


@pytest.mark.parametrize("method", ["chunked", "parallel"])
def test_float32_scans_match_float64_within_tolerance(method):
    torch.manual_seed(1)
    layer = S5SSM(d_model=16, state_size=32, num_blocks=4, scan_method=method)
    u = torch.randn(4, 300, 16)
    exact = S5SSM(d_model=16, state_size=32, num_blocks=4, scan_method="sequential")
    exact.load_state_dict(layer.state_dict())
    exact = exact.double()
    error = (layer(u).double() - exact(u.double())).abs().max() / exact(u.double()).abs().max()
    assert error < 1e-5  # stated float32 tolerance, relative to the largest output


@pytest.mark.parametrize("bidirectional", [False, True])
def test_conjugate_half_equals_full_conjugate_pair_system(bidirectional):
    half = layer64(conj_sym=True, bidirectional=bidirectional)
    full = layer64(conj_sym=False, bidirectional=bidirectional)
    flip_imag = torch.tensor([1.0, -1.0], dtype=torch.float64)
    with torch.no_grad():
        full.Lambda_re.copy_(torch.cat([half.Lambda_re, half.Lambda_re]))
        full.Lambda_im.copy_(torch.cat([half.Lambda_im, -half.Lambda_im]))
        full.log_step.copy_(torch.cat([half.log_step, half.log_step]))
        full.B.copy_(torch.cat([half.B, half.B * flip_imag]))
        directions = half.C.chunk(2 if bidirectional else 1, dim=1)
        full.C.copy_(torch.cat([part for c in directions for part in (c, c * flip_imag)], dim=1))
        full.D.copy_(half.D)
    u = torch.randn(2, 21, 5, dtype=torch.float64)
    assert (half(u) - full(u)).abs().max() < 1e-10


@pytest.mark.parametrize("method", SCANS)
def test_stepping_and_carried_state_equal_the_full_scan(method):
    layer = layer64(scan_method=method)
    u = torch.randn(2, 19, 5, dtype=torch.float64)
    full, final = layer(u, return_state=True)
    state, stepped = layer.initial_state(2), []
    for k in range(u.shape[1]):
        y, state = layer.step(u[:, k], state)
        stepped.append(y)
    assert (torch.stack(stepped, 1) - full).abs().max() < 1e-10
    assert (state - final).abs().max() < 1e-10
    first, carried = layer(u[:, :7], return_state=True)
    second = layer(u[:, 7:], state=carried)
    assert (torch.cat([first, second], 1) - full).abs().max() < 1e-10


def test_block_step_equals_block_forward_in_eval_mode():
    torch.manual_seed(0)
    block = S5Block(6, state_size=8, num_blocks=2, dropout=0.2).double()
    block.train()
    block(torch.randn(4, 10, 6, dtype=torch.float64))  # move the BatchNorm running statistics
    block.eval()
    u = torch.randn(2, 12, 6, dtype=torch.float64)
    state, stepped = block.ssm.initial_state(2), []
    for k in range(12):
        y, state = block.step(u[:, k], state)
        stepped.append(y)
    assert (torch.stack(stepped, 1) - block(u)).abs().max() < 1e-10


def test_causality_and_impulse_response():
    for method in SCANS:
        layer = layer64(scan_method=method)
        u = torch.randn(2, 30, 5, dtype=torch.float64)
        changed = u.clone()
        changed[:, 17:] = torch.randn(2, 13, 5, dtype=torch.float64)
        assert torch.equal(layer(u)[:, :17], layer(changed)[:, :17]), method
    bidirectional = layer64(bidirectional=True)
    assert not torch.allclose(bidirectional(u)[:, :17], bidirectional(changed)[:, :17])

    layer = layer64()
    impulse = torch.zeros(1, 25, 5, dtype=torch.float64)
    impulse[0, 0, 3] = 1.0
    log_bar, b_bar = layer.discretize()
    c_tilde = torch.view_as_complex(layer.C)
    k = torch.arange(25, dtype=torch.float64)[:, None]
    expected = 2 * (torch.exp(k * log_bar) * b_bar[:, 3]) @ c_tilde.T
    expected = expected.real
    expected[0] += layer.D * impulse[0, 0]
    assert (layer(impulse)[0] - expected).abs().max() < 1e-10


# ---- gradients ----------------------------------------------------------------------------------
def test_gradients_match_between_scans():
    layer = layer64(bidirectional=False, discretization="bilinear")
    u = torch.randn(2, 23, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 23, 5, dtype=torch.float64)
    grads = {}
    for method in SCANS:
        layer.zero_grad()
        u.grad = None
        layer.scan_method = method
        ((layer(u) - target) ** 2).sum().backward()
        grads[method] = [u.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
        assert all(torch.isfinite(g).all() for g in grads[method])
    for method in SCANS:
        for g, ref in zip(grads[method], grads["sequential"]):
            assert (g - ref).abs().max() <= 1e-10 * max(1.0, ref.abs().max().item()), method


@pytest.mark.parametrize("method", ["chunked", "parallel"])
def test_gradcheck_tiny_layer(method):
    layer = layer64(
        d_model=2, state_size=4, num_blocks=1, scan_method=method, chunk_size=3, bidirectional=method == "parallel"
    )
    names = [name for name, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    u = torch.randn(1, 7, 2, dtype=torch.float64, requires_grad=True)

    def run(u, *values):
        return torch.func.functional_call(layer, dict(zip(names, values)), (u,))

    assert torch.autograd.gradcheck(run, (u, *params))


@pytest.mark.parametrize("method", ["chunked", "parallel"])
@pytest.mark.parametrize("length", [7, 12])
def test_gradcheck_carried_state_and_final_state(method, length):
    """Gradients reach the entering state and flow back from the final one (truncated BPTT)."""
    layer = layer64(d_model=2, state_size=4, num_blocks=1, scan_method=method, chunk_size=3)
    names = [name for name, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    u = torch.randn(2, length, 2, dtype=torch.float64, requires_grad=True)
    state = torch.randn(2, layer.n_states, 2, dtype=torch.float64, requires_grad=True)

    def run(u, state, *values):
        carried = torch.view_as_complex(state)
        y, final = torch.func.functional_call(
            layer, dict(zip(names, values)), (u,), {"state": carried, "return_state": True}
        )
        return y, torch.view_as_real(final)

    assert torch.autograd.gradcheck(run, (u, state, *params))


def test_gradients_reach_every_forecaster_parameter():
    torch.manual_seed(0)
    model = S5Forecaster(
        3,
        24,
        6,
        state_size=8,
        num_blocks=2,
        d_model=8,
        n_layers=2,
        activation="full_glu",
        bidirectional=True,
        dropout=0.1,
    )
    x = torch.randn(4, 24, 3)
    ((model(x) - torch.randn(4, 6, 3)) ** 2).mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


# ---- model --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "activation,norm,prenorm", [("half_glu1", "batch", True), ("half_glu2", "layer", False), ("gelu", "layer", True)]
)
def test_tiny_model_overfits_a_tiny_batch(activation, norm, prenorm):
    torch.manual_seed(0)
    model = S5Forecaster(
        2,
        16,
        4,
        state_size=8,
        num_blocks=2,
        d_model=16,
        n_layers=1,
        activation=activation,
        norm=norm,
        prenorm=prenorm,
        dropout=0.0,
    )
    t = torch.arange(20, dtype=torch.float32)
    series = torch.stack([torch.sin(t / 3 + phase) for phase in torch.linspace(0, 3, 8)])  # (8, 20)
    x = torch.stack([series, series.cos()], dim=-1)
    inputs, targets = x[:, :16], x[:, 16:] + 0.3 * torch.randn(8, 4, 2)  # noise: memorised, not learned
    optimizer = torch.optim.AdamW(model.optimizer_groups(lr=1e-2, weight_decay=0.0))
    first = None
    for _ in range(150):
        loss = ((model(inputs) - targets) ** 2).mean()
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 * first


def test_optimizer_groups_follow_the_reference():
    model = S5Forecaster(3, 24, 6, state_size=8, num_blocks=2, d_model=8, n_layers=2, ssm_lr=3e-4)
    ssm, regular = model.optimizer_groups(lr=1e-2, weight_decay=0.05)
    assert ssm["lr"] == 3e-4 and ssm["weight_decay"] == 0.0
    assert regular["lr"] == 1e-2 and regular["weight_decay"] == 0.05
    names = {id(p): n for n, p in model.named_parameters()}
    ssm_names = {names[id(p)] for p in ssm["params"]}
    expected = {
        f"blocks.{i}.{leaf}"
        for i in range(2)
        for leaf in ("ssm.Lambda_re", "ssm.Lambda_im", "ssm.B", "ssm.log_step", "norm.weight", "norm.bias")
    }
    assert ssm_names == expected
    assert len(ssm["params"]) + len(regular["params"]) == len(names)
    assert "blocks.0.ssm.C" in {names[id(p)] for p in regular["params"]}


def test_autocast_keeps_the_ssm_in_float32():
    model = S5Forecaster(3, 24, 6, state_size=8, num_blocks=2, d_model=8, n_layers=1)
    seen = []
    model.blocks[0].ssm.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(torch.randn(2, 24, 3))
    assert seen == [torch.float32] and torch.isfinite(y).all()


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(state_size=10, num_blocks=4), "divisible by num_blocks"),
        (dict(state_size=12, num_blocks=4), "even block size"),
        (dict(dt_min=0.1, dt_max=0.1), "dt_min < dt_max"),
        (dict(scan_method="fft"), "scan_method"),
        (dict(discretization="euler"), "discretization"),
        (dict(C_init="zeros"), "C_init"),
        (dict(activation="relu"), "activation"),
        (dict(norm="group"), "norm"),
    ],
)
def test_invalid_hyperparameters_fail_at_construction(overrides, message):
    with pytest.raises(ValueError, match=message):
        S5Forecaster(3, 24, 6, **overrides)


def test_odd_blocks_are_fine_without_conjugate_symmetry():
    model = S5Forecaster(3, 24, 6, state_size=12, num_blocks=4, conj_sym=False)
    assert model.blocks[0].ssm.n_states == 12


def test_config_file_builds_the_forecaster():
    cfg = yaml.safe_load((REPO / "conf" / "model" / "s5.yaml").read_text())
    model = build_model(cfg, n_features=3, lookback=48, horizon=12)
    assert isinstance(model, S5Forecaster)
    assert model(torch.randn(2, 48, 3)).shape == (2, 12, 3)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(2, 40, 3))


def test_train_py_runs_one_s5_epoch(tmp_path):
    run_dir = tmp_path / "run"
    out = run_train(
        [
            "model=s5",
            "dataset=Solar",
            *TINY_DATA,
            "model.d_model=8",
            "model.state_size=8",
            "model.num_blocks=2",
            "model.n_layers=1",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "complete" and record["epoch"] == 1
    assert math.isfinite(record["best_value"]) and record["params"]["model"] == "s5"
