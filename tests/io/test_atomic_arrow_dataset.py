import subprocess
import sys
import textwrap
from pathlib import Path

from datasets import Dataset, DatasetDict

from peft_pipelines.io import AtomicArrowDataset

# With argv[2] == "overwrite", saves a first version whole; then starts saving a second
# and is SIGKILLed after its train split is written but before the save completes: the
# moment a plain save_to_disk leaves a mix of two versions on disk.
KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import datasets
    from datasets import Dataset, DatasetDict
    from peft_pipelines.io import AtomicArrowDataset

    dataset = AtomicArrowDataset(path=sys.argv[1])
    if sys.argv[2] == "overwrite":
        dataset.save(DatasetDict({"train": Dataset.from_dict({"x": [1, 2, 3]}), "test": Dataset.from_dict({"x": [1]})}))

    original = Dataset.save_to_disk
    def save_then_die(self, path, *args, **kwargs):
        original(self, path, *args, **kwargs)
        if self.num_rows == 2:  # the second version's train split is on disk now
            os.kill(os.getpid(), signal.SIGKILL)
    datasets.Dataset.save_to_disk = save_then_die
    dataset.save(DatasetDict({"train": Dataset.from_dict({"x": [10, 20]}), "test": Dataset.from_dict({"x": [10]})}))
    """
)


def _as_dict(data: DatasetDict) -> dict:
    return {split: rows.to_dict() for split, rows in data.items()}


def test_save_and_overwrite_round_trip(tmp_path):
    dataset = AtomicArrowDataset(path=str(tmp_path / "corpus"))
    first = DatasetDict({"train": Dataset.from_dict({"x": [1, 2]})})
    dataset.save(first)
    assert _as_dict(dataset.load()) == {"train": {"x": [1, 2]}}
    dataset.save(DatasetDict({"train": Dataset.from_dict({"x": [7]})}))
    assert _as_dict(dataset.load()) == {"train": {"x": [7]}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


def test_a_save_killed_mid_write_is_never_loaded_as_valid(tmp_path):
    target = tmp_path / "corpus"
    result = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(target), "overwrite"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == -9, result.stderr  # really killed, mid-save
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".corpus.partial-")]
    assert leftovers, "the killed save should have left its staging folder behind"

    # The half-written second version is invisible: the first is still whole.
    dataset = AtomicArrowDataset(path=str(target))
    assert _as_dict(dataset.load()) == {"train": {"x": [1, 2, 3]}, "test": {"x": [1]}}

    # The next complete save sweeps the debris away.
    dataset.save(DatasetDict({"train": Dataset.from_dict({"x": [5]})}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]
    assert _as_dict(dataset.load()) == {"train": {"x": [5]}}


def test_a_killed_first_save_leaves_no_loadable_dataset(tmp_path):
    target = tmp_path / "corpus"
    result = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(target), "first"], capture_output=True, check=False
    )
    assert result.returncode == -9
    assert not AtomicArrowDataset(path=str(target)).exists()
    assert not Path(target).exists()
