"""`diff KIND/NAME [REV_A [REV_B]]` on the real cluster (issue 33): two revisions' pod templates and the config
snapshots both recorded, as `kubectl diff` shows objects: exit 0 equal, 1 differ, 2 on error; KUBECTL_EXTERNAL_DIFF's
program gets two folders of one file per object; a Secret's values never printed."""

import json
import os
import stat

from kubectl_rollback.errors import ExitCode
from tests import contract, manifests
from tests import scenarios as sc
from tests.test_config_rollback import config, deploy, plugin

IMAGE_LINES = ("-      - image: example.test/web:1", "+      - image: example.test/web:2")


def two_revisions(ns) -> None:
    for tag in ("1", "2"):
        sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", f"example.test/web:{tag}"),
                             "Succeeded", *sc.IDENTITY)


def recording_diff(tmp_path) -> tuple:
    """(program, seen): a KUBECTL_EXTERNAL_DIFF program that prints "my diff ran", writes what it was given (its
    arguments, whether they are folders, each folder's files) to `seen` as JSON, and exits 1 when the folders differ."""
    seen = tmp_path / "seen.json"
    program = tmp_path / "mydiff"
    program.write_text(f"""#!/usr/bin/env python3
import json, os, sys
a, b = sys.argv[1], sys.argv[2]
files = {{side: {{name: open(os.path.join(side, name)).read() for name in os.listdir(side)}} for side in (a, b)}}
json.dump({{"argv": sys.argv[1:], "dirs": [os.path.isdir(a), os.path.isdir(b)], "files": [files[a], files[b]]}},
          open({str(seen)!r}, "w"))
print("my diff ran")
sys.exit(1 if files[a] != files[b] else 0)
""")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program, seen


def test_two_revisions_differ_in_their_image_and_a_revision_equals_itself(ns):
    two_revisions(ns)
    differ = ns.plugin("diff", "deployment/web", "1", "2")
    assert differ.returncode == 1, f"{differ.returncode}\n{differ.stdout}\n{differ.stderr}"
    lines = differ.stdout.splitlines()
    assert all(line in lines for line in IMAGE_LINES), differ.stdout
    assert f"--- REVISION-1/apps.v1.Deployment.{ns.name}.web" in lines, differ.stdout
    assert differ.stderr == "deployment/web: revision 1 against revision 2 (live)\n", differ.stderr

    same = ns.plugin("diff", "deployment/web", "2", "2")
    assert (same.returncode, same.stdout) == (0, ""), f"{same.returncode}\n{same.stdout}\n{same.stderr}"
    assert "no difference" in same.stderr

    live_named = ns.plugin("diff", "deployment/web", "1", "live")
    assert live_named.returncode == 1 and all(line in live_named.stdout.splitlines() for line in IMAGE_LINES)


def test_without_revisions_the_live_one_against_the_rollback_target(ns):
    two_revisions(ns)
    sc.deploy_and_record(ns, "deployment/web", manifests.deployment("web", "example.test/web:3-broken"), "Failed",
                         *sc.IDENTITY)
    done = ns.plugin("diff", "deployment/web", "-o", "json")
    assert done.returncode == 1, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    document = contract.validated(done.stdout, "json", "DiffResult")
    assert (document["from"]["revision"], document["from"]["role"]) == (3, "live")
    assert (document["to"]["revision"], document["to"]["role"]) == (2, "rollback target")  # rollback's own pick
    assert document["differ"] is True and document["error"] is None
    assert document["objects"] == [{"file": f"apps.v1.Deployment.{ns.name}.web",
                                    "changed": ["spec.template.spec.containers[app].image"]}]
    table = ns.plugin("diff", "deployment/web")
    assert "-      - image: example.test/web:3-broken" in table.stdout.splitlines(), table.stdout
    assert "+      - image: example.test/web:2" in table.stdout.splitlines(), table.stdout


def test_errors_exit_2_or_more_never_1(ns, cluster):
    two_revisions(ns)
    missing = ns.plugin("diff", "deployment/absent")
    assert missing.returncode == ExitCode.USAGE and missing.stderr.startswith("error: "), missing.stderr
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    pruned = ns.plugin("diff", "deployment/web", "1", "9")
    assert pruned.returncode == ExitCode.NO_TARGET and "revision 9 is not in the history" in pruned.stderr
    word = ns.plugin("diff", "deployment/web", "newest")
    assert word.returncode == ExitCode.USAGE and "'newest' names no revision" in word.stderr, word.stderr
    failing = ns.plugin("diff", "deployment/web", "1", "2", env=dict(cluster.env, KUBECTL_EXTERNAL_DIFF="false"))
    # `false` exits 1: "they differ", as kubectl takes its program's word
    assert failing.returncode == 1, failing.stderr
    broken = ns.plugin("diff", "deployment/web", "1", "2",
                       env=dict(cluster.env, KUBECTL_EXTERNAL_DIFF="no-such-diff-program"))
    assert broken.returncode == ExitCode.USAGE and "cannot run no-such-diff-program" in broken.stderr, broken.stderr


def test_an_external_diff_program_gets_two_folders_of_one_file_per_object(ns, cluster, tmp_path):
    two_revisions(ns)
    program, seen = recording_diff(tmp_path)
    # kubectl keeps the words after the program made of letters, digits, '-' and '=' (here --color=never), drops
    # the others ($HOME), and puts them after the two folders
    env = dict(cluster.env, KUBECTL_EXTERNAL_DIFF=f"{program} --color=never $HOME")
    done = ns.plugin("diff", "deployment/web", "1", "2", env=env)
    assert (done.returncode, done.stdout) == (1, "my diff ran\n"), f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    got = json.loads(seen.read_text())
    assert got["dirs"] == [True, True] and got["argv"][2:] == ["--color=never"], got
    assert os.path.basename(got["argv"][0]).startswith("REVISION-1-")
    assert os.path.basename(got["argv"][1]).startswith("REVISION-2-")
    before, after = got["files"]
    name = f"apps.v1.Deployment.{ns.name}.web"
    assert list(before) == list(after) == [name]
    assert "image: example.test/web:1" in before[name] and "image: example.test/web:2" in after[name]
    assert not os.path.exists(got["argv"][0])  # the folders are removed afterwards

    same = ns.plugin("diff", "deployment/web", "2", "2", env=env)
    assert same.returncode == 0, same.stderr


def test_config_snapshots_both_recorded_are_compared_secret_keys_only(ns):
    config(ns, "hello", "s3cr3t-MARKER-one-7f3a")
    deploy(ns, "web", "example.test/web:1", "Succeeded")
    config(ns, "bonjour", "s3cr3t-MARKER-two-9b1c")
    deploy(ns, "web", "example.test/web:2", "Succeeded")
    done = plugin(ns, "diff", "deployment/web", "1", "2", code=1)  # plugin(): no Secret value in any output
    lines = done.stdout.splitlines()
    assert "-  greeting: hello" in lines and "+  greeting: bonjour" in lines, done.stdout
    assert "-  password: (hidden, before)" in lines and "+  password: (hidden, after)" in lines, done.stdout
    document = contract.validated(plugin(ns, "diff", "deployment/web", "1", "2", "-o", "json", code=1).stdout, "json",
                                  "DiffResult")
    changed = {o["file"]: o["changed"] for o in document["objects"]}
    assert changed[f"v1.ConfigMap.{ns.name}.app-config"] == ['data["app.properties"]', "data.greeting"], changed
    assert changed[f"v1.Secret.{ns.name}.app-secret"] == ["data.password"], changed
    assert changed[f"apps.v1.Deployment.{ns.name}.web"] == ["spec.template.spec.containers[app].image"], changed


def test_a_blue_green_pair_the_live_colour_against_the_target_colour(ns, cluster, tmp_path):
    sc.apply_all(ns, sc.bluegreen_objects("web"))
    sc.settle_bluegreen(ns, ["web"])  # green live and Failed, blue Succeeded behind the stage Service: the target
    done = ns.plugin("diff", "service/web")
    assert done.returncode == 1, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert "-      - image: example.test/web:2" in lines and "+      - image: example.test/web:1" in lines, done.stdout
    # each side is what it is: the colour, its Deployment and revision, its role (both revisions are number 1)
    assert done.stderr == ("service/web: green (deployment/web-green revision 1, live) against blue "
                           "(deployment/web-blue revision 1, rollback target)\n"), done.stderr
    # each file named after its own Deployment, not the Service
    assert f"--- GREEN-web-green-REVISION-1/apps.v1.Deployment.{ns.name}.web-green" in lines, done.stdout
    assert f"+++ BLUE-web-blue-REVISION-1/apps.v1.Deployment.{ns.name}.web-blue" in lines, done.stdout
    document = contract.validated(ns.plugin("diff", "service/web", "-o", "json").stdout, "json", "DiffResult")
    assert (document["from"]["role"], document["to"]["role"], document["differ"]) == ("live", "rollback target", True)
    refused = ns.plugin("diff", "service/web", "1")
    assert refused.returncode == ExitCode.USAGE and "takes no revisions" in refused.stderr, refused.stderr
    program, seen = recording_diff(tmp_path)
    external = ns.plugin("diff", "service/web", env=dict(cluster.env, KUBECTL_EXTERNAL_DIFF=str(program)))
    assert external.returncode == 1, f"{external.returncode}\n{external.stdout}\n{external.stderr}"
    folders = [os.path.basename(folder) for folder in json.loads(seen.read_text())["argv"]]
    assert folders[0].startswith("GREEN-web-green-REVISION-1-") and folders[1].startswith("BLUE-web-blue-REVISION-1-")
    # the program pairs files by name across the folders: one colour-neutral name in both, the folders say which
    files = [sorted(side) for side in json.loads(seen.read_text())["files"]]
    assert files == [[f"apps.v1.Deployment.{ns.name}.web-colour"]] * 2, files
