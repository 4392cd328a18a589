

def test_no_metric_to_monitor_is_refused_with_the_fix(tmp_path):
    import lightning as L

    from sweepkit.integrations.lightning import SweepkitCallback

    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False)
    with pytest.raises(ValueError, match=r"pass monitor= .*or give the Trainer a ModelCheckpoint"):
        SweepkitCallback()._resolve(trainer, None)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(monitor="val/acc", mode="max")
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, callbacks=[checkpoint])
    assert SweepkitCallback()._resolve(trainer, None) == ("val/acc", "max")
    with pytest.raises(ValueError, match="mode"):
        SweepkitCallback(mode="best")
