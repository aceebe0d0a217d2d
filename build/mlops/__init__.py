"""The monorepo's host-side tooling, one sub-package per concern (see README, Layout).

Imports flow one way: `cli` -> the verbs of each concern -> `core` (settings and errors).
`ci` builds and pins images and compiles pipelines; `deploy` sends compiled pipelines to an
environment; `lineage` records what runs used and made; `local_runs` runs a compiled
pipeline on this machine; `serving` keeps the local prediction service; `ct` is `make run`;
`triggers` starts runs on new data and drift; `monitoring` watches the served model;
`bench` measures; `testing` holds what the tests share. Lives under build/ but is imported
as `mlops` (a top-level package named `build` would shadow PyPA's `build`)."""
