"""The Lightning callback: a `Trainer.fit` watched live (the wrapped model named by `module`), and
`analyze` over safetensors saved on the way with the folder's config.json, give the same values."""

from __future__ import annotations

import torch
from agreement import assert_agree
from integration_data import gpt2_config, save_state, sequences, tiny_gpt2

from phasewatch import Run, analyze


def test_lightning_fit_and_analyze_over_saved_weights_agree(tmp_path, probe_file):
    import lightning as L

    from phasewatch.integrations.lightning import PhasewatchCallback

    class TinyGPT(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = tiny_gpt2(seed=0)

        def training_step(self, batch, batch_idx):
            (tokens,) = batch
            return self.model(tokens, labels=tokens).loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=3e-3)

    class SaveWeights(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step in (20, 40):
                save_state(pl_module.model, tmp_path / "series" / f"step_{trainer.global_step}.safetensors")

    gpt2_config().save_pretrained(tmp_path / "series")  # one config.json for the whole folder
    tokens, _ = sequences(256, seed=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tokens), batch_size=8, shuffle=True)
    watch = PhasewatchCallback(probe_file, module="model", store=tmp_path / "store", name="lit", schedule=[0, 10, 20, 40])
    trainer = L.Trainer(
        max_steps=40,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[watch, SaveWeights()],
    )
    trainer.fit(TinyGPT(), loader)
    live = Run.open(tmp_path / "store", "lit")
    assert live.status == "finished"
    assert live.metric("train/loss")[0].tolist() == list(range(1, 41))
    assert live.config["probes"]["sites"] == ["transformer.h.0", "transformer.h.1"]  # relative to `module`
    offline = analyze(tmp_path / "series", probe_file, store=tmp_path / "store")
    assert_agree(live, offline, [20, 40])
