"""The worker on the deployment runtime: a local federation (SuperLink + one SuperNode per
catalog node, separate processes) runs an approved experiment; the filed model version
equals the same experiment's on the simulation runtime."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from conftest import World
from sqlmodel import select
from test_runner import FakeExecutor, approved

from federation.runtime.deployment import DEFAULT_STATE_DIR, Federation, NodeProc
from federation.runtime.processes import stop_group
from federation.runtime.target import FederationTarget
from lab.db import session_scope
from lab.errors import ConfigError
from lab.models import ExperimentCreate, ExperimentStatus, ModelVersion
from lab.runner import FederationExecutor, Worker
from lab.services import experiments, models_library

S = ExperimentStatus
PARAMS = {"epochs": 2, "batch_size": -1, "learning_rate": 0.5, "key_bits": 1024}
#: Two runs of one experiment differ only by their random masks, which cancel in float64 to
#: about 2^-22 per logit (federation.hetero_lr.FORWARD_MASK_BOUND); the loss, AUC and KS
#: move by less than this.
TOL = 1e-6
INDICATORS = ("taxes_paid_12m", "tax_arrears_amount", "vat_invoice_count_12m")


def approve(
    world: World,
    name: str,
    indicators: tuple[str, ...] = INDICATORS,
    params: dict[str, Any] = PARAMS,
) -> int:
    ds, staff = world.who("bank_a_ds"), world.who("staff")
    with session_scope(world.engine) as s:
        exp = experiments.create_experiment(
            session=s,
            actor=ds,
            experiment_in=ExperimentCreate(
                name=name,
                sample_id=world.seed.samples["bank_a"],
                algorithm="hetero_lr",
                indicator_codes=list(indicators),
                params=params,
                backend="paillier",
            ),
        )
        experiments.submit_experiment(session=s, actor=ds, experiment_id=exp.id)
        experiments.approve_experiment(session=s, actor=staff, experiment_id=exp.id)
    return exp.id


def outcome(world: World, exp_id: int) -> tuple[Any, Any]:
    staff = world.who("staff")
    with session_scope(world.engine) as s:
        exp = experiments.get_experiment(session=s, actor=staff, experiment_id=exp_id)
        model = models_library.model_for_experiment(session=s, actor=staff, experiment_id=exp_id)
    return exp, model


def artifacts(world: World, exp_id: int) -> dict[str, str]:
    with session_scope(world.engine) as s:
        row = s.exec(select(ModelVersion).where(ModelVersion.experiment_id == exp_id)).one()
        return dict(row.artifacts)


def group_gone(pgid: int) -> bool:
    """No process of the group ``fedlab federation up`` started is left (zombies reaped)."""
    try:
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def epoch_losses(exp: Any) -> list[float]:
    return [p["loss"] for p in exp.progress if p.get("event") == "epoch"]


def test_the_federation_to_run_on_is_for_the_deployment_runtime_only(
    world: World, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="deployment runtime only, not 'simulation'"):
        Worker(world.engine, "w", tmp_path, target=FederationTarget(tmp_path / "fed"))
    default = Worker(world.engine, "w", tmp_path, runtime="deployment")
    assert default.target == FederationTarget(DEFAULT_STATE_DIR)
    assert default.executor == FederationExecutor(DEFAULT_STATE_DIR)
    on_state = Worker(
        world.engine, "w", tmp_path, runtime="deployment", target=FederationTarget(tmp_path / "fed")
    )
    assert on_state.executor == FederationExecutor(tmp_path / "fed")
    assert Worker(world.engine, "w", tmp_path).preflight() == "simulation runtime"


def test_the_superlink_reaches_the_run_and_the_model_says_where_pieces_are(
    world: World, tmp_path: Path, listening_address: str
) -> None:
    superlink = listening_address
    exp_id = approved(world, "bank_a", "remote")
    fake, seen = FakeExecutor(), []

    def executor(cfg: Any, out: Path, runtime: str, progress: Any) -> dict[str, Any]:
        seen.append((cfg.deployment, runtime))
        return fake(cfg, out, runtime, progress)

    target = FederationTarget(tmp_path / "runs-state", superlink=superlink, insecure=True)
    worker = Worker(
        world.engine, "w", tmp_path / "runs", runtime="deployment", target=target, executor=executor
    )
    assert worker.preflight() == f"deployment runtime on the SuperLink {superlink} (insecure)"
    assert worker.run_once()
    ((section, runtime),) = seen
    assert runtime == "deployment"
    assert (section.superlink, section.insecure, section.root_certificates) == (
        superlink,
        True,
        None,
    )
    exp, model = outcome(world, exp_id)
    assert exp.status is S.SUCCEEDED and model.lineage["federation"] == superlink
    # the stand-in run wrote no location.json: nothing says more than who holds the piece
    assert artifacts(world, exp_id) == {p: f"held by party {p}" for p in ("bank_a", "tax")}


def test_a_party_without_a_supernode_fails_the_experiment_before_the_run(
    world: World, tmp_path: Path, listening_address: str
) -> None:
    state = tmp_path / "fed"
    state.mkdir()
    Federation(
        str(state),
        listening_address,
        os.getpid(),
        "",
        None,  # this process plays every PID
        [NodeProc("bank_a", os.getpid(), 0, "", str(state / "parties" / "bank_a"))],
    ).save()
    exp_id = approved(world, "bank_a", "no tax node")
    fake = FakeExecutor()
    worker = Worker(
        world.engine,
        "w",
        tmp_path / "runs",
        runtime="deployment",
        target=FederationTarget(state),
        executor=fake,
    )
    assert "SuperNodes bank_a" in worker.preflight()
    assert worker.run_once()
    exp, model = outcome(world, exp_id)
    assert fake.calls == [] and model is None
    assert exp.status is S.FAILED
    assert (
        f"PartyUnavailableError [FEDLAB-401]: the federation in {state} cannot run this "
        "experiment: no SuperNode for party 'tax' (its SuperNodes: bank_a)"
        in (exp.failure_reason or "")
    )


AUTH = True  # SuperNode authentication in the federation below (False: the impostor wins)


def _impostor(fed: Any, data: Path, tmp: Path, *, keyed: bool) -> int:
    """A local process that starts a SuperNode claiming ``party='tax'`` with the
    federation's CA certificate (``keyed``: and a key of its own, not registered)."""
    import sys

    from federation.runtime.local_federation import node_config_arg
    from federation.runtime.node_keys import party_key
    from federation.runtime.processes import flower_env, free_port, spawn

    name = f"impostor-{'keyed' if keyed else 'keyless'}"
    cmd = [sys.executable, "-m", "federation.runtime.supernode", "--fedlab-poll", "0.2"]
    cmd += ["--superlink", fed.superlink, "--port", str(free_port()), "--node-config"]
    cmd += [node_config_arg("tax", data, tmp / f"{name}-work"), "--root-certificates"]
    cmd += [fed.ca_cert]
    if keyed:
        key, pub = party_key(tmp / name, "tax")
        cmd += ["--auth-supernode-private-key", str(key), "--auth-supernode-public-key", str(pub)]
    return spawn(cmd, tmp / f"{name}.log", flower_env(tmp / f"{name}-home"))


@pytest.mark.slow
@pytest.mark.flower
@pytest.mark.timeout(600)
def test_worker_runs_an_experiment_on_a_local_federation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """... on SuperNodes that serve only runs the platform authorized (its public key in
    their node config): the worker's runs carry signed authorizations and leave each node
    a receipt of the audit chain head; a plain run on the same federation is refused."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from crypto.receipts import private_pem, public_pem
    from features.synth import generate, write
    from federation.config import load_config
    from federation.runtime.deployment import federation_down, federation_up
    from lab.db import make_engine, upgrade
    from lab.seed import seed_demo
    from lab.settings import get_settings

    # Prepare: a catalog over small synthetic files; a federation of its two nodes
    data = tmp_path / "data"
    write(data, generate(300, 11, banks=("bank_a",)))
    engine = make_engine(tmp_path / "lab.db", create=True)
    upgrade(engine)
    world = World(engine, seed_demo(engine, banks=("bank_a",), data_dir=data, agencies=("tax",)))
    fed_toml = tmp_path / "federation.toml"
    fed_toml.write_text(
        tomli_w.dumps(
            {
                "experiment": {"name": "lab-federation", "id_column": "uscc"},
                "parties": [
                    {
                        "name": "bank_a",
                        "role": "guest",
                        "data": str(data / "bank_a.csv"),
                        "label": "default_12m",
                    },
                    {"name": "tax", "role": "host", "data": str(data / "tax.csv")},
                ],
            }
        )
    )
    key = Ed25519PrivateKey.generate()
    (tmp_path / "sign.pem").write_bytes(private_pem(key))
    (tmp_path / "pub.pem").write_bytes(public_pem(key.public_key()))
    monkeypatch.setenv("FEDLAB_AUDIT_SIGNING_KEY", str(tmp_path / "sign.pem"))
    get_settings.cache_clear()
    state = tmp_path / "fed"
    fed = federation_up(
        load_config(fed_toml),
        state,
        tls=True,
        platform_key=tmp_path / "pub.pem",
        supernode_auth=AUTH,
    )
    groups = [fed.superlink_pid, *(n.pid for n in fed.nodes)]
    # impostors: SuperNodes claiming party='tax' with the stolen ca.crt, with no key and
    # with a key of their own (not registered)
    impostors = [_impostor(fed, data / "tax.csv", tmp_path, keyed=k) for k in (False, True)]
    groups += impostors
    sim_id, dep_id = approve(world, "sim"), approve(world, "dep")
    # a second model on the same federation, trained otherwise (one epoch, a smaller step)
    dep2_id = approve(world, "dep2", params={**PARAMS, "epochs": 1, "learning_rate": 0.1})
    cancel_id = approve(world, "cancelled")
    try:
        # Execute: the same experiment in simulation, then on the federation
        assert Worker(engine, "sim", tmp_path / "runs").run_once()
        target = FederationTarget(state_dir=state)
        worker = Worker(engine, "dep", tmp_path / "runs", runtime="deployment", target=target)
        assert "SuperNodes bank_a, tax" in worker.preflight()
        assert worker.run_once()

        # Assert: both filed a model; equal metrics, per-epoch progress from both runtimes
        (sim, sim_model), (dep, dep_model) = outcome(world, sim_id), outcome(world, dep_id)
        assert sim.status is S.SUCCEEDED, sim.failure_reason
        assert dep.status is S.SUCCEEDED, dep.failure_reason
        assert dep_model.lineage["runtime"] == "deployment"
        assert dep_model.lineage["federation"] == str(state.resolve())
        assert dep_model.metrics["runtime"] == "deployment"
        for key in ("n_aligned", "n_exchanges"):
            assert dep_model.metrics[key] == sim_model.metrics[key], key
        for key in ("auc", "ks"):
            assert dep_model.metrics[key] == pytest.approx(sim_model.metrics[key], abs=TOL), key
        assert 0.5 < dep_model.metrics["auc"] <= 1.0
        assert dep_model.metrics["loss"] == pytest.approx(sim_model.metrics["loss"], abs=TOL)
        assert len(epoch_losses(dep)) == 2
        assert epoch_losses(dep) == pytest.approx(epoch_losses(sim), abs=TOL)
        gap = max(
            abs(a - b)
            for a, b in zip(
                dep_model.metrics["loss"] + [dep_model.metrics["auc"]],
                sim_model.metrics["loss"] + [sim_model.metrics["auc"]],
                strict=True,
            )
        )
        print(f"deployment vs simulation: largest difference in loss and AUC {gap:.1e}")
        # model pieces stay at each party, in the run's own folder of its SuperNode's work
        # dir; the model version names those folders
        first = artifacts(world, dep_id)
        assert set(first) == {"bank_a", "tax"}
        for n in fed.nodes:
            assert Path(first[n.party]).parent == Path(n.work_dir) / "runs"
        pieces = {p: (Path(d) / "model.json").read_bytes() for p, d in first.items()}
        for n in fed.nodes:  # each node kept its receipt of the audit chain head
            assert (
                Path(n.work_dir) / "receipts" / f"experiment-{dep_id}.{n.party}.receipt.json"
            ).is_file()

        # Execute: a second run on the same federation files its own pieces
        assert worker.run_once()
        dep2, _ = outcome(world, dep2_id)
        assert dep2.status is S.SUCCEEDED, dep2.failure_reason
        second = artifacts(world, dep2_id)
        assert all(second[p] != first[p] and Path(second[p], "model.json").is_file() for p in first)
        # Assert: the first model's pieces are untouched, and scoring with the first model
        # gives its own scores: those of the same experiment's simulation model (1e-6),
        # not the second model's
        assert {p: (Path(d) / "model.json").read_bytes() for p, d in first.items()} == pieces

        def scores(exp: Any) -> Any:
            from federation.scoring import read_scores, score_command

            run_dir = Path(exp.lineage["run_dir"])
            out = tmp_path / "scores" / str(exp.experiment_id)
            score_command(
                config=run_dir / "config.toml", model=run_dir, out=out, runtime="local", echo=None
            )
            return read_scores(out / "parties" / "bank_a").set_index("uscc")["probability"]

        dep_scores, sim_scores = scores(dep_model), scores(sim_model)
        assert len(dep_scores) > 0 and dep_scores.index.equals(sim_scores.index)
        assert np.abs(dep_scores - sim_scores).max() < TOL
        dep2_model = outcome(world, dep2_id)[1]
        assert np.abs(dep_scores - scores(dep2_model)).max() > 1e-3

        # a bank that cancels while its run trains: the federation run is stopped
        def cancel_at_first_epoch(cfg: Any, out: Path, runtime: str, progress: Any) -> Any:
            def relay(event: str, fields: dict[str, Any]) -> None:
                if event == "epoch":
                    with session_scope(engine) as s:
                        experiments.cancel_experiment(
                            session=s,
                            actor=world.who("bank_a_ds"),
                            experiment_id=cancel_id,
                            reason="wrong sample",
                        )
                progress(event, fields)

            return FederationExecutor(state)(cfg, out, runtime, relay)

        Worker(
            engine,
            "dep2",
            tmp_path / "runs",
            runtime="deployment",
            target=target,
            executor=cancel_at_first_epoch,
        ).run_once()
        cancelled, no_model = outcome(world, cancel_id)
        assert cancelled.status is S.CANCELLED and no_model is None
        logs = [f.read_text(errors="replace") for f in (state / "runs").glob("*/flwr-run.log")]
        assert sum(bool(re.search(r"Run \d+ successfully stopped", t)) for t in logs) == 1
        # the cancelled run left nothing at the parties: only the two filed runs' folders
        for n in fed.nodes:
            assert sorted((Path(n.work_dir) / "runs").iterdir()) == sorted(
                Path(a[n.party]) for a in (first, second)
            )
        # every run above succeeded while the impostors ran: without SuperNode authentication
        # the keyless one's answer as 'tax' fails the discovery ("two SuperNodes claim to be
        # party 'tax'"); with it, only the node registered for tax is ever tax
        assert all(n.node_id is not None for n in fed.nodes)

        # last (its refusal is cleaned up at the parties best effort): a plain run on the
        # same federation, without the platform's authorization, is refused at the parties
        # (a replayed authorization too: tests/lab/test_run_authorization.py)
        from federation.run import run_experiment
        from lab.errors import PartyError

        given = load_config(Path(dep_model.lineage["run_dir"]) / "config.toml")
        plain = given.model_copy(
            update={
                "parties": [
                    p.model_copy(update={"run_authorization": None, "audit_receipt": None})
                    for p in given.parties
                ]
            }
        )
        with pytest.raises(PartyError, match="FEDLAB-405") as refused:
            run_experiment(plain, tmp_path / "plain", runtime="deployment", state_dir=state)
        assert "no signed run authorization" in str(refused.value)
    finally:
        for pid in impostors:
            stop_group(pid, 10.0)
        federation_down(state)
        engine.dispose()
        get_settings.cache_clear()
    assert all(group_gone(g) for g in groups)
