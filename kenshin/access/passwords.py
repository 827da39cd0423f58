"""Password hashing (scrypt) and the password rules of enrollment."""
import hashlib
import hmac
import secrets

from kenshin.core.errors import Invalid

# scrypt cost: N = 2**14 in production. Tests lower it through `configure` (config
# PASSWORD_HASH_N under TESTING), since hashing is otherwise ~40% of a database test's set-up.
# A stored hash carries its own parameters, so checking never depends on this setting.
DEFAULT_N = 2 ** 14
_N, _R, _P = DEFAULT_N, 8, 1

# A small list of passwords people choose; length ≥ 12 already rules out most of the famous ones.
COMMON = {
    "password1234", "password12345", "password123456", "123456789012", "1234567890123",
    "qwertyuiop12", "qwerty123456", "111111111111", "000000000000", "abcdefghijkl",
    "abc123456789", "iloveyou1234", "passw0rd1234", "administrator", "admin1234567",
    "kenshin12345", "kenshin123456", "chiba1234567", "chibashi1234", "welcome12345",
    "letmein12345", "p@ssw0rd1234", "aaaaaaaaaaaa", "1q2w3e4r5t6y", "zaq12wsxcde3",
    "qwertyuiopas", "asdfghjkl123", "password0000", "changeme1234", "himitsu12345",
}

# Hashed once so that a check for an unknown login takes as long as one for a known login.
_DUMMY = None


def configure(n: int = DEFAULT_N) -> None:
    """Set the scrypt cost of new hashes (a power of two); the production default is DEFAULT_N."""
    global _N, _DUMMY
    if n < 2 or n & (n - 1):
        raise ValueError("scrypt N must be a power of two greater than 1")
    _N, _DUMMY = n, None


def hash_password(password: str) -> str:
    """An scrypt hash with its parameters and salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str | None, password: str) -> bool:
    """True when `password` matches; spends the same time when there is no stored hash."""
    global _DUMMY
    if not stored:
        if _DUMMY is None:
            _DUMMY = hash_password(secrets.token_hex(8))
        stored, password = _DUMMY, password + "\0"
    try:
        _, n, r, p, salt, expected = stored.split("$")
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


def check_new_password(password: str, login_id: str) -> None:
    """Refuse a password that is short, equals the login ID, or is a common one."""
    problems = []
    if len(password) < 12:
        problems.append("12文字以上にしてください")
    if password.lower() == login_id.lower() or login_id.lower() in password.lower():
        problems.append("ログインIDを含むパスワードは使えません")
    if password.lower() in COMMON or len(set(password)) <= 2:
        problems.append("よく使われるパスワードは使えません")
    if problems:
        raise Invalid({"password": problems})
