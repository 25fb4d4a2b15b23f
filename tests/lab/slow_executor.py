"""A stand-in for the federation in subprocess tests of ``fedlab lab worker --executor``.

:func:`executor` runs like a real run: it writes into a staging folder next to DIR (with a
party file standing in for key material), marks DIR's parent with ``started`` (holding its
pid) once it runs, then waits until the file ``FEDLAB_TEST_RELEASE`` names exists, reporting
``tick`` progress meanwhile, and only then writes metrics.json and moves the staging folder
to DIR. A worker killed while it waits leaves the staging folder behind; one stopped by a
signal removes it (``federation.outputs.staging``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from federation.outputs import staging

STARTED = "started"


def executor(cfg: Any, out_dir: Path, runtime: str, progress: Any) -> dict[str, Any]:
    release = Path(os.environ["FEDLAB_TEST_RELEASE"])
    with staging(out_dir) as stage:
        party = stage / "parties" / "tax"
        party.mkdir(parents=True)
        (party / "psi_key.pem").write_text("stands in for a host's PSI key\n")
        (out_dir.parent / STARTED).write_text(str(os.getpid()))
        while not release.exists():
            progress("tick", {})
            time.sleep(0.05)
        metrics = {"auc": 0.75, "ks": 0.35, "loss": [0.69, 0.6], "runtime": runtime}
        (stage / "metrics.json").write_text(json.dumps(metrics))
    return metrics
