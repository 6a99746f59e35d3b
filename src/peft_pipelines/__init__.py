"""peft-pipelines: reproducible PEFT/LoRA fine-tuning as Kedro pipelines.

Layering: imports go one way only, and no module imports one of its own layer.
Entry points (``cli``, ``settings``, ``pipeline_registry``, ``__main__``) -> what Kedro
or a user plugs in (``hooks``, ``runner``, ``demo``) -> what is built on the project's
configuration (``fingerprints``, ``parameter_check``, ``viz_site``) -> ``pipelines`` and
``project`` (this project as a library) -> ``speech``, ``text``, ``plots`` (never each
other) -> ``training`` (the shared core) -> ``io`` (catalog datasets, model loading,
packaged files) -> ``data_quality``, ``distributed`` -> ``errors`` (imports nothing of
ours); no pipeline imports another, and nodes read and write nothing but their inputs
and outputs. ``tests/test_layering.py`` holds the table.
"""

__version__ = "0.1.0"
