"""kfp.local's DAG loop, run the way a cluster runs a pipeline: every task whose upstream tasks
have succeeded starts at once (up to `max_parallel` at a time), where kfp.local 2.13 runs one
task after another. On a cluster, extract -> {validate, transform} runs its two siblings side by
side; here it does too, so a local run takes the decisions and the time a cluster would.

When a task fails, no new task starts (Argo's fail-fast), the tasks already running finish (as
on a cluster: a validation that fails beside a transformation still writes its verdict), and
the DAG fails naming the task that failed first. An error or an interrupt (an exception, not a
failed task) stops the running tasks through `cancel_running`.

Tasks are dispatched through kfp.local's own functions
(`task_dispatcher.run_single_task_implementation`, `importer_handler.run_importer`, nested
`run_dag`), looked up on their modules at call time so that the adaptations of
`mlops.local_runs.runner` apply. The IOStore is read and written by the calling thread only.

kfp.local swaps process-wide state around each task (the root logger's handlers, an indenting
`builtins.print`); with tasks overlapping, those swaps must nest across threads:
`shared_context` makes the first task in install them and the last task out restore them."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from mlops.local_runs.console import say


def shared_context(factory: Callable[..., contextlib.AbstractContextManager]):
    """A context manager like `factory`'s, entered once for any number of overlapping users
    (threads): entered by the first, exited after the last."""
    lock = threading.Lock()
    state: dict[str, Any] = {"users": 0, "cm": None}

    @contextlib.contextmanager
    def context(*args, **kwargs) -> Iterator[None]:
        with lock:
            if state["users"] == 0:
                state["cm"] = factory(*args, **kwargs)
                state["cm"].__enter__()
            state["users"] += 1
        try:
            yield
        finally:
            with lock:
                state["users"] -= 1
                if state["users"] == 0:
                    cm, state["cm"] = state["cm"], None
                    cm.__exit__(None, None, None)

    return context


def _run_task(
    task_name: str,
    task_spec,
    arguments: dict[str, Any],
    pipeline_resource_name: str,
    executors,
    components,
    pipeline_root: str,
    runner,
    unique_pipeline_id: str,
    fail_stack: list[str],
):
    """One task, as kfp.local's loop body runs it; returns (outputs, status)."""
    from kfp.local import dag_orchestrator, importer_handler, task_dispatcher

    dag_orchestrator.validate_task_spec_not_loop_or_condition(task_spec=task_spec)
    component_name = task_spec.component_ref.name
    component_spec = components[component_name]
    implementation = component_spec.WhichOneof("implementation")
    if implementation == "dag":
        return dag_orchestrator.run_dag(
            pipeline_resource_name=pipeline_resource_name,
            dag_component_spec=component_spec,
            components=components,
            executors=executors,
            dag_arguments=arguments,
            pipeline_root=pipeline_root,
            runner=runner,
            unique_pipeline_id=unique_pipeline_id,
            fail_stack=fail_stack,
        )
    if implementation != "executor_label":
        raise ValueError(f"Got unknown component implementation: {implementation}")
    executor_spec = executors[component_spec.executor_label]
    spec = executor_spec.WhichOneof("spec")
    if spec == "importer":
        return importer_handler.run_importer(
            pipeline_resource_name=pipeline_resource_name,
            component_name=component_name,
            component_spec=component_spec,
            executor_spec=executor_spec,
            arguments=arguments,
            pipeline_root=pipeline_root,
            unique_pipeline_id=unique_pipeline_id,
        )
    if spec == "container":
        return task_dispatcher.run_single_task_implementation(
            pipeline_resource_name=pipeline_resource_name,
            component_name=component_name,
            component_spec=component_spec,
            executor_spec=executor_spec,
            arguments=arguments,
            pipeline_root=pipeline_root,
            runner=runner,
            raise_on_error=False,  # the pipeline raises, naming the failed task
            block_input_artifact=False,
            unique_pipeline_id=unique_pipeline_id,
        )
    raise ValueError(
        "Got unknown spec in ExecutorSpec. Only 'dsl.component', 'dsl.container_component', "
        "and 'dsl.importer' are supported in local pipeline execution."
    )


def concurrent_run_dag(max_parallel: int, cancel_running: Callable[[], None] = lambda: None):
    """A replacement for kfp.local's `dag_orchestrator.run_dag` (same signature) that runs
    ready tasks side by side, at most `max_parallel` at a time; `cancel_running` stops the
    running tasks when an exception ends the run."""
    if max_parallel < 1:
        raise ValueError(f"max_parallel: {max_parallel}; at least 1 task must be able to run")

    def run_dag(
        pipeline_resource_name,
        dag_component_spec,
        executors,
        components,
        dag_arguments,
        pipeline_root,
        runner,
        unique_pipeline_id,
        fail_stack,
    ):
        from kfp.local import dag_orchestrator, graph_utils, io, status

        io_store = io.IOStore()
        for key, value in dag_orchestrator.join_user_inputs_and_defaults(
            dag_arguments=dag_arguments,
            dag_inputs_spec=dag_component_spec.input_definitions,
        ).items():
            io_store.put_parent_input(key, value)

        tasks = dag_component_spec.dag.tasks
        upstream = graph_utils.build_dependency_map(tasks)
        # kfp.local's order (a stack: the next task is at the end) breaks ties among ready tasks.
        order = {name: i for i, name in enumerate(reversed(graph_utils.topological_sort(upstream)))}
        pending, done = set(tasks), set()
        running: dict[Future, str] = {}
        failed: list[str] = []

        def start_ready(pool: ThreadPoolExecutor) -> None:
            ready = sorted(
                (n for n in pending if all(u in done for u in upstream[n])), key=order.get
            )
            for name in ready[: max_parallel - len(running)]:
                pending.discard(name)
                arguments = dag_orchestrator.make_task_arguments(
                    task_inputs_spec=tasks[name].inputs, io_store=io_store
                )
                future = pool.submit(
                    _run_task,
                    name,
                    tasks[name],
                    arguments,
                    pipeline_resource_name,
                    executors,
                    components,
                    pipeline_root,
                    runner,
                    unique_pipeline_id,
                    fail_stack,
                )
                running[future] = name

        with ThreadPoolExecutor(max_parallel, thread_name_prefix="kfp-local-task") as pool:
            try:
                while True:
                    if not failed:
                        start_ready(pool)
                    if not running:
                        break
                    finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for future in sorted(finished, key=lambda f: order[running[f]]):
                        name = running.pop(future)
                        outputs, task_status = future.result()
                        if task_status == status.Status.SUCCESS:
                            for key, output in outputs.items():
                                io_store.put_task_output(name, key, output)
                            done.add(name)
                        elif task_status == status.Status.FAILURE:
                            failed.append(name)  # its running siblings finish
                            if len(failed) == 1 and running:
                                say(
                                    f"[run] {name} failed: no new task starts; waiting for "
                                    f"{', '.join(sorted(running.values()))} to finish"
                                )
                        else:
                            raise ValueError(f"Got unknown task status: {task_status.name}")
            except BaseException:
                for future in running:
                    future.cancel()  # those not started yet
                cancel_running()  # then the pool waits for the stopped tasks to end
                raise

        if failed:
            fail_stack.append(failed[0])
            return {}, status.Status.FAILURE
        if pending:  # cannot happen with a valid DAG: every task's upstream tasks are in it
            raise ValueError(f"tasks never became ready: {', '.join(sorted(pending))}")
        outputs = dag_orchestrator.get_dag_outputs(
            dag_outputs_spec=dag_component_spec.dag.outputs, io_store=io_store
        )
        return outputs, status.Status.SUCCESS

    return run_dag
