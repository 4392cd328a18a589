"""Readers, synthetic fallback, split, scaling and windowing on the real files.

The Wind file ships with the package, so these run on a fresh clone; the tests that read the
unshipped Solar files skip with a reason naming the file unless ``SWEEPKIT_DATA_DIR`` has them.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from omegaconf import OmegaConf

from sweepkit.errors import DataError
from sweepkit.forecast.data import (
    load_series,
    packaged_file,
    read_series_file,
    sha256_of,
    split_and_scale,
    synthetic_series,
    windows,
)

from conftest import REPO, need_file


def test_reads_wind_csv_with_date_column(data_dir):
    values, names = read_series_file(data_dir / "Wind" / "wind.csv.gz")
    assert values.shape == (48673, 7)
    assert names[-1] == "target" and "date" not in names
    assert values.dtype == np.float32 and np.isfinite(values).all()
    assert values[0, 0] == pytest.approx(5.1)  # pred_w_speed of the first row


def test_reads_solar_gefcom_file(data_dir):
    solar, names = read_series_file(need_file(data_dir / "Solar" / "gefcom2014_solar.csv.gz"))
    assert solar.shape == (18984, 3) and names == ["zone1", "zone2", "zone3"]


def test_reads_gefcom2012_wind_file(data_dir):
    gef, names = read_series_file(need_file(data_dir / "Wind" / "gefcom2012_wind_train.csv.gz"), max_rows=100)
    assert gef.shape == (100, 7) and names[0] == "wp1"  # YYYYMMDDHH date column dropped


def test_integer_date_column_is_dropped(tmp_path):
    """The GEFCom layout: an integer YYYYMMDDHH date column, which looks numeric."""
    path = tmp_path / "gef.csv"
    path.write_text("date,wp1,wp2\n2009070100,0.045,0.233\n2009070101,0.085,0.249\n")
    values, names = read_series_file(path)
    assert names == ["wp1", "wp2"]
    np.testing.assert_allclose(values, [[0.045, 0.233], [0.085, 0.249]], rtol=1e-6)


def test_reads_solar_al_layout_gzipped(tmp_path, data_dir):
    real, _ = read_series_file(data_dir / "Wind" / "wind.csv.gz", max_rows=500, columns=["pred_w_speed", "target"])
    path = tmp_path / "solar_AL.txt.gz"
    with gzip.open(path, "wt") as handle:  # no header, no date column, as LSTNet ships it
        for row in real:
            handle.write(",".join(f"{v:.6f}" for v in row) + "\n")
    values, names = read_series_file(path)
    assert values.shape == (500, 2) and names == ["col0", "col1"]
    np.testing.assert_allclose(values, real, atol=1e-5)


def test_the_packaged_wind_file_is_the_published_one():
    path = packaged_file("wind.csv.gz")
    assert sha256_of(path) == "807da5e86b817eaa7f9b8ae417c5b568c0b3cb2d357c84e8b8f3bd656f0115f8"
    assert "Apache" in (path.parent / "NOTICE.md").read_text()
    with pytest.raises(DataError, match="no packaged data file 'nope.csv'"):
        packaged_file("nope.csv")


def test_wind_falls_back_to_the_packaged_file_and_solar_to_synthetic(tmp_path):
    """With an empty data folder: Wind reads the shipped file, Solar (unshipped) goes synthetic,
    and ``packaged: null`` turns the shipped file off."""
    wind = OmegaConf.load(REPO / "conf" / "dataset" / "Wind.yaml")
    solar = OmegaConf.load(REPO / "conf" / "dataset" / "Solar.yaml")
    for cfg in (wind, solar):
        cfg.data_dir, cfg.max_rows = str(tmp_path), 200
    series = load_series(wind)
    assert series.source == "file" and series.path == str(packaged_file("wind.csv.gz"))
    assert series.values.shape == (200, 7) and series.columns[-1] == "target"
    assert load_series(solar).source == "synthetic"
    wind.packaged = None
    assert load_series(wind).source == "synthetic"


def test_column_selection_and_bad_column(data_dir):
    values, names = read_series_file(data_dir / "Wind" / "wind.csv.gz", columns=["target"], max_rows=10)
    assert values.shape == (10, 1) and names == ["target"]
    with pytest.raises(DataError, match="nope"):
        read_series_file(data_dir / "Wind" / "wind.csv.gz", columns=["nope"])


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "empty"),
        ("date,a,b\n2020-01-01,1,2\n2020-01-02,3,nan\n", "NaN"),
        ("date,a,b\n2020-01-01,1,2\n2020-01-02,3,abc\n", "cannot parse"),
        ("date,a,b\n", "no data rows"),
    ],
)
def test_bad_files_are_named(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match) as info:
        read_series_file(path)
    assert "bad.csv" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_series_file(tmp_path / "nope.csv")


def test_split_is_chronological_and_scaled_on_train_only():
    rows = 1000
    values = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
    values[700:] += 1e6  # a shift after the training rows must not leak into the scaler
    splits = split_and_scale(values, lookback=10, horizon=5)
    train = values[:700]
    np.testing.assert_allclose(splits.mean, train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(splits.std, train.std(axis=0), rtol=1e-5)
    assert splits.data[:700].mean() == pytest.approx(0.0, abs=1e-4)
    s = splits.starts
    assert s["train"][0] == 0 and s["train"][-1] + 15 == 700  # last train target row is 699
    assert s["val"][0] + 10 == 700 and s["val"][-1] + 15 == 800  # val targets lie in rows 700..799
    assert s["test"][0] + 10 == 800 and s["test"][-1] + 15 == 1000


def test_windows_cut_the_right_rows():
    data = np.arange(60, dtype=np.float32).reshape(30, 2)
    x, y = windows(data, np.array([0, 5]), lookback=4, horizon=3)
    assert x.shape == (2, 4, 2) and y.shape == (2, 3, 2)
    np.testing.assert_array_equal(x[1, :, 0], data[5:9, 0])
    np.testing.assert_array_equal(y[1, :, 0], data[9:12, 0])


def test_too_few_rows_and_long_horizon_are_errors():
    values = np.random.default_rng(0).random((100, 2), dtype=np.float32)
    with pytest.raises(DataError, match="training split"):
        split_and_scale(values, lookback=60, horizon=20)
    with pytest.raises(DataError, match="val split.*horizon"):
        split_and_scale(values, lookback=10, horizon=15)


def test_synthetic_solar_is_zero_at_night_and_wind_is_gusty():
    solar, names = synthetic_series("solar", rows=24 * 30, channels=2)
    assert names[0].startswith("solar_synthetic")
    night = solar.reshape(30, 24, 2)[:, :5]  # hours 0..4
    assert np.all(night == 0) and solar.max() > 0.2
    wind, _ = synthetic_series("wind", rows=5000, channels=3)
    lag1 = np.corrcoef(wind[:-1, 0], wind[1:, 0])[0, 1]
    assert lag1 > 0.8 and 0 <= wind.min() and wind.max() <= 1


def test_load_series_records_provenance(data_dir, tmp_path, caplog):
    cfg = OmegaConf.create(
        {"name": "Wind", "path": None, "files": ["wind.csv.gz"], "data_dir": str(data_dir), "max_rows": 300}
    )
    series = load_series(cfg)
    assert series.source == "file" and len(series.sha256) == 64 and series.values.shape == (300, 7)
    cfg.data_dir = str(tmp_path)  # nothing there: the labelled synthetic fallback
    with caplog.at_level("WARNING"):
        series = load_series(cfg)
    assert series.source == "synthetic" and series.sha256 is None
    assert "SYNTHETIC" in caplog.text
