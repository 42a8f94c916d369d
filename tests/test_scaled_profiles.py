"""Noise-scaled copies of the Aer profiles (qlstm_qiskit.backends.scaled_profiles), the user
profiles that the sweep's ``noise_scale`` axis writes."""

import pytest

from qlstm_qiskit import get_backend
from qlstm_qiskit.backends.noise import COHERENCE_KEYS, PROBABILITY_KEYS, scaled_noise
from qlstm_qiskit.backends.profile_files import find_profiles, load_profile
from qlstm_qiskit.backends.scaled_profiles import write_scaled_profile


def test_scaled_noise():
    noise = {
        "depolarizing_1q": 0.001,
        "depolarizing_2q": 0.4,
        "t1_ns": 100_000.0,
        "t2_ns": 80_000.0,
        "time_1q_ns": 50.0,
        "readout_p01": 0.02,
    }
    double = scaled_noise(noise, 2.0)
    assert double["depolarizing_1q"] == pytest.approx(0.002)
    assert double["depolarizing_2q"] == pytest.approx(0.8)
    assert double["readout_p01"] == pytest.approx(0.04)
    assert double["t1_ns"] == pytest.approx(50_000.0) and double["t2_ns"] == pytest.approx(40_000.0)
    assert double["time_1q_ns"] == 50.0
    assert scaled_noise(noise, 4.0)["depolarizing_2q"] == 1.0  # capped
    with pytest.raises(ValueError):
        scaled_noise(noise, 0.0)


@pytest.mark.parametrize("base", ["aer_noisy", "aer_noisy_exact"])
def test_scaled_profiles_load(base, tmp_path):
    shipped = load_profile(find_profiles()[base])
    low, high = (write_scaled_profile(base, scale, tmp_path) for scale in (0.5, 4.0))
    assert low != high
    profiles = find_profiles(tmp_path)
    weak, strong = load_profile(profiles[low]), load_profile(profiles[high])
    for key, value in shipped.noise.items():
        if key in PROBABILITY_KEYS:
            assert weak.noise[key] == pytest.approx(0.5 * value)
            assert strong.noise[key] == pytest.approx(4.0 * value)
            assert strong.noise[key] > weak.noise[key]
        elif key in COHERENCE_KEYS:
            assert weak.noise[key] == pytest.approx(2.0 * value)
            assert strong.noise[key] == pytest.approx(value / 4.0)
            assert strong.noise[key] < weak.noise[key]
        else:
            assert strong.noise[key] == weak.noise[key] == value
    assert strong.options == shipped.options
    assert strong.computes == shipped.computes == "noisy"
    # the documented user-profile mechanism: the written file is a backend name
    backend = get_backend(high, profile_dir=tmp_path)
    assert backend.computes == "noisy"
    assert backend.options().get("shots") == shipped.options["shots"]
