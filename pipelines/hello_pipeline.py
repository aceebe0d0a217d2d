"""The sample pipeline: two shared components composed through the ComponentStore. It proves
the build chain (images, push, pinned specs, compile, local run) until the CT pipeline lands."""

from kfp import dsl

from pipelines.component_store import default_store

store = default_store()
hello = store.load_component("hello")
word_count = store.load_component("word_count")


@dsl.pipeline(name="hello-pipeline", description="Writes a message and counts its words.")
def hello_pipeline(message: str = "hello from the mlops monorepo", repeat: int = 3) -> int:
    text = hello(message=message, repeat=repeat)
    counted = word_count(text=text.outputs["text"], min_length=2)
    return counted.outputs["words"]
