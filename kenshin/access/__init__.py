"""Who may sign in and what they may do: roles, staff, passwords, passkeys (WebAuthn),
server-side sessions, sign-in and own credentials.
"""
