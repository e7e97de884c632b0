"""Tasks with known latent structure. Add one by writing `my_task(...) -> Task` and, beside it, its
config section: a `TaskConfig` subclass with `name: Literal["my_task"]`, the builder's arguments as
fields and `builder = staticmethod(my_task)`; import the module here and it registers itself."""

from phasewatch.tasks.addition import AnswerTask, addition_task
from phasewatch.tasks.base import Split, Task, TaskConfig
from phasewatch.tasks.byte_text import byte_text_task
from phasewatch.tasks.grammar import GrammarTask, grammar_task
from phasewatch.tasks.hierarchical import hierarchical_task
from phasewatch.tasks.icl import ICLTask, icl_task
from phasewatch.tasks.induction import InductionTask, induction_task
from phasewatch.tasks.items import items_task
from phasewatch.tasks.language import LanguageTask, language_task
from phasewatch.tasks.lookup import lookup_task
from phasewatch.tasks.modular import ModularTask, modular_task
from phasewatch.tasks.selectional import selectional_task
from phasewatch.tasks.text import text_task


def build_task(config: TaskConfig, seed: int) -> Task:
    """The task a validated `config.task` section describes."""
    return config.build(seed)


__all__ = [
    "AnswerTask",
    "addition_task",
    "GrammarTask",
    "TaskConfig",
    "ICLTask",
    "InductionTask",
    "LanguageTask",
    "ModularTask",
    "Split",
    "Task",
    "build_task",
    "byte_text_task",
    "grammar_task",
    "hierarchical_task",
    "icl_task",
    "induction_task",
    "items_task",
    "language_task",
    "lookup_task",
    "modular_task",
    "selectional_task",
    "text_task",
]
