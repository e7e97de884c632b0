"""Tasks with known latent structure. Add one by writing `my_task(...) -> Task` and a config
section for it in `phasewatch.config` (added to `TASKS`), then dispatching on its name here."""
from phasewatch.tasks.base import Split, Task
from phasewatch.tasks.hierarchical import hierarchical_task
from phasewatch.tasks.items import items_task
from phasewatch.tasks.language import LanguageTask, language_task
from phasewatch.tasks.modular import ModularTask, modular_task
from phasewatch.tasks.selectional import selectional_task
from phasewatch.tasks.text import text_task


def build_task(config, seed: int) -> Task:
    """The task a validated `config.task` section describes."""
    settings = config.model_dump(exclude={"name"})
    if "factor_sizes" in settings:
        settings["factor_sizes"] = tuple(settings["factor_sizes"])
    if config.name == "items":
        return items_task(**settings)
    if config.name == "hierarchical":
        return hierarchical_task(**settings, seed=seed)
    if config.name == "selectional":
        return selectional_task(**settings, seed=seed)
    if config.name == "language":
        return language_task(**settings, seed=seed)
    if config.name == "text":
        return text_task(**settings)
    return modular_task(**settings, seed=seed)


__all__ = ["LanguageTask", "ModularTask", "Split", "Task", "build_task", "hierarchical_task", "items_task", "language_task",
           "modular_task", "selectional_task", "text_task"]
