"""Not a benchmark: a signed-in session for the outside scanners (docs/SECURITY-TESTING.md).

    KENSHIN_DATABASE_URL=... KENSHIN_SECRET_KEY=... python bench/session_cookie.py --roles clerk supervisor

Creates a throwaway staff member holding the roles, signs them in through the real two-factor
login (password, then a software WebAuthn authenticator) against the same database and secret
key as the running server, and prints the cookie header and a CSRF token for sqlmap / wapiti.
Run it against a local server only (loopback); the staff member stays in the database, marked
by its login ID `scan...`, and every request the scanners make is audited under it.
"""
import argparse
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import models  # noqa: E402
from app import create_app  # noqa: E402
from kenshin import audit  # noqa: E402
from kenshin.access import passkeys  # noqa: E402
from kenshin.access import staff  # noqa: E402
from kenshin.access.passwords import hash_password  # noqa: E402
from softauthn import SoftAuthenticator  # noqa: E402

from clerk import csrf  # noqa: E402  (bench/clerk.py)

PASSWORD = "outside scanner password 2026"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", nargs="+", default=["clerk"])
    args = parser.parse_args()
    app = create_app()
    rp = passkeys.RelyingParty(app.config["RP_ID"], app.config["RP_NAME"], app.config["ORIGIN"])
    login_id = f"scan{uuid.uuid4().hex[:8]}"
    with app.app_context():
        models.db.connect(reuse_if_open=True)
        person, _ = staff.create(login_id, "診断 用太郎", "外部診断", args.roles,
                                 audit.Actor.system("outside-test"))
        authenticator = SoftAuthenticator(origin=rp.origin, rp_id=rp.rp_id)
        options, challenge = passkeys.registration_options(rp, person)
        with models.db.atomic():
            passkeys.register(rp, person, challenge, authenticator.register(options), "scanner")
            (models.Staff.update(password_hash=hash_password(PASSWORD), enroll_token_hash=None)
             .where(models.Staff.id == person.id).execute())
        models.db.close()
    client = app.test_client()
    token = csrf(client.get("/login").get_data(as_text=True))
    page = client.post("/login", data={"csrf_token": token, "login_id": login_id,
                                       "password": PASSWORD})
    token = csrf(page.get_data(as_text=True))
    options = client.post("/login/options", headers={"X-CSRFToken": token}).get_json()
    done = client.post("/login/verify", data=authenticator.assert_(options),
                       content_type="application/json", headers={"X-CSRFToken": token})
    if not done.get_json().get("ok"):
        sys.exit(f"could not sign in: {done.get_data(as_text=True)}")
    name = app.config["SESSION_COOKIE_NAME"]
    # The token first: the page that makes it stores its secret in the cookie, so the cookie
    # is read after it (read before, every POST of the scanners answered 400).
    token = csrf(client.get("/").get_data(as_text=True))
    cookie = client.get_cookie(name)
    print(f"login_id={login_id}")
    print(f"cookie={name}={cookie.value}")
    print(f"csrf={token}")


if __name__ == "__main__":
    main()
