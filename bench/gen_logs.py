#!/usr/bin/env python3
"""Seeded generator of a realistic server-log corpus for FusionFlow benchmarks.

    python bench/gen_logs.py OUTDIR [--size 1GB] [--seed 42] [--gz-fraction 0.15] [--jobs N]

The tree looks like ``hostNN/{app/<svc>/<date>/app.log, app/<svc>/<date>/events.jsonl,
nginx/access-<date>.log, nginx/error-<date>.log, syslog/<date>/messages}`` plus a few special
files: 6 binaries, 2 logs with a NUL-byte hole, a log with >= 1 MB lines, a few lines of invalid
UTF-8 (latin-1), a couple of .bz2 files and a multi-member .gz file.

Output depends only on (seed, size): every file is seeded from its own path, so generation can
run in parallel and ``--gz-fraction`` changes only which files are gzipped, not their content.
Sizes use binary units (1 MB = 2**20 bytes) and count uncompressed bytes.
"""

from __future__ import annotations

import argparse
import bz2
import datetime as dt
import gzip
import json
import math
import os
import random
import re
import string
import sys
import time
from dataclasses import dataclass, field
from itertools import accumulate
from multiprocessing import Pool
from pathlib import Path

UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
START_DATE = dt.date(2024, 11, 18)
SERVICES = ("billing", "orders", "auth", "search", "inventory", "gateway", "notifier", "reports")
N_BINARIES = 6
CHUNK_BYTES = 1 << 20  # ~1 MB of lines per render: big writes, few Python-level loops

# Level weights in percent: ERROR ~1.5 %, FATAL ~0.1 % of log lines.
APP_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "FATAL")
APP_WEIGHTS = (18.0, 68.4, 12.0, 1.5, 0.1)
NEAR_MISS_RATE = 0.01  # share of DEBUG/INFO/WARN messages that are near-misses


def parse_size(text: str) -> int:
    """'50MB' / '1GB' / '200KB' / '1.5G' / '1024' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (try 200KB, 50MB, 1GB)")
    return int(float(m.group(1)) * UNITS[m.group(2)])


def format_size(n: int) -> str:
    """Inverse of parse_size for cache-dir names: 1073741824 -> '1GB'."""
    for unit in ("T", "G", "M", "K"):
        if n >= UNITS[unit] and n % UNITS[unit] == 0:
            return f"{n // UNITS[unit]}{unit}B"
    return f"{n}B"


# --------------------------------------------------------------------------------------------
# Message material. Templates use str.format fields filled by FIELDS generators below.

APP_MESSAGES = {
    "DEBUG": (
        "Cache lookup key={key} hit={bool}",
        "SQL: select * from {table} where id = ? [{id}] took {ms}ms",
        "Resolved handler {cls}Controller#{method} for {verb} {path}",
        "Acquired connection from pool active={n} idle={n2}",
        "Kafka poll returned {n} records partition={p} offset={off}",
        "Outgoing call {svc2}{path} headers={n} bytes={bytes}",
    ),
    "INFO": (
        "Request completed {verb} {path} status={ok} in {ms}ms user={user}",
        "Created {entity} id={id} for customer={cust}",
        "Scheduled job {job} finished in {ms}ms processed={n}",
        "User {user} logged in from {ip}",
        "Health check OK db={ms}ms cache={ms2}ms",
        "Published event {event} key={uuid} partition={p}",
        "Started {cls}Service in {sec} seconds (JVM running for {sec2})",
        "Payment {uuid} authorized amount={amount} {cur}",
        "Shipped order {id} via {carrier} tracking={hex16}",
    ),
    "WARN": (
        "Slow query on {table} took {msbig}ms (threshold 500ms)",
        "Retrying call to {svc2} attempt {a}/3 after timeout {ms}ms",
        "Connection pool near capacity active={n}/{max}",
        "Deprecated API {path} called by client {client}",
        "Rate limit approaching for tenant {tenant}: {n}/1000 req/min",
        "Cache eviction storm: evicted {n} entries in {ms}ms",
    ),
    "ERROR": (
        "Failed to process {entity} {id}: {exc}",
        "Request failed {verb} {path} status=500 in {ms}ms",
        "Database connection lost, will retry: {exc}",
        "Payment {uuid} declined by gateway: code={code}",
        "Unhandled exception in {thread}: {exc}",
    ),
    "FATAL": (
        "Unrecoverable state, shutting down: java.lang.OutOfMemoryError: Java heap space",
        "Could not bind to port 8080: address already in use; exiting",
        "Data directory /var/lib/{svc} is corrupted; refusing to start",
    ),
}

# Words that look like the search targets but differ by case, suffix or word boundary.
NEAR_MISS = (
    "Batch {job} done processed={n} ERRORS=0 WARNINGS={n2}",
    "Metrics flushed: error_count=0 error_rate=0.000",
    "Client reported a recoverable error; request retried successfully",
    "Validation summary: {n} records, 0 errors",
    "Feature flag fatal_on_missing_config=false",
    "Registered onError handler for topic {topic}",
    "Circuit breaker {svc2} state=CLOSED lastError=none",
    "ERROR_BUDGET remaining {pct}% for slo {slo}",
    "Recovered from Error state in {ms}ms",
)

EXCEPTIONS = (
    'java.lang.NullPointerException: Cannot invoke "String.length()" because "s" is null',
    "java.lang.IllegalStateException: {entity} {id} is in state {state}",
    (
        "java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, "
        "request timed out after 30000ms."
    ),
    "java.net.SocketTimeoutException: Read timed out",
    "com.fasterxml.jackson.core.JsonParseException: Unexpected character ('<' (code 60))",
    "org.springframework.dao.DataIntegrityViolationException: could not execute statement",
    "java.lang.StackOverflowError",
)

FRAMES = (
    "com.example.{svc}.service.{cls}Service.{method}({cls}Service.java:{line})",
    "com.example.{svc}.api.{cls}Controller.{method}({cls}Controller.java:{line})",
    "com.example.{svc}.repo.{cls}Repository.find({cls}Repository.java:{line})",
    "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)",
    "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
    "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
    "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)",
    "java.base/java.lang.Thread.run(Thread.java:833)",
)

THREADS = (
    "main",
    "http-nio-8080-exec-{n1}",
    "scheduling-1",
    "kafka-consumer-{n1}",
    "pool-2-thread-{n1}",
    "HikariPool-1 housekeeper",
    "ForkJoinPool.commonPool-worker-{n1}",
)
LOGGERS = (
    "c.e.{svc}.api.{cls}Controller",
    "c.e.{svc}.service.{cls}Service",
    "c.e.{svc}.repo.{cls}Repository",
    "o.s.web.servlet.DispatcherServlet",
    "c.z.hikari.pool.HikariPool",
    "o.a.kafka.clients.consumer.KafkaConsumer",
)

SYSLOG_MESSAGES = {
    "DEBUG": ("CRON[{pid}]: (root) CMD (/usr/lib/sa/sa1 1 1)",),
    "INFO": (
        "sshd[{pid}]: Accepted publickey for deploy from {ip} port {port} ssh2",
        "systemd[1]: Started Session {n} of user deploy.",
        "systemd[1]: {svc}.service: Consumed {sec}s CPU time.",
        "CRON[{pid}]: (root) CMD (run-parts /etc/cron.hourly)",
        "{svc}[{pid}]: INFO request served in {ms}ms",
        "dhclient[{pid}]: DHCPACK of {ip} from 10.0.0.1",
    ),
    "WARN": (
        "kernel: [{uptime}] TCP: request_sock_TCP: Possible SYN flooding on port 443.",
        "sshd[{pid}]: Invalid user {user} from {ip} port {port}",
        "{svc}[{pid}]: WARN slow response {msbig}ms",
    ),
    "ERROR": (
        "{svc}[{pid}]: ERROR upstream {svc2} unavailable: connection refused",
        "kernel: [{uptime}] EXT4-fs error (device sda1): ext4_find_entry:1455: inode #{id}",
        "systemd[1]: {svc}.service: Main process exited, code=exited, status=1/FAILURE",
    ),
    "FATAL": (
        "{svc}[{pid}]: FATAL cannot open /var/lib/{svc}/state.db: I/O error",
        "kernel: [{uptime}] Out of memory: Killed process {pid} (java) total-vm:8123456kB",
    ),
}

NGINX_ERROR_LEVELS = ("notice", "info", "warn", "error", "crit")  # lowercase on purpose
NGINX_ERROR_WEIGHTS = (30.0, 10.0, 45.0, 14.0, 1.0)
NGINX_ERROR_MESSAGES = (
    "upstream timed out (110: Connection timed out) while reading response header from upstream",
    "connect() failed (111: Connection refused) while connecting to upstream",
    'open() "/var/www/html/favicon.ico" failed (2: No such file or directory)',
    "client intended to send too large body: 10485760 bytes",
    "no live upstreams while connecting to upstream",
    "SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share)",
)
ACCESS_STATUS = {
    "INFO": (200,) * 12 + (201, 204, 301, 304),
    "WARN": (400, 401, 403, 404, 429),
    "ERROR": (500, 502, 503, 504),
}
ACCESS_WEIGHTS = (0.0, 93.0, 6.0, 1.0, 0.0)
USER_AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0 Safari/537.36"
    ),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari",
    "curl/8.4.0",
    "okhttp/4.12.0",
    "kube-probe/1.28",
    "python-requests/2.31.0",
)
PATHS = (
    "/api/v1/orders/{id}",
    "/api/v1/users/{id}/profile",
    "/api/v2/search?q={word}&page={p}",
    "/static/js/app.{hex8}.js",
    "/healthz",
    "/login",
    "/api/v1/invoices/{id}/pdf",
    "/api/v2/errors/summary",  # lowercase near-miss
)
WORDS = ("alpha", "bravo", "cart", "delta", "echo", "fox", "gift", "hotel", "ink", "jazz")
CLASSES = ("Invoice", "Order", "User", "Payment", "Stock", "Session", "Report", "Token")


def _hex(rng: random.Random, n: int) -> str:
    return rng.randbytes(n // 2).hex()


# Field generators: name -> f(rng, ctx). ctx carries the host/service of the file.
FIELDS = {
    "a": lambda r, c: r.randint(1, 3),
    "amount": lambda r, c: f"{r.randint(1, 99999) / 100:.2f}",
    "bool": lambda r, c: r.choice(("true", "false")),
    "bytes": lambda r, c: r.randint(64, 65536),
    "carrier": lambda r, c: r.choice(("DHL", "UPS", "FedEx")),
    "client": lambda r, c: f"app-{r.randint(1, 40)}",
    "cls": lambda r, c: r.choice(CLASSES),
    "code": lambda r, c: r.choice(("05", "51", "54", "91")),
    "cur": lambda r, c: r.choice(("EUR", "USD", "GBP")),
    "cust": lambda r, c: r.randint(1000, 999999),
    "entity": lambda r, c: r.choice(("order", "invoice", "user", "shipment")),
    "event": lambda r, c: r.choice(("OrderCreated", "UserUpdated", "StockReserved")),
    "exc": lambda r, c: fill(r, r.choice(EXCEPTIONS), c),
    "hex8": lambda r, c: _hex(r, 8),
    "hex16": lambda r, c: _hex(r, 16),
    "id": lambda r, c: r.randint(1, 9_999_999),
    "ip": lambda r, c: f"10.{r.randint(0, 31)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
    "job": lambda r, c: r.choice(("nightly-export", "reindex", "cleanup", "billing-run")),
    "key": lambda r, c: f"{c['svc']}:{r.randint(1, 99999)}",
    "line": lambda r, c: r.randint(20, 900),
    "max": lambda r, c: 50,
    "method": lambda r, c: r.choice(("handle", "process", "create", "update", "load")),
    "ms": lambda r, c: r.randint(1, 400),
    "ms2": lambda r, c: r.randint(1, 40),
    "msbig": lambda r, c: r.randint(500, 9000),
    "n": lambda r, c: r.randint(0, 5000),
    "n1": lambda r, c: r.randint(1, 32),
    "n2": lambda r, c: r.randint(0, 50),
    "off": lambda r, c: r.randint(0, 10**9),
    "ok": lambda r, c: r.choice((200, 200, 200, 201, 204)),
    "p": lambda r, c: r.randint(0, 11),
    "path": lambda r, c: fill(r, r.choice(PATHS[:-1]), c),
    "pct": lambda r, c: f"{r.uniform(50, 100):.1f}",
    "pid": lambda r, c: r.randint(300, 65000),
    "port": lambda r, c: r.randint(1024, 65535),
    "sec": lambda r, c: f"{r.uniform(1, 60):.3f}",
    "sec2": lambda r, c: f"{r.uniform(60, 90):.3f}",
    "slo": lambda r, c: r.choice(("availability", "latency-p99")),
    "state": lambda r, c: r.choice(("CANCELLED", "PENDING", "LOCKED")),
    "svc": lambda r, c: c["svc"],
    "svc2": lambda r, c: r.choice(SERVICES),
    "table": lambda r, c: r.choice(("orders", "invoices", "users", "stock_items")),
    "tenant": lambda r, c: f"t-{r.randint(1, 300):04d}",
    "thread": lambda r, c: fill(r, r.choice(THREADS), c),
    "topic": lambda r, c: r.choice(("orders.v1", "users.v2", "audit")),
    "uptime": lambda r, c: f"{r.uniform(100, 2e6):.6f}",
    "user": lambda r, c: r.choice(("alice", "bob", "carol", "dave", "erin", "svc-batch")),
    "uuid": lambda r, c: f"{_hex(r, 8)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 4)}-{_hex(r, 12)}",
    "verb": lambda r, c: r.choice(("GET", "GET", "GET", "POST", "PUT", "DELETE")),
    "word": lambda r, c: r.choice(WORDS),
}
_FIELD_NAMES: dict[str, tuple[str, ...]] = {}


def fill(rng: random.Random, template: str, ctx: dict) -> str:
    """Format a template, generating only the fields it uses (parsed once per template)."""
    names = _FIELD_NAMES.get(template)
    if names is None:
        # dict.fromkeys, not a set: field order must not depend on PYTHONHASHSEED.
        names = tuple(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(template) if f))
        _FIELD_NAMES[template] = names
    return template.format(**{n: FIELDS[n](rng, ctx) for n in names})


def stack_trace(rng: random.Random, ctx: dict, exc: str, indent: str, nl: str) -> str:
    """Java-style trace: the exception line, 4-20 frames, sometimes a 'Caused by'."""
    lines = [exc] + [
        f"{indent}at {fill(rng, rng.choice(FRAMES), ctx)}" for _ in range(rng.randint(4, 20))
    ]
    if rng.random() < 0.3:
        lines.append(f"Caused by: {fill(rng, rng.choice(EXCEPTIONS), ctx)}")
        lines.append(f"{indent}... {rng.randint(5, 40)} more")
    return nl.join(lines)


def message(rng: random.Random, level: str, table: dict, ctx: dict) -> str:
    if level in ("DEBUG", "INFO", "WARN") and rng.random() < NEAR_MISS_RATE:
        return fill(rng, rng.choice(NEAR_MISS), ctx)
    return fill(rng, rng.choice(table[level]), ctx)


# --------------------------------------------------------------------------------------------
# Formats. A line is HEAD + TIMESTAMP + TAIL; heads and tails come from per-(format, host, svc)
# pools built once, so rendering a line costs one weighted pick plus a string join.


@dataclass
class Format:
    name: str
    sec_fmt: str  # strftime pattern for the whole-second part of the timestamp
    ms_fmt: str | None  # e.g. ",{:03d}" or None when the format has no milliseconds
    levels: tuple[str, ...] = APP_LEVELS
    weights: tuple[float, ...] = APP_WEIGHTS

    def __post_init__(self) -> None:
        # Split "...%M:%S<rest>" so lines need strftime once per minute, not per line.
        self.min_fmt, rest = self.sec_fmt.split("%S")
        if self.ms_fmt:
            self.ss = [f"{s:02d}" for s in range(60)]
            self.ms = [self.ms_fmt.format(i) + rest for i in range(1000)]
        else:
            self.ss = [f"{s:02d}{rest}" for s in range(60)]
            self.ms = [""] * 1000

    def heads(self, rng: random.Random, ctx: dict) -> list[str]:
        return [""]

    def tail(self, rng: random.Random, level: str, ctx: dict) -> str:
        raise NotImplementedError


class JavaFormat(Format):
    def tail(self, rng, level, ctx):
        thread, logger = fill(rng, rng.choice(THREADS), ctx), fill(rng, rng.choice(LOGGERS), ctx)
        out = f" {level:<5} [{thread}] {logger} - {message(rng, level, APP_MESSAGES, ctx)}\n"
        if level in ("ERROR", "FATAL") and rng.random() < 0.6:
            exc = fill(rng, rng.choice(EXCEPTIONS), ctx)
            out += stack_trace(rng, ctx, exc, "\t", "\n") + "\n"
        return out


class JsonFormat(Format):
    def heads(self, rng, ctx):
        return ['{"ts":"']

    def tail(self, rng, level, ctx):
        rec = {
            "level": level,
            "host": ctx["host"],
            "service": ctx["svc"],
            "thread": fill(rng, rng.choice(THREADS), ctx),
            "msg": message(rng, level, APP_MESSAGES, ctx),
            "trace_id": _hex(rng, 16),
        }
        if level in ("ERROR", "FATAL") and rng.random() < 0.6:
            rec["exception"] = stack_trace(
                rng, ctx, fill(rng, rng.choice(EXCEPTIONS), ctx), "\t", "\n"
            )
        return '",' + json.dumps(rec, separators=(",", ":"))[1:] + "\n"


class SyslogFormat(Format):
    def tail(self, rng, level, ctx):
        return f" {ctx['host']} {fill(rng, rng.choice(SYSLOG_MESSAGES[level]), ctx)}\n"


class AccessFormat(Format):
    def heads(self, rng, ctx):
        return [
            f"{FIELDS['ip'](rng, ctx)} - {rng.choice(('-', '-', '-', 'alice', 'bob'))} ["
            for _ in range(256)
        ]

    def tail(self, rng, level, ctx):
        status = rng.choice(ACCESS_STATUS[level])
        path = fill(rng, rng.choice(PATHS), ctx)
        ref = rng.choice(("-", "-", "https://shop.example.com/"))
        return (
            f'] "{FIELDS["verb"](rng, ctx)} {path} HTTP/1.1" {status} '
            f'{rng.randint(0, 90000)} "{ref}" "{rng.choice(USER_AGENTS)}" '
            f"{rng.uniform(0.001, 2.5):.3f}\n"
        )


class NginxErrorFormat(Format):
    def tail(self, rng, level, ctx):
        path = fill(rng, rng.choice(PATHS), ctx)
        return (
            f" [{level}] {rng.randint(10, 99)}#0: *{rng.randint(1, 10**6)} "
            f"{rng.choice(NGINX_ERROR_MESSAGES)}, client: {FIELDS['ip'](rng, ctx)}, "
            f'server: api.example.com, request: "GET {path} HTTP/1.1", '
            f'upstream: "http://10.0.{rng.randint(0, 9)}.{rng.randint(2, 60)}:8080{path}"\n'
        )


FORMATS = {
    "java": JavaFormat("java", "%Y-%m-%d %H:%M:%S", ",{:03d}"),
    "json": JsonFormat("json", "%Y-%m-%dT%H:%M:%S", ".{:03d}Z"),
    "syslog": SyslogFormat("syslog", "%b %d %H:%M:%S", None),
    "access": AccessFormat("access", "%d/%b/%Y:%H:%M:%S +0000", None, APP_LEVELS, ACCESS_WEIGHTS),
    "nginx_error": NginxErrorFormat(
        "nginx_error", "%Y/%m/%d %H:%M:%S", None, NGINX_ERROR_LEVELS, NGINX_ERROR_WEIGHTS
    ),
}
POOL_SIZES = (256, 512, 128, 64, 8)  # tails per level, DEBUG..FATAL


@dataclass
class LinePool:
    heads: list[str]
    tails: list[str]
    cum_weights: list[float]  # per tail, so one rng.choices call picks level and message
    avg_len: float


_POOLS: dict[tuple[str, str, str], LinePool] = {}


def line_pool(fmt: Format, host: str, svc: str, seed: int) -> LinePool:
    key = (fmt.name, host, svc)
    if key not in _POOLS:
        rng = random.Random(f"{seed}/pool/{fmt.name}/{host}/{svc}")
        ctx = {"host": host, "svc": svc}
        tails, weights = [], []
        for level, weight, size in zip(fmt.levels, fmt.weights, POOL_SIZES, strict=True):
            if weight:
                tails += [fmt.tail(rng, level, ctx) for _ in range(size)]
                weights += [weight / size] * size
        heads = fmt.heads(rng, ctx)
        avg_tail = sum(len(t) * w for t, w in zip(tails, weights, strict=True)) / sum(weights)
        ts_len = len(time.strftime(fmt.sec_fmt)) + (len(fmt.ms_fmt.format(0)) if fmt.ms_fmt else 0)
        avg_len = avg_tail + ts_len + sum(map(len, heads)) / len(heads)
        _POOLS[key] = LinePool(heads, tails, list(accumulate(weights)), avg_len)
    return _POOLS[key]


def render(
    fmt: Format, pool: LinePool, rng: random.Random, t0_ms: int, step_ms: int, n: int
) -> str:
    """n lines starting at t0_ms (epoch ms), step_ms apart."""
    times = range(t0_ms, t0_ms + n * step_ms, step_ms)
    # strftime only once per distinct minute; seconds and millis come from lookup tables.
    minutes = {t // 60_000 for t in times}
    mins = {m: time.strftime(fmt.min_fmt, time.gmtime(m * 60)) for m in minutes}
    ss, ms = fmt.ss, fmt.ms
    tails = rng.choices(pool.tails, cum_weights=pool.cum_weights, k=n)
    heads = rng.choices(pool.heads, k=n) if len(pool.heads) > 1 else pool.heads * n
    return "".join(
        [
            h + mins[t // 60_000] + ss[t // 1000 % 60] + ms[t % 1000] + tl
            for h, t, tl in zip(heads, times, tails, strict=True)
        ]
    )


# --------------------------------------------------------------------------------------------
# File plan.


@dataclass
class FileSpec:
    path: str  # logical path, without compression suffix; also the content seed
    kind: str  # a FORMATS key, or "binary"
    size: int  # uncompressed target bytes
    host: str = ""
    svc: str = ""
    day: int = 0
    compress: str = ""  # "", "gz", "gz2" (two-member gzip) or "bz2"
    inserts: list[tuple[float, bytes]] = field(default_factory=list)  # (position 0..1, bytes)

    @property
    def out_path(self) -> str:
        ext = {"": "", "gz": ".gz", "gz2": ".gz", "bz2": ".bz2"}[self.compress]
        return self.path + ext


# (kind, path pattern, min size, max size) per host and day; sizes at full (1 GB) scale.
SLOTS = (
    ("java", "app/{svc}/{date}/app.log", 256 << 10, 24 << 20),
    ("json", "app/{svc}/{date}/events.jsonl", 128 << 10, 16 << 20),
    ("access", "nginx/access-{date}.log", 512 << 10, 32 << 20),
    ("nginx_error", "nginx/error-{date}.log", 16 << 10, 1 << 20),
    ("syslog", "syslog/{date}/messages", 64 << 10, 4 << 20),
)


def plan(size: int, seed: int, gz_fraction: float) -> list[FileSpec]:
    rng = random.Random(f"{seed}/plan/{size}")
    scale = min(1.0, max(size / (1 << 30), 1 / 64)) ** 0.5  # smaller corpora, smaller files
    specials = special_files(rng, size, seed)
    budget = size - sum(s.size for s in specials)
    n_hosts = max(2, min(16, round(math.sqrt(size / (1 << 20)) / 2)))
    hosts = [f"host{i:02d}" for i in range(1, n_hosts + 1)]
    host_svcs = {h: rng.sample(SERVICES, rng.randint(2, 3)) for h in hosts}
    files: list[FileSpec] = []
    day = 0
    while budget > 0:
        date = (START_DATE + dt.timedelta(days=day)).isoformat()
        for host in hosts:
            for kind, pattern, lo, hi in SLOTS:
                # Host-wide files (nginx, syslog) still mention one of the host's services.
                svcs = host_svcs[host] if "{svc}" in pattern else host_svcs[host][:1]
                for svc in svcs:
                    if budget <= 0:
                        break
                    want = math.exp(rng.uniform(math.log(lo * scale), math.log(hi * scale)))
                    want = min(budget, max(4096, int(want)))
                    path = f"{host}/{pattern.format(svc=svc, date=date)}"
                    files.append(FileSpec(path, kind, want, host, svc, day))
                    budget -= want
        day += 1
    choose_compression(rng, files, size, gz_fraction)
    return specials + files


def choose_compression(
    rng: random.Random, files: list[FileSpec], size: int, gz_fraction: float
) -> None:
    """Mark 2 small files bz2 and gzip others until gz_fraction of all bytes is gzipped."""
    order = rng.sample(range(len(files)), len(files))  # drawn before any fraction test
    small = [i for i in order if files[i].size <= 4 << 20 and files[i].kind != "nginx_error"]
    for i in small[:2]:
        files[i].compress = "bz2"
    # A few latin-1 lines in files that stay plain at the default fraction.
    plain = [i for i in order if not files[i].compress and files[i].kind in ("java", "syslog")]
    for n, i in enumerate(plain[:3]):
        files[i].inserts.append((0.3 + 0.2 * n, latin1_lines(files[i].kind, n)))
    gz_bytes = 0
    for i in order:
        spec = files[i]
        if gz_bytes >= gz_fraction * size or spec.compress:
            continue
        if spec.inserts and gz_fraction < 1:
            continue
        spec.compress = "gz2" if gz_bytes == 0 else "gz"  # the first one is multi-member
        gz_bytes += spec.size


def latin1_lines(kind: str, n: int) -> bytes:
    """Invalid UTF-8: latin-1 encoded names/messages, as written by a misconfigured app."""
    ts = f"2024-11-18 07:1{n}:00,000" if kind == "java" else f"Nov 18 07:1{n}:00"
    lines = [
        (
            f"{ts} WARN  [main] c.e.auth.service.UserService - login failed for user "
            "\u00abJ\u00fcrgen M\u00fcller\u00bb from 10.0.0.7\n"
        ),
        (
            f"{ts} ERROR [main] c.e.reports.service.ReportService - Fehler beim \u00d6ffnen der "
            "Datei r\u00e9sum\u00e9_f\u00fcr_Jos\u00e9.pdf\n"
        ),
        (
            f"{ts} INFO  [main] c.e.orders.api.OrderController - address: Stra\u00dfe 5, "
            "K\u00f6ln \u00a9\n"
        ),
    ]
    return "".join(lines).encode("latin-1")


def special_files(rng: random.Random, size: int, seed: int) -> list[FileSpec]:
    """Binaries, NUL-hole logs and a long-line log, sized down for tiny corpora."""
    scale = min(1.0, size / (256 << 20))
    mb = 1 << 20
    specs = [
        FileSpec("host01/crash/core.dump", "binary", max(8192, int(2 * mb * scale))),
        FileSpec("host02/app/cache/index.bin", "binary", max(8192, int(mb * scale // 2))),
        FileSpec("host01/app/heapdump-31337.hprof", "binary", max(8192, int(mb * scale))),
        FileSpec("host02/var/metrics.db", "binary", max(8192, int(mb * scale // 4))),
        FileSpec("host01/app/blob-0001.bin", "binary", max(8192, int(mb * scale // 8))),
        FileSpec("host02/tmp/upload-7f3a.bin", "binary", max(8192, int(mb * scale // 4))),
    ]
    for n, path in enumerate(("host01/app/orders/crash/app.log", "host02/app/auth/crash/app.log")):
        spec = FileSpec(
            path, "java", max(65536, int(4 * mb * scale)), f"host0{n + 1}", ("orders", "auth")[n], 3
        )
        spec.inserts.append((0.5, nul_hole(n)))
        specs.append(spec)
    long_len = mb + 4096 if size >= 16 * mb else max(4096, size // 16)
    spec = FileSpec(
        "host01/app/ingest/2024-11-19/payload.log", "json", 4 * long_len, "host01", "ingest", 1
    )
    spec.inserts += [
        (0.2, long_line(seed, 0, long_len)),
        (0.5, long_line(seed, 1, long_len)),
        (0.8, long_line(seed, 2, long_len)),
    ]
    specs.append(spec)
    return specs


def nul_hole(n: int) -> bytes:
    """ERROR before, a truncated line and ~4 KB of NULs (crash), restart and ERROR after."""
    before = (
        f"2024-11-21 03:1{n}:59,998 ERROR [main] c.e.app.Watchdog - heartbeat missed, "
        "disk latency 9000ms\n2024-11-21 03:1{n}:59,999 INFO  [main] c.e.app.Wr"
    )
    after = (
        f"\n2024-11-21 03:2{n}:04,001 INFO  [main] c.e.app.Bootstrap - starting after "
        "unclean shutdown\n"
        f"2024-11-21 03:2{n}:04,120 ERROR [main] c.e.app.Recovery - journal corrupted at "
        "offset 81920, replaying from checkpoint\n"
    )
    return before.encode() + b"\0" * 4096 + after.encode()


def long_line(seed: int, n: int, length: int) -> bytes:
    """A >= 1 MB JSON line (hex payload: no uppercase, so no accidental matches)."""
    rng = random.Random(f"{seed}/long/{n}")
    body = rng.randbytes(length // 2).hex()
    level, tail = [
        ("INFO", ""),
        ("WARN", ',"reason":"ERROR: schema validation failed"'),
        ("DEBUG", ',"note":"payload echoed"'),
    ][n]
    return (
        f'{{"ts":"2024-11-19T1{n}:00:00.000Z","level":"{level}","service":"ingest",'
        f'"msg":"request body","body":"{body}"{tail}}}\n'
    ).encode()


# --------------------------------------------------------------------------------------------
# Writers.


def log_blocks(spec: FileSpec, seed: int):
    """Yield byte blocks of a log file: rendered lines with inserts at their positions."""
    fmt = FORMATS[spec.kind]
    pool = line_pool(fmt, spec.host, spec.svc, seed)
    rng = random.Random(f"{seed}/file/{spec.path}")
    inserts = sorted(spec.inserts)
    budget = spec.size - sum(len(b) for _, b in inserts)
    n_lines = max(1, int(budget / pool.avg_len))
    step = max(1, 86_400_000 // n_lines)
    day = dt.datetime.combine(START_DATE, dt.time(), dt.UTC) + dt.timedelta(spec.day)
    t = int(day.timestamp()) * 1000
    per_chunk = max(1, int(CHUNK_BYTES / pool.avg_len))
    written = 0
    while written < budget:
        while inserts and written >= inserts[0][0] * budget:
            yield inserts.pop(0)[1]
        stop = inserts[0][0] * budget if inserts else budget  # land inserts where asked
        n = max(1, min(per_chunk, int((stop - written) / pool.avg_len) + 1))
        block = render(fmt, pool, rng, t, step, n).encode()
        t += n * step
        written += len(block)
        yield block
    for _, data in inserts:
        yield data


def binary_blocks(spec: FileSpec, seed: int):
    """Random bytes, NUL runs and a string table; some contain ERROR/FATAL as text."""
    rng = random.Random(f"{seed}/file/{spec.path}")
    name = spec.path.rsplit("/", 1)[-1]
    header = {
        "core.dump": b"\x7fELF\x02\x01\x01\0" + b"\0" * 8,
        "metrics.db": b"SQLite format 3\0",
        "heapdump-31337.hprof": b"JAVA PROFILE 1.0.2\0",
    }.get(name, b"")
    strings = b""
    if name in ("core.dump", "heapdump-31337.hprof", "metrics.db", "upload-7f3a.bin"):
        strings = (
            b"\0ERROR: assertion failed: buf != NULL\0FATAL signal 11 (SIGSEGV)\0"
            b"2024-11-21 03:14:07 ERROR worker crashed\0"
        )
    body = spec.size - len(header) - len(strings)
    yield header
    yield rng.randbytes(body // 2)
    yield strings
    yield b"\0" * (body // 4)  # zero pages, as in real dumps
    yield rng.randbytes(body - body // 2 - body // 4)


def write_file(root: Path, spec: FileSpec, seed: int) -> tuple[int, int]:
    """Write one file; returns (uncompressed bytes, bytes on disk)."""
    out = root / spec.out_path
    out.parent.mkdir(parents=True, exist_ok=True)
    blocks = binary_blocks(spec, seed) if spec.kind == "binary" else log_blocks(spec, seed)
    raw = 0
    with out.open("wb") as f:
        if spec.compress == "bz2":
            comp = bz2.BZ2Compressor(9)
            for b in blocks:
                raw += len(b)
                f.write(comp.compress(b))
            f.write(comp.flush())
        elif spec.compress:
            # "gz2": close the first gzip member halfway and start a second one (a valid
            # multi-member file, like `cat a.gz b.gz`).
            members = 2 if spec.compress == "gz2" else 1
            gz = gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0)
            for b in blocks:
                if members == 2 and raw >= spec.size // 2:
                    gz.close()
                    gz = gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0)
                    members = 1
                raw += len(b)
                gz.write(b)
            gz.close()
        else:
            for b in blocks:
                raw += len(b)
                f.write(b)
    return raw, out.stat().st_size


def _worker(args: tuple[str, FileSpec, int]) -> tuple[FileSpec, int, int]:
    root, spec, seed = args
    return (spec, *write_file(Path(root), spec, seed))


def generate(
    outdir: Path,
    size: int,
    seed: int = 42,
    gz_fraction: float = 0.15,
    jobs: int | None = None,
    quiet: bool = False,
) -> dict:
    """Generate the corpus into outdir (must be empty or absent); returns summary counts."""
    outdir.mkdir(parents=True, exist_ok=True)
    if any(outdir.iterdir()):
        raise SystemExit(f"{outdir} is not empty; refusing to mix corpora")
    t0 = time.perf_counter()
    specs = plan(size, seed, gz_fraction)
    specs.sort(key=lambda s: -s.size)  # big files first: better load balance across workers
    tasks = [(str(outdir), s, seed) for s in specs]
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1:
        with Pool(jobs) as p:
            results = list(p.imap_unordered(_worker, tasks))
    else:
        results = [_worker(t) for t in tasks]
    summary = {
        "files": 0,
        "bytes": 0,
        "disk_bytes": 0,
        "gz_files": 0,
        "gz_bytes": 0,
        "gz_disk_bytes": 0,
        "bz2_files": 0,
        "binary_files": 0,
    }
    for spec, raw, disk in results:
        summary["files"] += 1
        summary["bytes"] += raw
        summary["disk_bytes"] += disk
        if spec.compress.startswith("gz"):
            summary["gz_files"] += 1
            summary["gz_bytes"] += raw
            summary["gz_disk_bytes"] += disk
        summary["bz2_files"] += spec.compress == "bz2"
        summary["binary_files"] += spec.kind == "binary"
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    if not quiet:
        mib = 1 << 20
        print(
            f"{outdir}: {summary['files']} files, {summary['bytes'] / mib:.1f} MB "
            f"uncompressed ({summary['disk_bytes'] / mib:.1f} MB on disk), "
            f"gz: {summary['gz_files']} files {summary['gz_bytes'] / mib:.1f} MB -> "
            f"{summary['gz_disk_bytes'] / mib:.1f} MB, bz2: {summary['bz2_files']}, "
            f"binary: {summary['binary_files']}; {summary['seconds']:.1f} s "
            f"({summary['bytes'] / mib / max(summary['seconds'], 1e-9):.0f} MB/s)"
        )
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument(
        "--size",
        type=parse_size,
        default=parse_size("1GB"),
        help="uncompressed corpus size, e.g. 200KB, 50MB, 1GB (default 1GB)",
    )
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--gz-fraction",
        type=float,
        default=0.15,
        help="share of bytes in .gz files; 1.0 gzips every regular log",
    )
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: all CPUs)")
    args = ap.parse_args(argv)
    generate(args.outdir, args.size, args.seed, args.gz_fraction, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
