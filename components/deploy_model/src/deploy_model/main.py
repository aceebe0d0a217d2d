"""Deploy model: the blessed-model gate, the versioned model registry and the traffic split.

--mode deploy: a blessed Model artifact is pushed to the registry as its next version and
becomes the stable version (the first model ever, or canary_percent 0) or the canary with
canary_percent of the traffic. Not blessed: nothing is pushed, serving.json is untouched,
the step succeeds and says "skipped". A blessed model whose content is the stable or the
canary version's (deploy_model.digest): nothing is pushed either, and the step records
"unchanged" with that version. --mode promote: the canary becomes stable.
--mode rollback: the canary is dropped, or without one stable goes back to the previous
stable version. --mode ramp: the canary keeps serving with canary_percent (1-99) of the
traffic, a step of a gradual rollout. With --expect-canary N, promote, rollback and ramp act
only while version N is the canary (an automatic decision must not undo a change made since
it looked). target vertex: the same on a Vertex AI endpoint (deploy_model.vertex), with
the registry on gs://. The local prediction service (deploy_model.serve) follows the
registry's serving.json.

Also the host's command line for promote/rollback/ramp (the outputs are then optional):
    python -m deploy_model.main --mode promote --registry ROOT --model-name NAME
    python -m deploy_model.main --mode ramp --canary-percent 25 --registry ROOT --model-name NAME"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy_model.digest import content_digest
from deploy_model.inputs import InputError, check_model, read_blessing, read_sidecar
from deploy_model.registry import Registry, RegistryError, previous_stable

MODES = ("deploy", "promote", "rollback", "ramp")
TARGETS = ("local", "vertex")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--mode", type=str, choices=MODES, default="deploy", help="What to do.")
    p.add_argument("--model", default=None, help="Input path of the Model artifact (deploy).")
    p.add_argument(
        "--blessing", default=None, help="Input path of evaluate_model's blessing (deploy)."
    )
    p.add_argument(
        "--registry", type=str, required=True, help="Registry root: a folder or gs://BUCKET/PATH."
    )
    p.add_argument("--model-name", type=str, required=True, help="The model's registry folder.")
    p.add_argument(
        "--canary-percent",
        type=int,
        default=10,
        help="0-100: the share a new version gets as canary; 0 (or the first model): stable. "
        "ramp: the canary's new share, 1-99.",
    )
    p.add_argument(
        "--expect-canary",
        type=str,
        default=None,
        help="promote/rollback/ramp: act only while this version (a number) is the canary.",
    )
    p.add_argument("--target", type=str, default="local", help="local | vertex.")
    for flag, what in [
        ("--vertex-project", "Google Cloud project of the Vertex AI endpoint."),
        ("--vertex-location", "Region of the Vertex AI endpoint, e.g. europe-west1."),
        ("--vertex-endpoint", "Vertex AI endpoint display name or id."),
        ("--vertex-serving-image", "Serving container image of the Vertex AI model."),
        ("--vertex-api-endpoint", "Vertex AI API host override (tests point it at a double)."),
    ]:
        p.add_argument(flag, type=str, default=None, help=what)
    p.add_argument("--deployment", default=None, help="Output path: deployment.json goes here.")
    p.add_argument("--version", default=None, help="Output path of the version deployed.")
    p.add_argument(
        "--executor-output",
        default=None,
        help="KFP's executor output file ({{$.outputs.output_file}}), for artifact metadata.",
    )
    return p


def _vertex_target(model_name: str, vertex: dict[str, str | None], need_image: bool):
    from deploy_model import vertex as vertex_module  # lazily: another module's dependencies

    required = ["project", "location", "endpoint"] + (["serving_image"] if need_image else [])
    missing = [f"vertex_{k}" for k in required if not vertex.get(k)]
    if missing:
        raise InputError(f"target vertex needs {', '.join(missing)}")
    return vertex_module, vertex_module.VertexTarget(
        project=vertex["project"],
        location=vertex["location"],
        endpoint=vertex["endpoint"],
        model_display_name=model_name,
        serving_image=vertex.get("serving_image") or "",
        api_endpoint=vertex.get("api_endpoint") or None,
    )


def run(
    mode: str,
    registry: str,
    model_name: str,
    model: str | None = None,
    blessing: str | None = None,
    canary_percent: int = 10,
    target: str = "local",
    vertex: dict[str, str | None] | None = None,
    expect_canary: int | None = None,
) -> dict[str, Any]:
    """Does what mode says; returns the deployment record (what happened and why)."""
    if mode not in MODES:
        raise InputError(f"mode: {mode!r}; expected one of {', '.join(MODES)}")
    if target not in TARGETS:
        raise InputError(f"target: {target!r}; expected one of {', '.join(TARGETS)}")
    if not 0 <= canary_percent <= 100:
        raise InputError(f"canary_percent: {canary_percent}; expected 0 to 100")
    if mode == "ramp" and not 1 <= canary_percent <= 99:
        raise InputError(
            f"canary_percent: {canary_percent}; a ramp step gives the canary 1 to 99 "
            "(100 is mode promote)"
        )
    if expect_canary is not None and mode == "deploy":
        raise InputError("expect_canary: only for promote, rollback and ramp")
    if not registry:
        raise InputError("registry: empty; pass a folder or gs://BUCKET/PATH")
    if target == "vertex" and not registry.startswith("gs://"):
        raise InputError(
            f"registry: {registry!r}; target vertex serves from Cloud Storage, so the "
            "registry must be gs://BUCKET/PATH"
        )
    try:
        reg = Registry(registry, model_name)
    except RegistryError as e:
        raise InputError(str(e)) from e
    record: dict[str, Any] = {
        "mode": mode,
        "model_name": model_name,
        "registry": registry,
        "target": target,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "skipped": False,
        "unchanged": False,
        "reason": "",
        "version": None,
        "version_uri": None,
        "vertex": None,
    }
    vertex_api = None
    if target == "vertex":
        vertex_api = _vertex_target(model_name, vertex or {}, need_image=mode == "deploy")

    if mode == "deploy":
        model_dir = check_model(model)
        verdict = read_blessing(blessing)
        record["blessing"] = verdict.details
        if not verdict.blessed:
            state = reg.status()
            return {
                **record,
                "skipped": True,
                "reason": f"skipped: {verdict.reason}",
                "stable": state.get("stable"),
                "canary": state.get("canary"),
            }
        digest = content_digest(model_dir)
        same = _same_content(reg, digest)
        if same is not None:
            version, role, state = same
            return {
                **record,
                "unchanged": True,
                "version": version,
                "version_uri": reg.version_uri(version),
                "role": role,
                "content_digest": digest,
                "reason": f"unchanged: the candidate's content ({digest}) is that of version "
                f"{version}, the {role} version; nothing was pushed and serving.json was not "
                "changed",
                "stable": state.get("stable"),
                "canary": state.get("canary"),
            }
        sidecar = read_sidecar(model_dir)
        labels = {"model_name": model_name}
        if sidecar.get("model_name_hint"):
            labels["model_name_hint"] = str(sidecar["model_name_hint"])
        version = reg.push(
            model_dir,
            source_uri=str(model),
            metrics=verdict.metrics,
            blessed=True,
            labels=labels,
            digest=digest,
        )
        record["version"], record["version_uri"] = version, reg.version_uri(version)
        record["content_digest"] = digest
        if vertex_api:
            module, vt = vertex_api
            first = reg.status().get("stable") is None or canary_percent == 0
            record["vertex"] = module.deploy(
                vt,
                reg.version_uri(version),
                100 if first else canary_percent,
                {**labels, "registry_version": str(version)},
            )
        state = reg.deploy(version, canary_percent)
        record["reason"] = "stable" if state["stable"] == version else "canary"
    else:
        # Refuse before touching Vertex AI when the registry cannot follow.
        current = reg.status()
        reg.check_canary(current, expect_canary)
        if mode in ("promote", "ramp") and not current.get("canary"):
            raise RegistryError(f"{model_name}: no canary to {mode}")
        if (
            mode == "rollback"
            and not current.get("canary")
            and previous_stable(current.get("history") or []) is None
        ):
            raise RegistryError(f"{model_name}: nothing to roll back to (no canary, no earlier)")
        if vertex_api:
            module, vt = vertex_api
            if mode == "ramp":
                record["vertex"] = module.set_canary_traffic(vt, canary_percent)
            else:
                record["vertex"] = getattr(module, mode)(vt)
        if mode == "ramp":
            state = reg.ramp(canary_percent, expect_canary)
            version = state["canary"]["version"]
            record["reason"] = f"ramp: the canary has {canary_percent}% of the traffic"
        else:
            change = reg.promote if mode == "promote" else reg.rollback
            state = change(expect_canary)
            version = state["stable"]
        record["version"] = version
        record["version_uri"] = reg.version_uri(version)
    return {**record, "stable": state.get("stable"), "canary": state.get("canary")}


def _same_content(reg: Registry, digest: str) -> tuple[int, str, dict[str, Any]] | None:
    """(version, "stable" | "canary", serving state) of the served version whose content is
    the candidate's, or None: retraining an identical model must not add a version."""
    state = reg.status()
    canary = state.get("canary") or {}
    for role, version in (("stable", state.get("stable")), ("canary", canary.get("version"))):
        if version is not None and reg.version_digest(version) == digest:
            return version, role, state
    return None


def write_outputs(record: dict, deployment: str | None, version: str | None, executor_output):
    if deployment:
        Path(deployment).mkdir(parents=True, exist_ok=True)
        (Path(deployment) / "deployment.json").write_text(json.dumps(record, indent=2) + "\n")
    if version:
        Path(version).parent.mkdir(parents=True, exist_ok=True)
        Path(version).write_text("" if record["version"] is None else str(record["version"]))
    if executor_output and deployment:
        from mlops_runtime import kfp_outputs

        canary = record.get("canary") or {}
        metadata = {
            "mode": record["mode"],
            "version": "" if record["version"] is None else record["version"],
            "stable": "" if record.get("stable") is None else record["stable"],
            "canary_version": canary.get("version", ""),
            "canary_percent": canary.get("traffic_percent", 0),
            "skipped": record["skipped"],
            "unchanged": record.get("unchanged", False),
            "reason": record["reason"],
        }
        kfp_outputs.write_artifact_metadata(executor_output, {"deployment": (deployment, metadata)})


def _version_number(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit():
        raise InputError(f"expect_canary: {text!r}; expected a version number")
    return int(text)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    vertex = {
        "project": args.vertex_project,
        "location": args.vertex_location,
        "endpoint": args.vertex_endpoint,
        "serving_image": args.vertex_serving_image,
        "api_endpoint": args.vertex_api_endpoint,
    }
    try:
        record = run(
            args.mode,
            args.registry,
            args.model_name,
            model=args.model,
            blessing=args.blessing,
            canary_percent=args.canary_percent,
            target=args.target,
            vertex=vertex,
            expect_canary=_version_number(args.expect_canary),
        )
    except (InputError, RegistryError) as e:
        print(f"deploy_model: {e}", file=sys.stderr)
        raise SystemExit(2) from e
    except Exception as e:
        # Vertex AI refusing or failing (deploy_model.vertex's error): not bad input, exit 1,
        # one line instead of a traceback. serving.json was not changed (it is updated after).
        if type(e).__name__ != "VertexDeployError":
            raise
        print(f"deploy_model: Vertex AI: {e}", file=sys.stderr)
        raise SystemExit(1) from e
    write_outputs(record, args.deployment, args.version, args.executor_output)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
