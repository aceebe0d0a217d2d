"""build/cloudbuild.yaml runs the chain through the Makefile's verbs: no second copy of it."""

import re

import yaml

from mlops.core.paths import REPO


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))


def _make_calls(step: dict) -> list[list[str]]:
    if step.get("entrypoint") == "make":
        return [step["args"]]
    script = " ".join(step.get("args", []))
    return [m.split() for m in re.findall(r"\bmake ((?:[a-z-]+ ?)+)", script)]


def test_every_chain_step_is_a_make_verb():
    config = yaml.safe_load((REPO / "build" / "cloudbuild.yaml").read_text())
    targets = _make_targets()
    called = []
    for step in config["steps"]:
        calls = _make_calls(step)
        if step["name"].startswith("gcr.io/cloud-builders/gcloud"):
            continue  # credentials only
        assert calls, f"step {step['id']} does not call make"
        for call in calls:
            assert set(call) <= targets, f"step {step['id']} calls unknown verbs {call}"
            called += call
    # The order of Figure 7: tests and static checks, images to compile, then deploy; the
    # specs pinned in the workspace's component.yaml files (step 6), not only in dist/.
    chain = ["unit", "images", "push", "update-specs", "compile", "deploy"]
    assert [called.index(verb) for verb in chain] == sorted(called.index(v) for v in chain)
    assert called.index("lint") < called.index("images")
    assert "build" not in called


def test_substitutions_reach_the_build_tool():
    config = yaml.safe_load((REPO / "build" / "cloudbuild.yaml").read_text())
    assert "_REGISTRY" in config["substitutions"]
    env = config["options"]["env"]
    assert "COMMIT_SHA=$COMMIT_SHA" in env
    assert "REGISTRY=$_REGISTRY" in env


def test_the_github_workflow_calls_only_make_verbs():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yaml").read_text())
    targets = _make_targets()
    runs = [s["run"] for job in workflow["jobs"].values() for s in job["steps"] if "run" in s]
    assert runs, "no run steps"
    for run in runs:
        words = run.split()
        assert words[0] == "make", run
        verbs = [w for w in words[1:] if "=" not in w]
        assert set(verbs) <= targets, run
    # The deploy job pins the workspace's specs in place before deploying, as Cloud Build does.
    deploy = [s["run"].split() for s in workflow["jobs"]["deploy"]["steps"] if "run" in s]
    pinned = next(i for i, words in enumerate(deploy) if "update-specs" in words)
    assert deploy[pinned][1:] == ["images", "push", "update-specs", "compile"]
    assert pinned < next(i for i, words in enumerate(deploy) if "deploy" in words)


def test_docs_only_commits_are_skipped_alike_everywhere():
    triggers = list(yaml.safe_load_all((REPO / "build" / "triggers.yaml").read_text()))
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yaml").read_text())
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as True
    ignored = {tuple(t["ignoredFiles"]) for t in triggers}
    ignored |= {tuple(on["push"]["paths-ignore"]), tuple(on["pull_request"]["paths-ignore"])}
    assert len(ignored) == 1
    assert {t["substitutions"]["_ENV"] for t in triggers} == {"dev", "staging", "prod"}
    prod = next(t for t in triggers if t["substitutions"]["_ENV"] == "prod")
    assert prod["approvalConfig"]["approvalRequired"] is True
