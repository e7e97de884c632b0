from rich.console import Console

from phasewatch.report import print_summary


def test_summary_shows_metrics_and_one_events_table(grokking_run):
    console = Console(record=True, width=120)
    print_summary(grokking_run, console=console)
    text = console.export_text()
    assert "grok-1" in text and "finished" in text and "1m 15s" in text
    for metric in ("train/loss", "test/accuracy", "restricted_loss/logits"):
        assert metric in text
    assert text.count("events") == 1
    for cell in ("loss_cliff", "grokking", "test/accuracy", "[1,500, 1,720]", "0.09 → 1"):
        assert cell in text
    assert "fourier_sparsity/embed rose 400 steps before test/accuracy rose" in text


def test_summary_without_events(tmp_path, make_run):
    console = Console(record=True, width=120)
    print_summary(make_run(tmp_path, "plain", arrays=False, events=False), console=console)
    assert "no events detected" in console.export_text()


def test_summary_of_a_run_never_analysed_does_not_claim_it_has_no_events(tmp_path, make_run):
    run = make_run(tmp_path, "plain", arrays=False, events=False)
    (run.path / "events.json").unlink()
    console = Console(record=True, width=120)
    print_summary(run, console=console)
    text = console.export_text()
    assert "not analysed yet (`phasewatch report plain` detects them)" in text and "no events detected" not in text


def test_summary_is_plain_text_off_a_terminal(grokking_run, capsys):
    print_summary(grokking_run)
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "grokking" in out
