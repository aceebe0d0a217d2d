"""Runtime helpers shared by the component entrypoints, installed in the base image
(/opt/mlops_runtime): how artifacts are laid out and how outputs reach Kubeflow Pipelines.
Small and stable on purpose: changing it rebuilds every component image."""
