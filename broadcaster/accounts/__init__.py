"""Operators and their accounts: API tokens, passwords, setup links, console sessions,
the audit log, rate limits.
"""

from __future__ import annotations

from broadcaster.accounts import audit
from broadcaster.accounts.audit import Actor
from broadcaster.accounts.credentials import (
    MIN_PASSWORD,
    AccountError,
    LoginLimited,
    create_token,
    find_by_name,
    generation,
    invite,
    list_operators,
    list_tokens,
    login,
    logout_everywhere,
    make_cookie,
    new_setup_link,
    operator_doc,
    revoke_token,
    server_secret,
    set_password_with_link,
    setup_operator,
)
from broadcaster.accounts.deps import ActorDep, AdminDep, OperatorDep
from broadcaster.accounts.operators import Operator, add_operator, has_operators
from broadcaster.accounts.ratelimit import RateLimited, hit
from broadcaster.accounts.session import (
    PRE_COOKIE,
    ConsoleAdminDep,
    ConsoleUser,
    CsrfFailed,
    Forbidden,
    LoginRequired,
    UserDep,
    checked_form,
    clear_session_cookie,
    secret_key,
    set_session_cookie,
)

__all__ = [
    "MIN_PASSWORD",
    "PRE_COOKIE",
    "AccountError",
    "Actor",
    "ActorDep",
    "AdminDep",
    "ConsoleAdminDep",
    "ConsoleUser",
    "CsrfFailed",
    "Forbidden",
    "LoginLimited",
    "LoginRequired",
    "Operator",
    "OperatorDep",
    "RateLimited",
    "UserDep",
    "add_operator",
    "audit",
    "checked_form",
    "clear_session_cookie",
    "create_token",
    "find_by_name",
    "generation",
    "has_operators",
    "hit",
    "invite",
    "list_operators",
    "list_tokens",
    "login",
    "logout_everywhere",
    "make_cookie",
    "new_setup_link",
    "operator_doc",
    "revoke_token",
    "secret_key",
    "server_secret",
    "set_password_with_link",
    "set_session_cookie",
    "setup_operator",
]
