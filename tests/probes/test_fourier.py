"""Closed-form checks of the Fourier progress measures (docs/science/grokking.md; Nanda et al. 2023)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from phasewatch.probes import fourier


def addition_table(n: int) -> torch.Tensor:
    """Answers (a + b) mod n for every pair: each residue n times."""
    a, b = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    return ((a + b) % n).flatten()


@pytest.mark.parametrize("n", [2, 7, 8, 113])
def test_fourier_basis_is_orthonormal(n):
    basis = fourier.fourier_basis(n)
    assert torch.allclose(basis @ basis.T, torch.eye(n, dtype=torch.float64), atol=1e-12)
    freq = fourier.frequency_of_row(n)
    assert freq.shape == (n,) and freq[0] == 0 and freq.max() == n // 2
    # every frequency has a cos and a sin row, except the constant and the Nyquist row (even n)
    counts = torch.bincount(freq)
    assert counts[0] == 1 and (counts[1 : (n - 1) // 2 + 1] == 2).all()
    assert counts[-1] == (1 if n % 2 == 0 else 2)


def test_two_frequency_embedding_is_sparse():
    n = 31
    x = 2 * math.pi * torch.arange(n).double() / n
    embedding = torch.stack([(3 * x).cos(), (3 * x).sin(), (7 * x).cos(), 2 * (7 * x).sin()], 1)
    embedding = embedding + 0.7  # a constant offset is not structure
    norms = fourier.frequency_norms(embedding)
    assert norms.shape == (n // 2 + 1,)
    assert norms.sum() == pytest.approx(embedding.pow(2).sum().item())  # Parseval
    assert norms[3] == pytest.approx(n) and norms[7] == pytest.approx(2.5 * n)
    assert fourier.key_frequencies(embedding, k=2) == [7, 3]
    assert fourier.fourier_sparsity(embedding, k=2) == pytest.approx(1)
    assert fourier.fourier_sparsity(embedding, k=1) == pytest.approx(2.5 / 3.5)


def test_nyquist_frequency_for_even_order():
    n = 12
    embedding = torch.tensor([(-1.0) ** x for x in range(n)])[:, None]
    norms = fourier.frequency_norms(embedding)
    assert norms[n // 2] == pytest.approx(n) and norms[:-1].sum() == pytest.approx(0, abs=1e-12)
    assert fourier.key_frequencies(embedding, k=1) == [6]


def test_random_embedding_is_not_sparse():
    n, k = 59, 5
    embedding = torch.randn(n, 512, generator=torch.Generator().manual_seed(0))
    assert fourier.fourier_sparsity(embedding, k=k) == pytest.approx(k / (n // 2), abs=0.03)


def notebook_restricted_and_excluded(neurons, w_readout, logits, p, keys):
    """Nanda et al.'s reference notebook, transcribed loop by loop in numpy on the full p × p
    table (rows a·p + b): each key frequency's cos/sin(w_k(a + b)), normalised over the table;
    restricted = mean neuron + Σ (neurons · v) v, mapped through W, plus the logits' mean minus
    the mapped mean; excluded = logits − Σ (logits · v) v."""
    a = np.arange(p)[:, None]
    b = np.arange(p)[None, :]
    approx = np.zeros_like(neurons) + neurons.mean(0)
    excluded = logits.copy()
    for k in keys:
        for wave in (np.cos, np.sin):
            v = wave(2 * np.pi * k / p * (a + b)).reshape(-1, 1)
            v = v / np.linalg.norm(v)
            approx = approx + (neurons * v).sum(0) * v
            excluded = excluded - (logits * v).sum(0) * v
    restricted = approx @ w_readout
    restricted = restricted + logits.mean(0, keepdims=True) - restricted.mean(0, keepdims=True)
    return restricted, excluded


def old_logit_table_restricted(logits, answers, keys, n):
    """The definition this replaced: the logit table projected on cos(w_k(c* − c)) plus row means."""
    m = logits.shape[0]
    diff = (answers[:, None] - torch.arange(n)[None, :]).double()
    columns = [torch.cos(2 * math.pi * k * diff / n).flatten() for k in keys]
    rows = torch.eye(m, dtype=torch.float64).repeat_interleave(n, dim=0)
    design = torch.cat([torch.stack(columns, 1), rows], dim=1)
    coef = torch.linalg.lstsq(design, logits.flatten()[:, None]).solution
    return (design @ coef).view(m, n)


def planted_network(p=13, d=24, seed=0):
    """Neurons with key-frequency components (coefficients per neuron), a component that reads a
    alone, and noise; logits read them linearly plus a direct path of their own."""
    rng = np.random.default_rng(seed)
    a, b = (x.ravel() for x in np.meshgrid(np.arange(p), np.arange(p), indexing="ij"))
    w = lambda k: 2 * np.pi * k / p  # noqa: E731
    neurons = (
        rng.normal(size=d) * np.cos(w(2) * (a + b))[:, None]
        + rng.normal(size=d) * np.sin(w(2) * (a + b))[:, None]
        + rng.normal(size=d) * np.cos(w(5) * (a + b))[:, None]
        + rng.normal(size=d) * np.cos(w(3) * a)[:, None]
        + 0.3 * rng.normal(size=(p * p, d))
        + 1.0
    )
    w_readout = rng.normal(size=(d, p))
    direct = np.cos(w(4) * (a[:, None] - np.arange(p)[None, :]))  # logits from a alone
    return neurons, w_readout, neurons @ w_readout + 2.0 * direct, (a + b) % p


def test_restricted_and_excluded_logits_follow_the_reference_notebook():
    p, keys = 13, [2, 5]
    neurons, w_readout, logits, answers = planted_network(p)
    expected_restricted, expected_excluded = notebook_restricted_and_excluded(neurons, w_readout, logits, p, keys)
    restricted = fourier.restricted_logits(
        torch.tensor(logits), torch.tensor(neurons), lambda h: h @ torch.tensor(w_readout), torch.tensor(answers), keys, p
    )
    excluded = fourier.excluded_logits(torch.tensor(logits), torch.tensor(answers), keys, p)
    np.testing.assert_allclose(restricted.numpy(), expected_restricted, atol=1e-9)
    np.testing.assert_allclose(excluded.numpy(), expected_excluded, atol=1e-9)
    # where the two definitions differ: the direct path and the a-only neurons are dropped by
    # Nanda's restricted logits but partly kept by a projection of the whole logit table
    old = old_logit_table_restricted(torch.tensor(logits), torch.tensor(answers), keys, p)
    target = torch.tensor(answers)
    nanda_loss = F.cross_entropy(restricted, target).item()
    old_loss = F.cross_entropy(old, target).item()
    assert abs(nanda_loss - old_loss) > 0.1


def test_frequencies_outside_the_keys_are_not_kept():
    p = 13
    neurons, w_readout, logits, answers = planted_network(p)
    readout = lambda h: h @ torch.tensor(w_readout)  # noqa: E731
    args = (torch.tensor(logits), torch.tensor(neurons), readout, torch.tensor(answers))
    only_two = fourier.restricted_logits(*args, [2], p)
    expected, _ = notebook_restricted_and_excluded(neurons, w_readout, logits, p, [2])
    np.testing.assert_allclose(only_two.numpy(), expected, atol=1e-9)
    assert not torch.allclose(only_two, fourier.restricted_logits(*args, [2, 5], p))


def test_key_directions_on_a_partial_table_span_the_same_waves():
    """Fewer rows than the full table (× and ÷ leave out 0): the columns are orthonormalised."""
    n = 12
    answers = torch.randint(0, n, (50,), generator=torch.Generator().manual_seed(0))
    q = fourier.key_directions(answers, [3, 6], n)
    assert q.shape == (50, 3)  # cos 3, sin 3, cos 6 (the Nyquist sine is zero)
    assert torch.allclose(q.T @ q, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(q.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-12)  # centred
    wave = torch.cos(2 * math.pi * 3 * answers.double() / n)
    wave = wave - wave.mean()
    assert torch.allclose(q @ (q.T @ wave), wave, atol=1e-12)


def test_invalid_keys():
    with pytest.raises(ValueError, match="key frequencies"):
        fourier.key_directions(torch.zeros(3, dtype=torch.long), [4], 7)


def test_full_size_table_is_fast_enough():
    n = 113
    answers = addition_table(n)
    logits = torch.randn(n * n, n, generator=torch.Generator().manual_seed(0))
    loss = F.cross_entropy(fourier.excluded_logits(logits, answers, [4, 14, 35, 41, 52], n), answers).item()
    assert math.log(n) - 0.1 < loss < math.log(n) + 0.6  # random logits: ≈ uniform read-out


def test_neuron_ipr_is_one_for_single_frequency_neurons_and_low_for_noise():
    from phasewatch.probes.fourier import neuron_ipr

    n = 31
    x = torch.arange(n, dtype=torch.float64)
    # each neuron reads one frequency, the layer as a whole reads many
    single = torch.stack([torch.cos(2 * torch.pi * (1 + j % 15) * x / n + j) for j in range(60)], dim=1)
    assert abs(neuron_ipr(single) - 1.0) < 1e-9
    noise = torch.randn(n, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert neuron_ipr(noise) < 0.15  # ≈ 2/K for K = 15 frequencies of chi-square power


def numpy_losses(neurons, w_readout, logits, answer_index, in_train, n, keys):
    """Restricted and excluded training loss from the notebook's formulas on any set of rows:
    cos/sin(w_k · answer index) centred and normalised (orthogonal on the tables used here)."""
    approx = np.zeros_like(neurons) + neurons.mean(0)
    excluded = logits.copy()
    for k in keys:
        for wave in (np.cos, np.sin):
            v = wave(2 * np.pi * k / n * answer_index)[:, None]
            v = v - v.mean()
            if np.linalg.norm(v) < 1e-9:
                continue
            v = v / np.linalg.norm(v)
            approx = approx + (neurons * v).sum(0) * v
            excluded = excluded - (logits * v).sum(0) * v
    restricted = (approx - neurons.mean(0)) @ w_readout + logits.mean(0)

    def loss(table):
        table = table[in_train]
        picked = table[np.arange(len(table)), answer_index[in_train]]
        return float(np.mean(np.log(np.exp(table - table.max(1, keepdims=True)).sum(1)) + table.max(1) - picked))

    return loss(restricted), loss(excluded)


def test_progress_measures_are_replayed_over_the_checkpoints_with_the_final_frequencies(tiny_config, tmp_path):
    import phasewatch as pw
    from phasewatch.config import resolve
    from phasewatch.train.prepare import prepare

    path = tiny_config(steps=40, checkpoint_every=10)
    run = pw.run(config_file=path, store=tmp_path, name="r", p=23)  # 11 frequencies: the top 5 are a choice
    steps, restricted = run.metric("restricted_loss/logits")
    assert steps.tolist() == [0, 10, 20, 30, 40]
    prepared = prepare(resolve(None, path, ["p=23"])[1])
    model, task = prepared.model, prepared.task

    def load(step):
        tensors, _ = run.load_checkpoint(step)
        model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
        return fourier.key_frequencies(model.token_embedding(task.p))

    final_keys = load(40)
    changed = 0
    for index, step in enumerate(steps.tolist()):
        own_keys = load(step)
        changed += set(own_keys) != set(final_keys)
        with torch.no_grad():
            logits, cache = model.run_with_cache(task.probe.inputs, names=["blocks.0.mlp.post"])
        block = model.blocks[0]
        # the logits read the neurons through W_out W_U (no LayerNorm): the reference notebook's map
        args = (cache["blocks.0.mlp.post"][:, -1].double().numpy(), (block.mlp.W_out @ model.unembed.W).double().detach().numpy())
        args += (logits.double().numpy(), task.probe.targets.numpy(), task.in_train.numpy(), task.p)
        assert restricted[index] == pytest.approx(numpy_losses(*args, final_keys)[0], rel=1e-5)
        live_steps, live = run.metric("restricted_loss_live/logits")
        (at,) = np.flatnonzero(live_steps == step)
        assert live[at] == pytest.approx(numpy_losses(*args, own_keys)[0], rel=1e-5)
        assert run.metric("excluded_loss/logits")[1][index] == pytest.approx(numpy_losses(*args, final_keys)[1], rel=1e-5)
    assert changed >= 2  # the live and the replayed curves differ where the keys did


@pytest.mark.parametrize("operation", ["*", "/"])
def test_the_fourier_probe_reads_multiplication_in_discrete_logarithms(operation):
    """× and ÷ live in Z_p^*: an embedding that is a single wave in the discrete logarithm of the
    operand is perfectly sparse at that frequency, and the losses use the answers' logarithms."""
    from phasewatch.models.mlp import QuadraticMLP
    from phasewatch.probes import ProbeContext, run_probes
    from phasewatch.tasks.modular import modular_task

    p, k = 11, 3
    task = modular_task(p, operation, 0.5, 0)
    model = QuadraticMLP(p, p, width=8)
    log = task.group[torch.arange(p)].double()  # discrete logarithm of each residue, −1 for 0
    wave = torch.zeros(p, 8, dtype=torch.float64)
    wave[:, 0], wave[:, 1] = torch.cos(2 * math.pi * k * log / (p - 1)), torch.sin(2 * math.pi * k * log / (p - 1))
    with torch.no_grad():
        model.embed.W[:p] = wave.float()
        model.embed.W[p:] = torch.randn(p, 8, generator=torch.Generator().manual_seed(0))
    scalars = run_probes(["fourier"], ProbeContext.of_task(model, task)).scalars
    assert scalars["fourier_sparsity/embed"] == pytest.approx(1.0, abs=1e-6)
    assert fourier.key_frequencies(wave[task.group >= 0][torch.argsort(task.group[task.group >= 0])], k=1) == [k]

    with torch.no_grad():
        logits, cache = model.run_with_cache(task.probe.inputs, names=["hidden"])
    rows = task.group[task.probe.targets] >= 0
    members = torch.argsort(task.group)[1:]  # residues in group order (0 left out)
    keys = fourier.key_frequencies(model.token_embedding(p)[members])
    expected = numpy_losses(
        cache["hidden"][rows].double().numpy(),
        model.unembed.W[:, members].double().detach().numpy(),
        logits[rows][:, members].double().numpy(),
        task.group[task.probe.targets][rows].numpy(),
        task.in_train[rows].numpy(),
        p - 1,
        keys,
    )
    assert scalars["restricted_loss_live/logits"] == pytest.approx(expected[0], rel=1e-5)
    assert scalars["excluded_loss_live/logits"] == pytest.approx(expected[1], rel=1e-5)
