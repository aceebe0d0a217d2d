"""Model registries as deploy_model lays them out, for this component's tests."""

import json
from pathlib import Path

MODEL = "taxi_big_tipper"


def write_version(root: Path, version: int, marker: bytes, model: str = MODEL) -> Path:
    """A registry version: the files of a model artifact (their content is not read here)
    and version.json, as deploy_model writes it."""
    folder = root / model / str(version)
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(marker)
    (folder / "variables" / "variables.index").write_bytes(marker + b"-index")
    (folder / "mlops_model.json").write_text(json.dumps({"task": "binary"}))
    (folder / "version.json").write_text(json.dumps({"version": version, "blessed": True}))
    return folder


def write_serving(root: Path, stable, canary=None, model: str = MODEL) -> Path:
    (root / model).mkdir(parents=True, exist_ok=True)
    path = root / model / "serving.json"
    path.write_text(
        json.dumps({"model_name": model, "stable": stable, "canary": canary, "history": []})
    )
    return path


def files(folder: Path) -> dict[str, bytes]:
    """Every file under folder by its relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
