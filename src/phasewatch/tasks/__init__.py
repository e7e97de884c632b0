"""Tasks with known latent structure. Add one by writing `my_task(...) -> Task` and a config
section for it in `phasewatch.config`, then dispatching on its name in `build_task`."""
from phasewatch.tasks.base import Split, Task
from phasewatch.tasks.modular import ModularTask, modular_task


def build_task(config, seed: int) -> Task:
    """The task a validated `config.task` section describes."""
    return modular_task(config.p, config.operation, config.train_fraction, seed)


__all__ = ["ModularTask", "Split", "Task", "build_task", "modular_task"]
