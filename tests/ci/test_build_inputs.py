"""The build-input fingerprint: what must rebuild an image, and what must not."""

import pytest

from mlops.ci.build_inputs import context_files, dockerignore_patterns, fingerprint
from mlops.ci.components import ComponentDir, discover
from mlops.ci.spec_rewrite import rewrite_images
from mlops.core.errors import BuildError


@pytest.fixture
def hello(project):
    return next(c for c in discover(project) if c.name == "hello")


def _fp(project, hello, base="sha256:base1"):
    return fingerprint(hello, base, project / "requirements.lock")


def test_the_context_is_what_docker_build_sends(hello):
    files = context_files(hello.path)
    assert "Dockerfile" in files and "src/hello/main.py" in files
    assert not any(f.startswith("tests/") or f == "component.yaml" for f in files)


def test_stable_for_the_same_inputs(project, hello):
    assert _fp(project, hello) == _fp(project, hello)


@pytest.mark.parametrize(
    "change",
    [
        lambda p, c: (c.path / "src" / "hello" / "main.py").write_text("# changed\n"),
        lambda p, c: (c.path / "src" / "hello" / "extra.py").write_text(""),
        lambda p, c: (c.path / "Dockerfile").write_text("FROM x\n"),
        lambda p, c: (p / "requirements.lock").write_text("six==1.16.0\n"),
    ],
    ids=["source", "new-file", "dockerfile", "lock"],
)
def test_changes_that_rebuild(project, hello, change):
    before = _fp(project, hello)
    change(project, hello)
    assert _fp(project, hello) != before


def test_a_new_base_image_rebuilds(project, hello):
    assert _fp(project, hello, "sha256:base1") != _fp(project, hello, "sha256:base2")


def test_changes_that_do_not_rebuild(project, hello):
    before = _fp(project, hello)
    (hello.path / "tests" / "test_more.py").write_text("def test_x(): pass\n")
    rewrite_images({hello.spec_path: "localhost:5999/t/hello:abc@sha256:" + "1" * 64})
    (hello.path / "src" / "hello" / "__pycache__").mkdir()
    (hello.path / "src" / "hello" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"x")
    assert _fp(project, hello) == before


GOLDEN = "43b460aa4ec985b582e37d86d6e087a1fbceed783728b46bfc7d773d73295d93"
SPEC = "name: tiny\nimplementation:\n  container:\n    image: {image}\n    command: [x]\n"


def _tiny(tmp_path, ignore: str | None = "# comment\n\n  tests  \n*.pyc\n"):
    """A fixed component folder, written here so that its fingerprint is known."""
    folder = tmp_path / "tiny"
    (folder / "src").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "Dockerfile").write_text("FROM base\nCOPY src /src\n")
    (folder / "src" / "run.py").write_text("print('hi')\n")
    (folder / "src" / "run.py").chmod(0o644)
    (folder / "tests" / "test_run.py").write_text("")
    (folder / "component.yaml").write_text(SPEC.format(image="reg/tiny:dev"))
    if ignore is not None:
        (folder / ".dockerignore").write_text(ignore)
    lock = tmp_path / "requirements.lock"
    lock.write_text("six==1.16.0\n")
    return ComponentDir("tiny", folder, {}), lock


def test_dockerignore_patterns_skip_comments_and_blank_lines(tmp_path):
    component, _ = _tiny(tmp_path)
    assert dockerignore_patterns(component.path) == ["tests", "*.pyc"]
    assert dockerignore_patterns(tmp_path) == []
    assert context_files(component.path) == [
        ".dockerignore",
        "Dockerfile",
        "component.yaml",
        "src/run.py",
    ]


def test_the_fingerprint_of_fixed_inputs_is_fixed(tmp_path):
    # Any change to what is hashed, or how, must bump FORMAT: every recorded fingerprint
    # then rebuilds once, on purpose.
    component, lock = _tiny(tmp_path)
    assert fingerprint(component, "sha256:base1", lock) == GOLDEN


def test_the_executable_bit_rebuilds_and_other_mode_bits_do_not(tmp_path):
    component, lock = _tiny(tmp_path)
    before = fingerprint(component, "sha256:base1", lock)
    run = component.path / "src" / "run.py"
    run.chmod(0o600)
    assert fingerprint(component, "sha256:base1", lock) == before
    run.chmod(0o602)
    assert fingerprint(component, "sha256:base1", lock) == before
    run.chmod(0o601)
    assert fingerprint(component, "sha256:base1", lock) != before


def test_a_spec_in_the_context_counts_except_for_its_image(tmp_path):
    component, lock = _tiny(tmp_path, ignore=None)
    before = fingerprint(component, "sha256:base1", lock)
    spec = component.path / "component.yaml"
    spec.write_text(SPEC.format(image="reg/tiny:abc@sha256:" + "1" * 64))
    assert fingerprint(component, "sha256:base1", lock) == before
    spec.write_text(SPEC.format(image="reg/tiny:dev").replace("[x]", "[y]"))
    assert fingerprint(component, "sha256:base1", lock) != before


def test_the_dockerfile_is_sent_even_when_dockerignore_lists_it(tmp_path):
    component, _ = _tiny(tmp_path, ignore="Dockerfile\ntests\n")
    assert "Dockerfile" in context_files(component.path)
    assert ".dockerignore" in context_files(component.path)


def test_a_spec_in_the_context_that_does_not_parse_is_named(tmp_path):
    component, lock = _tiny(tmp_path, ignore=None)
    spec = component.path / "component.yaml"
    spec.write_text("name: [unclosed\n")
    with pytest.raises(BuildError, match=rf"^{spec}: does not parse as YAML"):
        fingerprint(component, "sha256:base1", lock)
