"""实验 Experiments: create (parameters from the algorithm's schema), submit, follow the
live progress and log, cancel; a finished experiment links to its model.

While the picked experiment is approved, queued or running, its detail panel refreshes
every 2 s; when a refresh finds its status changed (the run started, or ended) the whole
page reruns, so the list and the picker show the new status and a finished run stops the
refresh. The loss per epoch is shown only when it is known to be computed on at least k
enterprises (lab.services.results.experiment_loss)."""

from datetime import timedelta

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from lab.models import ExperimentCreate, ExperimentPublic, ExperimentStatus, Role
from lab.services import catalog, experiments, models_library, results
from lab.services.algorithms import backends_for
from sandbox_ui.forms import param_inputs
from sandbox_ui.i18n import t
from sandbox_ui.queries import (
    default_indicators,
    indicator_rows,
    org_codes,
    sample_stats,
    trainable,
)
from sandbox_ui.session import call, guard, keep_choice, min_cell, run, show_invalid

S = ExperimentStatus
ACTIVE = (S.APPROVED, S.QUEUED, S.RUNNING)
CANCELLABLE = (S.DRAFT, S.SUBMITTED, S.APPROVED, S.QUEUED, S.RUNNING)
me = guard("experiments")
bank_user = Role(me.role) in (Role.BANK_MODELER, Role.DATA_SCIENTIST)
st.title(t("page.experiments"))


def status_label(status: S | str) -> str:
    return t(f"status.{S(status).value}")


def create_form() -> None:
    samples = call(catalog.list_samples)
    algos = call(catalog.list_algorithms)
    if not samples or not algos:
        st.write(t("none_yet"))
        return
    k = min_cell()
    existing = len(call(experiments.list_experiments))
    name = st.text_input(t("exp.name"), value=f"{me.org_code}-model-{existing + 1}", key="exp_name")
    c1, c2, c3 = st.columns(3)
    sample_labels = {}
    for s in samples:
        if not s.current:  # an edited sample's old version stays for lineage only
            continue
        stats = sample_stats(s, k)
        n = t("suppressed", k=k) if stats.n_total is None else f"{stats.n_total:,}"
        n = n if stats.counted else t("smp.not_counted")
        sample_labels[f"{s.id} · {s.name} v{s.version} ({n})"] = s.id
    sample_pick = c1.selectbox(t("exp.sample"), list(sample_labels), key="exp_sample")
    names = [f"{a.name} v{a.version}" for a in algos]
    default_algo = next((i for i, a in enumerate(algos) if a.name == "hetero_lr"), 0)
    algo = algos[
        names.index(c2.selectbox(t("exp.algorithm"), names, index=default_algo, key="exp_algo"))
    ]
    backend = c3.selectbox(
        t("exp.backend"), list(backends_for(algo.name)), key=f"exp_backend.{algo.name}"
    )
    rows = trainable(call(indicator_rows))
    codes = [r.indicator.code for r in rows]
    chosen = st.multiselect(
        t("exp.indicators"),
        codes,
        default=default_indicators(rows),
        help=t("exp.indicators_help"),
        key="exp_indicators",
    )
    params = param_inputs(algo.param_schema, key=f"exp.params.{algo.id}")
    b1, b2 = st.columns(2)
    save = b1.button(t("exp.save_draft"), key="exp_save")
    submit = b2.button(t("exp.create_submit"), type="primary", key="exp_create_submit")
    if not (save or submit):
        return
    try:
        exp_in = ExperimentCreate(
            name=name.strip(),
            sample_id=sample_labels[sample_pick],
            algorithm=algo.name,
            algorithm_version=algo.version,
            indicator_codes=chosen,
            params=params,
            backend=backend,
        )
    except ValidationError as exc:
        show_invalid(exc)
        return
    made = run(experiments.create_experiment, experiment_in=exp_in)
    if made is None:
        return
    if submit:
        made = run(experiments.submit_experiment, experiment_id=made.id) or made
    st.session_state["exp_selected"] = made.id
    st.session_state["exp_pick"] = made.id
    st.success(t("exp.created", id=made.id, status=status_label(made.status)))


def detail(exp_id: int, listed: S | None = None) -> None:
    """The experiment's panel; ``listed``: the status the list above shows (live panels)."""
    exp: ExperimentPublic | None = run(experiments.get_experiment, experiment_id=exp_id)
    if exp is None:
        return
    status = S(exp.status)
    if listed is not None and status is not listed:
        st.rerun()  # the whole page: the list, the picker and whether to keep refreshing
    st.markdown(f"### {exp.id} · {exp.name}")
    st.markdown(f"{t('exp.status')}: **{status_label(status)}**")
    if exp.failure_reason:
        st.error(t("exp.failure", reason=exp.failure_reason))
    needs = run(experiments.consents_for, experiment_id=exp.id) or []
    if needs:
        st.caption(
            t("exp.consents")
            + ": "
            + "; ".join(
                f"{n.agency} {t('consent.' + n.status) if n.status != 'granted' else '✓'}"
                for n in needs
            )
        )
    mv = (
        run(models_library.model_for_experiment, experiment_id=exp.id, k=min_cell())
        if status is S.SUCCEEDED
        else None
    )
    progress(exp)
    if mv is not None:
        st.success(t("exp.model_ready", name=mv.name, version=mv.version))
        if st.button(t("page.models"), key=f"open_model_{exp.id}", type="primary"):
            st.session_state["model_selected"] = mv.id
            st.switch_page("views/models.py")
    if (
        bank_user
        and status is S.DRAFT
        and st.button(t("exp.submit"), key="exp_submit_btn", type="primary")
    ):
        if run(experiments.submit_experiment, experiment_id=exp.id) is not None:
            st.rerun()
    if bank_user and status in (S.REJECTED, S.FAILED):
        reason = st.text_input(t("reason"), key="exp_revise_reason")
        if st.button(t("exp.revise"), key="exp_revise_btn"):
            if (
                run(experiments.revise_experiment, experiment_id=exp.id, reason=reason or "revise")
                is not None
            ):
                st.rerun()
    if status in CANCELLABLE:
        with st.expander(t("exp.cancel")):
            reason = st.text_input(t("reason"), key="exp_cancel_reason")
            if st.button(t("exp.cancel"), key="exp_cancel_btn"):
                if (
                    run(experiments.cancel_experiment, experiment_id=exp.id, reason=reason)
                    is not None
                ):
                    st.rerun()
    log = run(experiments.transitions, experiment_id=exp.id) or []
    st.markdown(f"**{t('exp.log')}**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("exp.col.at"): tr.at.strftime("%Y-%m-%d %H:%M:%S"),
                    t("exp.col.from"): status_label(tr.from_status),
                    t("exp.col.to"): status_label(tr.to_status),
                    t("exp.col.actor"): tr.actor,
                    t("exp.col.reason"): tr.reason,
                }
                for tr in log
            ]
        ),
        hide_index=True,
        width="stretch",
    )


def progress(exp: ExperimentPublic) -> None:
    """The loss per epoch, if it is known to be computed on at least k enterprises."""
    k = min_cell()
    curve = call(results.experiment_loss, experiment_id=exp.id, k=k)
    if not curve.n_epochs:
        return
    st.markdown(f"**{t('exp.progress')}**")
    if curve.losses is None:
        key = "exp.loss_pending" if curve.basis is None else "exp.loss_suppressed"
        st.caption(t(key, k=k, n=curve.n_epochs))
        return
    frame = pd.DataFrame(
        {t("exp.loss"): list(curve.losses)},
        index=pd.RangeIndex(1, curve.n_epochs + 1, name=t("exp.epoch")),
    )
    st.line_chart(frame, x_label=t("exp.epoch"), y_label=t("exp.loss"))


def listing() -> None:
    exps = call(experiments.list_experiments)
    if not exps:
        st.write(t("none_yet"))
        return
    orgs = call(org_codes)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    t("exp.col.id"): e.id,
                    t("exp.col.name"): e.name,
                    t("exp.col.status"): status_label(e.status),
                    t("exp.col.bank"): orgs.get(e.owner_org_id),
                    t("exp.col.updated"): e.updated_at.strftime("%Y-%m-%d %H:%M"),
                }
                for e in exps
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    st.subheader(t("exp.detail"))
    ids = [e.id for e in reversed(exps)]
    labels = {e.id: f"{e.id} · {e.name} · {status_label(e.status)}" for e in exps}
    keep_choice(
        "exp_pick", ids, st.session_state.get("exp_pick"), st.session_state.get("exp_selected")
    )
    pick = st.selectbox(t("exp.pick"), ids, format_func=labels.__getitem__, key="exp_pick")
    st.session_state["exp_selected"] = pick
    listed = S(next(e.status for e in exps if e.id == pick))
    auto = listed in ACTIVE and st.toggle(t("exp.auto"), value=True, key="exp_auto")
    if auto:
        st.fragment(run_every=timedelta(seconds=2))(detail)(pick, listed)
    else:
        detail(pick)
    st.button(t("refresh"), key="exp_refresh")


if bank_user:
    tab_list, tab_new = st.tabs([t("exp.list"), t("exp.create")])
    with tab_new:
        create_form()
    with tab_list:
        listing()
else:
    listing()
