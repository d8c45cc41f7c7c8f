"""The desktop-app flow through a client generated, unchanged, from Tessera's public spec.

    openapi-python-client generate --path openapi/public.json \
        --output-path /tmp/tessera_public_client --meta none
    python3 examples/python/generated_client_flow.py http://127.0.0.1:8080 LICENSE-KEY /tmp

Activates a machine, validates, heartbeats, deactivates, then shows that a deactivated
lease is refused; prints what each step answered as JSON.
"""

import json
import sys

base_url, license_key, client_parent = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, client_parent)

from tessera_public_client import Client  # noqa: E402
from tessera_public_client.api.activation import activate, deactivate, heartbeat, validate  # noqa: E402
from tessera_public_client.models import (  # noqa: E402
    ActivateRequest,
    DeactivateRequest,
    DeactivatedBody,
    ErrorBody,
    HeartbeatRequest,
    LeaseBody,
    ValidateRequest,
    ValidationBody,
)

FINGERPRINT = "generated-client-machine-0001"
client = Client(base_url=base_url, raise_on_unexpected_status=True)
steps = {}

leased = activate.sync(
    client=client,
    body=ActivateRequest(
        license_key=license_key,
        fingerprint=FINGERPRINT,
        platform="linux-x86_64",
        machine_name="generated client",
        app_version="1.0.0",
        nonce="nonce-activate",
    ),
)
assert isinstance(leased, LeaseBody), leased
steps["activate"] = {"seats_used": leased.license_.seats_used, "nonce": leased.nonce}

checked = validate.sync(
    client=client, body=ValidateRequest(license_key=license_key, fingerprint=FINGERPRINT, nonce="nonce-validate")
)
assert isinstance(checked, ValidationBody), checked
steps["validate"] = {"valid": checked.valid, "code": checked.code, "nonce": checked.nonce}

renewed = heartbeat.sync(
    client=client, body=HeartbeatRequest(lease=leased.lease, fingerprint=FINGERPRINT, nonce="nonce-heartbeat")
)
assert isinstance(renewed, LeaseBody), renewed
steps["heartbeat"] = {"activation_id_kept": renewed.activation_id == leased.activation_id, "nonce": renewed.nonce}

freed = deactivate.sync(client=client, body=DeactivateRequest(lease=renewed.lease, fingerprint=FINGERPRINT))
assert isinstance(freed, DeactivatedBody), freed
steps["deactivate"] = {"status": freed.status}

after = heartbeat.sync(client=client, body=HeartbeatRequest(lease=renewed.lease, fingerprint=FINGERPRINT))
assert isinstance(after, ErrorBody), after
steps["heartbeat_after_deactivate"] = {"code": after.code}

print(json.dumps(steps))
