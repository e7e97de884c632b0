"""The scaling-fit page: parameters with intervals, escaped title, one figure per view."""

import numpy as np

from phasewatch.analysis.scaling import fit_scaling_law
from phasewatch.report.scaling import write_scaling_page


def test_the_page_lists_every_parameter_with_its_interval_and_escapes_the_title(tmp_path):
    rng = np.random.default_rng(0)
    n = np.repeat(np.geomspace(1e6, 1e9, 6), 3)
    d = n * np.tile([5.0, 20.0, 80.0], 6)
    loss = (1.7 + 400 / n**0.34 + 1500 / d**0.36) * np.exp(rng.normal(0, 0.003, len(n)))
    data = {"N": n, "D": d, "loss": loss}
    fit = fit_scaling_law(data, resamples=20, starts=16)
    path = write_scaling_page(fit, data, tmp_path / "fit.html", title="<img src=x onerror=alert(1)>")
    html = path.read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    for key in ("E", "A", "B", "alpha", "beta"):
        assert f"<td>{key}</td>" in html
    assert 'id="residuals"' in html and 'id="surface"' in html
    kaplan = fit_scaling_law(data, form="kaplan", resamples=0)
    html = write_scaling_page(kaplan, data, tmp_path / "k.html", title="k").read_text()
    assert 'id="curve"' in html and "N_c" in html and "no bootstrap" in html
