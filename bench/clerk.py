"""A test client signed in through the real two-factor login, for the benchmarks that time
requests the way a clerk makes them (password, then a software WebAuthn authenticator)."""
import os
import re
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import models  # noqa: E402
from kenshin import audit
from kenshin.access import passkeys
from kenshin.access import staff  # noqa: E402
from kenshin.access.passwords import hash_password  # noqa: E402
from softauthn import SoftAuthenticator  # noqa: E402

PASSWORD = "bench clerk password 2026"
CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF.search(html)
    if not match:
        sys.exit("no CSRF token on the page")
    return match[1] or match[2]


def signed_in(app, landing: str, name: str = "計測 用子"):
    """(client, CSRF token of `landing`) for a new clerk signed in with both factors."""
    rp = passkeys.RelyingParty(app.config["RP_ID"], app.config["RP_NAME"], app.config["ORIGIN"])
    login_id = f"bench{uuid.uuid4().hex[:10]}"
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        person, _ = staff.create(login_id, name, "健康支援課", ["clerk"], audit.Actor.system("bench"))
        authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
        options, challenge = passkeys.registration_options(rp, person)
        with models.db.atomic():
            passkeys.register(rp, person, challenge, authenticator.register(options), "bench")
            (models.Staff.update(password_hash=hash_password(PASSWORD), enroll_token_hash=None)
             .where(models.Staff.id == person.id).execute())
        models.db.close()
    client = app.test_client()
    token = csrf(client.get("/login").get_data(as_text=True))
    page = client.post("/login", data={"csrf_token": token, "login_id": login_id, "password": PASSWORD})
    token = csrf(page.get_data(as_text=True))
    options = client.post("/login/options", headers={"X-CSRFToken": token}).get_json()
    done = client.post("/login/verify", data=authenticator.assert_(options),
                       content_type="application/json", headers={"X-CSRFToken": token})
    if not done.get_json().get("ok"):
        sys.exit(f"bench clerk could not sign in: {done.get_data(as_text=True)}")
    return client, csrf(client.get(landing).get_data(as_text=True))
