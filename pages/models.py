"""Models: the registry as a table; load, rename, delete, download, import; the report and
the model card."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING

import streamlit as st

from medinn_app import (
    audit,
    loaders,
    reporting,
    runtime,
    settings,
    sidebar,
    sources,
    state,
    tables,
    ui,
)
from medinn_core.errors import MedinnError
from medinn_core.evaluation import build_report, evaluate_bundle
from medinn_core.io import verify_bundle
from medinn_core.security import manifest_hash

if TYPE_CHECKING:
    from medinn_core.io import Bundle

runtime.ensure_navigation()


def import_expander(registry) -> None:
    with st.expander("Import a model bundle (.zip)", icon=":material/upload:"):
        upload = st.file_uploader(
            "Bundle exported from medinn", type=["zip"], key=state.W_MODELS_IMPORT_FILE
        )
        if st.button("Import", key=state.W_MODELS_IMPORT, disabled=upload is None):
            try:
                policy = settings.signing_policy()
                stored = registry.import_zip(upload.getvalue(), policy=policy)
                audit.record(
                    "import_model", model=stored, model_hash=manifest_hash(registry.path(stored))
                )
            except MedinnError as exc:
                st.error(ui.plain(exc))
            else:
                checked = (
                    "unsigned imports are allowed on this server, so its origin may be unchecked"
                    if policy.allow_unsigned
                    else "its signature was checked"
                )
                state.flash(
                    ui.plain(
                        f"Imported '{stored}'; {checked}, and its files against their checksums."
                    )
                )
                st.rerun()


def actions(registry, picked: str, current: str | None) -> None:
    """Load the picked model as the current one, or download it as a .zip."""
    load_col, download_col = st.columns(2)
    if current == picked:
        load_col.caption(":material/check: This is the current model.")
    elif load_col.button(
        "Load as the current model",
        key=state.W_MODELS_LOAD,
        type="primary",
        icon=":material/check:",
    ):
        try:
            with st.spinner(ui.plain(f"Loading '{picked}'…")):
                state.set_active_model(loaders.load_registered(picked))
        except MedinnError as exc:
            st.error(ui.plain(exc))
        else:
            state.flash(ui.plain(f"'{picked}' is now the current model."))
            st.rerun()
    try:
        policy = settings.signing_policy()
        verify_bundle(registry.path(picked))  # a damaged bundle is named here, not at the click
        picked_hash = manifest_hash(registry.path(picked))
    except MedinnError as exc:
        download_col.error(ui.plain(exc))
    else:
        download_col.download_button(
            "Download as .zip",
            audit.audited(  # zipped when asked for, and audited each time it is made
                "export_model",
                functools.partial(registry.export_zip, picked, policy=policy),
                model=picked,
                model_hash=picked_hash,
            ),
            file_name=f"{picked}.zip",
            mime="application/zip",
            key=state.W_MODELS_DOWNLOAD,
            on_click="ignore",  # the download needs no rerun
            icon=":material/download:",
        )


def report_html(active: Bundle, source: sources.Source, intended_use: str, limitations: str) -> str:
    """The report of ``active`` on ``source`` at the model's own threshold, with 1,000
    bootstrap resamples (the Evaluate page reports the choices made there)."""
    result = evaluate_bundle(
        active,
        source.rows(),
        n_boot=1000,
        source=source.label,
        output=source.output,
        baseline=(source.baselines or {}).get("logistic_regression"),
    )
    return build_report(
        active,
        result.shown(),
        data_name=source.label,
        intended_use=intended_use,
        limitations=limitations,
        data=result.rows,
    )


def report_expander(active: Bundle | None, picked: str, current: str | None, meta: dict) -> None:
    with st.expander("Model report (HTML)", icon=":material/description:"):
        if current != picked:
            st.caption(
                "Load this model as the current model to build its report; the report "
                "evaluates it on labelled patients it was not trained on."
            )
            return
        choices = sources.sources(active, state.dataset())
        if not choices:
            st.info(
                f"The report needs patients with a known outcome ('{ui.plain(meta.get('target'))}') that "
                "the model was not trained on: load its training table (its test split is "
                "used) or another labelled file on the Data page."
            )
            return
        by_key = {c.key: c for c in choices}
        source = by_key[
            ui.selectbox(
                st,
                "Patients",
                list(by_key),
                format_func=lambda k: by_key[k].label,
                key=state.W_MODELS_REPORT_SOURCE,
            )
        ]
        intended_use = st.text_area(
            "Intended use (who, where, for which decision)", key=state.W_MODELS_INTENDED_USE
        )
        limitations = st.text_area("Limitations", key=state.W_MODELS_LIMITATIONS)
        st.caption(
            "At the model's own threshold, with 1,000 bootstrap resamples; the Evaluate "
            "page builds a report with the threshold, subgroups and curves you choose there."
        )
        reporting.report_download(
            lambda: report_html(active, source, intended_use, limitations),
            cache_key=("models", active.token, source.key, intended_use, limitations),
            file_name=f"{picked}-report.html",
            build_key=state.W_MODELS_REPORT_BUILD,
            download_key=state.W_MODELS_REPORT,
        )


def rename_or_delete(registry, picked: str, current: str | None) -> None:
    with st.expander("Rename or delete", icon=":material/edit:"):
        new_name = st.text_input("New name", picked, key=state.W_MODELS_NEW_NAME)
        if st.button("Rename", key=state.W_MODELS_RENAME):
            try:
                before = manifest_hash(registry.path(picked))
                stored = registry.rename(picked, new_name)
                audit.record("rename_model", model=stored, model_hash=before)
            except MedinnError as exc:
                st.error(ui.plain(exc))
            else:
                if current == picked:
                    state.set_active_model(loaders.load_registered(stored))
                state.flash(ui.plain(f"Renamed '{picked}' to '{stored}'."))
                st.rerun()
        st.divider()
        confirm = st.checkbox(
            f"Yes, delete '{ui.plain(picked)}' for good", key=state.W_MODELS_CONFIRM
        )
        if st.button(
            "Delete", key=state.W_MODELS_DELETE, disabled=not confirm, icon=":material/delete:"
        ):
            try:
                gone = manifest_hash(registry.path(picked))
                registry.delete(picked)
                audit.record("delete_model", model=picked, model_hash=gone)
            except MedinnError as exc:
                st.error(ui.plain(exc))
            else:
                if current == picked:
                    st.session_state.pop(state.ACTIVE_MODEL, None)
                state.flash(ui.plain(f"Deleted '{picked}'."))
                st.rerun()


def survival_card(meta: dict) -> None:
    """A survival model's follow-up time, horizon and why, and what its outputs are."""
    surv = meta.get("survival")
    if not isinstance(surv, dict):
        return
    horizon = surv.get("horizon")
    horizon = f"{horizon:g}" if isinstance(horizon, int | float) else str(horizon)
    st.markdown(
        f"**Follow-up time**: {ui.plain(surv.get('time_column', '?'))}  \n"
        f"**Horizon**: {ui.plain(horizon)} "
        f"({ui.plain(surv.get('horizon_reason', ''))})  \n"
        f"**Risk**: {ui.plain(surv.get('risk', ''))}  \n"
        f"**Risk score**: {ui.plain(surv.get('risk_score', ''))}"
    )


def model_card(picked: str, meta: dict) -> None:
    st.subheader(f"Model card: {ui.plain(picked)}")
    if "problem" in meta:
        st.error(ui.plain(meta["problem"]))
        st.stop()
    label, value = state.main_metric(meta)
    a, b, c = st.columns(3)
    # An imported bundle's metadata is as untrusted as an upload: every value is escaped.
    a.metric("Task", ui.plain(meta.get("task", "?")))
    b.metric("Target", ui.plain(meta.get("target", "?")))
    c.metric(ui.plain(label), sidebar.format_metric(value))
    st.caption(ui.plain(f"Trained {sidebar.trained_when(meta.get('created'))}."))
    if meta.get("note"):
        st.markdown(f"**Note:** {ui.plain(meta['note'])}")
    positive = f", event = '{meta['positive_class']}'" if meta.get("positive_class") else ""
    threshold = meta.get("threshold")
    features = meta.get("features", [])
    classes = ", ".join(map(str, meta.get("classes", []))) or "none (regression)"
    st.markdown(
        f"**Inputs** ({len(features)} columns, {ui.plain(meta.get('n_inputs', '?'))} after "
        f"encoding): {ui.plain(', '.join(map(str, features)))}  \n"
        f"**Classes**: {ui.plain(classes + positive)}"
        + (
            f"  \n**Threshold**: {threshold:.3f} ({ui.plain(meta.get('threshold_rule'))})"
            if meta.get("threshold_rule")
            else ""
        )
    )
    if meta.get("architecture"):
        st.markdown(f"**Architecture**: {ui.plain(meta['architecture'])}")
    survival_card(meta)
    scheme = meta.get("scheme") or {}
    folds = scheme.get("name") == "folds"
    held = "out-of-fold predictions" if folds else "test split"
    st.markdown(f"**Internal validation ({held}), with the baselines**")
    table = tables.metrics_table(
        meta.get("metrics", {}),
        meta.get("baselines", {}),
        meta.get("metric_intervals"),
        held,
    )
    st.dataframe(table.style.format(tables.numbers_format(table), na_rep="n/a"))
    split = meta.get("split", {})
    st.caption(
        ui.plain(
            (
                f"{scheme.get('members')}-fold cross-fitting on {split.get('train', '?')} "
                f"patients ({scheme.get('members')} networks averaged)"
                if folds
                else f"Split: {split.get('train', '?')} train, {split.get('validation', '?')} "
                f"validation, {split.get('test', '?')} test patients"
            )
            + (" (grouped by patient)" if meta.get("grouped_split") else "")
            + f"; best epoch {meta.get('best_epoch', '?')} of {meta.get('epochs_run', '?')}"
            + (", stopped by the user" if meta.get("stopped_by_user") else "")
            + f"; {meta.get('training_seconds', '?')} s."
        )
    )
    with st.expander("Training settings"):
        st.dataframe(tables.settings_frame(meta.get("config", {})), hide_index=True)
    if meta.get("warnings"):
        st.markdown("**Data warnings at training time**")
        for warning in meta["warnings"]:
            st.warning(ui.plain(warning))
    st.markdown("**Libraries**")
    st.caption(ui.plain(" · ".join(f"{k} {v}" for k, v in (meta.get("libraries") or {}).items())))
    st.caption(f"Data fingerprint: {ui.plain(meta.get('data_fingerprint', '?'))}")
    with st.expander("Everything in metadata.json"):
        st.code(
            json.dumps({k: v for k, v in meta.items() if k != "history"}, indent=2),
            language="json",
        )


def main() -> None:
    st.title("Models")
    state.show_flash()
    registry = loaders.registry()
    entries = registry.list()
    st.caption(f"Saved models in `{registry.root}`.")
    import_expander(registry)
    if not entries:
        st.info(
            "No saved models yet. Train one on the Train page and save it, import a bundle "
            "above, or load the sample data and model on Home."
        )
        st.stop()

    st.dataframe(tables.registry_frame(entries), hide_index=True)
    names = [e["name"] for e in entries]
    active = state.active_model()
    current = (
        active.path.name
        if active is not None and active.saved and active.path.name in names
        else None
    )
    picked = ui.selectbox(
        st, "Model", names, index=names.index(current) if current else 0, key=state.W_MODELS_PICK
    )
    meta = next(e for e in entries if e["name"] == picked)
    actions(registry, picked, current)
    report_expander(active, picked, current, meta)
    rename_or_delete(registry, picked, current)
    model_card(picked, meta)


main()
