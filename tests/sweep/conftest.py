"""A tiny sweep file for the sweep tests: the conftest's tiny run over train fraction × seed."""

import pytest


@pytest.fixture
def sweep_file(tiny_config, tmp_path):
    def write(seeds=(0, 1), fractions=(0.3, 0.5), steps=60, checkpoint_every=20) -> str:
        config = tiny_config(steps=steps, checkpoint_every=checkpoint_every)
        path = tmp_path / "grid.toml"
        path.write_text(
            f'name = "grid"\nconfig = "{config}"\n[set]\nevents.watch = ["train/*", "test/*"]\n'
            f"[grid]\ntrain_fraction = {list(fractions)}\nseed = {list(seeds)}\n"
        )
        return str(path)

    return write
