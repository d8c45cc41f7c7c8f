"""The CircuitForge license server as seed 003 designs it, rebuilt for
bench/peers.sh: FastAPI, one SQLite connection per request (WAL), RS256
tokens signed with PyJWT, the key file read at every signature, one uvicorn
worker (the plan's Dockerfile). Only what the benchmark drives: creating a key
(admin) and activating machines (the seat check, the insert, the audit row and
a 30-day token, in one transaction).

    JWT_PRIVATE_KEY_PATH=key.pem ADMIN_TOKEN=t CF_DB=cf.db \
        uvicorn circuitforge:app --port 8600 --workers 1
"""

import json
import os
import secrets
import sqlite3
import string
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import jwt
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

DB = Path(os.environ.get("CF_DB", "circuitforge.db"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS license_keys (
    id TEXT PRIMARY KEY, key_display TEXT UNIQUE NOT NULL, product TEXT NOT NULL,
    tier TEXT NOT NULL, seats INTEGER DEFAULT 1, valid_until TEXT,
    revoked INTEGER DEFAULT 0, customer_email TEXT, source TEXT DEFAULT 'manual',
    trial INTEGER DEFAULT 0, notes TEXT, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activations (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES license_keys(id),
    machine_id TEXT NOT NULL, app_version TEXT, platform TEXT,
    activated_at TEXT NOT NULL, last_refresh TEXT NOT NULL, deactivated_at TEXT);
CREATE TABLE IF NOT EXISTS audit_log (
    id TEXT PRIMARY KEY, entity_type TEXT NOT NULL, entity_id TEXT NOT NULL,
    action TEXT NOT NULL, actor TEXT, details TEXT, created_at TEXT NOT NULL);
"""


@contextmanager
def database():
    connection = sqlite3.connect(DB)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    try:
        yield connection
        connection.commit()
    except Exception:
        connection.rollback()
        raise
    finally:
        connection.close()


with database() as setup:
    setup.executescript(SCHEMA)

app = FastAPI(title="CircuitForge License Server (rebuilt for bench/peers.sh)")


class ActivateRequest(BaseModel):
    key: str
    machine_id: str
    product: str
    app_version: Optional[str] = None
    platform: Optional[str] = None


class CreateKeyRequest(BaseModel):
    product: str
    tier: str
    seats: int = 1
    valid_until: Optional[str] = None
    customer_email: Optional[str] = None


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def sign(payload: dict) -> str:
    issued = datetime.now(timezone.utc)
    claims = {**payload, "iat": issued, "exp": issued + timedelta(days=30)}
    key = Path(os.environ["JWT_PRIVATE_KEY_PATH"]).read_bytes()
    return jwt.encode(claims, key, algorithm="RS256")


@app.post("/admin/keys")
def create_key(request: CreateKeyRequest, authorization: str = Header(...)):
    if authorization != f"Bearer {os.environ.get('ADMIN_TOKEN', '')}":
        raise HTTPException(status_code=401, detail="Unauthorized")
    alphabet = string.ascii_uppercase + string.digits
    groups = ["".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3)]
    display = f"CFG-{request.product[:4].upper()}-" + "-".join(groups)
    with database() as connection:
        connection.execute(
            "INSERT INTO license_keys (id, key_display, product, tier, seats, valid_until, customer_email, created_at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (str(uuid.uuid4()), display, request.product, request.tier, request.seats,
             request.valid_until, request.customer_email, now()),
        )
    return {"key_display": display}


@app.post("/v1/activate")
def activate(request: ActivateRequest):
    with database() as connection:
        row = connection.execute(
            "SELECT * FROM license_keys WHERE key_display=? AND product=?", (request.key, request.product)
        ).fetchone()
        if not row or row["revoked"]:
            raise HTTPException(status_code=403, detail="Invalid or revoked license key")
        taken = connection.execute(
            "SELECT COUNT(*) FROM activations WHERE key_id=? AND deactivated_at IS NULL AND machine_id!=?",
            (row["id"], request.machine_id),
        ).fetchone()[0]
        existing = connection.execute(
            "SELECT * FROM activations WHERE key_id=? AND machine_id=?", (row["id"], request.machine_id)
        ).fetchone()
        if not existing and taken >= row["seats"]:
            raise HTTPException(status_code=409, detail=f"Seat limit reached ({row['seats']} seats)")
        stamp = now()
        if existing:
            activation = existing["id"]
            connection.execute(
                "UPDATE activations SET last_refresh=?, app_version=?, platform=?, deactivated_at=NULL WHERE id=?",
                (stamp, request.app_version, request.platform, activation),
            )
        else:
            activation = str(uuid.uuid4())
            connection.execute(
                "INSERT INTO activations (id, key_id, machine_id, app_version, platform, activated_at, last_refresh)"
                " VALUES (?,?,?,?,?,?,?)",
                (activation, row["id"], request.machine_id, request.app_version, request.platform, stamp, stamp),
            )
        connection.execute(
            "INSERT INTO audit_log (id, entity_type, entity_id, action, details, created_at) VALUES (?,?,?,?,?,?)",
            (str(uuid.uuid4()), "activation", activation, "activated",
             json.dumps({"machine_id": request.machine_id}), stamp),
        )
        token = sign({"sub": row["key_display"], "product": row["product"], "tier": row["tier"],
                      "seats": row["seats"], "machine": request.machine_id})
        return {"jwt": token, "tier": row["tier"], "valid_until": row["valid_until"], "notice": None}
