"""Shared helpers of the medinn Streamlit app: session-state keys, sidebar, loaders, figures.

Pages stay thin: they read session state through :mod:`medinn_app.state`, call
``medinn_core`` and render. Nothing here imports TensorFlow at import time.
"""
