"""The three data components chained as the CT pipeline chains them, each in its real image
under kfp.local: extract_data's Examples satisfy the committed schema in validate_data, and
transform_data transforms them with the taxi module."""

import csv
import json
import random
from pathlib import Path

import pytest

from mlops.core.paths import REPO

pytestmark = pytest.mark.docker


def _sample(tmp_path: Path, rows: int) -> Path:
    with (REPO / "data" / "chicago_taxi" / "data.csv").open(newline="") as f:
        reader = csv.reader(f)
        header, data = next(reader), list(reader)
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o755)
    path = folder / "sample.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(random.Random(3).sample(data, rows))
    path.chmod(0o644)
    return path


def test_extract_validate_transform(tmp_path):
    from kfp import components, dsl, local

    from mlops.ci import spec_rewrite
    from mlops.local_runs.runner import docker_runner_adapted
    from mlops.testing.component_testing import build_image

    def load(name):
        path = REPO / "components" / name / "component.yaml"
        image = build_image(name)
        return components.load_component_from_text(
            spec_rewrite.with_image(path.read_text(), image, path)
        )

    extract, validate, transform = (
        load(n) for n in ("extract_data", "validate_data", "transform_data")
    )
    beam = '["--runner=DirectRunner", "--direct_running_mode=in_memory"]'

    @dsl.pipeline(name="data-steps")
    def data_steps(source: str, schema: str, module: str) -> str:
        examples = extract(source=source, beam_args=beam)
        checked = validate(examples=examples.outputs["examples"], schema=schema, beam_args=beam)
        transform(
            examples=examples.outputs["examples"], schema=schema, module=module, beam_args=beam
        )
        return checked.outputs["decision"]

    source = _sample(tmp_path, 1500)
    root = tmp_path / "root"
    root.mkdir()
    root.chmod(0o1777)
    local.init(runner=local.DockerRunner(), pipeline_root=str(root))
    with docker_runner_adapted(mounts=[source.parent]):
        task = data_steps(
            source=str(source),
            schema=(REPO / "pipelines" / "usecases" / "taxi" / "schema.pbtxt").read_text(),
            module=(REPO / "pipelines" / "usecases" / "taxi" / "transform.py").read_text(),
        )
    [run] = root.glob("data-steps-*")
    summary = json.loads((run / "validate-data" / "summary").read_text())
    assert task.output == "continue", summary
    rows = json.loads((run / "extract-data" / "metrics").read_text())
    assert rows["rows_total"] == 1500
    transformed = json.loads((run / "transform-data" / "metrics").read_text())
    assert transformed == {"train_rows": rows["rows_train"], "eval_rows": rows["rows_eval"]}
    assert (run / "transform-data" / "transform_graph" / "transform_fn").is_dir()
