"""The content digest of a model folder: the files' relative paths and bytes, version.json
left out, so a candidate and the registry version pushed from it agree."""

import shutil

from deploy_model.digest import content_digest


def _folder(path, files: dict[str, bytes]):
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    return path


def test_same_files_anywhere_same_digest_and_version_json_left_out(tmp_path):
    files = {"saved_model.pb": b"graph", "variables/variables.index": b"idx", "a.json": b"{}"}
    one = _folder(tmp_path / "one", files)
    digest = content_digest(one)
    assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64
    two = shutil.copytree(one, tmp_path / "elsewhere" / "two")
    (two / "version.json").write_text('{"version": 3}')
    assert content_digest(two) == digest
    assert content_digest(two, ignore=frozenset({"a.json"})) != digest


def test_any_change_of_bytes_or_paths_changes_the_digest(tmp_path):
    files = {"saved_model.pb": b"graph", "variables/variables.index": b"idx"}
    digest = content_digest(_folder(tmp_path / "base", files))
    variants = [
        {"saved_model.pb": b"graph!", "variables/variables.index": b"idx"},  # bytes
        {"saved_model.pb": b"graph", "variables/variables.idx": b"idx"},  # a name
        {"saved_model.pb": b"graph", "variables.index": b"idx"},  # a folder
        {"saved_model.pb": b"graph", "variables/variables.index": b"idx", "x": b""},  # a file
        # The same bytes cut differently between two files.
        {"saved_model.pb": b"grap", "variables/variables.index": b"hidx"},
    ]
    digests = {content_digest(_folder(tmp_path / f"v{i}", v)) for i, v in enumerate(variants)}
    assert len(digests) == len(variants) and digest not in digests
