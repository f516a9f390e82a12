"""--harness-release as Harness really writes its history (harness-behaviour.md §2, re-checked): the fixtures are in
Harness's bytes (tests/harness_fixtures.py). Parsing (YamlBeans scalars, JDK gzip, declarative release Secrets), the
lookup order through the fake API, and each kind of rollback: declarative re-apply, custom workloads, Blue/Green."""

from __future__ import annotations

import base64
import gzip

import pytest
import yaml

from kubectl_rollback.commands import harness_declarative as declarative
from kubectl_rollback.decide import Outcome
from kubectl_rollback.errors import NoTargetError, NotFoundError, UsageError
from kubectl_rollback.harness_history import DECLARATIVE, ManagedWorkload, parse_declarative, parse_history
from kubectl_rollback.kube import CONFIGMAPS, DEPLOYMENTS, ENDPOINTS, SECRETS, SERVICES, Resource
from kubectl_rollback.options import RollbackRequest
from tests import harness_fixtures as hf
from tests.fakekube import add_deployment, run_deployment_controller
from tests.unit.entry_points import FAILED, NOTHING_TO_DO, ROLLED_BACK, harness_history, rollback_harness_release

NAMES = ["0123", "on", "yes", "null"]  # valid Kubernetes names a YAML 1.1 resolver turns into 83, True, True, None


def configmap_data(name, revision="7", compressed="gzip", secret=False):
    releases = [hf.release_entry(2, "Failed", [hf.workload_entry("Deployment", name, name, "8")]),
                hf.release_entry(1, "Succeeded", [hf.workload_entry("Deployment", name, name, revision)])]
    return hf.build_history_data(releases, compressed, secret)


def deployment(name, image, namespace=None, **annotations):
    metadata = {"name": name, "labels": {"app": name}}
    if namespace:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image}]}}}}


def config(value):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"mode": value}}


def secret_manifest(password):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret"}, "type": "Opaque",
            "data": {"password": base64.b64encode(password.encode()).decode()}}


def history(fake, name="rel"):
    return harness_history(fake, name)


# -- the bytes Harness writes ------------------------------------------------------------------------------------


def test_the_fixture_writes_yamlbeans_plain_scalars_and_jdk_gzip():
    data = configmap_data("0123")
    assert data[hf.FLAG_KEY] == "true"
    raw = base64.b64decode(data[hf.HISTORY_KEY])
    assert raw[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x00"  # GZIPOutputStream's header
    text = gzip.decompress(raw).decode()
    assert "      name: 0123\n" in text and "    revision: 7\n" in text and "'" not in text and '"' not in text
    assert "versioned" not in text  # default-valued fields are left out
    assert hf.build_history_data([], "gzip", secret=True)[hf.FLAG_KEY] == "AQ=="  # the byte 0x01


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("compressed, secret", [(None, False), ("gzip", False), ("gzip", True)],
                         ids=["plain-configmap", "gzip-configmap", "gzip-secret"])
def test_name_like_scalars_stay_as_written_and_numbers_are_still_read(name, compressed, secret):
    parsed = parse_history("Secret" if secret else "ConfigMap", "rel", configmap_data(name, "0", compressed, secret),
                           secret)
    assert [(r.number, r.status) for r in parsed.releases] == [(2, "Failed"), (1, "Succeeded")]
    assert parsed.releases[1].workloads == (ManagedWorkload("Deployment", name, name, 0),)
    assert parsed.warnings == ()
    assert yaml.safe_load(f"name: {name}")["name"] != name  # what the old reading made of it


def test_custom_workloads_come_from_their_stored_spec_with_a_manifests_types():
    crd_object = {"apiVersion": "example.test/v1", "kind": "Widget",
                  "metadata": {"name": "on", "annotations": {"harness.io/managed-workload": "true"}},
                  "spec": {"size": 3, "enabled": True}}
    releases = [dict(hf.release_entry(2, "Failed"), customWorkloads=[hf.custom_workload_entry(crd_object)]),
                dict(hf.release_entry(1, "Succeeded"), customWorkloads=[hf.custom_workload_entry(crd_object)])]
    parsed = parse_history("ConfigMap", "rel", hf.build_history_data(releases, "gzip", False), False)
    target = parsed.releases[1]
    assert target.workloads == (ManagedWorkload("Widget", "on", None, None, custom=True),)
    assert target.specs == (crd_object,)  # 3 stays a number and true a boolean inside the spec


def test_declarative_release_secrets_are_read_newest_first_with_workloads_and_no_revision():
    secrets = [hf.release_secret("rel", n, status, [deployment("web", f"img:{n}"), config(str(n))])
               for n, status in ((3, "Succeeded"), (5, "Failed"), (4, "Succeeded"))]
    parsed = parse_declarative("rel", secrets)
    assert parsed.kind == DECLARATIVE and parsed.warnings == ()
    assert [(r.number, r.status) for r in parsed.releases] == [(5, "Failed"), (4, "Succeeded"), (3, "Succeeded")]
    assert parsed.releases[1].workloads == (ManagedWorkload("Deployment", "web", None, None),)
    assert parsed.releases[1].resources == ("Deployment/web", "ConfigMap/web-config")
    assert parsed.releases[1].specs[1] == config("4")


def test_an_unreadable_release_secret_is_skipped_without_quoting_it():
    broken = hf.release_secret("rel", 2, "Succeeded", [])
    broken["data"]["release"] = base64.b64encode(b"password: hunter2").decode()
    parsed = parse_declarative("rel", [broken, hf.release_secret("rel", 1, "Succeeded", [config("a")])])
    assert [r.number for r in parsed.releases] == [1]
    (warning,) = parsed.warnings
    assert warning.startswith('Secret "harness.release.rel.2"') and "release 2 skipped" in warning
    assert "hunter2" not in warning


# -- lookup order (Harness: release Secrets, Secret R, ConfigMap R) ------------------------------------------------


def test_declarative_releases_win_over_a_frozen_configmap_which_is_reported_stale(fake):
    legacy = [hf.release_entry(2, "Succeeded", [hf.workload_entry("Deployment", "web", None, "2")]),
              hf.release_entry(1, "Succeeded", [hf.workload_entry("Deployment", "web", None, "1")])]
    fake.server.create(CONFIGMAPS, "ns", hf.history_object("ConfigMap", "rel", legacy))
    for number, status in ((4, "Failed"), (3, "Succeeded")):
        fake.server.create(SECRETS, "ns", hf.release_secret("rel", number, status, [deployment("web", "img")]))
    fake.server.create(SECRETS, "ns", dict(hf.release_secret("other", 9, "Succeeded", []), type="Opaque"))
    loaded = history(fake)
    assert loaded.history.source == 'declarative release Secrets "harness.release.rel.<n>"'
    assert loaded.plan.target.number == 3  # not 2, the legacy history's: that is from before the switch
    assert loaded.history.warnings == (
        'ConfigMap "rel" holds releases 1-2 from before the switch to declarative rollback; ignored',)
    assert loaded.data()["target"] == 3 and loaded.data()["releases"][0]["workloads"] == [
        {"kind": "Deployment", "name": "web", "namespace": None, "revision": None, "custom": False}]


def test_secret_r_is_read_before_configmap_r(fake):
    fake.server.create(CONFIGMAPS, "ns", {"metadata": {"name": "rel"}, "data": configmap_data("old")})
    fake.server.create(SECRETS, "ns", {"metadata": {"name": "rel"}, "data": configmap_data("new", secret=True)})
    loaded = history(fake)
    assert loaded.history.source == 'Secret "rel"'
    assert loaded.plan.target.workloads[0].name == "new"
    assert loaded.history.warnings == (
        'ConfigMap "rel" holds releases 1-2 left beside Secret "rel", which Harness reads first; ignored',)


def test_configmap_r_alone_is_read(fake):
    fake.server.create(CONFIGMAPS, "ns", {"metadata": {"name": "rel"}, "data": configmap_data("web")})
    loaded = history(fake)
    assert (loaded.history.source, loaded.history.warnings) == ('ConfigMap "rel"', ())
    lists = [c for c in fake.calls if c.verb == "list"]
    assert [(c.resource, c.label_selector) for c in lists] == [(SECRETS, "owner=harness,release=rel")]


def test_no_history_anywhere_names_every_place_looked(fake):
    with pytest.raises(NotFoundError) as missing:
        history(fake, "absent")
    assert missing.value.message.startswith(
        'no release Secrets labelled owner=harness,release=absent, and no ConfigMap or Secret named "absent" in '
        'namespace "ns"')


def test_secrets_that_cannot_be_listed_are_a_warning_when_the_configmap_answers(fake):
    fake.fail("list", status=403, resource=SECRETS)
    fake.fail("get", status=403, resource=SECRETS)
    fake.server.create(CONFIGMAPS, "ns", {"metadata": {"name": "rel"}, "data": configmap_data("web")})
    loaded = history(fake)
    assert loaded.history.source == 'ConfigMap "rel"' and loaded.plan.target.number == 1
    assert [w.split(":")[0] for w in loaded.history.warnings] == [
        "declarative release Secrets not looked for", 'Secret "rel" not read']


# -- declarative rollback: re-apply the target's manifests ---------------------------------------------------------


@pytest.fixture
def releases(fake):
    """Release 2 (Failed) left web on img:2, config "bad" and a new password; release 1 Succeeded with img:1."""
    fake.server.create(DEPLOYMENTS, "ns", deployment("web", "img:2"))
    fake.server.create(CONFIGMAPS, "ns", config("bad"))
    fake.server.create(SECRETS, "ns", secret_manifest("new-password"))
    fake.server.create(SECRETS, "ns", hf.release_secret("rel", 2, "Failed", [
        deployment("web", "img:2"), config("bad"), secret_manifest("new-password")]))
    fake.server.create(SECRETS, "ns", hf.release_secret("rel", 1, "Succeeded", [
        deployment("web", "img:1"), config("good"), secret_manifest("old-password")]))
    return fake


def release_secrets(fake):
    return [fake.stored(SECRETS, f"harness.release.rel.{n}") for n in (1, 2)]


def test_a_client_dry_run_shows_each_diff_and_changes_nothing(releases):
    before = release_secrets(releases)
    result = rollback_harness_release(releases, "rel", "client")
    # each apply sent with dryRun=All, as the server dry run does: what the run would write, nothing stored; first
    # by the pre-flight, with a pod of the Deployment's template (docs/preflight.md)
    applies = [("Deployment", "web", True), ("ConfigMap", "web-config", True), ("Secret", "web-secret", True)]
    assert [(c.resource.kind, c.name, c.dry_run) for c in releases.writes()] == (
        applies[:1] + [("Pod", None, True)] + applies[1:] + applies)
    diffs = {d.display: d.diff for d in result.diffs}
    assert "-      - image: img:2\n+      - image: img:1\n" in diffs["deployment/web"]
    assert "-  mode: bad\n+  mode: good\n" in diffs["configmap/web-config"]
    assert "password: <hidden, changed>" in diffs["secret/web-secret"]
    assert not any("password" in d and ("b2xk" in d or "bmV3" in d) for d in diffs.values())  # no base64 value
    assert [(o.display, o.outcome) for o in result.outcomes] == [
        ("deployment/web", ROLLED_BACK), ("configmap/web-config", ROLLED_BACK), ("secret/web-secret", ROLLED_BACK)]
    assert release_secrets(releases) == before


def test_the_rollback_server_side_applies_each_stored_manifest(releases):
    result = rollback_harness_release(releases, "rel")
    applies = [c for c in releases.writes(dry_runs=False) if c.verb == "patch"]
    assert [(c.resource.plural, c.name) for c in applies] == [
        ("deployments", "web"), ("configmaps", "web-config"), ("secrets", "web-secret")]
    assert releases.stored(DEPLOYMENTS, "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "img:1"
    assert releases.stored(CONFIGMAPS, "web-config")["data"] == {"mode": "good"}
    assert int(result.exit_code) == 0 and result.data()["summary"]["rolled back"] == 3
    again = rollback_harness_release(releases, "rel")
    assert [o.outcome for o in again.outcomes] == [NOTHING_TO_DO] * 3


def test_an_object_the_server_refuses_after_the_pre_flight_is_reported_and_the_others_go_on(releases):
    releases.fail("patch", nth=2, status=422, resource=CONFIGMAPS)  # the first is the pre-flight's dry run
    result = rollback_harness_release(releases, "rel")
    assert [o.outcome for o in result.outcomes] == [ROLLED_BACK, FAILED, ROLLED_BACK]
    assert int(result.exit_code) == 1


def test_an_object_the_pre_flight_sees_refused_blocks_the_whole_release_before_any_write(releases):
    releases.fail("patch", status=422, resource=CONFIGMAPS)
    before = release_secrets(releases)
    result = rollback_harness_release(releases, "rel")
    assert [(o.display, o.outcome) for o in result.outcomes] == [
        ("deployment/web", Outcome.BLOCKED), ("configmap/web-config", Outcome.BLOCKED),
        ("secret/web-secret", Outcome.BLOCKED)]
    assert "configmap/web-config not rolled back, nothing was written" in result.outcomes[1].message
    assert "the pre-flight blocked configmap/web-config of release 1" in result.outcomes[0].message
    assert int(result.exit_code) == 5 and releases.writes(dry_runs=False) == []
    assert release_secrets(releases) == before  # Harness's book-keeping neither
    verdicts = {(f["check"], f["object"]): f["verdict"] for f in result.data()["preflight"]}
    assert verdicts[("write", "configmap/web-config")] == "blocked" and verdicts[("write", "deployment/web")] == "ok"


def test_skip_preflight_re_applies_a_release_the_pre_flight_would_block_and_says_so(releases, capsys):
    releases.fail("patch", status=422, resource=CONFIGMAPS)  # would block: the skipped pre-flight never meets it
    result = rollback_harness_release(releases, "rel", skip_preflight=True)
    assert [o.outcome for o in result.outcomes] == [ROLLED_BACK, FAILED, ROLLED_BACK]  # the write itself met it
    assert result.preflight.skipped and not any(c.dry_run for c in releases.writes())
    assert "--harness-release rel: --skip-preflight: the stored objects are re-applied without checking" in (
        capsys.readouterr().err)


# -- custom workloads and Blue/Green -------------------------------------------------------------------------------

CRDS = declarative.CRDS
WIDGETS = Resource("example.test", "v1", "widgets", "Widget")


def widget(size):
    return {"apiVersion": "example.test/v1", "kind": "Widget",
            "metadata": {"name": "gadget", "annotations": {"harness.io/managed-workload": "true"}},
            "spec": {"size": size}}


def test_a_release_with_only_custom_workloads_re_applies_their_stored_spec(fake):
    fake.server.create(CRDS, "ns", {"metadata": {"name": "widgets.example.test"},
                                    "spec": {"group": "example.test", "scope": "Namespaced",
                                             "names": {"kind": "Widget", "plural": "widgets"}}})
    fake.server.create(WIDGETS, "ns", widget(5))
    releases = [dict(hf.release_entry(2, "Failed"), customWorkloads=[hf.custom_workload_entry(widget(5))]),
                dict(hf.release_entry(1, "Succeeded"), customWorkloads=[hf.custom_workload_entry(widget(2))])]
    fake.server.create(CONFIGMAPS, "ns", hf.history_object("ConfigMap", "rel", releases))
    assert history(fake).problem is None
    result = rollback_harness_release(fake, "rel")
    assert [(o.display, o.outcome) for o in result.outcomes] == [("widget/gadget", ROLLED_BACK)]
    assert fake.stored(WIDGETS, "gadget")["spec"] == {"size": 2}


def test_a_custom_kind_no_crd_serves_is_reported_for_that_object(fake):
    releases = [dict(hf.release_entry(2, "Failed"), customWorkloads=[hf.custom_workload_entry(widget(5))]),
                dict(hf.release_entry(1, "Succeeded"), customWorkloads=[hf.custom_workload_entry(widget(2))])]
    fake.server.create(CONFIGMAPS, "ns", hf.history_object("ConfigMap", "rel", releases))
    (outcome,) = rollback_harness_release(fake, "rel").outcomes
    assert outcome.outcome == FAILED and "no CustomResourceDefinition in the cluster serves Widget" in outcome.message


@pytest.fixture
def blue_green(fake):
    """Harness's Blue/Green: web-blue (release 1, Succeeded), web-green (release 2, Failed after the swap)."""
    for color in ("blue", "green"):
        add_deployment(fake, f"web-{color}", [f"img:{color}"], labels={"app": "web", "harness.io/color": color})
    fake.server.create(ENDPOINTS, "ns", {"metadata": {"name": "web-stage"},
                                         "subsets": [{"addresses": [{"ip": "192.0.2.10"}]}]})
    releases = [hf.single_workload_release_entry(2, "Failed", "Deployment", "web-green", "ns", "1"),
                hf.single_workload_release_entry(1, "Succeeded", "Deployment", "web-blue", "ns", "1")]
    for entry, environment in zip(releases, ("stage", "primary")):
        entry["bgEnvironment"] = environment
    fake.server.create(CONFIGMAPS, "ns", hf.history_object("ConfigMap", "rel", releases))
    return fake


def services(fake, primary, stage):
    for name, color in (("web", primary), ("web-stage", stage)):
        fake.server.create(SERVICES, "ns", {"metadata": {"name": name},
                                            "spec": {"selector": {"app": "web", "harness.io/color": color}}})


def selectors(fake):
    return tuple(fake.stored(SERVICES, n)["spec"]["selector"]["harness.io/color"] for n in ("web", "web-stage"))


def test_blue_green_rolls_back_as_the_service_selector_swap(blue_green):
    services(blue_green, "green", "blue")
    assert rollback_harness_release(blue_green, "rel", "client").outcomes[0].outcome == ROLLED_BACK
    assert selectors(blue_green) == ("green", "blue")  # the dry run changed nothing
    (outcome,) = rollback_harness_release(blue_green, "rel").outcomes
    assert (outcome.display, outcome.outcome) == ("service/web", ROLLED_BACK)
    assert selectors(blue_green) == ("blue", "green")
    assert not [c for c in blue_green.writes() if c.resource == DEPLOYMENTS]  # no rollout undo


def test_blue_green_whose_swap_never_ran_has_nothing_to_do(blue_green):
    services(blue_green, "blue", "green")
    (outcome,) = rollback_harness_release(blue_green, "rel").outcomes
    assert outcome.outcome == NOTHING_TO_DO and "already routes to blue" in outcome.message
    assert blue_green.writes() == []


# -- the pure parts of the re-apply ----------------------------------------------------------------------------


def test_the_object_sent_drops_what_the_server_owns_and_fills_the_namespace():
    stored = dict(deployment("web", "img"), status={"replicas": 1})
    stored["metadata"].update(resourceVersion="5", uid="u", managedFields=[{}])
    body = declarative.applicable(stored, declarative.builtin_resource(stored), "shop")
    assert body["metadata"] == {"name": "web", "labels": {"app": "web"}, "namespace": "shop"} and "status" not in body
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    sent = declarative.applicable(namespace, declarative.builtin_resource(namespace), "x")
    assert "namespace" not in sent["metadata"]


def test_ports_without_a_protocol_get_the_servers_default_in_built_in_objects_only():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
               "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 53, "protocol": "UDP"}]}}
    stored = deployment("web", "img")
    stored["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    custom = {"apiVersion": "example.test/v1", "kind": "Thing", "metadata": {"name": "t"},
              "spec": {"ports": [{"port": 80}]}}
    sent = declarative.applicable(service, declarative.builtin_resource(service), "shop")
    assert sent["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"},
                                     {"port": 53, "protocol": "UDP"}]
    sent = declarative.applicable(stored, declarative.builtin_resource(stored), "shop")
    assert sent["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert "protocol" not in stored["spec"]["template"]["spec"]["containers"][0]["ports"][0]  # the stored one kept
    thing = Resource("example.test", "v1", "things", "Thing")
    assert declarative.applicable(custom, thing, "shop")["spec"]["ports"] == [{"port": 80}]


@pytest.mark.parametrize("kind, plural", [("Deployment", "deployments"), ("Ingress", "ingresses"),
                                          ("NetworkPolicy", "networkpolicies"), ("Endpoints", "endpoints"),
                                          ("ServiceAccount", "serviceaccounts"), ("Gateway", "gateways")])
def test_built_in_plurals(kind, plural):
    assert declarative.guess_plural(kind) == plural


def test_a_diff_leaves_out_server_bookkeeping_and_never_shows_secret_values():
    live = dict(secret_manifest("same"), metadata={"name": "web-secret", "resourceVersion": "9", "annotations": {
        declarative.LAST_APPLIED: '{"data":{"password":"c2FtZQ=="}}'}})
    live["data"]["token"] = "dG9rZW4="
    wanted = secret_manifest("same")
    wanted["data"]["token"] = "b3RoZXI="
    diff = declarative.object_diff("secret/web-secret", live, wanted)
    assert "token: <hidden, changed>" in diff and "password: <hidden>" in diff
    assert "c2FtZQ" not in diff and "b3RoZXI" not in diff and "resourceVersion" not in diff
    assert declarative.LAST_APPLIED not in diff


# -- Harness's book-keeping, the skip rule and the legacy fall-back ------------------------------------------------


def legacy_history(fake, kind="ConfigMap", statuses=("Failed", "Succeeded")):
    """deployment/web at revision 2 (img:2); ConfigMap (or Secret) rel: release 2 -> revision 2, release 1 ->
    revision 1, in Harness's bytes."""
    add_deployment(fake, "web", ["img:1", "img:2"])
    releases = [hf.release_entry(2, statuses[0], [hf.workload_entry("Deployment", "web", None, "2")]),
                hf.release_entry(1, statuses[1], [hf.workload_entry("Deployment", "web", None, "1")])]
    fake.server.create(CONFIGMAPS if kind == "ConfigMap" else SECRETS, "ns",
                       hf.history_object(kind, "rel", releases, "gzip"))
    run_deployment_controller(fake, "web")


def stored_releases(fake, kind="ConfigMap"):
    obj = fake.stored(CONFIGMAPS if kind == "ConfigMap" else SECRETS, "rel")
    parsed = parse_history(kind, "rel", obj["data"], kind == "Secret")
    return [(r.number, r.status, [w.revision for w in r.workloads]) for r in parsed.releases]


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_after_the_rollback_harness_history_is_booked_as_harness_books_it(fake, kind):
    legacy_history(fake, kind, ("InProgress", "Succeeded"))
    result = rollback_harness_release(fake, "rel")
    assert [o.outcome for o in result.outcomes] == [ROLLED_BACK] and int(result.exit_code) == 0
    # release 2 Failed; release 1 now names revision 3, which the controller gave the restored ReplicaSet
    assert stored_releases(fake, kind) == [(2, "Failed", [2]), (1, "Succeeded", [3])]
    assert [w.message for w in result.history_writes] == [
        "release 2 status InProgress -> Failed; release 1 deployment/web revision 1 -> 3"]
    writes = fake.writes(CONFIGMAPS if kind == "ConfigMap" else SECRETS)
    assert len(writes) == 1 and set(writes[0].body) == {"metadata", "data"}
    assert set(writes[0].body["data"]) == {hf.HISTORY_KEY} and writes[0].body["metadata"]["resourceVersion"]
    again = rollback_harness_release(fake, "rel")  # the renumbered revision is live: nothing more to do or book
    assert [o.outcome for o in again.outcomes] == [NOTHING_TO_DO]
    assert [w.message for w in again.history_writes] == ["up to date"]


def test_a_history_written_meanwhile_is_read_again_and_booked_on_top(fake):
    legacy_history(fake)

    def harness_writes(server):  # Harness adds a label (a change of its own) between our read and our write
        server.patch(CONFIGMAPS, "ns", "rel", {"metadata": {"labels": {"touched": "yes"}}})

    fake.before("patch", harness_writes, resource=CONFIGMAPS, name="rel")
    result = rollback_harness_release(fake, "rel")
    assert int(result.exit_code) == 0 and stored_releases(fake) == [(2, "Failed", [2]), (1, "Succeeded", [3])]
    assert fake.stored(CONFIGMAPS, "rel")["metadata"]["labels"] == {"touched": "yes"}
    assert [c.verb for c in fake.writes(CONFIGMAPS)] == ["patch", "patch"]  # the 409, then the write on top


@pytest.mark.parametrize("current, marking", [("InProgress", "release 2 would be marked Failed; "),
                                              ("Failed", "")])  # marked already: the run does not mark it again
def test_a_dry_run_shows_the_book_keeping_the_run_writes_and_writes_nothing(fake, current, marking):
    legacy_history(fake, statuses=(current, "Succeeded"))
    result = rollback_harness_release(fake, "rel", "client")
    assert fake.writes(dry_runs=False) == []
    assert [(w.table(False), w.changes) for w in result.history_writes] == [
        (f"configmap/rel: history: {marking}release 1 would get the revisions the rollback gives its workloads "
         "(Harness's book-keeping)", True)]


def test_a_newest_release_that_succeeded_is_no_target_unless_asked_for(fake):
    legacy_history(fake, statuses=("Succeeded", "Succeeded"))
    with pytest.raises(NoTargetError, match='"No failed release found"'):
        rollback_harness_release(fake, "rel")
    assert fake.writes() == [] and history(fake).data()["target"] is None
    result = rollback_harness_release(fake, "rel", release_number=2)
    assert [o.outcome for o in result.outcomes] == [ROLLED_BACK]
    assert stored_releases(fake) == [(2, "Failed", [2]), (1, "Succeeded", [3])]


@pytest.mark.parametrize("selected", ["deployment/web", "service/web", "--release-name"])
def test_release_number_belongs_to_harness_release_only(selected):
    from kubectl_rollback.targets import select

    target = select(None, "r", None) if selected == "--release-name" else select(selected, None, None)
    with pytest.raises(UsageError, match="--release-number names a release of Harness's own history"):
        RollbackRequest(release_number=2).validate(target)
    RollbackRequest(release_number=2).validate(select(None, None, "r"))  # its own
    with pytest.raises(UsageError, match="--release-number must be a positive"):
        RollbackRequest(release_number=0).validate()


def test_no_succeeded_release_secret_falls_back_to_the_legacy_history(fake):
    """Harness's migration rule: release Secrets exist but none Succeeded, so the legacy ConfigMap is rolled back
    from, and the declarative release is marked Failed."""
    legacy_history(fake, statuses=("Succeeded", "Succeeded"))
    fake.server.create(SECRETS, "ns", hf.release_secret("rel", 3, "InProgress", [deployment("web", "img:2")]))
    listed = history(fake).data()
    assert listed["source"] == 'ConfigMap "rel" and declarative release Secrets "harness.release.rel.<n>"'
    assert listed["sourceReason"].startswith('no declarative release Secret Succeeded, so Harness falls back to '
                                             'ConfigMap "rel"')
    assert (listed["current"], listed["target"], listed["warnings"]) == (3, 2, [])
    result = rollback_harness_release(fake, "rel")
    assert [o.outcome for o in result.outcomes] == [NOTHING_TO_DO]  # release 2 is live: revision 2 is the target
    assert fake.stored(SECRETS, "harness.release.rel.3")["metadata"]["labels"]["status"] == "Failed"
    assert stored_releases(fake) == [(2, "Succeeded", [2]), (1, "Succeeded", [1])]  # nothing renumbered
    assert [w.display for w in result.history_writes] == ["secret/harness.release.rel.3", "configmap/rel"]
