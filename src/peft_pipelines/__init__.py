"""peft-pipelines: reproducible PEFT/LoRA fine-tuning as Kedro pipelines.

Layering: imports go one way only. Entry points (``cli``, ``settings``, ``runner``,
``pipeline_registry``, ``__main__``; none imports another) -> Kedro extensions and the
demo's app (``hooks``, ``fingerprints``, ``parameter_check``, ``viz_site``, ``demo``; none
imports another) -> ``pipelines`` and ``project`` (this project as a library) -> ``speech``,
``text`` (the domains, never each other) -> ``training`` (the shared core) -> ``io``
(catalog datasets, model loading, packaged files) -> ``data_quality``, ``distributed`` ->
``errors`` (imports nothing of ours); no pipeline imports another, and nodes read and
write nothing but their inputs and outputs.
"""

__version__ = "0.1.0"
