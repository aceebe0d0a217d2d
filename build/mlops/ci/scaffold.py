"""`make component NAME=x`: a new component folder from templates/component that builds,
passes the contract check and its own test as it is."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from mlops.core.errors import BuildError
from mlops.core.settings import load_build_settings

TEMPLATE = Path(__file__).parent / "templates" / "component"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def scaffold(root: Path, name: str) -> Path:
    # The name is the folder, the Python package and the image name: all three must accept it.
    if not _NAME.fullmatch(name or "") or keyword.iskeyword(name) or name.endswith("_"):
        raise BuildError(
            f"component name {name!r}: use lower-case letters, digits and single underscores, "
            "starting with a letter (it names the folder, the Python package and the image)"
        )
    target = root / "components" / name
    if target.exists():
        raise BuildError(f"{target}: already exists")
    settings = load_build_settings(root)
    values = {
        "name": name,
        "title": name.replace("_", " ").capitalize(),
        # A placeholder: the build pins the pushed image in dist/components/<name>/ (CI's
        # `make update-specs` in the file itself).
        "image": f"{settings.repository(name)}:dev",
    }
    for source in sorted(TEMPLATE.rglob("*")):
        if source.is_dir() or "__pycache__" in source.parts:
            continue
        rel = Path(str(source.relative_to(TEMPLATE)).replace("__name__", name))
        text = source.read_text()
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    return target
