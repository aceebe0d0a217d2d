"""The one command line, `python -m mlops VERB` (the Makefile's verbs call it): each verb
parses its arguments, calls its concern and prints the answer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mlops.core.errors import BuildError
from mlops.core.paths import REPO


def _lint(args) -> None:
    from mlops.ci import contract
    from mlops.ci.components import discover

    components = discover(args.root)
    problems = contract.check_all(components)
    if problems:
        raise BuildError(f"{len(problems)} contract problems:\n  " + "\n  ".join(problems))
    print(f"[lint] {len(components)} components: component.yaml and entrypoints agree")


def _images(args) -> None:
    from mlops.ci import steps

    steps.images(args.root, nocache=args.no_cache)


def _push(args) -> None:
    from mlops.ci import steps

    steps.push(args.root)


def _update_specs(args) -> None:
    from mlops.ci import steps

    steps.update_specs(args.root)


def _compile(args) -> None:
    from mlops.ci.compile import compile_all

    compile_all(args.root)


def _build(args) -> None:
    from mlops.ci import steps

    seconds = steps.build(args.root, nocache=args.no_cache)
    print(f"[build] done in {seconds:.1f}s")


def _run_local(args) -> None:
    """The CT pipeline end to end (mlops.ct.ct_run), or another compiled pipeline by name."""
    from mlops.ct import ct_run

    if args.pipeline == ct_run.PIPELINE:
        ct_run.run(
            args.root,
            data=args.data,
            sources=args.sources,
            cache=not args.no_cache,
            explain=args.explain,
            from_step=args.from_step,
            verbose=args.verbose,
        )
        return
    from mlops.local_runs.runner import run_compiled

    run_compiled(
        args.root,
        args.pipeline,
        data=args.data,
        cache=not args.no_cache,
        explain=args.explain,
        from_step=args.from_step,
        verbose=args.verbose,
    )


def _cache_clear(args) -> None:
    from mlops.lineage.store import DEFAULT_DB, LineageStore

    db = args.root / DEFAULT_DB
    if not db.is_file():
        print(f"[cache] {db}: no lineage store, nothing cached")
        return
    with LineageStore(db) as store:
        count = store.clear_cache()
    print(f"[cache] forgot {count} cached executions in {db}; their lineage stays")


def _serve(args) -> None:
    from mlops.serving import service

    started, answer = service.serve_from_settings(args.root)
    print(f"[serve] {started.action}: {started.url}")
    print(json.dumps(answer, indent=2))


def _traffic(args) -> None:
    """promote | rollback | ramp: deploy_model's own modes, on the host, against the
    registry."""
    from mlops.core.model_settings import load_model_settings
    from mlops.serving import traffic

    percent = getattr(args, "percent", None)
    print(traffic.change(args.root, load_model_settings(args.root), args.step, percent=percent))


def _deploy(args) -> None:
    from mlops.deploy import chain as deploy

    if args.preflight:
        settings = deploy.preflight(args.root, None, args.approve)
        print(f"[deploy] environment {settings.env!r}: settings checked, target {settings.target}")
        return
    records = deploy.deploy(args.root, None, args.approve)
    for record in records:
        cache = "on" if record.data["caching"]["enabled"] else "off"
        print(
            f"[deploy] {record.data['pipeline']}: {record.data['status']}, step caching {cache} "
            f"({record.path})"
        )


# Each writes bench/results/<name>.json: cold/no-change/one-component builds; the data
# components at 1x and 100x; train, evaluate, serve on the sample; `make run` cold and warm;
# each use case's model beside reference models; the uncached pipeline at 1x, 10x and 100x.
BENCHMARKS = {
    "build": "mlops.bench.build",
    "data": "mlops.bench.data",
    "model": "mlops.bench.model",
    "pipeline": "mlops.bench.pipeline",
    "quality": "mlops.bench.quality",
    "scale": "mlops.bench.scale",
}


def _bench(args) -> None:
    import importlib

    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise BuildError(f"unknown benchmarks {unknown}; known: {', '.join(BENCHMARKS)}")
    for name in names:
        result = importlib.import_module(BENCHMARKS[name]).run(args.root)
        print(f"[bench] {name}: {result}")


def _mutation(args) -> None:
    from mlops.bench import mutation

    result = mutation.run(args.root, args.names)
    below = result["below_target"]
    print(
        f"[mutation] {result['tool']}: bench/results/mutation.json; below "
        f"{result['target_kill_ratio']:.0%}: {', '.join(below) or 'none'}"
    )


def _component(args) -> None:
    from mlops.ci.scaffold import scaffold

    path = scaffold(args.root, args.name)
    rel = path.relative_to(args.root)
    print(
        f"[component] created {rel}/: edit src/{args.name}/main.py and component.yaml, "
        f"then `make lint` and `make images`"
    )


def _usecase(args) -> None:
    from mlops.usecases.scaffold import scaffold

    scaffold(args.root, args.name, args.data, args.label, args.task, args.force)


def _schema(args) -> None:
    from mlops.usecases.scaffold import infer_schema

    infer_schema(args.root, args.force)


def _settings(args) -> None:
    from mlops.core.settings import lookup

    print(lookup(args.root, args.key))


def _lineage(args) -> None:
    """Answers one lineage question from the store that local runs write."""
    from mlops.lineage import questions
    from mlops.lineage.store import DEFAULT_DB

    db = args.db or args.root / DEFAULT_DB
    params = vars(args)
    if args.usecase:
        from mlops.core.model_settings import load_model_settings

        params["model"] = load_model_settings(args.root, usecase=args.usecase).name
    answer, render = questions.ask(db, args.question, params)
    print(json.dumps(answer, indent=2, default=str) if args.json else render(answer))


def _monitor(args) -> None:
    """The degradation trigger (mlops.monitoring.degradation): one check, or one every
    --every seconds."""
    from mlops.monitoring import degradation

    if args.every <= 0:
        raise BuildError(f"--every {args.every}: expected seconds above 0")
    names = None
    if args.all_usecases:
        from mlops.core.settings import usecases

        names = usecases(args.root)
    result = degradation.monitor(args.root, every_s=args.every, once=args.once, usecases=names)
    if args.once and result is not None and result.decision == "failed":
        raise BuildError(result.reason)


def _watch(args) -> None:
    """The new-data trigger: polls triggers.new_data.prefix, a drift check per new span."""
    from mlops.triggers.watcher import Watcher, watch_usecases

    if args.all_usecases:
        from mlops.core.settings import usecases

        names = usecases(args.root)
        print(f"[watch] the new data of {', '.join(names)}", flush=True)
        try:
            processed = watch_usecases(args.root, names, once=args.once)
        except KeyboardInterrupt:
            return
        print(f"[watch] {processed} new spans processed")
        return
    watcher = Watcher(args.root)
    if args.retry:
        decision = watcher.retry(args.retry)
        print(f"[watch] {decision.span}: {decision.decision}: {decision.reason}")
        return
    settings = watcher.settings()
    every = "once" if args.once else f"every {settings.poll_s:g}s"
    print(f"[watch] {settings.prefix} ({settings.pattern!r}), {every}", flush=True)
    try:
        processed = watcher.run(once=args.once)
    except KeyboardInterrupt:
        return
    print(f"[watch] {processed} new spans processed")


def _status(args) -> None:
    from mlops.monitoring import status

    answer = status.gather(args.root, limit=args.limit)
    print(json.dumps(answer, indent=2, default=str) if args.json else status.render(answer))


def _ui(args) -> None:
    """The read-only web UI over the lineage store, the registry and the decisions."""
    from mlops.ui.app import create_app, serve

    serve(create_app(args.root, args.db), args.port)


def _screenshots(args) -> None:
    from mlops.ui.screenshots import take

    out = args.out or args.root / "docs" / "screenshots"
    written = take(args.root, out, args.run, args.db)
    print(f"[screenshots] {len(written)} pages of run {args.run} in {out}")


def _add_ui_parsers(sub) -> None:
    from mlops.ui.app import DEFAULT_PORT

    p = sub.add_parser("ui", help="the read-only web UI on loopback: runs, models, decisions")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--db", type=Path, help="the store (default: ROOT/.local/lineage.sqlite)")
    p.set_defaults(func=_ui)
    p = sub.add_parser("screenshots", help="PNGs of a run's report and UI pages")
    p.add_argument("--run", default="latest", help="a run id or a unique prefix (latest)")
    p.add_argument("--out", type=Path, help="the folder (default: ROOT/docs/screenshots)")
    p.add_argument("--db", type=Path, help="the store (default: ROOT/.local/lineage.sqlite)")
    p.set_defaults(func=_screenshots)


def _add_lineage_parser(sub) -> None:
    p = sub.add_parser("lineage", help="query the lineage store of local runs")
    p.add_argument("--db", type=Path, help="the store (default: ROOT/.local/lineage.sqlite)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--usecase", help="runs of this use case only (its model)")
    p.set_defaults(func=_lineage)
    q = p.add_subparsers(dest="question", required=True)
    runs = q.add_parser("runs", help="recorded runs, newest first")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--pipeline", help="only runs of this pipeline")
    q.add_parser("run", help="one run: tasks, images, artifacts").add_argument(
        "run_id", help="a run id, a unique prefix of one, or 'latest'"
    )
    q.add_parser("image", help="runs that used an image").add_argument(
        "image", help="a digest (sha256:...) or a prefix of the image reference"
    )
    q.add_parser("artifact", help="the lineage of an artifact, upward").add_argument("uri")
    data = q.add_parser("training-data", help="which data an artifact (a model) came from")
    data.add_argument("uri")
    data.add_argument("--step", help="the data step's task name (default: the source steps)")
    serving = q.add_parser("serving-data", help="which data trained a registry's serving model")
    serving.add_argument("registry_root", help="a local model registry folder")
    serving.add_argument("model_name")
    serving.add_argument("--slot", choices=["stable", "canary"], default="stable")
    decisions = q.add_parser("decisions", help="recorded trigger decisions, newest first")
    decisions.add_argument("--kind")
    decisions.add_argument("--limit", type=int, default=50)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=REPO, help="the repository (default: this one)"
    )
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("lint", help="contract check of every component").set_defaults(func=_lint)
    for name, func, text in [
        ("images", _images, "build changed component images, tag all with the commit"),
        ("build", _build, "images, push, pinned specs in dist/components, compile"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--no-cache", action="store_true", help="rebuild everything from scratch")
        p.set_defaults(func=func)
    sub.add_parser("push", help="push images, tag with the commit").set_defaults(func=_push)
    sub.add_parser(
        "update-specs", help="pin each component.yaml in place by digest (CI's workspace)"
    ).set_defaults(func=_update_specs)
    sub.add_parser("compile", help="compile pipelines to dist/*/workflow.tar.gz").set_defaults(
        func=_compile
    )
    p = sub.add_parser("run-local", help="run a compiled pipeline with kfp.local")
    p.add_argument("--pipeline", default="ct_pipeline", help="dist/<pipeline> (default: CT)")
    p.add_argument("--data", default=None, help="other data of the same schema (a CSV path)")
    p.add_argument(
        "--sources", action="store_true", help="mount components/*/src over the images' code"
    )
    p.add_argument("--no-cache", action="store_true", help="run every step (CACHE=0)")
    p.add_argument(
        "--explain", action="store_true", help="each step's cache decision and why (EXPLAIN=1)"
    )
    p.add_argument(
        "--from", dest="from_step", default=None,
        help="run this step and what follows it again, reusing the latest run for the rest",
    )  # fmt: skip
    p.add_argument(
        "--verbose", action="store_true",
        help="stream every step's output and kfp.local's logs (VERBOSE=1); else in logs/<task>.log",
    )  # fmt: skip
    p.set_defaults(func=_run_local)
    p = sub.add_parser("cache-clear", help="forget every cached execution (the lineage stays)")
    p.set_defaults(func=_cache_clear)
    sub.add_parser("serve", help="start or keep the local prediction service").set_defaults(
        func=_serve
    )
    for name, text in [
        ("promote", "the canary version takes all the traffic"),
        ("rollback", "drop the canary, or go back to the previous stable version"),
    ]:
        sub.add_parser(name, help=text).set_defaults(func=_traffic)
    p = sub.add_parser("ramp", help="the canary keeps serving with PERCENT of the traffic")
    p.add_argument("--percent", type=int, required=True, help="the canary's share, 1-99")
    p.set_defaults(func=_traffic)
    p = sub.add_parser("deploy", help="upload and deploy compiled pipelines to ENV")
    p.add_argument("--approve", action="store_true", help="the release approval prod requires")
    p.add_argument("--preflight", action="store_true", help="only check settings and approval")
    p.set_defaults(func=_deploy)
    p = sub.add_parser("bench", help="benchmarks -> bench/results/<name>.json")
    p.add_argument("names", nargs="*", help=f"some of: {', '.join(BENCHMARKS)} (default: all)")
    p.set_defaults(func=_bench)
    p = sub.add_parser("mutation", help="mutation testing -> bench/results/mutation.json")
    p.add_argument("names", nargs="*", help="some of the modules (default: all)")
    p.set_defaults(func=_mutation)
    p = sub.add_parser("component", help="scaffold components/NAME")
    p.add_argument("name")
    p.set_defaults(func=_component)
    p = sub.add_parser("usecase", help="scaffold pipelines/usecases/NAME from a CSV table")
    p.add_argument("name")
    p.add_argument("--data", type=Path, required=True, help="the CSV table (header line first)")
    p.add_argument("--label", required=True, help="the column to predict")
    p.add_argument("--task", choices=["binary", "multiclass", "regression"], help="else inferred")
    p.add_argument("--force", action="store_true", help="replace an existing use case")
    p.set_defaults(func=_usecase)
    p = sub.add_parser("schema", help="infer a first schema for the use case, to curate")
    p.add_argument("--force", action="store_true", help="replace the existing schema")
    p.set_defaults(func=_schema)
    p = sub.add_parser("settings", help="print a settings.yaml value, e.g. build.registry")
    p.add_argument("key")
    p.set_defaults(func=_settings)
    _add_lineage_parser(sub)
    _add_ui_parsers(sub)
    p = sub.add_parser("monitor", help="model degradation: live metrics, retrain when below")
    p.add_argument("--once", action="store_true", help="one check, then exit")
    p.add_argument("--every", type=float, default=60.0, help="seconds between checks (60)")
    p.add_argument("--all-usecases", action="store_true", help="every use case's served model")
    p.set_defaults(func=_monitor)
    p = sub.add_parser("watch", help="new-data trigger: a drift check on each new span")
    p.add_argument("--once", action="store_true", help="process what is there, then exit")
    p.add_argument("--retry", metavar="URI", help="run a claimed (crashed) or failed span again")
    p.add_argument("--all-usecases", action="store_true", help="every use case's new data")
    p.set_defaults(func=_watch)
    p = sub.add_parser("status", help="serving model, last runs, spans, trigger decisions")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--limit", type=int, default=10, help="runs and decisions shown")
    p.set_defaults(func=_status)
    args = parser.parse_args(argv)
    args.root = args.root.resolve()
    try:
        args.func(args)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
