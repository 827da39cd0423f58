"""Routes, one module per screen area; `web` holds the plumbing they share."""
from flask import g, render_template
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect

from kenshin.core.errors import NotFound, Refused

from . import filters, web

csrf = CSRFProtect()
login_manager = LoginManager()
# flask-login's session protection watches a login made with its login_user, which kenshin does
# not use: staff sessions are server-side (kenshin.access.sessions), checked by the gate on every
# request. Hashing the address and browser on every request protected nothing.
login_manager.session_protection = None


@login_manager.request_loader
def _staff_from_server_session(_request):
    return g.get("staff")


def register_all(app):
    """Install plumbing, filters, error pages and every blueprint."""
    app.jinja_env.add_extension("jinja2.ext.do")
    csrf.init_app(app)
    login_manager.init_app(app)
    web.init_app(app)
    filters.init_app(app)
    _error_pages(app)

    from . import account, admin, audit_log, auth, disclosures, home, inquiries, long_logon
    from . import imports, incidents, operations, residents, training, unusual_access
    from . import entry, extensions, fhir_files, followup, institutions, invitations, queue
    from . import provision, provision_api, result_files, screenings, statistics, verify
    for module in (auth, home, account, admin, inquiries, disclosures, audit_log, long_logon,
                   unusual_access, residents, imports, institutions, extensions, entry, queue,
                   screenings, result_files, fhir_files, verify, invitations, provision,
                   provision_api, operations, incidents, training, followup, statistics):
        app.register_blueprint(module.bp)
    # The intermediate server's JSON interface authenticates with its bearer token, which a
    # browser never sends by itself; it has no staff session to protect (provision_api.py).
    csrf.exempt(provision_api.bp)
    token = str(app.config.get("PROVISION_TOKEN") or "")
    if not token:
        app.logger.warning("provision is off: KENSHIN_PROVISION_TOKEN is not set "
                           "(POST/GET /provision/queries answer 404)")
    elif len(token) < 24:
        app.logger.warning("KENSHIN_PROVISION_TOKEN is short (%d characters); use 24 or more "
                           "random characters", len(token))


def _error_pages(app):
    """Japanese error pages that never echo input, identifiers or tracebacks."""
    messages = {
        400: "要求を処理できませんでした。",
        403: "この操作を行う権限がありません。",
        404: "お探しのページは見つかりませんでした。",
        405: "この方法では操作できません。",
        413: "ファイルが大きすぎます。",
        500: "システムエラーが発生しました。時間をおいて再度お試しください。",
    }
    for code, message in messages.items():
        def handler(error, code=code, message=message):
            return render_template("error.html", code=code, message=message), code
        app.register_error_handler(code, handler)

    # Domain exceptions a route does not handle itself answer like abort(404)/abort(403): the
    # routes need no `except NotFound: abort(404)` of their own. Routes that show a refusal's
    # reason (flash, fragment, JSON) still catch Refused themselves.
    app.register_error_handler(NotFound, lambda error: (
        render_template("error.html", code=404, message=messages[404]), 404))
    app.register_error_handler(Refused, lambda error: (
        render_template("error.html", code=403, message=messages[403]), 403))

    @app.errorhandler(CSRFError)
    def _csrf(error):
        return render_template("error.html", code=400,
                               message="画面の有効期限が切れました。もう一度操作してください。"), 400
