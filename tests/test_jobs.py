"""``qlstm-qiskit jobs RUN_DIR|LEDGER`` and :mod:`qlstm_qiskit.backends.job_admin`: listing a
ledger's jobs, refreshing, rebuilding a lost ledger from the service's job tags, cancelling.

The runs are real: ``ibm_manila`` of the stand-in service of runtime_standin.py (IBM Quantum
cannot be reached from here), whose jobs the real runtime Estimator runs in local mode and the
stand-in registers with their tags; ``fake_manila`` for local ledgers. The command's service is
the stand-in (``qlstm_qiskit.cli.jobs.runtime_service`` replaced: the network boundary)."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from qlstm_qiskit import QLSTM
from qlstm_qiskit.backends.jobs import KEY_TAG, result_arrays
from qlstm_qiskit.backends.ledger import Ledger
from qlstm_qiskit.cli import main
from qlstm_qiskit.forecasting.inference import predict_dataset

pytest.importorskip("qiskit_ibm_runtime")
from runtime_standin import StandInService  # noqa: E402

from qlstm_qiskit.backends.job_admin import latest_entries, rebuild, summarise  # noqa: E402
from qlstm_qiskit.backends.runtime_estimator import (  # noqa: E402
    estimator_class,
    installed_primitive,
)

T = 2  # time steps: two jobs a run
X = torch.linspace(-1, 1, 3 * T, dtype=torch.float64).reshape(3, T, 1)
USAGE = 2.5  # QPU seconds the stand-in bills a finished job
TOKEN = "standin-token-4f0a-never-written"


@pytest.fixture
def service(monkeypatch):
    """The stand-in service: it registers the runtime Estimator's jobs and is what the
    ``jobs`` command gets from ``runtime_service()``."""
    service = StandInService(usage_per_job=USAGE)
    service.record_submissions(monkeypatch, estimator_class(installed_primitive()))
    monkeypatch.setattr("qlstm_qiskit.cli.jobs.runtime_service", lambda: service)
    return service


@pytest.fixture
def no_service(monkeypatch):
    """A ``jobs`` command that asks for a service fails the test."""

    def refuse():
        raise AssertionError("the command asked for a service")

    monkeypatch.setattr("qlstm_qiskit.cli.jobs.runtime_service", refuse)


def model():
    return QLSTM(1, 2, n_qubits=2, seed=0, dtype=torch.float64, batch_first=True)


def ibm_run(service, ledger, run_name="r1"):
    """The same computation on ``ibm_manila``: ``(values, its LedgerEstimator)``."""
    m = model().set_backend(
        "ibm_manila",
        service=service,
        shots=200,
        resilience_level=0,
        ledger=str(ledger),
        run_name=run_name,
    )
    return predict_dataset(m, X), m.backend.estimator


def local_run(ledger):
    m = model().set_backend("fake_manila", shots=100, seed=1, ledger=str(ledger))
    return predict_dataset(m, X), m.backend.estimator


def jobs(capsys, *argv, stdin=None, monkeypatch=None):
    """``qlstm-qiskit jobs ARGV``: ``(exit status, stdout, stderr)``."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    status = main(["jobs", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def forget_done(folder: Path, keys=None) -> None:
    """The ledger as a crash after submission leaves it: no ``done`` lines (of ``keys``, default
    all) and no result files."""
    path = folder / "ledger.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    forgotten = [e for e in lines if e["status"] == "done" and (keys is None or e["key"] in keys)]
    kept = [e for e in lines if e not in forgotten]
    path.write_text("".join(json.dumps(e) + "\n" for e in kept))
    for entry in forgotten:
        (folder / entry["result"]).unlink()


def states(folder: Path) -> dict[str, str]:
    return {key: entry["status"] for key, entry in latest_entries(Ledger(folder)).items()}


def row_of(out: str, job_id: str) -> list[str]:
    (line,) = [line for line in out.splitlines() if f" {job_id} " in line]
    return line.split()


def test_listing_shows_statuses_ids_seconds_and_totals(tmp_path, service, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    ibm_run(service, run_dir / "ledger")
    local_run(run_dir / "pred-ledger")
    monkeypatch.setattr("qlstm_qiskit.cli.jobs.runtime_service", lambda: 1 / 0)  # not asked
    status, out, err = jobs(capsys, run_dir)
    assert status == 0, err
    submitted = [e for e in Ledger(run_dir / "ledger").lines if e["status"] == "submitted"]
    assert len(submitted) == T and {e["job_id"] for e in submitted} == set(service.stored)
    for entry in submitted:
        key, state, job_id, backend, estimated, billed, tags = row_of(out, entry["job_id"])
        assert entry["key"].startswith(key) and (state, backend, tags) == (
            "done",
            "ibm_manila",
            "r1",
        )
        assert estimated == f"{entry['estimated_seconds']:.1f}" and float(billed) == USAGE
    estimated = sum(e["estimated_seconds"] for e in submitted)
    assert (
        f"{T} jobs ({T} done): {T} on IBM Quantum, 0 local; estimated {estimated:.1f} s, "
        f"billed {T * USAGE:.1f} s (of {T} jobs); {T} submissions in all"
    ) in out
    for entry in Ledger(run_dir / "pred-ledger").lines:
        if entry["status"] == "submitted":
            assert row_of(out, entry["job_id"])[5] == "local"
    assert f"{T} jobs ({T} done): 0 on IBM Quantum, {T} local" in out
    second = out.index(f"ledger {run_dir / 'pred-ledger'}")
    assert out.index(f"ledger {run_dir / 'ledger'}") < second
    # a ledger folder and its ledger.jsonl name that ledger only
    for path in (run_dir / "ledger", run_dir / "ledger" / "ledger.jsonl"):
        status, only, _ = jobs(capsys, path)
        assert status == 0 and only == out[:second]


def test_refresh_turns_a_crashed_ledger_into_done_lines_with_usage(tmp_path, service, capsys):
    folder = tmp_path / "run" / "ledger"
    first, _ = ibm_run(service, folder)
    forget_done(folder)
    local_run(tmp_path / "run" / "evaluate-ledger")  # a local ledger beside it: skipped
    assert set(states(folder).values()) == {"submitted"}
    status, out, err = jobs(capsys, folder)
    assert status == 0 and f"{T} IBM Quantum jobs not yet recorded as finished" in out
    status, out, err = jobs(capsys, tmp_path / "run", "--refresh")
    assert status == 0, err
    local = tmp_path / "run" / "evaluate-ledger"
    assert f"skipped: --refresh: the job ledger {local} holds only local fake-device jobs" in out
    assert f"{T} jobs looked up" in out and out.count(": done: result saved to results/") == T
    ledger = Ledger(folder)
    for entry in latest_entries(ledger).values():
        assert entry["status"] == "done" and entry["usage_seconds"] == USAGE
        saved = ledger.load_result(entry)
        expected = result_arrays(service.stored[entry["job_id"]].result())
        assert saved.keys() == expected.keys()
        assert all(np.array_equal(saved[k], expected[k]) for k in saved)
    again, estimator = ibm_run(service, folder)
    assert (estimator.submitted, estimator.reattached, estimator.reused) == (0, 0, T)
    assert torch.equal(again, first)
    # nothing left to refresh: nothing asked
    asked = len(service.asked)
    assert jobs(capsys, folder, "--refresh")[1].startswith(f"refreshed {folder}: nothing")
    assert len(service.asked) == asked


def test_refresh_records_failed_jobs_and_reports_pending_and_missing_ones(
    tmp_path, service, capsys, monkeypatch
):
    ibm_run(service, tmp_path)
    forget_done(tmp_path)
    failed, missing = [e for e in Ledger(tmp_path).lines if e["status"] == "submitted"]
    service.stored[failed["job_id"]]._status = "ERROR"
    del service.stored[missing["job_id"]]
    ledger = Ledger(tmp_path)
    queued = service.add_job(["r1", KEY_TAG + "ab" * 20], status="QUEUED")
    ledger.record(
        {"key": "ab" * 20, "status": "submitted", "job_id": queued.job_id(), "local": False}
    )
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    monkeypatch.setattr(service, "job", _leaky(service.job))  # an error quoting the token
    status, out, err = jobs(capsys, tmp_path, "--refresh")
    assert status == 0, err
    latest = latest_entries(Ledger(tmp_path))
    assert latest[failed["key"]]["status"] == "failed"
    assert latest[failed["key"]]["job_status"] == "ERROR"
    assert latest[failed["key"]]["error"] == "Error code 1517; the stand-in job failed"
    assert latest[missing["key"]]["status"] == "submitted"  # not found: left for a later run
    assert latest["ab" * 20]["status"] == "submitted"  # still queued: nothing recorded
    assert f"{queued.job_id()} (abababababab): queued: still QUEUED at IBM Quantum" in out
    assert f"{missing['job_id']} ({missing['key'][:12]}): not found:" in out
    assert TOKEN not in out and "***" in out
    # a later run submits the failed job again and re-attaches nothing that is gone
    _, estimator = ibm_run(service, tmp_path)
    assert (estimator.submitted, estimator.reused) == (T, 0)


def _leaky(job):
    def lookup(job_id):
        try:
            return job(job_id)
        except LookupError as exc:
            raise LookupError(f"{exc} (request with token {TOKEN})") from None

    return lookup


def test_rebuild_of_a_deleted_ledger_reads_every_value_back(tmp_path, service, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoint.pt").write_bytes(b"")  # a train run directory: ledger in RUN_DIR/ledger
    first, _ = ibm_run(service, run_dir / "ledger")
    original = Ledger(run_dir / "ledger")
    ibm_run(service, tmp_path / "other", run_name="other-run")  # another run's jobs: not taken
    untagged = service.add_job(["r1"])  # a job of the run without a key tag: reported, skipped
    shutil.rmtree(run_dir / "ledger")
    status, out, err = jobs(capsys, run_dir, "--rebuild", "--run-name", "r1")
    assert status == 0, err
    assert f"rebuilt {run_dir / 'ledger'} from {T + 1} jobs tagged 'r1': {T} recovered" in out
    assert f"skipped, no {KEY_TAG}<key> tag: {untagged.job_id()}" in out
    rebuilt = Ledger(run_dir / "ledger")
    assert list(latest_entries(rebuilt)) == list(latest_entries(original))  # the same order
    for key, entry in latest_entries(rebuilt).items():
        was = latest_entries(original)[key]
        assert (entry["job_id"], entry["tags"], entry["backend"]) == (
            was["job_id"],
            was["tags"],
            was["backend"],
        )
        assert entry["status"] == "done" and entry["usage_seconds"] == USAGE and not entry["local"]
    again, estimator = ibm_run(service, run_dir / "ledger")
    assert (estimator.submitted, estimator.reused) == (0, T)
    assert torch.equal(again, first)
    # an existing ledger is never overwritten; --merge adds only what it is missing
    status, _, err = jobs(capsys, run_dir / "ledger", "--rebuild", "--run-name", "r1")
    assert status == 1 and "already holds 2 jobs; pass merge=True (--merge)" in err
    status, out, _ = jobs(capsys, run_dir / "ledger", "--rebuild", "--run-name", "r1", "--merge")
    assert status == 0 and f"0 recovered, {T} already in the ledger" in out
    assert len(Ledger(run_dir / "ledger").lines) == len(rebuilt.lines)


def test_rebuild_keeps_the_finished_attempt_of_a_key(tmp_path, service):
    """A key with a failed attempt and a finished one is rebuilt from the finished one, a key
    whose jobs all ended without a result from the newest one."""
    ibm_run(service, tmp_path / "ledger")
    done = [e for e in Ledger(tmp_path / "ledger").lines if e["status"] == "submitted"]
    failed = service.add_job(done[0]["tags"], status="ERROR")  # a later, failed attempt
    older = service.add_job(["r1", KEY_TAG + "ef" * 20], status="ERROR")
    newer = service.add_job(["r1", KEY_TAG + "ef" * 20], status="CANCELLED")
    shutil.rmtree(tmp_path / "ledger")
    report = rebuild(tmp_path / "ledger", service, "r1")
    assert sorted(report.superseded) == sorted([failed.job_id(), older.job_id()])
    assert len(report.recovered) == T + 1
    latest = latest_entries(Ledger(tmp_path / "ledger"))
    assert [latest[e["key"]]["status"] for e in done] == ["done"] * T
    recovered = latest["ef" * 20]
    assert (recovered["status"], recovered["job_id"]) == ("cancelled", newer.job_id())
    with pytest.raises(ValueError, match=r"lists no job tagged 'nothing-of-that-name'"):
        rebuild(tmp_path / "empty", service, "nothing-of-that-name")


def test_cancel_a_queued_job_then_a_later_run_submits_it_again(
    tmp_path, service, capsys, monkeypatch
):
    first, _ = ibm_run(service, tmp_path)
    # the last time step's job is still queued at IBM Quantum; the first one's has finished (a
    # step's inputs hold the previous step's outputs: the last one is the one to compute again)
    finished, pending = [e for e in Ledger(tmp_path).lines if e["status"] == "submitted"]
    forget_done(tmp_path)
    queued = service.add_job(pending["tags"], status="QUEUED")
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    for line in lines:
        if line["key"] == pending["key"]:
            line["job_id"] = queued.job_id()
    (tmp_path / "ledger.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    before = (tmp_path / "ledger.jsonl").read_text()
    status, out, err = jobs(capsys, tmp_path, "--cancel", stdin="n\n", monkeypatch=monkeypatch)
    assert status == 1 and "not confirmed: nothing was cancelled" in err
    assert f"Cancel the pending ones among these {T} jobs at IBM Quantum? [y/N]" in out
    assert queued.status() == "QUEUED"
    assert (tmp_path / "ledger.jsonl").read_text() == before
    status, out, err = jobs(capsys, tmp_path, "--cancel", stdin="y\n", monkeypatch=monkeypatch)
    assert status == 0, err
    assert queued.status() == "CANCELLED"
    assert f"{queued.job_id()} ({pending['key'][:12]}): cancelled: cancelled while QUEUED" in out
    not_pending = f"{finished['job_id']} ({finished['key'][:12]}): not pending: IBM Quantum says"
    assert f"{not_pending} DONE" in out
    latest = latest_entries(Ledger(tmp_path))
    assert latest[pending["key"]]["status"] == "cancelled"
    assert latest[pending["key"]]["job_id"] == queued.job_id()
    assert latest[finished["key"]]["status"] == "submitted"  # not pending: left to --refresh
    # a cancelled job is submitted again, the finished one re-attached
    asked = len(service.asked)
    again, estimator = ibm_run(service, tmp_path)
    assert (estimator.submitted, estimator.reattached) == (1, 1)
    assert service.asked[asked:] == [finished["job_id"]]  # a cancelled job is not asked for
    assert set(states(tmp_path).values()) == {"done"}
    assert (again - first).abs().max() < 0.5  # sampled again: the same within shot noise
    # --yes: no question; nothing left to cancel
    status, out, _ = jobs(capsys, tmp_path, "--cancel", "--yes")
    assert status == 0 and "nothing to cancel" in out and "[y/N]" not in out


def test_local_fake_device_ledgers_are_refused(tmp_path, capsys, no_service):
    local_run(tmp_path)
    for argv in (
        ["--refresh"],
        ["--cancel", "--yes"],
        ["--rebuild", "--run-name", "qlstm-qiskit", "--merge"],
    ):
        status, _, err = jobs(capsys, tmp_path, *argv)
        assert status == 1 and err.startswith("qlstm-qiskit: error: ")
        assert (
            "holds only local fake-device jobs; local fake-device jobs cannot be retrieved" in err
        )
    assert jobs(capsys, tmp_path)[0] == 0  # listing needs no service


@pytest.mark.parametrize(
    "argv, status, match",
    [
        (["{tmp}", "--rebuild"], 1, "--rebuild needs --run-name NAME"),
        (["{tmp}", "--run-name", "r1"], 1, "--run-name would be ignored"),
        (["{tmp}", "--merge"], 1, "--merge would be ignored"),
        (["{tmp}", "--yes"], 1, "--yes would be ignored: --run-name and --merge go with"),
        (["{tmp}", "--refresh", "--cancel"], 2, "not allowed with argument"),
        (["{tmp}/missing"], 1, "no job ledger at {tmp}/missing: it does not exist; expected"),
        (["{tmp}/run"], 1, "no job ledger in {tmp}/run; expected a ledger folder (holding"),
        (["{tmp}/notes.txt"], 1, "{tmp}/notes.txt is a file but not a ledger.jsonl"),
        (["{tmp}/bad"], 1, "bad/ledger.jsonl: line 1: status must be one of submitted, done"),
        (["{tmp}/empty", "--refresh"], 1, "empty/ledger.jsonl holds no jobs"),
    ],
)
def test_errors(argv, status, match, tmp_path, capsys, no_service):
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "run" / "plots").mkdir(parents=True)  # folders, but no ledger
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ledger.jsonl").write_text('{"key": "a", "status": "lost"}\n')
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "ledger.jsonl").write_text("")
    code, _, err = jobs(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == status and match.replace("{tmp}", str(tmp_path)) in err
    assert "Traceback" not in err


def test_no_credential_reaches_a_file_or_the_output(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", TOKEN)
    service = StandInService(usage_per_job=USAGE)
    service.record_submissions(monkeypatch, estimator_class(installed_primitive()))

    def service_from_token():  # what runtime_service() does: the token read in this process
        import os

        service.token = os.environ["QISKIT_IBM_TOKEN"]
        return service

    monkeypatch.setattr("qlstm_qiskit.cli.jobs.runtime_service", service_from_token)
    ibm_run(service, tmp_path / "ledger")
    outputs = []
    forget_done(tmp_path / "ledger")
    outputs.append(jobs(capsys, tmp_path / "ledger", "--refresh"))
    shutil.rmtree(tmp_path / "ledger")
    outputs.append(jobs(capsys, tmp_path / "ledger", "--rebuild", "--run-name", "r1"))
    queued = service.add_job(["r1", KEY_TAG + "cd" * 20], status="QUEUED")
    Ledger(tmp_path / "ledger").record(
        {"key": "cd" * 20, "status": "submitted", "job_id": queued.job_id(), "local": False}
    )
    outputs.append(jobs(capsys, tmp_path / "ledger", "--cancel", "--yes"))
    outputs.append(jobs(capsys, tmp_path))
    assert [o[0] for o in outputs] == [0, 0, 0, 0] and queued.status() == "CANCELLED"
    assert service.token == TOKEN  # the service did hold it
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".npz" for p in written) and any(p.suffix == ".jsonl" for p in written)
    assert all(TOKEN.encode() not in p.read_bytes() for p in written)
    assert all(TOKEN not in out + err for _, out, err in outputs)


def test_cancelled_is_a_ledger_state_and_unknown_ones_are_refused(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record({"key": "k", "status": "submitted", "job_id": "j1", "local": False})
    ledger.record({"key": "k", "status": "cancelled", "job_id": "j1"})
    assert summarise(Ledger(tmp_path)).rows[0].status == "cancelled"
    with pytest.raises(ValueError, match=r"status must be one of .*cancelled, got 'lost'"):
        ledger.record({"key": "k", "status": "lost"})


def test_a_row_is_the_latest_submission_of_its_key(tmp_path):
    """A job submitted again shows its own id and figures, not an earlier attempt's."""
    ledger = Ledger(tmp_path)
    first = {"key": "k", "status": "submitted", "local": False, "estimated_seconds": 3.0}
    ledger.record({**first, "job_id": "j1", "backend": "ibm_manila", "tags": ["r", "x"]})
    ledger.record({"key": "k", "status": "failed", "job_id": "j1", "usage_seconds": 0.7})
    ledger.record({**first, "job_id": "j2", "estimated_seconds": 2.0})
    ledger.record({"key": "m", "status": "submitted", "job_id": "j3", "local": True})
    ledger.record({"key": "m", "status": "done", "result": "results/m.npz"})
    summary = summarise(Ledger(tmp_path))
    k, m = summary.rows
    assert (k.status, k.job_id, k.backend, k.tags) == ("submitted", "j2", None, ())
    assert (k.estimated_seconds, k.usage_seconds, k.local) == (2.0, None, False)
    assert (m.status, m.job_id, m.local, m.estimated_seconds) == ("done", "j3", True, None)
    assert summary.submissions == 3 and summary.estimated_seconds == 2.0
    assert summary.totals() == (
        "2 jobs (1 submitted, 1 done): 1 on IBM Quantum, 1 local; estimated 2.0 s, billed "
        "0.0 s (of 0 jobs); 3 submissions in all"
    )
