"""Redis: Debian's real `redis-server`, with an append-only file under .lab/data."""

from __future__ import annotations

import shutil

import redis as redis_py

from ..errors import StackError
from ..settings import Settings
from .process import Launch
from .service import Health, Service, port_open

__all__ = ["Redis"]


class Redis(Service):
    name = "redis"
    title = "Redis"
    start_timeout_s = 20.0

    def probe(self, settings: Settings) -> Health:
        host, port = settings.host_port("redis")
        if not port_open(host, port):
            return Health(False, detail="nothing listening")
        try:
            client = redis_py.Redis.from_url(settings.redis, socket_timeout=3)
            info = client.info("server")
            keys = client.dbsize()
        except redis_py.RedisError as exc:
            return Health(False, detail=f"port open but no Redis answer ({exc})")
        return Health(True, info["redis_version"], f"{keys} key(s) in db")

    def require(self, settings: Settings) -> None:
        if shutil.which("redis-server") is None:
            raise StackError(
                "redis-server is not installed.",
                "install it (Debian/Ubuntu: `apt-get install redis-server`; "
                "conda: `conda install -c conda-forge redis-server`), or run `make lab`, "
                "which installs it with apt-get when it can.",
            )

    def launches(self, settings: Settings) -> list[Launch]:
        host, port = settings.host_port("redis")
        argv = [shutil.which("redis-server") or "redis-server",
                "--bind", host, "--port", str(port),
                # An append-only file, flushed every second, so features survive a Redis
                # restart (notebook 06 stops Redis mid-run); no RDB snapshots on top.
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--daemonize", "no", "--dir", str(settings.data_dir)]
        return [Launch("redis", argv, settings.log_dir / "redis.log")]

    def prepare(self, settings: Settings) -> None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
