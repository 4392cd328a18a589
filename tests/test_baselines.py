"""Reference baselines, the linear model, the RevIN variants and the learning-rate schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sweepkit.forecast.baselines import (
    baseline_scores,
    fit_ridge,
    naive_mean,
    repeat_last,
    score_forecaster,
    seasonal_naive,
)
from sweepkit.forecast.data import packaged_file, read_series_file, split_and_scale, windows
from sweepkit.forecast.models import build_model
from sweepkit.forecast.models.revin import RevIN, make_revin
from sweepkit.forecast.training import lr_factor


def _splits(values, lookback=24, horizon=12):
    return split_and_scale(np.asarray(values, dtype=np.float32), lookback, horizon)


def test_naive_scores_match_a_direct_computation():
    rng = np.random.default_rng(0)
    splits = _splits(rng.normal(size=(600, 3)).cumsum(axis=0))
    x, y = windows(splits.data, splits.starts["test"], 24, 12)
    for forecast, expected in ((naive_mean(12), x.mean(axis=1, keepdims=True)), (repeat_last(12), x[:, -1:])):
        score = score_forecaster(splits, "test", forecast)
        err = expected.astype(np.float64) - y
        assert score.mse == pytest.approx(np.mean(err**2), rel=1e-6)
        assert score.mae == pytest.approx(np.mean(np.abs(err)), rel=1e-6)
        np.testing.assert_allclose(score.mse_per_channel, np.mean(err**2, axis=(0, 1)), rtol=1e-6)


def test_seasonal_naive_is_exact_on_a_periodic_series_and_ridge_on_a_linear_one():
    t = np.arange(800)
    periodic = np.stack([np.sin(2 * np.pi * t / 8), np.cos(2 * np.pi * t / 8) ** 3], axis=1)
    splits = _splits(periodic)
    assert score_forecaster(splits, "test", seasonal_naive(12, 8)).mse < 1e-10
    assert score_forecaster(splits, "test", naive_mean(12)).mse > 0.1
    # a damped oscillation follows a linear recurrence: a ridge map from the lookback is exact
    ar = np.exp(-t / 3000.0)[:, None] * np.stack([np.sin(t / 5.0), np.sin(t / 7.0 + 1)], axis=1)
    ridge = fit_ridge(_splits(ar))
    assert ridge.val.mse < 1e-6
    with pytest.raises(ValueError, match="longer than the lookback"):
        score_forecaster(splits, "test", seasonal_naive(12, 48))


def test_ridge_alpha_is_the_val_argmin():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(1500, 2))
    splits = _splits(noise + 0.3 * np.roll(noise, 1, axis=0))
    alphas = (0.0, 1.0, 1e4)
    chosen = fit_ridge(splits, alphas)
    vals = [fit_ridge(splits, (a,)).val.mse for a in alphas]
    assert chosen.alpha == alphas[int(np.argmin(vals))]
    assert chosen.val.mse == pytest.approx(min(vals))


def test_wind_baselines_reproduce_the_published_figures():
    """TFB's published Wind (lookback 96, horizon 96) naive figures: 1.145 and 1.253."""
    values, _ = read_series_file(packaged_file("wind.csv.gz"))
    scores = baseline_scores(split_and_scale(values, 96, 96), period=96)
    assert scores["naive_mean"]["test"].mse == pytest.approx(1.145, abs=5e-4)
    assert scores["repeat_last"]["test"].mse == pytest.approx(1.253, abs=5e-4)
    ridge = scores["ridge"]
    assert ridge["test"].mse < scores["naive_mean"]["test"].mse and ridge["val"].mse < 1.2
    assert len(ridge["test"].mse_per_channel) == 7 and "seasonal_naive" in scores


def _linear(**kw):
    return build_model(OmegaConf.create({"name": "linear", **kw}), 3, 16, 4)


def test_linear_variants_shapes_and_parameter_counts():
    x = torch.randn(5, 16, 3)
    shared, individual = _linear(individual=False), _linear(individual=True)
    assert shared(x).shape == individual(x).shape == (5, 4, 3)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(shared) == 16 * 4 + 4 and count(individual) == 3 * (16 * 4 + 4)
    for norm in ("none", "last", "mean", "revin", "level"):
        assert _linear(norm=norm, decomposition=True)(x).shape == (5, 4, 3)
    with pytest.raises(ValueError, match="unknown norm 'nope'"):
        _linear(norm="nope")


def test_nlinear_with_zero_weights_repeats_the_last_value():
    model = _linear(norm="last")
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    x = torch.randn(4, 16, 3)
    torch.testing.assert_close(model(x), x[:, -1:].expand(-1, 4, -1))


def test_individual_linear_keeps_channels_apart_and_learns():
    torch.manual_seed(0)
    model = _linear(individual=True, norm="none")
    x = torch.randn(64, 16, 3)
    y = torch.stack([x[:, -4:, 0], -x[:, :4, 1], 2 * x[:, 4:8, 2]], dim=2)  # a different map per channel
    opt = torch.optim.Adam(model.parameters(), lr=5e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-3
    shared = _linear(individual=False, norm="none")  # one map cannot fit three
    opt = torch.optim.Adam(shared.parameters(), lr=5e-2)
    for _ in range(300):
        opt.zero_grad()
        shared_loss = torch.nn.functional.mse_loss(shared(x), y)
        shared_loss.backward()
        opt.step()
    assert shared_loss.item() > 0.1


def test_revin_level_variant_starts_as_revin_and_can_drop_the_level():
    torch.manual_seed(0)
    x, y = torch.randn(2, 16, 3), torch.randn(2, 4, 3)
    full, level = RevIN(3), make_revin("level", 3, horizon=4)
    xn, stats = full.normalize(x)
    torch.testing.assert_close(level.denormalize(y, level.normalize(x)[1]), full.denormalize(y, stats))
    with torch.no_grad():
        level.level_weight.zero_()
    shifted = level.denormalize(y, level.normalize(x + 5.0)[1])
    torch.testing.assert_close(shifted, level.denormalize(y, level.normalize(x)[1]))  # level not carried
    assert make_revin(False, 3, 4) is None and make_revin("none", 3, 4) is None
    assert make_revin(True, 3, 4).level_weight is None
    with pytest.raises(ValueError, match="unknown revin"):
        make_revin("sometimes", 3, 4)


def test_s5_channel_independent_does_not_mix_channels():
    cfg = {"name": "s5", "state_size": 8, "num_blocks": 2, "d_model": 8, "n_layers": 1, "dropout": 0.0}
    x = torch.randn(4, 16, 3)
    bumped = x.clone()
    bumped[:, :, 1] += 3 * torch.randn(4, 16)
    for independent in (True, False):
        torch.manual_seed(0)
        model = build_model(OmegaConf.create({**cfg, "channel_independent": independent}), 3, 16, 4).eval()
        delta = (model(bumped) - model(x))[:, :, 0].abs().max().item()
        assert (delta < 1e-5) == independent


@pytest.mark.parametrize("revin", [False, True, "level"])
def test_s5_linear_skip_from_ridge_starts_as_the_ridge_forecast(revin):
    rng = np.random.default_rng(0)
    t = np.arange(900)
    values = np.sin(2 * np.pi * t / 24)[:, None] * [1.0, 0.5] + 0.3 * rng.normal(size=(900, 2))
    splits = _splits(values)
    ridge = fit_ridge(splits)
    cfg = {"name": "s5", "state_size": 8, "num_blocks": 2, "d_model": 8, "n_layers": 1, "dropout": 0.0}
    model = build_model(OmegaConf.create({**cfg, "revin": revin, "linear_skip": "ridge"}), 2, 24, 12).eval()
    assert model.skip_from_ridge
    model.start_from_ridge(ridge.weights)
    x, _ = windows(splits.data, splits.starts["val"], 24, 12)
    with torch.no_grad():
        forecast = model(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(forecast, ridge(x), rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # once the decoder moves, the S5 stack adds to the ridge forecast
        model.decoder.bias.fill_(0.5)
        assert np.abs(model(torch.from_numpy(x)).double().numpy() - ridge(x)).min() > 1e-3


def test_s5_linear_skip_values_are_checked():
    cfg = {"name": "s5", "state_size": 8, "num_blocks": 2, "d_model": 8, "n_layers": 1, "dropout": 0.0}
    trained = build_model(OmegaConf.create({**cfg, "linear_skip": True}), 3, 16, 4)
    assert trained.linear_skip is not None and not trained.skip_from_ridge
    plain = build_model(OmegaConf.create(cfg), 3, 16, 4)
    assert plain.linear_skip is None
    with pytest.raises(ValueError, match="start_from_ridge needs model.linear_skip=ridge"):
        plain.start_from_ridge(np.zeros((17, 4)))
    with pytest.raises(ValueError, match=r"ridge weights \(9, 4\) do not fit lookback 16"):
        trained.start_from_ridge(np.zeros((9, 4)))
    with pytest.raises(ValueError, match="linear_skip must be true, false or ridge, got 'yes'"):
        build_model(OmegaConf.create({**cfg, "linear_skip": "yes"}), 3, 16, 4)


def test_lr_schedule_warms_up_then_decays_over_its_own_length():
    assert lr_factor(0.5, 1, 10) == pytest.approx(0.5)
    assert lr_factor(1.0, 1, 10) == pytest.approx(1.0)
    assert lr_factor(5.5, 1, 10) == pytest.approx(0.5)  # halfway through the cosine
    assert lr_factor(10, 1, 10) == pytest.approx(0.0, abs=1e-12) and lr_factor(12, 1, 10) == pytest.approx(
        0.0, abs=1e-12
    )
    assert lr_factor(3, 0, 20) > lr_factor(3, 0, 10)  # a longer schedule decays slower
    assert lr_factor(3, 0, 10, "none") == 1.0 and lr_factor(0.25, 1, 10, "none") == pytest.approx(0.25)
    assert lr_factor(0, 1, 10) > 0  # never exactly zero at the first step


@pytest.mark.parametrize("model", ["linear", "dmixer", "s5"])
def test_search_spaces_name_real_keys_and_every_revin_choice_builds(model):
    from hydra import compose, initialize_config_dir

    from sweepkit.sweeper import parse_search_space
    from sweepkit.sweeper._search_space import check_keys

    from conftest import REPO

    with initialize_config_dir(str(REPO / "conf"), version_base=None):
        cfg = compose("config", overrides=[f"model={model}"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params)
    space = parse_search_space(params)
    check_keys(space, cfg)  # raises on a key the config does not have
    assert "dataset.lookback" in space.distributions
    key = "model.norm" if model == "linear" else "model.revin"
    for value in space.distributions[key].choices:
        net = build_model(OmegaConf.merge(cfg.model, {key.split(".")[1]: value}), 7, 96, 8)
        assert net(torch.randn(2, 96, 7)).shape == (2, 8, 7)
    for value in space.distributions["model.linear_skip"].choices if model == "s5" else ():
        net = build_model(OmegaConf.merge(cfg.model, {"linear_skip": value}), 7, 96, 8)
        assert (net.linear_skip is not None) == (value is not False)
        assert net(torch.randn(2, 96, 7)).shape == (2, 8, 7)
