"""Optimiser groups, the structure levers and steering."""

import pytest
import torch

from phasewatch import config as configuration
from phasewatch.errors import UserError
from phasewatch.models import build_model
from phasewatch.tasks import build_task
from phasewatch.tasks.objective import loss_function
from phasewatch.train.interventions import Objective
from phasewatch.train.optim import build_optimizer
from phasewatch.train.steering import ridge_directions


def _setup(**interventions):
    config = configuration.validate(
        {
            "task": {"name": "items", "items_per_combination": 2},
            "model": {"name": "ufm", "d_model": 16, "init": 0.1},
            "train": {"optimizer": "sgd", "lr": 0.5, "weight_decay": 2e-3, "decay_ratio": 100},
            "interventions": interventions,
        }
    )
    task = build_task(config.task, 0)
    model = build_model(config.model, task)
    return config, task, model


def test_decay_ratio_scales_the_shared_pathway_only():
    config, _, model = _setup()
    optimizer = build_optimizer(model, config.train)
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decays[id(model.attribute_embed.W)] == pytest.approx(0.2)
    assert decays[id(model.item_embed.W)] == decays[id(model.unembed.W)] == pytest.approx(2e-3)


def test_attribute_smoothing_moves_mass_to_items_sharing_attributes():
    config, task, model = _setup(attribute_smoothing=0.3)
    objective = Objective(config, task, model, loss_function("cross_entropy", task.num_classes))
    targets = torch.tensor([0])
    logits = torch.zeros(1, task.num_classes)
    kernel = task.attribute_kernel()[0].clone()
    kernel[0] = 0
    soft = 0.7 * torch.nn.functional.one_hot(targets, task.num_classes)[0] + 0.3 * kernel / kernel.sum()
    expected = -(soft * logits.log_softmax(-1)[0]).sum()
    assert float(objective._loss(logits, targets)) == pytest.approx(float(expected))


def test_structure_penalty_is_zero_above_target_and_pulls_toward_it():
    config, task, model = _setup(structure_penalty=1.0, structure_target=0.5)
    objective = Objective(config, task, model, loss_function("cross_entropy", task.num_classes))
    targets = task.train.targets
    clustered = task.attributes @ torch.randn(task.attributes.shape[1], 16) * 10 + 0.01 * torch.randn(len(targets), 16)
    unstructured = torch.randn(len(targets), 16)
    assert float(objective._shortfall(clustered, targets)) == 0.0
    features = unstructured.clone().requires_grad_()
    objective._shortfall(features, targets).backward()
    assert float(objective._shortfall(unstructured, targets)) > 0.1 and features.grad.abs().sum() > 0


def test_levers_need_attributes():
    config = configuration.validate({"task": {"name": "modular", "p": 7}, "interventions": {"attribute_smoothing": 0.1}})
    task = build_task(config.task, 0)
    with pytest.raises(UserError, match="interventions.attribute_smoothing"):
        Objective(config, task, build_model(config.model, task), loss_function("cross_entropy", 7))


def test_ridge_direction_recovers_a_planted_attribute_direction():
    generator = torch.Generator().manual_seed(0)
    indicator = (torch.rand(200, 1, generator=generator) > 0.5).double()
    planted = torch.zeros(8, dtype=torch.float64)
    planted[3] = 1.0
    features = 2.0 * indicator * planted + 0.1 * torch.randn(200, 8, generator=generator, dtype=torch.float64)
    direction = ridge_directions(features, indicator)[0]
    assert float(direction @ planted) > 0.95  # noise tilts a regression direction a little
