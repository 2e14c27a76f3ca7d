"""The build under test: mypyc-compiled modules (a wheel) or the pure Python sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import runnorm
from runnorm import batch, dump, encoding, plugins, provider, redaction, status, timestamps

HOT_PATH = (batch, dump, encoding, plugins, provider, redaction, status, timestamps)


def test_build_kind_names_what_runs() -> None:
    compiled = [not (module.__file__ or "").endswith(".py") for module in HOT_PATH]
    assert all(compiled) or not any(compiled)  # never half compiled
    assert runnorm.build_kind() == ("compiled" if all(compiled) else "pure")
    expected = os.environ.get("RUNNORM_EXPECT_BUILD")  # set by the nox sessions
    if expected is not None:
        assert runnorm.build_kind() == expected


def test_build_kind_is_reported_by_the_version_option() -> None:
    done = subprocess.run(
        [sys.executable, "-P", "-c", "from runnorm.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"({runnorm.build_kind()})" in done.stdout


def test_declarations_pickle_and_copy_in_every_build() -> None:
    import copy
    import pickle

    from runnorm import Fields, RunStatus, StatusMap
    from runnorm.plugins import get_host

    statuses = StatusMap("p", {"done": RunStatus.SUCCEEDED})
    fields = Fields("p")
    for value in (statuses, fields):
        for twin in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert type(twin) is type(value)
            assert twin.provider == "p"
    assert pickle.loads(pickle.dumps(statuses)) == statuses
    provider = get_host().get("skyvern")
    restored = pickle.loads(pickle.dumps(provider))
    assert restored.name == "skyvern" and restored.statuses == provider.statuses
    assert copy.deepcopy(provider).statuses == provider.statuses


def test_batch_entry_points_take_any_paths(tmp_path: Path) -> None:
    import io

    from runnorm.redaction import Redactor

    example = Path(__file__).resolve().parents[1] / "examples" / "mixed-runs.jsonl"
    out = io.BytesIO()
    stats = batch.run_batch((example,), batch.BatchOptions(), out, report=print)
    assert (stats.records, stats.failed) == (17, 0)
    assert batch.expand_paths((tmp_path, example)) == [str(example)]
    assert len(batch.plan_shards((example,), 2)) == 1
    assert Redactor(["totp_*"]).may_hold_secrets(bytearray(b'{"totp_a": 1}'))


def test_a_source_checkout_ahead_of_an_installed_wheel_still_runs() -> None:
    # -m with the checkout as working directory: its pure Python core comes first on
    # sys.path, ahead of whatever is installed (over a wheel: compiled plugin modules).
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "runnorm", "normalize", "examples/mixed-runs.jsonl"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "records in: 17, normalized: 17, failed: 0" in done.stderr
