"""The decision service: serve a policy over HTTP, log every decision durably with its
propensity, join rewards that arrive later, learn new versions from the log, run them in shadow
and promote them only when off-policy evaluation says they are better (docs/serving.md).

Needs the ``serve`` extra: ``pip install "nacre[serve]"`` (FastAPI, uvicorn, SQLAlchemy,
prometheus_client).
"""

from nacre.serve.learn import learn_from_log, log_dataset
from nacre.serve.log import DecisionLog, sqlite_url
from nacre.serve.promote import compare, decide_promotion
from nacre.serve.registry import ModelRegistry
from nacre.serve.runner import open_registry, open_service, serve
from nacre.serve.service import DecisionService

__all__ = ["DecisionLog", "DecisionService", "ModelRegistry", "compare", "decide_promotion",
           "learn_from_log", "log_dataset", "open_registry", "open_service", "serve", "sqlite_url"]
