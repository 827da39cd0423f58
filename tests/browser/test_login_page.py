"""The foundation's smoke test: the login page loads in real Chromium with its scripts."""


def test_login_page_loads_in_chromium_without_csp_violations(page):
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto("/login")
    assert page.title().startswith("ログイン")
    assert page.get_by_label("ログインID").is_visible()
    assert page.get_by_label("パスワード").is_visible()
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("htmx.config.historyCacheSize") == 0
    assert page.evaluate("htmx.config.allowEval") is False
    assert not [p for p in problems if "Content Security Policy" in p], problems
