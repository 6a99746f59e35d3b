"""The ``evaluate`` metric shipped in the package scores exactly as the pipeline does, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from peft_pipelines.speech.metrics import character_error_rate, metric_path, word_error_rate

# (reference, prediction): Traditional script, full-width punctuation, insertions, a deletion,
# Latin words in mixed case, an empty prediction.
PAIRS = [
    ("今天天气很好。", "今天天氣很好"),
    ("你好，世界！", "你好世届"),
    ("我们说话", "我們說話吧吧吧吧吧"),
    ("Hello World 你好", "hello world"),
    ("谢谢", ""),
]

# A notebook's use of the metric, in a fresh interpreter with the Hub off and every socket
# refused: a load that reached for the network would fail here.
NOTEBOOK = textwrap.dedent(
    """
    import json, socket, sys

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    socket.socket.connect = refuse
    socket.create_connection = refuse

    import evaluate
    from peft_pipelines.speech.metrics import metric_path

    pairs = json.loads(sys.argv[1])
    metric = evaluate.load(metric_path())
    scores = [metric.compute(predictions=[p for _, p in pairs], references=[r for r, _ in pairs])]
    scores += [metric.compute(predictions=[p], references=[r]) for r, p in pairs]
    try:
        metric.compute(predictions=["你好"], references=["。"])
    except ValueError as error:
        scores.append(str(error))
    print(json.dumps(scores))
    """
)


def _scores_in_a_notebook(tmp_path: Path) -> list:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        # A fresh module cache: the script is copied from the package, not found from before.
        "HF_HOME": str(tmp_path / "hf_home"),
    }
    run = subprocess.run(
        [sys.executable, "-c", NOTEBOOK, json.dumps(PAIRS)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_metric_path_is_the_packaged_script() -> None:
    path = Path(metric_path())
    assert path.is_file() and path.name == "chinese_error_rates.py"
    assert path.parent == Path(character_error_rate.__code__.co_filename).parent


def test_the_evaluate_metric_gives_the_pipelines_numbers_offline(tmp_path: Path) -> None:
    corpus, *each, empty_error = _scores_in_a_notebook(tmp_path)
    references, predictions = [r for r, _ in PAIRS], [p for _, p in PAIRS]
    assert corpus == {
        "cer": character_error_rate(references, predictions),
        "wer": word_error_rate(references, predictions),
    }
    assert each == [
        {"cer": character_error_rate([r], [p]), "wer": word_error_rate([r], [p])} for r, p in PAIRS
    ]
    # Not a trivial agreement: the pairs score differently, and above 1 with insertions.
    assert len({score["cer"] for score in each}) > 2 and max(s["cer"] for s in each) > 1
    assert empty_error == "every reference is empty after normalisation: CER is undefined"
