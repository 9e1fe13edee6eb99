"""A short operator flow through a Python client generated from Warden's OpenAPI document
(openapi-python-client), run by tests/tests/api_generated_client.rs: log in, create a service and wait
until it runs, add a firewall rule, apply it with a confirm window, confirm, read the status, delete the
service. Only the generated package talks to Warden.

usage: generated_client_flow.py <generated package dir> <base url> <admin password>
"""

import sys
import time

sys.path.insert(0, sys.argv[1])
BASE, PASSWORD = sys.argv[2], sys.argv[3]

from warden_client import AuthenticatedClient, Client  # noqa: E402
from warden_client.api.auth import login  # noqa: E402
from warden_client.api.firewall import (  # noqa: E402
    apply_firewall,
    confirm_firewall,
    create_rule,
    firewall_status,
)
from warden_client.api.services import (  # noqa: E402
    create_service,
    delete_service,
    get_service,
)
from warden_client.models import (  # noqa: E402
    Action,
    ApplyRequest,
    LoginRequest,
    LoginResponse,
    Protocol,
    Rule,
    RuleInput,
    Service,
    ServiceInput,
    ServiceState,
)
from warden_client.types import UNSET  # noqa: E402


def expect(value, kind, what):
    if not isinstance(value, kind):
        raise SystemExit(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


# The login is public (the document says so); the generated signature still asks for a client.
session = expect(
    login.sync(
        client=Client(base_url=BASE),
        body=LoginRequest(username="admin", password=PASSWORD),
    ),
    LoginResponse,
    "login",
)
api = AuthenticatedClient(base_url=BASE, token=session.token)

service = expect(
    create_service.sync(
        client=api,
        body=ServiceInput(name="generated-client", command="exec sleep 300"),
    ),
    Service,
    "create service",
)
deadline = time.monotonic() + 20
while True:
    current = expect(get_service.sync(id=service.id, client=api), Service, "get service")
    if current.status.state == ServiceState.RUNNING:
        break
    if time.monotonic() > deadline:
        raise SystemExit(f"the service never ran: {current.status}")
    time.sleep(0.2)
if not isinstance(current.status.pid, int):
    raise SystemExit(f"a running service without a pid: {current.status}")

rule = expect(
    create_rule.sync(
        client=api,
        body=RuleInput(
            protocol=Protocol.TCP,
            ports=["8300"],
            action=Action.ACCEPT,
            annotation="from the generated client",
        ),
    ),
    Rule,
    "create rule",
)
applied = apply_firewall.sync(client=api, body=ApplyRequest(confirm_within_secs=60))
if getattr(applied, "pending", None) in (None, UNSET):
    raise SystemExit(f"apply: expected a pending confirmation, got {applied!r}")
confirmed = confirm_firewall.sync(client=api)
if getattr(confirmed, "pending", UNSET) not in (None, UNSET):
    raise SystemExit(f"confirm: still pending: {confirmed!r}")
status = firewall_status.sync(client=api)
if not status.active or status.applied_revision != status.saved_revision:
    raise SystemExit(f"status after confirm: {status!r}")

response = delete_service.sync_detailed(id=service.id, client=api)
if response.status_code != 204:
    raise SystemExit(f"delete service: {response.status_code} {response.content!r}")

print(f"ok service={service.id} rule={rule.id} revision={status.applied_revision}")
