import re

from plotly.offline import get_plotlyjs, get_plotlyjs_version

from phasewatch.report import write_report


def without_plotlyjs(page: str) -> str:
    return page.replace(get_plotlyjs(), "")


def test_report_is_one_offline_page_with_every_panel(grokking_run):
    path = write_report(grokking_run)
    assert path == grokking_run.path / "report.html"
    assert not [p for p in grokking_run.path.iterdir() if p.name.startswith(".")]  # no temporary file left
    page = path.read_text(encoding="utf-8")

    # plotly.js is the store's shared copy, loaded by a relative path (so file:// works), not inlined
    assert get_plotlyjs() not in page
    [src] = re.findall(r"<script src=\"([^\"]+)\"", page)
    assert src == f"../.assets/plotly-{get_plotlyjs_version()}.min.js"
    assert (path.parent / src).read_text(encoding="utf-8") == get_plotlyjs()
    rest = page.replace(f'<script src="{src}"></script>', "")
    assert "http://" not in rest and "https://" not in rest  # no CDN, no fonts, no links out
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", rest)

    for panel in ("Behaviour", "Progress measures", "Matrices over time", "Events"):
        assert f"<h2>{panel}</h2>" in page
    for kind in ("loss_cliff", "crystallisation", "grokking"):
        assert f"<td>{kind}</td>" in page
    assert "<li>fourier_sparsity/embed rose 400 steps before test/accuracy rose</li>" in page  # lead/lag
    assert '"sliders"' in rest and "Plotly.addFrames" in rest
    assert r"restricted_loss\u002flogits" in rest and r"weight_norm\u002ftotal" in rest  # JSON escapes "/"


def test_user_strings_are_escaped(grokking_run):
    page = without_plotlyjs(write_report(grokking_run).read_text(encoding="utf-8"))
    assert grokking_run.config["description"] == "<script>alert(1)</script>"
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_report_without_arrays_or_events_omits_those_panels(tmp_path, make_run):
    run = make_run(tmp_path, "plain", arrays=False, events=False, probes=False)
    page = without_plotlyjs(write_report(run).read_text(encoding="utf-8"))
    assert "<h2>Behaviour</h2>" in page
    assert "Progress measures" not in page and "Matrices over time" not in page and '"sliders"' not in page
    assert "No events detected." in page


def test_rewriting_replaces_the_report(grokking_run):
    first = write_report(grokking_run).read_text(encoding="utf-8")
    assert write_report(grokking_run).read_text(encoding="utf-8") == first  # deterministic: stable div ids
