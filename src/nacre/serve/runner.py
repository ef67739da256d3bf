"""Starting the decision service: open (or create) the registry and the log, then serve the
app with uvicorn."""

from __future__ import annotations

import gc
from pathlib import Path

import torch

from nacre.errors import ConfigError
from nacre.serve.log import DecisionLog, sqlite_url
from nacre.serve.registry import STATE, ModelRegistry
from nacre.serve.service import DecisionService, layout_of
from nacre.train.run import load

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def open_registry(source: str | Path, registry: str | Path | None = None) -> ModelRegistry:
    """``source`` itself if it is a registry; else the registry at ``registry`` (default
    ``SOURCE/registry``), created with ``source`` (a run folder or saved agent) as version 1
    when it does not exist yet."""
    source = Path(source)
    if (source / STATE).is_file():
        return ModelRegistry(source)
    path = Path(registry) if registry is not None else source / "registry"
    if (path / STATE).is_file():
        return ModelRegistry(path)
    return ModelRegistry.create(path, load(source), source=str(source))


def open_service(source: str | Path, *, registry: str | Path | None = None,
                 log_url: str | None = None, seed: int = 0) -> DecisionService:
    """The service for ``source`` (see :func:`open_registry`), logging to ``log_url``
    (default: SQLite ``REGISTRY/decisions.db``)."""
    reg = open_registry(source, registry)
    layout = layout_of(reg.load(reg.production))
    log = DecisionLog(log_url or sqlite_url(reg.path / "decisions.db"), layout)
    return DecisionService(reg, log, seed=seed)


def serve(source: str | Path, *, host: str = "127.0.0.1", port: int = 8000,
          token: str | None = None, insecure_local: bool = False,
          registry: str | Path | None = None, log_url: str | None = None, seed: int = 0,
          max_body_bytes: int | None = None, poll_s: float = 1.0,
          fast_path: bool = True) -> None:
    """Serve ``source``'s production model over HTTP until interrupted (docs/serving.md).

    A ``token`` is required unless ``insecure_local``, which also keeps the service on
    loopback.
    """
    import uvicorn

    from nacre.serve.app import MAX_BODY_BYTES, create_app

    if token is None and not insecure_local:
        raise ConfigError("the service needs an API token (--token-file FILE or the "
                          "NACRE_SERVE_TOKEN environment variable); --insecure-local serves "
                          "without one, on loopback only")
    if token is not None and len(token) < 16:
        raise ConfigError("the API token is shorter than 16 characters: use a random one "
                          "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)")
    if insecure_local and host not in LOOPBACK:
        raise ConfigError(f"--insecure-local serves on loopback only, not on {host}")
    torch.set_num_threads(1)  # one small forward pass per request: threads only add latency
    service = open_service(source, registry=registry, log_url=log_url, seed=seed)
    app = create_app(service, token=token, poll_s=poll_s,
                     max_body_bytes=max_body_bytes or MAX_BODY_BYTES, fast_path=fast_path)
    # Everything loaded so far (torch, the models, FastAPI) lives as long as the service: out of
    # the collector's sight, a full collection no longer walks it — a pause of tens of ms
    # that would land on whichever requests are in flight.
    gc.freeze()
    print(f"nacre serve: version {service.production.version} of {service.registry.path} on "
          f"http://{host}:{port} (log {service.log.name})", flush=True)
    # no proxy-header rewriting (the service reads no client addresses), no Server header
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                proxy_headers=False, server_header=False)


__all__ = ["LOOPBACK", "open_registry", "open_service", "serve"]
