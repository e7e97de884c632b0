"""phasewatch in other people's training: the `Watcher` for any PyTorch loop, callbacks for the
Hugging Face Trainer (`phasewatch.integrations.hf`) and Lightning (`phasewatch.integrations.lightning`),
and `analyze` over a saved checkpoint series. All of them record through `phasewatch.record.Recorder`
and probe with the one registry (`phasewatch.probes`). The callbacks import their framework, so they
are not imported here: `import phasewatch` never imports transformers or lightning.
"""

from phasewatch.integrations.analyze import analyze
from phasewatch.integrations.probe_data import ProbeData, load_probe_data
from phasewatch.integrations.watcher import Watcher

__all__ = ["ProbeData", "Watcher", "analyze", "load_probe_data"]
