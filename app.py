"""medinn: the clinical machine-learning dashboard. Run with ``streamlit run app.py``."""

import streamlit as st

from medinn_app import auth, runtime, sidebar, training

runtime.keep_keras_state()
runtime.keep_uploads_in_memory()

st.set_page_config(page_title="medinn", page_icon=":material/monitor_heart:", layout="wide")
auth.require_login()  # before anything else is drawn: a login form, or the app

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/data.py", title="Data", icon=":material/table:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/models.py", title="Models", icon=":material/inventory_2:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/person_search:"),
    st.Page("pages/explain.py", title="Explain", icon=":material/insights:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
]

page = st.navigation(PAGES)
with runtime.bug_guard(page.title):  # a bug is logged; the browser gets a plain message
    training.collect()
    sidebar.render()
    page.run()
runtime.preload_data_modules()  # after the page: the first one drawn should not wait for it
