"""Tasks with known latent structure. Add one by writing `my_task(...) -> Task` and a config
section for it in `phasewatch.config` (added to `TASKS`), then listing it by name below."""
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


# A task's builder takes its config section's fields, and `seed` unless the task is fixed by them.
SEEDED = {"modular": modular_task, "hierarchical": hierarchical_task, "selectional": selectional_task,
          "language": language_task, "induction": induction_task, "icl": icl_task, "grammar": grammar_task,
          "corpus": byte_text_task}
UNSEEDED = {"items": items_task, "text": text_task}


def build_task(config, seed: int) -> Task:
    """The task a validated `config.task` section describes."""
    settings = config.model_dump(exclude={"name"})
    if "factor_sizes" in settings:
        settings["factor_sizes"] = tuple(settings["factor_sizes"])
    if config.name in UNSEEDED:
        return UNSEEDED[config.name](**settings)
    return SEEDED[config.name](**settings, seed=seed)


__all__ = ["GrammarTask", "ICLTask", "InductionTask", "LanguageTask", "ModularTask", "Split", "Task", "build_task",
           "byte_text_task", "grammar_task", "hierarchical_task", "icl_task", "induction_task", "items_task",
           "language_task", "modular_task", "selectional_task", "text_task"]
