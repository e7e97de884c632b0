"""Tasks with known latent structure. Add one by writing `my_task(...) -> Task` and a config
section for it in `phasewatch.config` (added to `TASKS`), then dispatching on its name here."""
from phasewatch.tasks.base import Split, Task
from phasewatch.tasks.byte_text import byte_text_task
from phasewatch.tasks.grammar import GrammarTask, grammar_task
from phasewatch.tasks.hierarchical import hierarchical_task
from phasewatch.tasks.icl import ICLTask, icl_task
from phasewatch.tasks.induction import InductionTask, induction_task
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
    if config.name == "induction":
        return induction_task(**settings, seed=seed)
    if config.name == "icl":
        return icl_task(**settings, seed=seed)
    if config.name == "grammar":
        return grammar_task(**settings, seed=seed)
    if config.name == "corpus":
        return byte_text_task(**settings, seed=seed)
    return modular_task(**settings, seed=seed)


__all__ = ["GrammarTask", "ICLTask", "InductionTask", "LanguageTask", "ModularTask", "Split", "Task", "build_task", "byte_text_task", "grammar_task", "hierarchical_task", "icl_task", "induction_task", "items_task", "language_task",
           "modular_task", "selectional_task", "text_task"]
