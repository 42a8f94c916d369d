"""Print the lowest qiskit-ibm-runtime version that setup.cfg's ``ibm`` extra allows (its
``>=`` bound), for .ci/run's second test environment."""

import configparser
import re
from pathlib import Path

config = configparser.ConfigParser()
config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
(requirement,) = [
    line.strip()
    for line in config["options.extras_require"]["ibm"].splitlines()
    if line.strip().startswith("qiskit-ibm-runtime")
]
match = re.search(r">=\s*([0-9][0-9.]*)", requirement)
if match is None:
    raise SystemExit(f"setup.cfg: the ibm extra's {requirement!r} has no lower bound")
print(match.group(1))
