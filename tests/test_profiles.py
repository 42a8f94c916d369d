"""Backend profiles that mean what they say (issue 15): text encodings, options a profile cannot
use, an explicit ``shots=None`` on a sampling profile, a missing profile folder, and a bad profile
that breaks only its own name."""

import os

import pytest

from qlstm_qiskit import get_backend, list_backends

EXACT = (
    'description = "exact"\nkind = "aer"\ncomputes = "exact"\ngradient = "param_shift"\n[options]\n'
)
SAMPLED = (
    'description = "my shots"\nkind = "aer"\ncomputes = "sampled"\ngradient = "param_shift"\n'
    "[options]\nshots = 100\n"
)


def write(folder, name, text, encoding="utf-8"):
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        (EXACT + "seed = 3\n", r"seed applies only to sampled backends"),
        (EXACT + "spsa_samples = 8\n", r"spsa_samples apply only with gradient='spsa'"),
    ],
)
def test_options_a_profile_cannot_use_are_rejected_in_the_file(tmp_path, text, message):
    path = write(tmp_path, "mine", text)
    with pytest.raises(ValueError, match=rf"backend profile '{path}': {message}"):
        get_backend("mine", profile_dir=tmp_path)


def test_a_latin1_profile_is_an_error_naming_the_file(tmp_path):
    path = write(tmp_path, "latin", SAMPLED.replace("my shots", "mes coups é"), "latin-1")
    with pytest.raises(ValueError, match=rf"backend profile '{path}': is not UTF-8 text"):
        get_backend("latin", profile_dir=tmp_path)


def test_a_byte_order_mark_is_allowed(tmp_path):
    write(tmp_path, "bom", SAMPLED, "utf-8-sig")
    backend = get_backend("bom", profile_dir=tmp_path)
    assert backend.options()["shots"] == 100 and backend.computes == "sampled"


def test_explicit_shots_none_on_a_sampling_profile_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"'aer_shots' samples shots .* got None"):
        get_backend("aer_shots", shots=None)
    write(tmp_path, "mine", SAMPLED)
    with pytest.raises(ValueError, match=r"'mine' samples shots"):
        get_backend("mine", profile_dir=tmp_path, shots=None)
    assert get_backend("aer_shots", shots=50).options()["shots"] == 50


def test_a_missing_folder_in_the_environment_variable_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("QLSTM_QISKIT_BACKENDS", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=r"QLSTM_QISKIT_BACKENDS names .*nowhere.*not an existing"):
        list_backends()
    write(tmp_path, "mine", SAMPLED)
    monkeypatch.setenv("QLSTM_QISKIT_BACKENDS", f"{tmp_path}{os.pathsep}")  # an empty entry: fine
    assert list_backends()["mine"] == "my shots"


@pytest.mark.parametrize(
    "text, encoding, reason",
    [
        ('description = "x"\nkind = ', "utf-8", r"cannot read it as TOML"),
        ("[tool.black]\nline-length = 100\n", "utf-8", r"unknown key\(s\) 'tool'"),
        (SAMPLED.replace("my shots", "é"), "latin-1", r"is not UTF-8 text"),
    ],
)
def test_a_bad_profile_breaks_only_its_own_name(tmp_path, monkeypatch, text, encoding, reason):
    write(tmp_path, "broken", text, encoding)
    write(tmp_path, "mine", SAMPLED)
    monkeypatch.setenv("QLSTM_QISKIT_BACKENDS", str(tmp_path))
    listed = list_backends()
    assert listed["mine"] == "my shots" and listed["statevector"]
    assert listed["broken"].startswith("BROKEN: ") and __import__("re").search(
        reason, listed["broken"]
    )
    assert get_backend("statevector").name == "statevector"
    assert get_backend("mine").options()["shots"] == 100
    assert get_backend("density_matrix", noise_from="aer_noisy").computes == "noisy"
    with pytest.raises(ValueError, match=rf"backend 'broken' cannot be built: .*{reason}"):
        get_backend("broken")


def test_a_broken_device_template_breaks_its_family_only(tmp_path):
    write(tmp_path, "fake_device", 'description = "x"\nkind = "device"\n')
    with pytest.raises(ValueError, match=r"backend 'fake_manila' cannot be built: .*fake_device"):
        get_backend("fake_manila", profile_dir=tmp_path)
    assert get_backend("aer_shots", profile_dir=tmp_path).computes == "sampled"
    assert list_backends(profile_dir=tmp_path)["fake_device"].startswith("BROKEN: ")


def test_a_checkpoint_records_its_profile_and_a_changed_one_is_reported(tmp_path, monkeypatch):
    import warnings

    import torch

    from qlstm_qiskit.cli import main
    from qlstm_qiskit.forecasting.training import Run

    monkeypatch.delenv("QLSTM_QISKIT_BACKENDS", raising=False)
    run_dir = tmp_path / "run"
    tiny = ["--dataset", "sine", "--n-points", "12", "--window", "3", "--hidden-size", "2"]
    argv = ["train", *tiny, "--n-qubits", "2", "--epochs", "1", "--no-progress"]
    assert main([*argv, "--run-dir", str(run_dir)]) == 0
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)["models"]["qlstm"]
    assert saved["backend_profile"]["profile"] == "statevector"
    assert len(saved["backend_profile"]["sha256"]) == 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same profile: nothing to report
        Run.load(run_dir)
    shadow = tmp_path / "profiles"
    write(
        shadow,
        "statevector",
        EXACT.replace('kind = "aer"', 'kind = "statevector"').replace('"param_shift"', '"autograd"')
        + 'method = "adjoint"\n',
    )
    monkeypatch.setenv("QLSTM_QISKIT_BACKENDS", str(shadow))
    with pytest.warns(UserWarning, match=rf"was the profile .*statevector.toml .* is now {shadow}"):
        Run.load(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # another backend asked for: not compared
        Run.load(run_dir, backend=("aer_statevector", {}))
