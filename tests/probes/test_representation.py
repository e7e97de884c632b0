"""Ridge probes: a linearly coded attribute is read back exactly, noise is read at chance."""

import torch

from phasewatch.probes.representation import ridge_accuracy


def test_a_linearly_coded_attribute_is_decoded_exactly():
    generator = torch.Generator().manual_seed(0)
    values = torch.randint(3, (400,), generator=generator)
    directions = torch.randn(3, 32, generator=generator)
    features = directions[values] + 0.1 * torch.randn(400, 32, generator=generator)
    assert ridge_accuracy(features, values, 3) == 1.0


def test_noise_is_decoded_at_chance():
    generator = torch.Generator().manual_seed(1)
    values = torch.randint(2, (2000,), generator=generator)
    features = torch.randn(2000, 16, generator=generator)
    assert abs(ridge_accuracy(features, values, 2) - 0.5) < 0.05
