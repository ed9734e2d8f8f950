"""What ``enrichgen sandbox`` prints when it starts: lines a shell can run as they are.

The settings are ``export CS_…=…`` lines quoted with ``shlex.quote`` (a client secret given on
the command line may hold any character); everything else is a ``#`` comment, so the whole
banner can be pasted into a POSIX shell.
"""

from __future__ import annotations

import shlex

from generator.sandbox.server import Sandbox


def banner(sandbox: Sandbox) -> str:
    """The lines that tell a user how to reach ``sandbox``."""
    integration = sandbox.integration
    versions = list(sandbox.integrations)
    if len(versions) == 1:
        served = f"{integration.name} integration version {versions[0]}"
    else:
        listed = ", ".join(str(version) for version in versions)
        served = f"{integration.name} integration versions {listed}"
    settings = {
        "CS_AUTH_URL": sandbox.auth_url,
        "CS_CLIENT_ID": sandbox.client_id,
        "CS_CLIENT_SECRET": sandbox.client_secret,
        "CS_PROJECT_ID": str(sandbox.project_id),
    }
    return "\n".join(
        [
            f"# enrichgen sandbox: {served} on {sandbox.url}",
            *(
                f"export {name}={shlex.quote(value)}"
                for name, value in settings.items()
            ),
            f"# what arrived: {sandbox.url}/sandbox/enrichments   "
            f"counts: {sandbox.url}/sandbox/stats",
            "# Ctrl-C to stop",
        ]
    )
