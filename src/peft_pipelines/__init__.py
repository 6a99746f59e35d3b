"""peft-pipelines: reproducible PEFT/LoRA fine-tuning as Kedro pipelines.

Layering: imports go one way only, ``cli``/``demo``/``hooks``/``settings``/``pipelines`` ->
``speech``, ``text`` (the domains, never each other) -> ``training`` (the shared
core) -> ``io`` (catalog datasets, model loading, packaged files) ->
``data_quality``, ``distributed`` -> ``errors`` (imports nothing of ours); no pipeline imports
another, and nodes read and write nothing but their inputs and outputs.
"""

__version__ = "0.1.0"
