"""The local prediction service: TensorFlow Serving's REST API for the versions the model
registry's serving.json names (stable, and the canary with its share of the traffic).

    python -m deploy_model.serve --registry ROOT --model-name NAME [--host H] [--port P]
        [--request-log DIR --log-sample-rate F] [--max-body-bytes N]

In the component's image: docker run --network host -v REGISTRY:/models:ro IMAGE
    python -m deploy_model.serve --registry /models --model-name NAME --port 8501
Port 0 picks a free port; the first line on stdout says where it serves."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from deploy_model.holder import ModelHolder
from deploy_model.http_api import DEFAULT_MAX_BODY, PredictionServer
from deploy_model.registry import Registry
from deploy_model.request_log import RequestLog


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--registry", required=True, help="Registry root: a folder or gs://...")
    p.add_argument("--model-name", required=True, help="The model's registry folder.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8501, help="0: a free port.")
    p.add_argument("--request-log", default=None, help="Folder for the sampled request log.")
    p.add_argument("--log-sample-rate", type=float, default=1.0, help="0-1: share logged.")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY)
    p.add_argument("--poll-s", type=float, default=0.5, help="serving.json poll interval.")
    p.add_argument("--cache-dir", default=None, help="Where gs:// versions are downloaded.")
    return p


class Service:
    """The service in this process (threads): holder, HTTP server, request log."""

    def __init__(
        self,
        registry: str,
        model_name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        request_log: str | None = None,
        log_sample_rate: float = 1.0,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        poll_s: float = 0.5,
        cache_dir: str | None = None,
    ):
        self.holder = ModelHolder(
            Registry(registry, model_name),
            cache_dir=Path(cache_dir) if cache_dir else None,
            poll_s=poll_s,
        )
        log = RequestLog(request_log, log_sample_rate) if request_log else None
        self.server = PredictionServer((host, port), self.holder, max_body_bytes, log)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1/models/{self.holder.registry.model_name}"

    def start(self) -> Service:
        self.holder.start()  # loads what serving.json names before the first request
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.holder.stop()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.log_sample_rate <= 1.0:
        raise SystemExit(f"--log-sample-rate {args.log_sample_rate}: expected 0 to 1")
    service = Service(
        args.registry,
        args.model_name,
        args.host,
        args.port,
        args.request_log,
        args.log_sample_rate,
        args.max_body_bytes,
        args.poll_s,
        args.cache_dir,
    ).start()
    stopped = threading.Event()
    # SIGTERM (docker stop) ends it like Ctrl-C: the server stops accepting, then exits.
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"serving {service.url} ({service.holder.describe()})", flush=True)
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    service.stop()


if __name__ == "__main__":
    main()
