"""Security properties of the lab that need no stack: how the loopback-only check of
the live stack reads /proc (on sample lines, so that check can be seen to fail), no
shell commands in labkit, and no secrets in the repository.

The live check itself, that every server of the embedded stack listens on loopback
only, is tests/integration/test_loopback_only.py.
"""

from __future__ import annotations

import ast
import ipaddress
import re
import shutil
import subprocess

import pytest
from stack_sockets import exposed, listeners

from labkit.settings import REPO_ROOT

# -- reading /proc/net/tcp{,6} --------------------------------------------------------

# Lines as a little-endian kernel prints them (inode is the 10th field).
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 101 1
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 102 1
   2: 0100007F:B5DA 0100007F:1F91 01 00000000:00000000 00:00000000 00000000  1000        0 103 1
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0000000000000000FFFF00000100007F:2384 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 201 1
   1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 202 1
   2: 00000000000000000000000000000000:17E0 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 203 1
"""  # noqa: E501 (the kernel's line length)


def test_proc_net_tcp_lines_parse_to_addresses_and_ports():
    assert listeners(TCP, "little") == {101: (ipaddress.ip_address("127.0.0.1"), 6379),
                                        102: (ipaddress.ip_address("0.0.0.0"), 2024)}
    # 103: connected, not listening
    assert listeners(TCP6, "little") == {201: (ipaddress.ip_address("::ffff:127.0.0.1"), 9092),
                                         202: (ipaddress.ip_address("::1"), 8081),
                                         203: (ipaddress.ip_address("::"), 6112)}


def test_a_big_endian_kernel_prints_each_word_the_other_way_round():
    assert listeners(TCP.replace("0100007F:18EB", "7F000001:18EB"), "big")[101] == \
        (ipaddress.ip_address("127.0.0.1"), 6379)
    ipv6_loopback = "00000000000000000000000000000001:1F91"  # ::1, each word as it is
    assert listeners(TCP6.replace("00000000000000000000000001000000:1F91", ipv6_loopback),
                     "big")[202] == (ipaddress.ip_address("::1"), 8081)


def test_a_wildcard_listener_of_a_stack_process_is_reported():
    listening = {**listeners(TCP, "little"), **listeners(TCP6, "little")}
    sockets = {7: {101, 201, 202}, 8: {102, 103}, 9: {203}}
    assert exposed(sockets, listening) == [(8, ipaddress.ip_address("0.0.0.0"), 2024),
                                           (9, ipaddress.ip_address("::"), 6112)]
    assert exposed({7: {101, 201, 202}}, listening) == []


# -- no shell commands in labkit ----------------------------------------------------

# Calls that hand a string to /bin/sh.
SHELL_CALLS = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}
SHELLS = {"sh", "bash", "zsh", "dash", "/bin/sh", "/bin/bash"}


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str:
    """`os.system` for os.system(...), also when imported as `from os import system`."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([aliases.get(node.id, node.id), *reversed(parts)])


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> module path of every import (`from os import system as run` -> os.system)."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    return aliases


def _runs_a_shell(node: ast.AST, aliases: dict[str, str]) -> str:
    """What about `node` runs a shell command ('' if nothing)."""
    if isinstance(node, ast.Call):
        if _dotted(node.func, aliases) in SHELL_CALLS:
            return f"{_dotted(node.func, aliases)}()"
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                               and keyword.value.value is False):
                return "shell=" + ast.unparse(keyword.value)
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        words = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
        if words[0] in SHELLS and "-c" in words:
            return f"an argv running `{words[0]} -c`"
    return ""


def shell_uses(source: str, filename: str = "<source>") -> list[str]:
    """'file:line: what' for every place `source` runs a command through a shell."""
    tree = ast.parse(source, filename)
    aliases = _aliases(tree)
    return [f"{filename}:{node.lineno}: {what}" for node in ast.walk(tree)
            if (what := _runs_a_shell(node, aliases))]


def test_labkit_runs_no_command_through_a_shell():
    # A shell would parse topic names, paths and settings as shell syntax.
    found = [use for path in sorted((REPO_ROOT / "labkit").rglob("*.py"))
             for use in shell_uses(path.read_text(), str(path.relative_to(REPO_ROOT)))]
    assert found == []


def test_the_shell_scan_finds_each_way_and_ignores_words():
    source = '''
import os
import subprocess as sp
from os import popen as p
sp.run(cmd, shell=True)
sp.Popen(cmd, shell=flag)
os.system("ls")
p("ls")
sp.getoutput("ls")
sp.run(["bash", "-c", "ls"])
sp.run(["java", "-c", "conf"], shell=False)  # fine: no shell
print("shell=True, os.system")  # fine: only words
'''
    assert [use.split(": ", 1)[1] for use in shell_uses(source)] == [
        "shell=True", "shell=flag", "os.system()", "os.popen()", "subprocess.getoutput()",
        "an argv running `bash -c`"]


# -- no committed secrets -----------------------------------------------------------

SECRET_PATTERNS = {
    "a private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{50,})"),
    "a Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "a Google API key": re.compile(r"\bAIza[\w-]{35}\b"),
    "a password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@\"']+:[^\s/@\"']+@"),
    # A quoted literal of 6+ characters assigned to a password-like name; names and
    # environment lookups (`password = os.environ[...]`) are not literals, so they pass.
    "a hard-coded password": re.compile(
        r"(?i)\b[\w.-]*(?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)"
        r"[\"']?\s*[:=]\s*[\"'][^\"'\s]{6,}[\"']"),
}
# (path, matched text) of reviewed false positives. Empty today: keep it that short.
ALLOWED: set[tuple[str, str]] = set()


def secrets_in(text: str) -> list[tuple[str, str]]:
    """(what, matched text) for every secret-looking string in `text`."""
    return [(what, match.group()) for what, pattern in SECRET_PATTERNS.items()
            for match in pattern.finditer(text)]


def _repository_files() -> list[str]:
    """Committed files plus new ones not ignored: what the next commit could hold."""
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=REPO_ROOT, capture_output=True,
                             check=True)
    return [name for name in listing.stdout.decode().split("\0") if name]


def test_the_repository_holds_no_secrets():
    found = [(name, what, text) for name in _repository_files()
             if (REPO_ROOT / name).is_file()
             for what, text in secrets_in((REPO_ROOT / name).read_text(errors="replace"))
             if (name, text) not in ALLOWED]
    assert found == []


def test_the_secret_scan_finds_each_kind_and_ignores_words():
    # Built from pieces, so this file itself holds no secret-looking string.
    samples = {
        "a private key": "-----BEGIN " + "RSA PRIVATE KEY-----",
        "an AWS access key id": "AKIA" + "IOSFODNN7EXAMPLE",
        "a GitHub token": "ghp_" + "a1" * 18,
        "a Slack token": "xoxb-" + "1234567890-abc",
        "a Google API key": "AIza" + "x" * 35,
        "a password in a URL": "redis://lab:" + "s3cret@localhost:6379",
        "a hard-coded password": "DB_PASSWORD = " + '"hunter22"',
    }
    for what, sample in samples.items():
        assert what in {kind for kind, _ in secrets_in(f"x = {sample}\n")}, what
    innocent = """
    password = os.environ["LAB_REDIS_PASSWORD"]
    "sasl.password": "",
    token = next(tokens)  # the secret of a good lab: fresh topics
    Redis at redis://127.0.0.1:6379/0 needs no password:
    """
    assert secrets_in(innocent) == []
