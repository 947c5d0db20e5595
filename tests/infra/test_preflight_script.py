"""scripts/preflight.sh against a stub `gcloud` on PATH, one test per refusal it explains.

The real gcloud cannot run here (no Google Cloud access from the build machine), so a small
stub stands in for it: it answers each command line from a table of rules (the first rule whose
words all occur in the command line wins; anything unmatched fails as gcloud would) and records
every call. The script itself, bash and python3 are the real ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from cryptography.fernet import Fernet

from tests import tfconfig

BASH = shutil.which("bash") or "/bin/bash"
PREFLIGHT = tfconfig.ROOT / "scripts" / "preflight.sh"
PROJECT = "demo-project-1"
ACCOUNT = "ops@example.com"

STUB = """\
import json, os, sys
argv = sys.argv[1:]
with open(os.environ["GCLOUD_STUB_LOG"], "a") as log:
    log.write(json.dumps(argv) + "\\n")
with open(os.environ["GCLOUD_STUB_RULES"]) as rules:
    for rule in json.load(rules):
        if all(word in argv for word in rule["match"]):
            sys.stdout.write(rule.get("stdout", ""))
            sys.stderr.write(rule.get("stderr", ""))
            sys.exit(rule.get("exit", 0))
sys.stderr.write("ERROR: (gcloud) stub has no answer for " + " ".join(argv) + "\\n")
sys.exit(1)
"""

Rule = Mapping[str, object]
PROJECT_DESCRIBE = ["projects", "describe", "--format=value(projectNumber)"]


def secret_ids(names: list[str], prefix: str = "socialsched") -> list[str]:
    return [f"{prefix}-{name.lower().replace('_', '-')}" for name in names]


REQUIRED_SECRETS = [
    "MONGO_URI",
    "MONGO_URI_READONLY",
    "JWT_SECRET",
    "ADMIN_SECRET_KEY",
    "TOKEN_ENCRYPTION_KEY",
]


def terraform_apis() -> list[str]:
    return sorted(tfconfig.quoted_strings(tfconfig.locals_()["services"]))


def healthy_project() -> list[Rule]:
    """What gcloud answers for a project that is ready: the base every test changes one thing in."""
    rules: list[Rule] = [
        {"match": ["auth", "list"], "stdout": f"{ACCOUNT}\n"},
        {"match": ["application-default", "print-access-token"], "stdout": "ya29.token\n"},
        {"match": [*PROJECT_DESCRIBE, PROJECT], "stdout": "123456789012\n"},
        {"match": ["billing", "projects", "describe"], "stdout": "True\n"},
        {
            "match": ["services", "list", "--enabled"],
            "stdout": "\n".join(["serviceusage.googleapis.com", *terraform_apis()]) + "\n",
        },
        {
            "match": ["org-policies", "describe", "iam.allowedPolicyMemberDomains"],
            "stdout": json.dumps(
                {
                    "constraint": "constraints/iam.allowedPolicyMemberDomains",
                    "listPolicy": {"allValues": "ALLOW"},
                }
            ),
        },
        {"match": ["projects", "get-iam-policy", PROJECT], "stdout": "roles/owner\n"},
    ]
    for secret in secret_ids([*REQUIRED_SECRETS, "META_APP_SECRET"]):
        rules.append(
            {
                "match": ["secrets", "versions", "list", secret],
                "stdout": f"projects/123456789012/secrets/{secret}/versions/1\n",
            }
        )
    return rules


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def fixes(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("FIX  ")]


class Preflight(Protocol):
    def __call__(
        self,
        overrides: list[Rule] | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        without_gcloud: bool = False,
    ) -> Run: ...


@pytest.fixture
def preflight(tmp_path: Path) -> Preflight:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcloud = bin_dir / "gcloud"
    # -I -S: no site packages to import, so each of the ~20 calls per run starts quickly.
    gcloud.write_text(f"#!{sys.executable} -IS\n{STUB}")
    gcloud.chmod(gcloud.stat().st_mode | stat.S_IXUSR)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    rules_file = tmp_path / "rules.json"
    log_file = tmp_path / "calls.log"

    def run(
        overrides: list[Rule] | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        without_gcloud: bool = False,
    ) -> Run:
        rules_file.write_text(json.dumps([*(overrides or []), *healthy_project()]))
        log_file.write_text("")
        # Without gcloud: a PATH holding nothing (the script stops before it needs any tool).
        path = str(empty_dir) if without_gcloud else f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        result = subprocess.run(
            [BASH, str(PREFLIGHT), *(args if args is not None else [PROJECT])],
            env={
                "PATH": path,
                "GCLOUD_STUB_RULES": str(rules_file),
                "GCLOUD_STUB_LOG": str(log_file),
                **(env or {}),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        calls = [json.loads(line) for line in log_file.read_text().splitlines()]
        return Run(result.returncode, result.stdout, result.stderr, calls)

    return run


def test_a_ready_project_passes_every_check(preflight: Preflight) -> None:
    run = preflight()
    assert run.returncode == 0, run.stderr
    assert run.fixes() == []
    assert run.stdout.rstrip().endswith("ready for terraform apply")
    checked = [c[3] for c in run.calls if c[:3] == ["secrets", "versions", "list"]]
    assert checked == secret_ids(REQUIRED_SECRETS)


def test_usage_error_without_a_project(preflight: Preflight) -> None:
    run = preflight(args=[])
    assert run.returncode == 2
    assert "usage:" in run.stderr


def test_refuses_without_gcloud_and_says_how_to_install_it(preflight: Preflight) -> None:
    run = preflight(without_gcloud=True)
    assert run.returncode == 1
    assert run.fixes() == [
        "FIX  gcloud is not installed: install the Google Cloud CLI "
        "(https://cloud.google.com/sdk/docs/install), then run this again"
    ]


def test_refuses_when_gcloud_is_not_logged_in(preflight: Preflight) -> None:
    run = preflight([{"match": ["auth", "list"], "stdout": ""}])
    assert run.returncode == 1
    assert run.fixes() == ["FIX  gcloud is not logged in: run `gcloud auth login`"]
    assert len(run.calls) == 1, "nothing else is asked once the login is missing"


def test_refuses_without_application_default_credentials(preflight: Preflight) -> None:
    run = preflight([{"match": ["application-default"], "exit": 1}])
    assert run.returncode == 1
    assert [f for f in run.fixes() if "gcloud auth application-default login" in f]
    assert len(run.fixes()) == 1


def test_refuses_a_project_it_cannot_see(preflight: Preflight) -> None:
    run = preflight([{"match": PROJECT_DESCRIBE, "exit": 1}])
    assert run.returncode == 1
    assert run.fixes() == [
        f"FIX  project {PROJECT} does not exist or {ACCOUNT} cannot see it: "
        "check the id (gcloud projects list) or ask for access"
    ]


def test_refuses_a_project_without_billing(preflight: Preflight) -> None:
    run = preflight([{"match": ["billing", "projects", "describe"], "stdout": "False\n"}])
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert fix.startswith(f"FIX  billing is not enabled on {PROJECT}")
    assert f"gcloud billing projects link {PROJECT} --billing-account=" in fix


def test_unreadable_billing_is_a_note_not_a_refusal(preflight: Preflight) -> None:
    run = preflight([{"match": ["billing", "projects", "describe"], "exit": 1}])
    assert run.returncode == 0, run.stderr
    assert "note could not read the billing status" in run.stdout


def test_refuses_when_the_service_usage_api_is_off(preflight: Preflight) -> None:
    disabled = {
        "match": ["services", "list"],
        "stderr": "PERMISSION_DENIED: Service Usage API has not been used in project\n",
        "exit": 1,
    }
    run = preflight([disabled])
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert "the Service Usage API is off" in fix
    assert "enable serviceusage.googleapis.com" in fix


def test_apis_terraform_will_enable_are_listed_not_refused(preflight: Preflight) -> None:
    only_usage = {"match": ["services", "list"], "stdout": "serviceusage.googleapis.com\n"}
    run = preflight([only_usage])
    assert run.returncode == 0, run.stderr
    prefix = "note terraform apply will enable"
    (line,) = [x for x in run.stdout.splitlines() if x.startswith(prefix)]
    assert line.split(": ", 1)[1].split(" (")[0].split() == terraform_apis()


RESTRICTED: Rule = {
    "match": ["org-policies", "describe", "iam.allowedPolicyMemberDomains"],
    "stdout": json.dumps(
        {
            "constraint": "constraints/iam.allowedPolicyMemberDomains",
            "listPolicy": {"allowedValues": ["C0abc123"]},
        }
    ),
}


def test_refuses_allusers_where_the_organisation_restricts_domains(preflight: Preflight) -> None:
    run = preflight([RESTRICTED])
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert "iam.allowedPolicyMemberDomains" in fix
    # Every public function would be granted to allUsers; one switch changes them all.
    assert "makes status api web public will be refused" in fix
    assert 'public_access = "invoker_check_disabled"' in fix
    assert "PUBLIC_ACCESS=invoker_check_disabled" in fix


def test_a_restricted_organisation_passes_with_the_invoker_check_off(preflight: Preflight) -> None:
    run = preflight([RESTRICTED], env={"PUBLIC_ACCESS": "invoker_check_disabled"})
    assert run.returncode == 0, run.stderr
    assert "status, api and web are made public with the invoker check disabled" in run.stdout
    assert "run.services.setIamPolicy" in run.stdout


def test_a_function_left_on_allusers_is_named_under_a_restricted_organisation(
    preflight: Preflight,
) -> None:
    # The status-only switch of earlier versions: the api would still be granted to allUsers.
    run = preflight([RESTRICTED], env={"STATUS_PUBLIC_ACCESS": "invoker_check_disabled"})
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert "makes api web public will be refused" in fix


def test_an_unknown_public_access_value_is_a_usage_error(preflight: Preflight) -> None:
    run = preflight(env={"API_PUBLIC_ACCESS": "everyone"})
    assert run.returncode == 2
    assert "must be allUsers or invoker_check_disabled" in run.stderr


def test_refuses_a_caller_without_the_roles_and_names_them(preflight: Preflight) -> None:
    held = {
        "match": ["projects", "get-iam-policy"],
        "stdout": "roles/editor\nroles/secretmanager.admin\n",
    }
    run = preflight([held])
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert fix.startswith(f"FIX  {ACCOUNT} lacks roles the apply needs: ")
    missing = fix.split("needs: ", 1)[1].split(". ", 1)[0].split()
    assert "roles/resourcemanager.projectIamAdmin" in missing
    # The queue and the tick trigger need their own admin roles (a non-Owner has neither).
    assert {"roles/cloudtasks.admin", "roles/eventarc.admin"} <= set(missing)
    assert "roles/secretmanager.admin" not in missing
    (policy_call,) = [c for c in run.calls if "get-iam-policy" in c]
    assert f"--filter=bindings.members=user:{ACCOUNT}" in policy_call


def test_roles_through_a_group_can_be_vouched_for(preflight: Preflight) -> None:
    held = {"match": ["projects", "get-iam-policy"], "stdout": ""}
    run = preflight([held], env={"PREFLIGHT_SKIP_ROLES": "1"})
    assert run.returncode == 0, run.stderr
    assert not [c for c in run.calls if "get-iam-policy" in c]


def test_refuses_a_secret_that_does_not_exist_yet(preflight: Preflight) -> None:
    missing = {
        "match": ["secrets", "versions", "list", "socialsched-jwt-secret"],
        "stderr": "NOT_FOUND\n",
        "exit": 1,
    }
    run = preflight([missing])
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert "secret socialsched-jwt-secret (JWT_SECRET) does not exist" in fix
    assert "terraform apply -target=google_secret_manager_secret.this" in fix


@pytest.mark.parametrize("name", REQUIRED_SECRETS)
def test_refuses_a_secret_without_an_enabled_version(preflight: Preflight, name: str) -> None:
    (secret,) = secret_ids([name])
    run = preflight([{"match": ["secrets", "versions", "list", secret], "stdout": ""}])
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert f"secret {secret} ({name}) has no enabled version" in fix
    assert f"gcloud secrets versions add {secret} --data-file=- --project={PROJECT}" in fix
    (call,) = [c for c in run.calls if secret in c]
    assert "--filter=state=ENABLED" in call


def test_the_token_key_hint_makes_a_valid_fernet_key(preflight: Preflight) -> None:
    (secret,) = secret_ids(["TOKEN_ENCRYPTION_KEY"])
    run = preflight([{"match": ["secrets", "versions", "list", secret], "stdout": ""}])
    (fix,) = run.fixes()
    command = re.search(r"(python3 -c '.*?') \|", fix)
    assert command, fix
    key = subprocess.run(
        ["bash", "-c", command.group(1)], capture_output=True, text=True, check=True
    ).stdout
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"


def test_meta_app_secret_is_checked_only_when_enabled(preflight: Preflight) -> None:
    (meta,) = secret_ids(["META_APP_SECRET"])
    no_version = {"match": ["secrets", "versions", "list", meta], "stdout": ""}
    assert preflight([no_version]).returncode == 0
    run = preflight([no_version], env={"META_APP_SECRET_ENABLED": "true"})
    assert run.returncode == 1
    (fix,) = run.fixes()
    assert f"secret {meta} (META_APP_SECRET) has no enabled version" in fix
    assert "meta_app_secret_enabled = false" in fix


def test_skip_secrets_before_the_first_apply(preflight: Preflight) -> None:
    none = {"match": ["secrets", "versions", "list"], "stderr": "NOT_FOUND\n", "exit": 1}
    run = preflight([none], args=["--skip-secrets", PROJECT])
    assert run.returncode == 0, run.stderr
    assert not [c for c in run.calls if c[:2] == ["secrets", "versions"]]


def test_secret_ids_follow_the_name_prefix(preflight: Preflight) -> None:
    rules: list[Rule] = [
        {"match": ["secrets", "versions", "list", secret], "stdout": "v/1\n"}
        for secret in secret_ids(REQUIRED_SECRETS, prefix="acme-sched")
    ]
    run = preflight(rules, args=[PROJECT, "acme-sched"])
    assert run.returncode == 0, run.stderr


def test_every_refusal_is_counted_in_one_run(preflight: Preflight) -> None:
    run = preflight(
        [
            {"match": ["billing", "projects", "describe"], "stdout": "False\n"},
            RESTRICTED,
            {"match": ["secrets", "versions", "list", "socialsched-mongo-uri"], "stdout": ""},
        ]
    )
    assert run.returncode == 1
    assert len(run.fixes()) == 3
    assert run.stderr.rstrip().endswith("3 thing(s) to fix before terraform apply")


def test_script_and_terraform_agree_on_apis_and_secrets() -> None:
    script = PREFLIGHT.read_text()
    apis = re.search(r"^apis=\(\n(.*?)\n\)", script, re.S | re.M)
    assert apis, "apis=( ... ) list not found"
    assert sorted(apis.group(1).split()) == terraform_apis()
    secrets = re.search(r"^secrets=\((.*?)\)", script, re.M)
    assert secrets
    created = tfconfig.quoted_names(tfconfig.locals_()["secret_names"])
    optional = {"META_APP_SECRET", "OIDC_CLIENT_SECRET", "THREADS_APP_SECRET"}  # when enabled
    assert set(secrets.group(1).split()) | optional == created
    assert not optional & set(secrets.group(1).split())


def test_script_and_readme_list_the_same_deployer_roles() -> None:
    script = PREFLIGHT.read_text()
    roles = re.search(r"^roles=\(\n(.*?)\n\)", script, re.S | re.M)
    assert roles, "roles=( ... ) list not found"
    readme = (tfconfig.TERRAFORM_DIR / "README.md").read_text()
    prerequisites = readme[readme.index("## Deploy walkthrough") :].split("\n\n", 2)[1]
    documented = set(re.findall(r"`(roles/[a-zA-Z.]+)`", prerequisites))
    # Granted on the billing account, only for the opt-in budget: no project policy shows it.
    assert "roles/billing.costsManager" in documented
    assert set(roles.group(1).split()) == documented - {"roles/billing.costsManager"}
